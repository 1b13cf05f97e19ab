package rollout

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

func TestCRC32Combine(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		a := make([]byte, rng.IntN(3000))
		b := make([]byte, rng.IntN(3000))
		for i := range a {
			a[i] = byte(rng.Uint32())
		}
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		whole := crc32.Checksum(append(append([]byte(nil), a...), b...), castagnoli)
		got := crc32Combine(crc32.Castagnoli, crc32.Checksum(a, castagnoli), crc32.Checksum(b, castagnoli), len(b))
		if got != whole {
			t.Fatalf("combine of %d and %d bytes = %08x, want %08x", len(a), len(b), got, whole)
		}
	}
}
