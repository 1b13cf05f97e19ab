package eval

import "testing"

func BenchmarkRun(b *testing.B) {
	c := Cell{Sigma: 1, Phi: 0.5, Share: 0.1, BaseRate: -1}
	i := uint64(0)
	for b.Loop() {
		i++
		Run(c, i)
	}
}
