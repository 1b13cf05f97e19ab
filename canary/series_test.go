package canary

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestArG checks the finite-sample long-run factor against n Var(mean)
// computed from the AR(1) autocorrelations phi^k directly.
func TestArG(t *testing.T) {
	for _, phi := range []float64{0, 0.3, 0.5, 0.8, 0.9} {
		for _, n := range []int{2, 5, 10, 60} {
			direct := 1.0
			for k := 1; k < n; k++ {
				direct += 2 * (1 - float64(k)/float64(n)) * math.Pow(phi, float64(k))
			}
			if got := arG(phi, float64(n)); math.Abs(got-direct) > 1e-9*direct {
				t.Errorf("arG(%v, %d) = %v, want %v", phi, n, got, direct)
			}
		}
	}
	if got, want := arG(0.9, 60), 16.01; math.Abs(got-want) > 0.01 {
		t.Errorf("arG(0.9, 60) = %v, want about %v", got, want)
	}
}

// TestDiffMS checks the mean square of first differences from the sums
// against the series itself.
func TestDiffMS(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var s SeriesSums
	var prev, sum float64
	for i := range 50 {
		v := [3]float64{r.NormFloat64(), r.NormFloat64(), r.NormFloat64()}
		s.add(v)
		w := v[0] - 2*v[1] + 0.5*v[2]
		if i > 0 {
			sum += (w - prev) * (w - prev)
		}
		prev = w
	}
	if got, want := s.diffMS([3]float64{1, -2, 0.5}), sum/49; math.Abs(got-want) > 1e-9*want {
		t.Errorf("diffMS = %v, want %v", got, want)
	}
}

// TestStudentSF checks the t tail against tabulated quantiles.
func TestStudentSF(t *testing.T) {
	for _, c := range []struct{ t, nu, p float64 }{
		{12.706, 1, 0.025}, {2.015, 5, 0.05}, {3.169, 10, 0.005}, {10.215, 3, 0.001}, {1.96, math.Inf(1), 0.025},
	} {
		nu := c.nu
		if math.IsInf(nu, 1) {
			nu = 1e9
		}
		if got := studentSF(c.t, nu); math.Abs(got-c.p) > 1e-3*c.p+1e-6 {
			t.Errorf("studentSF(%v, %v) = %v, want %v", c.t, c.nu, got, c.p)
		}
	}
}

// TestFlatCross: the boundary is never below the normal quantile of the
// level, rises with the number of looks still to come and with fewer
// degrees of freedom, and a Brownian motion looked at 60 times crosses it
// about as often as the level says (at most).
func TestFlatCross(t *testing.T) {
	thr := func(nu, level, n, frac float64) float64 {
		lo, hi := 0.0, 100.0
		for range 80 {
			mid := (lo + hi) / 2
			if flatCross(mid, nu, level, n, frac) {
				hi = mid
			} else {
				lo = mid
			}
		}
		return hi
	}
	c60 := thr(1e9, 0.005, 4, 4.0/60)
	if z := normQuantileUpper(0.005); !(c60 > z) {
		t.Errorf("boundary %v below the fixed-sample quantile %v", c60, z)
	}
	if c10 := thr(1e9, 0.005, 4, 0.4); !(c10 < c60) {
		t.Errorf("boundary with 10 looks %v, with 60 %v: want fewer looks lower", c10, c60)
	}
	if c5 := thr(5, 0.005, 4, 4.0/60); !(c5 > c60+1) {
		t.Errorf("boundary with 5 degrees of freedom %v, known variance %v", c5, c60)
	}
	if flatCross(-3, 10, 0.005, 10, 0.5) || flatCross(50, 10, 0.005, 10, 0) || flatCross(50, 1, 0.005, 10, 0.5) {
		t.Error("crossed with a negative t, no time fraction, or under 2 degrees of freedom")
	}
	// Brownian motion, 60 looks from the 4th on, known variance.
	r := rand.New(rand.NewPCG(3, 4))
	const runs, level = 4000, 0.01
	crossed := 0
	for range runs {
		s := 0.0
		for n := 1; n <= 60; n++ {
			s += r.NormFloat64()
			if n >= minSeries && flatCross(s/math.Sqrt(float64(n)), 1e9, level, float64(n), float64(n)/60) {
				crossed++
				break
			}
		}
	}
	p := float64(crossed) / runs
	t.Logf("crossed in %.2f%% of %d runs at level %g%%", 100*p, runs, 100*level)
	if p > level || p < level/4 {
		t.Errorf("crossed in %.3f%% of runs, want at most %g%% and not far below", 100*p, 100*level)
	}
}

// sidesState fills a CountState with n intervals whose two sides' error
// rates vary by a log-normal AR(1) factor (coefficient phi, log-sd sd,
// independent on the two sides) around 1% of 1,000 and 9,000 requests.
func sidesState(r *rand.Rand, n int, phi, sd float64) *CountState {
	pl := &plan{rho: 0.1}
	c := &CountState{}
	var f [2]float64
	for k := range f {
		f[k] = sd * r.NormFloat64()
	}
	st := math.Sqrt(1 - phi*phi)
	for range n {
		for k := range f {
			f[k] = phi*f[k] + st*sd*r.NormFloat64()
		}
		o := Observation{CanaryRequests: 1000, BaselineRequests: 9000,
			CanaryEvents:   poissonDraw(r, 10*math.Exp(f[0])),
			BaselineEvents: poissonDraw(r, 90*math.Exp(f[1]))}
		pl.addCount(c, &o)
	}
	return c
}

// TestPersistence checks the AR(1) coefficient read from the two sides'
// own series: near the truth for an hour of a persistent variation, low
// for an independent one, and no answer when the counts vary no more than
// Poisson counts do.
func TestPersistence(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		phi, sd, lo, hi float64
	}{
		{0, 0.5, -0.01, 0.2},
		{0.5, 0.5, 0.35, 0.65},
		{0.9, 0.5, 0.75, 0.95},
	} {
		sum, runs := 0.0, 300
		for range runs {
			phi, ok := sidesState(r, 60, tc.phi, tc.sd).persistence(0)
			if !ok {
				t.Fatalf("phi %v: no estimate from an overdispersed series", tc.phi)
			}
			sum += phi
		}
		if m := sum / float64(runs); m < tc.lo || m > tc.hi {
			t.Errorf("phi %v: mean estimate %.3f, want in [%v, %v]", tc.phi, m, tc.lo, tc.hi)
		}
	}
	none := 0
	for range 300 {
		if _, ok := sidesState(r, 60, 0, 0).persistence(0); !ok {
			none++
		}
	}
	if none < 270 {
		t.Errorf("Poisson counts: an estimate in %d of 300 runs, want at most 30", 300-none)
	}
}

// TestExcessMoments checks the count test's variance when the sides show
// a persistent excess: with an hour of Poisson-like data the variance is
// about the binomial one and nearly known; with a few minutes of a
// persistent excess the degrees of freedom stay few however small the
// spread looks; and the long-run variance covers the variance of the mean
// over many runs of an overdispersed, persistent series.
func TestExcessMoments(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	w := [3]float64{1, -1, 0}
	c := sidesState(r, 60, 0.5, 0)
	n := float64(c.Series.N)
	rm := c.Series.excessMoments(w, c.Binomial/n, 0.5, countFailZ)
	if b := c.Binomial / n; rm.lrv > 2*b || rm.nu < 20 {
		t.Errorf("binomial data: lrv %.2f (binomial %.2f), nu %.1f; want at most twice the binomial and nu >= 20", rm.lrv, b, rm.nu)
	}
	c = sidesState(r, 8, 0.9, 0.5)
	n = float64(c.Series.N)
	if rm := c.Series.excessMoments(w, c.Binomial/n, 0.9, countFailZ); rm.nu > 3 {
		t.Errorf("8 intervals at phi 0.9: nu %.1f, want at most 3", rm.nu)
	}
	// Coverage: |mean| / se above the Student t's 97.5% point in about 5%
	// of runs, not many more.
	out, runs := 0, 2000
	for range runs {
		c := sidesState(r, 60, 0.8, 0.5)
		n := float64(c.Series.N)
		rm := c.Series.excessMoments(w, c.Binomial/n, 0.8, countFailZ)
		if tt := math.Abs(tOf(rm)); tt > 0 && studentSF(tt, math.Max(rm.nu, 1)) < 0.025 {
			out++
		}
	}
	if f := float64(out) / float64(runs); f > 0.08 {
		t.Errorf("phi 0.8, 50%% overdispersion: |t| beyond the 97.5%% point in %.1f%% of runs, want about 5%%", 100*f)
	}
}

// TestUnbiasAR1 checks that the bias correction inverts its own model and
// that, on simulated Gaussian AR(1) series, the corrected estimate
// averages close to the coefficient where Kendall's first-order
// correction falls short.
func TestUnbiasAR1(t *testing.T) {
	for _, phi := range []float64{0, 0.3, 0.5, 0.8, 0.9} {
		for _, n := range []float64{10, 20, 60} {
			r1 := phi - (1+phi)*(1+2*phi)/n
			if got := unbiasAR1(r1, n); math.Abs(got-phi) > 1e-9 {
				t.Errorf("unbiasAR1(%v, %v) = %v, want %v", r1, n, got, phi)
			}
		}
	}
	if got := unbiasAR1(0.99, 10); got != 1 {
		t.Errorf("unbiasAR1(0.99, 10) = %v, want 1 (no root)", got)
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct{ phi, n float64 }{{0.5, 20}, {0.9, 20}, {0.9, 60}} {
		var sum, kendall float64
		runs := 3000
		st := math.Sqrt(1 - tc.phi*tc.phi)
		for range runs {
			x := r.NormFloat64()
			var s SeriesSums
			for range int(tc.n) {
				x = tc.phi*x + st*r.NormFloat64()
				s.add([3]float64{x})
			}
			_, _, g0, g1 := s.moments([3]float64{1})
			r1 := g1 / g0
			sum += unbiasAR1(r1, tc.n)
			kendall += r1 + (1+3*r1)/tc.n
		}
		m, k := sum/float64(runs), kendall/float64(runs)
		if math.Abs(m-tc.phi) > 0.04 {
			t.Errorf("phi %v, n %v: corrected estimate averages %.3f (Kendall %.3f)", tc.phi, tc.n, m, k)
		}
		if tc.phi == 0.9 && tc.n == 20 && !(tc.phi-k > 0.1) {
			t.Errorf("phi 0.9, n 20: Kendall's correction averages %.3f, expected it to fall short by more than 0.1", k)
		}
	}
}

// TestObfCrossT checks the fail's group-sequential boundary with Student
// tails: at known variance it is the normal one, and with few degrees of
// freedom it asks for the Student quantile, well beyond the first-order
// widening obfCross uses.
func TestObfCrossT(t *testing.T) {
	const level = 0.0033
	c := normQuantileUpper(level / 2)
	if !obfCrossT(c*1.001, math.Inf(1), level, 1) || obfCrossT(c*0.999, math.Inf(1), level, 1) {
		t.Errorf("known variance: boundary is not at %v", c)
	}
	if !obfCrossT(2*c*1.001, math.Inf(1), level, 0.25) || obfCrossT(2*c*0.999, math.Inf(1), level, 0.25) {
		t.Errorf("a quarter of the way: boundary is not at %v", 2*c)
	}
	// With 4 degrees of freedom the Student quantile at 0.165% is about
	// 6.3; the first-order widening stops at about 4.7.
	if !obfCross(5.0, 4, level, 1) {
		t.Errorf("obfCross(5.0, 4 df) does not cross; the test's premise changed")
	}
	if obfCrossT(5.0, 4, level, 1) || obfCrossT(6.2, 4, level, 1) || !obfCrossT(6.4, 4, level, 1) {
		t.Errorf("4 df: boundary not between 6.2 and 6.4")
	}
	if obfCrossT(-10, 4, level, 1) || obfCrossT(10, 0.5, level, 1) || obfCrossT(10, 4, level, 0) {
		t.Errorf("crossed without a positive t, degrees of freedom or information")
	}
}
