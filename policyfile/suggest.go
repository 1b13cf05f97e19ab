package policyfile

import "strings"

// suggest returns the known name closest to key by edit distance (letters
// compared without case, so that "Freezes" finds "freezes"), or "" when
// none is close enough to be what the author meant: at most a third of
// the key's letters may differ, and at least one always may.
func suggest(key string, names []string) string {
	best, bestDist := "", -1
	lk := strings.ToLower(key)
	for _, n := range names {
		d := distance(lk, strings.ToLower(n))
		if bestDist < 0 || d < bestDist {
			best, bestDist = n, d
		}
	}
	limit := max(1, len([]rune(key))/3)
	if bestDist < 0 || bestDist > limit {
		return ""
	}
	return best
}

// distance is the Damerau-Levenshtein distance (optimal string alignment)
// between a and b in runes: insertions, deletions, substitutions and
// transpositions of neighbours each count one.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Keys are short; a hostile key is bounded so that the table is too.
	if len(ra) > 256 || len(rb) > 256 {
		return max(len(ra), len(rb))
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
