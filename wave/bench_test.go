package wave

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// cellFleet builds n targets over 30 regions x 6 zones x 10 cells, listed
// by location as inventories usually are, with weights that differ by
// region so that the order matters.
func cellFleet(n int) []Target {
	const regions, zones, cells = 30, 6, 10
	ts := make([]Target, n)
	locs := make([][]string, regions*zones*cells)
	for i := range locs {
		r, z, c := i/(zones*cells), i/cells%zones, i%cells
		locs[i] = []string{fmt.Sprintf("region-%02d", r), fmt.Sprintf("region-%02d-z%d", r, z), fmt.Sprintf("cell-%d", c)}
	}
	for i := range ts {
		u := i * len(locs) / n
		ts[i] = Target{
			ID:       fmt.Sprintf("host-%07d", i),
			Location: locs[u],
			Weight:   float64(1 + u/(zones*cells)%7),
		}
	}
	return ts
}

var cellPolicy = Policy{Levels: []string{"region", "zone", "cell"}}

func BenchmarkPlan(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		ts := cellFleet(n)
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := cellPolicy.Plan(ts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// The same million targets in a random order: no locality for the
	// planner's look-up cache, and cells sorted from scratch.
	ts := cellFleet(1_000_000)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(ts), func(i, j int) { ts[i], ts[j] = ts[j], ts[i] })
	b.Run("shuffled/targets=1000000", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cellPolicy.Plan(ts); err != nil {
				b.Fatal(err)
			}
		}
	})
}
