package eval

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// simMoments draws runs canaries of m at a fixed phase and returns the
// sample mean and covariance of f(count) over the 2T counts.
func simMoments(m CountModel, phase float64, T, runs int, f func(float64) float64) (mean, cov []float64) {
	r := rand.New(rand.NewPCG(11, 12))
	n := 2 * T
	counts, req := make([]float64, n), make([]float64, n)
	sum := make([]float64, n)
	sum2 := make([]float64, n*n)
	for range runs {
		m.SimCounts(r, phase, T, counts, req)
		for i := range counts {
			counts[i] = f(counts[i])
		}
		for i := range n {
			sum[i] += counts[i]
			for j := range n {
				sum2[i*n+j] += counts[i] * counts[j]
			}
		}
	}
	mean = make([]float64, n)
	cov = make([]float64, n*n)
	for i := range n {
		mean[i] = sum[i] / float64(runs)
	}
	for i := range n {
		for j := range n {
			cov[i*n+j] = sum2[i*n+j]/float64(runs) - mean[i]*mean[j]
		}
	}
	return mean, cov
}

// TestMomentsMatchSimulation checks the closed-form moments of the counts,
// and the approximate ones of their square roots, against the
// simulation's own draws: the mean of every count, the variances, and the
// covariances within a side across minutes and across the sides.
func TestMomentsMatchSimulation(t *testing.T) {
	const T, runs, phase = 3, 12000, 300.0
	for _, m := range []CountModel{
		{Base: 0.01, Ratio: 2, Phi: 0.5, Share: 0.1},
		{Base: 0.01, Phi: 0.8, Overdisp: 0.5, Share: 0.1},
		{Base: 0.001, Phi: 0.9, Overdisp: 0.25, Share: 0.1, LevelSD: 0.3},
	} {
		mean, cov, err := m.Moments(Traffic(phase, T))
		if err != nil {
			t.Fatal(err)
		}
		n := 2 * T
		pairs := [][2]int{{0, 0}, {0, 2}, {T, T}, {T, T + 1}, {0, T}, {1, T + 2}}
		simMean, simCov := simMoments(m, phase, T, runs, func(y float64) float64 { return y })
		for i := range n {
			se := math.Sqrt(cov[i*n+i] / runs)
			if d := math.Abs(simMean[i] - mean[i]); d > 4*se {
				t.Errorf("%+v: mean of count %d: simulated %.4g, closed form %.4g (se %.2g)", m, i, simMean[i], mean[i], se)
			}
		}
		for _, p := range pairs {
			// The sample covariance's sd is about sqrt(v_i v_j / runs)
			// for light tails; the log-normal factors' (log-sd up to 0.6)
			// have a kurtosis near 13, which multiplies it by sqrt(13).
			i, j := p[0], p[1]
			tol := 5 * math.Sqrt(13*cov[i*n+i]*cov[j*n+j]/runs)
			if d := math.Abs(simCov[i*n+j] - cov[i*n+j]); d > tol {
				t.Errorf("%+v: cov(%d, %d): simulated %.4g, closed form %.4g (tolerance %.2g)", m, i, j, simCov[i*n+j], cov[i*n+j], tol)
			}
		}

		um, uc := SqrtMoments(mean, cov)
		simMean, simCov = simMoments(m, phase, T, runs, func(y float64) float64 { return math.Sqrt(y + 3.0/8) })
		for i := range n {
			if d := math.Abs(simMean[i] - um[i]); d > 0.01*um[i]+4*math.Sqrt(uc[i*n+i]/runs) {
				t.Errorf("%+v: mean of root %d: simulated %.4g, approximation %.4g", m, i, simMean[i], um[i])
			}
		}
		for _, p := range pairs {
			i, j := p[0], p[1]
			tol := 0.08*math.Sqrt(uc[i*n+i]*uc[j*n+j]) + 5*math.Sqrt(uc[i*n+i]*uc[j*n+j]/runs)
			if d := math.Abs(simCov[i*n+j] - uc[i*n+j]); d > tol {
				t.Errorf("%+v: cov of roots (%d, %d): simulated %.4g, approximation %.4g (tolerance %.2g)", m, i, j, simCov[i*n+j], uc[i*n+j], tol)
			}
		}
	}
}

// TestCurveKnownPower runs the Monte Carlo on two unit normals two apart,
// whose most powerful test at level 1% has power Phi(2 - 2.3263) = 37.2%.
func TestCurveKnownPower(t *testing.T) {
	g0, err := newGaussian([]float64{0}, []float64{1})
	if err != nil {
		t.Fatal(err)
	}
	g1, err := newGaussian([]float64{2}, []float64{1})
	if err != nil {
		t.Fatal(err)
	}
	s := &surrogate{null: []gaussian{g0}, alt: []gaussian{g1}, idx: []int{0}, phases: []float64{0}}
	c := s.curve(20000, 3)
	want := 0.5 * math.Erfc(-(2-2.326348)/math.Sqrt2)
	p, se, thr := c.Power(0.01)
	if se <= 0 || se > 0.01 || math.Abs(p-want) > 4*se {
		t.Errorf("power at 1%%: %.4f (se %.4f), want %.4f", p, se, want)
	}
	// The log-likelihood ratio is 2x - 2: the threshold is 2 x 2.3263 - 2.
	if math.Abs(thr-(2*2.326348-2)) > 0.1 {
		t.Errorf("threshold %.3f, want %.3f", thr, 2*2.326348-2)
	}
	// Power 50% needs a threshold at the alternative's median, 2: level
	// 1 - Phi(2) = 2.28%.
	if a := c.AlphaFor(0.5); math.Abs(a-0.02275) > 0.002 {
		t.Errorf("alpha for power 50%%: %.4f, want 0.0228", a)
	}
}

// TestBoundSanity: a regression against itself has power alpha; errors x2
// at 1% against the non-overdispersed null is found within five minutes
// almost always, as the old Poisson test found it.
func TestBoundSanity(t *testing.T) {
	alt := CountModel{Base: 0.01, Ratio: 2, Phi: 0.5, Share: 0.1}
	null := CountModel{Base: 0.01, Phi: 0.5, Share: 0.1}
	for _, sq := range []bool{false, true} {
		c, err := Pair{Null: alt, Alt: alt, T: 3, Phases: 2, Sqrt: sq}.Bound(1000, 1)
		if err != nil {
			t.Fatal(err)
		}
		if p, _, _ := c.Power(0.05); math.Abs(p-0.05) > 0.002 {
			t.Errorf("sqrt %v: identical hypotheses: power %.4f at level 5%%", sq, p)
		}
		c, err = Pair{Null: null, Alt: alt, T: 5, Phases: 4, Sqrt: sq}.Bound(2000, 1)
		if err != nil {
			t.Fatal(err)
		}
		if p, _, _ := c.Power(0.01); p < 0.9 {
			t.Errorf("sqrt %v: x2 at 1%% against no overdispersion: power %.3f at 1%% by minute 5", sq, p)
		}
		checks, err := Pair{Null: null, Alt: alt, T: 5, Phases: 4, Sqrt: sq}.TrueCheck([]float64{0.01}, 2000, 200, []CountModel{null}, 500, 1)
		if err != nil {
			t.Fatal(err)
		}
		if ch := checks[0]; ch.Power < 0.85 || ch.Others[0] > 0.03 {
			t.Errorf("sqrt %v: true model: power %.3f, false fails on the null itself %.3f", sq, ch.Power, ch.Others[0])
		}
	}
}

func TestBoundErrors(t *testing.T) {
	if _, err := ModelOf(Cell{Phi: 0.5, Share: 0.1, BaseRate: -1}); err == nil || !strings.Contains(err.Error(), "BaseRate") {
		t.Errorf("ModelOf with a drawn base rate: %v", err)
	}
	good := CountModel{Base: 0.01, Phi: 0.5, Share: 0.1}
	for _, tc := range []struct {
		p    Pair
		want string
	}{
		{Pair{Null: good, Alt: good, T: 0, Phases: 1}, "T 0"},
		{Pair{Null: good, Alt: good, T: 5}, "Phases 0"},
		{Pair{Null: good, Alt: CountModel{Base: 0.01, Phi: 1, Share: 0.1}, T: 5, Phases: 1}, "Phi 1"},
		{Pair{Null: good, Alt: good, T: 5, Phases: 1, Only: "both"}, `Only "both"`},
	} {
		if _, err := tc.p.Bound(100, 1); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one naming %q", tc.p, err, tc.want)
		}
	}
}

// TestSqrtPoissonMoments: the exact sums meet Anscombe's expansions where
// they hand over, and the root of a count that is always zero has no
// variance.
func TestSqrtPoissonMoments(t *testing.T) {
	m, v := sqrtPoissonMoments(40)
	if math.Abs(m-math.Sqrt(40.125)) > 1e-3*m || math.Abs(v-0.25) > 0.005 {
		t.Errorf("at 40: mean %.5f, variance %.5f; expansions %.5f, 0.25", m, v, math.Sqrt(40.125))
	}
	if m, v := sqrtPoissonMoments(0); math.Abs(m-math.Sqrt(3.0/8)) > 1e-12 || v > 1e-12 {
		t.Errorf("at 0: mean %v, variance %v", m, v)
	}
}

// TestPassBoundSanity bounds the pass: a canary at the 1.5x margin is the
// null, a healthy canary the alternative. Without overdispersion an hour
// of counts at 1% tells them apart almost always; with 50% overdispersion
// at phi 0.8 the bound is lower; and the surrogate's test, calibrated on
// the margin's true model, passes no more than about alpha of the
// margin's own canaries.
func TestPassBoundSanity(t *testing.T) {
	margin := CountModel{Base: 0.01, Ratio: 1.5, Phi: 0.5, Share: 0.1}
	healthy := margin
	healthy.Ratio = 1
	clean := Pair{Null: margin, Alt: healthy, T: Horizon, Phases: 2, Sqrt: true}
	c, err := clean.Bound(2000, 1)
	if err != nil {
		t.Fatal(err)
	}
	pClean, _, _ := c.Power(0.05)
	if pClean < 0.95 {
		t.Errorf("no overdispersion: bound on passes %.3f at 5%%, want at least 95%%", pClean)
	}
	od := clean
	od.Null.Overdisp, od.Null.Phi = 0.5, 0.8
	od.Alt.Overdisp, od.Alt.Phi = 0.5, 0.8
	c, err = od.Bound(2000, 1)
	if err != nil {
		t.Fatal(err)
	}
	if p, _, _ := c.Power(0.05); !(p > 0.05 && p < pClean-0.1) {
		t.Errorf("50%% overdispersion, phi 0.8: bound on passes %.3f, want between 5%% and the clean cell's %.3f less 10 points", p, pClean)
	}
	checks, err := od.TrueCheck([]float64{0.05}, 1000, 200, []CountModel{od.Null}, 1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ch := checks[0]; ch.Others[0] > 0.08 || ch.Power < 0.1 {
		t.Errorf("true model: passes %.3f of healthy canaries and %.3f of fresh ones at the margin", ch.Power, ch.Others[0])
	}
}
