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
		for _, poly := range []uint32{crc32.Castagnoli, crc32.IEEE, crc32.Koopman} {
			tab := crc32.MakeTable(poly)
			whole := crc32.Checksum(append(append([]byte(nil), a...), b...), tab)
			got := crc32Combine(poly, crc32.Checksum(a, tab), crc32.Checksum(b, tab), len(b))
			if got != whole {
				t.Fatalf("poly %08x: combine of %d and %d bytes = %08x, want %08x", poly, len(a), len(b), got, whole)
			}
		}
	}
}
