package traffic

// Bucket places an entity (a user, an account, a device) at a point in
// [0, 100) chosen by a hash of salt and its ID. The point never changes for
// a given salt and ID, so a percentage rollout that grows from 5% to 20%
// keeps the first 5% and adds to them: an entity sees the new version from
// the step that reaches it on, and never flips back and forth between
// requests, whichever process serves them (AppConfig's entity-based
// gradual deployments, a feature flag's sticky cohort). Use one salt per
// rollout, so that the same users are not always the first exposed.
func Bucket(salt, entity string) float64 {
	h := uint64(14695981039346656037) // FNV-1a over salt, 0, entity
	for i := 0; i < len(salt); i++ {
		h ^= uint64(salt[i])
		h *= 1099511628211
	}
	h *= 1099511628211 // the separator, a 0 byte
	for i := 0; i < len(entity); i++ {
		h ^= uint64(entity[i])
		h *= 1099511628211
	}
	// FNV's low bits are weak for short keys: a finaliser spreads them.
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return float64(h>>11) / (1 << 53) * 100
}

// Exposed reports whether entity gets the new version when it has percent
// of the entities: whether its [Bucket] lies below percent. Raising
// percent only ever adds entities.
func Exposed(salt, entity string, percent float64) bool {
	return Bucket(salt, entity) < percent
}
