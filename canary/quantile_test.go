package canary

import (
	"math"
	"math/rand/v2"
	"testing"
)

// quantBoundsLinear is the definition: a scan of every bucket.
func (pl *plan) quantBoundsLinear(counts []int64, n int64, level float64) (lo, hi float64) {
	lo, hi = 0, math.Inf(1)
	if n == 0 {
		return
	}
	fn := float64(n)
	nq := fn * pl.m.Quantile
	thr := math.Log(1 / level)
	lgn := lgamma(pl.qa + pl.qb + fn)
	var c int64
	for i := range pl.bounds {
		c += counts[i]
		if float64(c) < nq && pl.quantLogM(float64(c), fn, lgn) >= thr {
			lo = pl.bounds[i]
		}
		if float64(c) > nq && pl.quantLogM(float64(c), fn, lgn) >= thr && math.IsInf(hi, 1) {
			hi = pl.bounds[i]
		}
	}
	return
}

func TestQuantBoundsMatchesScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, q := range []float64{0.5, 0.9, 0.99} {
		p := Policy{Metrics: []Metric{{Name: "q", Kind: Quantile, Quantile: q}}}
		pl := newPlan(p, p.Metrics[0], 0.01)
		for it := 0; it < 60; it++ {
			counts := make([]int64, len(pl.bounds)+1)
			n := int64(1 + r.IntN(5000))
			sigma := 0.1 + r.Float64()
			for i := int64(0); i < n; i++ {
				counts[bucketOf(pl.bounds, 100*math.Exp(sigma*r.NormFloat64()))]++
			}
			cum := make([]int64, len(counts))
			for _, lvl := range []float64{0.001, 0.05} {
				lo, hi := pl.quantBounds(cumulate(cum, counts), n, lvl)
				wlo, whi := pl.quantBoundsLinear(counts, n, lvl)
				if lo != wlo || hi != whi {
					t.Fatalf("q %v n %d level %v: [%v, %v], scan [%v, %v]", q, n, lvl, lo, hi, wlo, whi)
				}
			}
		}
	}
}
