package wave

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// cellFleet builds n targets over 30 regions x 6 zones x 10 cells. Every
// target has its own ID and location strings, allocated in list order, as
// after decoding an inventory. With shuffled, the list is in a random
// order (and so is the memory behind it); otherwise it is by location.
func cellFleet(n int, shuffled bool) []Target {
	const regions, zones, cells = 30, 6, 10
	units := regions * zones * cells
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	if shuffled {
		rand.New(rand.NewPCG(1, 2)).Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	}
	ts := make([]Target, n)
	for k, i := range perm {
		u := i * units / n
		r, z, c := u/(zones*cells), u/cells%zones, u%cells
		ts[k] = Target{
			ID: "host-" + strconv.Itoa(1_000_000+i),
			Location: []string{
				"region-" + strconv.Itoa(10+r),
				"region-" + strconv.Itoa(10+r) + "-z" + strconv.Itoa(z),
				"cell-" + strconv.Itoa(c),
			},
			Weight: float64(1 + r%7),
		}
	}
	return ts
}

var cellPolicy = Policy{Levels: []string{"region", "zone", "cell"}}

// BenchmarkPlan plans 10k to 1M targets over 30 regions x 6 zones x 10
// cells: listed by location ("sorted"), listed in a random order
// ("shuffled"), and, as a worst case, a sorted fleet whose list alone is
// shuffled afterwards ("scattered": every target read is a cache miss).
// Besides wall time it reports cpu-ns/op, the process's CPU time per plan
// (garbage collection included), which other processes on a shared
// machine inflate less.
func BenchmarkPlan(b *testing.B) {
	run := func(b *testing.B, ts []Target) {
		b.ReportAllocs()
		cpu := processCPU()
		for b.Loop() {
			if _, err := cellPolicy.Plan(ts); err != nil {
				b.Fatal(err)
			}
		}
		if cpu > 0 {
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
		}
	}
	for _, order := range []string{"sorted", "shuffled"} {
		for _, n := range []int{10_000, 100_000, 1_000_000} {
			b.Run(fmt.Sprintf("%s/targets=%d", order, n), func(b *testing.B) {
				run(b, cellFleet(n, order == "shuffled"))
			})
		}
	}
	b.Run("scattered/targets=1000000", func(b *testing.B) {
		ts := slices.Clone(cellFleet(1_000_000, false))
		rand.New(rand.NewPCG(1, 2)).Shuffle(len(ts), func(i, j int) { ts[i], ts[j] = ts[j], ts[i] })
		run(b, ts)
	})
}
