package eval

// This file bounds what any count test can attain (issue 14): for a test
// that sees the error and request counts of both sides up to minute T and
// fails a canary of the null cell N with probability at most alpha, the
// largest probability of failing one of the regression cell R by minute T.
//
// By the Neyman-Pearson lemma that largest probability is the power of the
// likelihood-ratio test of N against R. The exact likelihood of counts
// under latent log-normal AR(1) rates has no closed form, so the bound uses
// a Gaussian surrogate: each hypothesis is the multivariate normal with the
// exact mean vector and covariance matrix of the 2T counts (canary minutes
// 1..T, then baseline minutes 1..T), conditional on the requests. The
// surrogate's likelihood-ratio test is then exact for the surrogate, and
// TrueCheck measures how the same statistic fares on counts drawn from the
// simulation's own model.

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// CountModel is the simulation's model of one cell's error counts (see
// the package documentation and Run) at a fixed base rate.
type CountModel struct {
	// Base is the baseline's error rate per request.
	Base float64
	// Ratio multiplies the canary's error rate (0 or 1: no change).
	Ratio float64
	// Phi is the AR(1) coefficient of the host, common and overdispersion
	// factors.
	Phi float64
	// Overdisp is the log-sd of each side's own AR(1) factor (the cell's
	// overdispersion), which has mean one.
	Overdisp float64
	// Share is the canary's traffic share.
	Share float64
	// LevelSD, when positive, adds a persistent log-normal factor with mean
	// one and this log-sd to both sides' rates: an error rate that the test
	// knows only to within a factor of about exp(LevelSD). The simulation
	// has none (its base rate is known to a test of one cell).
	LevelSD float64
}

// ModelOf returns the count model of a cell with a fixed positive base
// rate.
func ModelOf(c Cell) (CountModel, error) {
	if !(c.BaseRate > 0) {
		return CountModel{}, fmt.Errorf("eval: cell %q: BaseRate %v: the bound needs a fixed positive base rate", c.Name(), c.BaseRate)
	}
	if c.Effect.SparseRate != 0 || c.Effect.ErrorRatio < 0 {
		return CountModel{}, fmt.Errorf("eval: cell %q: the bound models an error ratio, not a sparse rate", c.Name())
	}
	return CountModel{Base: c.BaseRate, Ratio: c.Effect.ErrorRatio, Phi: c.Phi, Overdisp: c.Overdisp, Share: c.Share}, nil
}

func (m CountModel) validate() error {
	var errs []error
	switch {
	case !(m.Base > 0 && m.Base < 0.1):
		errs = append(errs, fmt.Errorf("eval: Base %v: want a rate in (0, 0.1)", m.Base))
	case !(m.Ratio >= 0 && m.Ratio < 10):
		errs = append(errs, fmt.Errorf("eval: Ratio %v: want 0 to 10", m.Ratio))
	}
	if !(m.Phi >= 0 && m.Phi < 1) {
		errs = append(errs, fmt.Errorf("eval: Phi %v: want [0, 1)", m.Phi))
	}
	if !(m.Overdisp >= 0 && m.Overdisp <= 2) || !(m.LevelSD >= 0 && m.LevelSD <= 3) {
		errs = append(errs, fmt.Errorf("eval: Overdisp %v, LevelSD %v: want log-sds in [0, 2] and [0, 3]", m.Overdisp, m.LevelSD))
	}
	if !(m.Share > 0 && m.Share < 1) {
		errs = append(errs, fmt.Errorf("eval: Share %v: want (0, 1)", m.Share))
	}
	return errors.Join(errs...)
}

func (m CountModel) ratio() float64 {
	if m.Ratio == 0 {
		return 1
	}
	return m.Ratio
}

// hosts returns the number of canary hosts and each side's hosts'
// share of the traffic, as Run splits the fleet.
func (m CountModel) hosts() (nCanary int, wCanary, wBase float64) {
	nCanary = max(1, int(math.Round(m.Share*Hosts)))
	return nCanary, m.Share / float64(nCanary), (1 - m.Share) / float64(Hosts-nCanary)
}

// RatePerRequest returns the expected errors per request of the canary
// and of the baseline. The host, host AR and common factors are
// log-normal without a mean correction in the simulation, so they raise
// the mean rate by exp of half their variance; the overdispersion and
// level factors have mean one.
func (m CountModel) RatePerRequest() (canary, baseline float64) {
	v0 := errHostSD*errHostSD + errHostARSD*errHostARSD + errCommonARSD*errCommonARSD
	b := m.Base * math.Exp(v0/2)
	return b * m.ratio(), b
}

// Traffic returns the simulation's expected requests of the whole fleet in
// minutes 1..T of a canary whose day starts at phase (minutes).
func Traffic(phase float64, T int) []float64 {
	out := make([]float64, T)
	for i := range out {
		t := float64(i + 1)
		out[i] = RequestsPerMin * (1 + dailySwing*math.Sin(2*math.Pi*(t+phase)/1440))
	}
	return out
}

// Moments returns the mean vector and the covariance matrix (row-major,
// 2T x 2T) of the error counts of the canary in minutes 1..T followed by
// the baseline's, given that each host serves its expected requests
// (traffic[t] times its share) in every minute.
//
// A host's rate is base x exp(x) with x Gaussian, so for two hosts
// E[r r'] = E[r] E[r'] exp(Cov(x, x')): the covariance of two counts is
// the sum over their hosts' pairs of n n' E[r] E[r'] (exp(C) - 1), plus
// the Poisson variance (the mean) on the diagonal, where C, for a lag of
// d minutes, is
//
//	same host:             sdHost^2 + (sdHostAR^2 + sdCommon^2 + od^2) phi^d + level^2
//	same side, other host: (sdCommon^2 + od^2) phi^d + level^2
//	other side:            sdCommon^2 phi^d + level^2
func (m CountModel) Moments(traffic []float64) (mean, cov []float64, err error) {
	if err := m.validate(); err != nil {
		return nil, nil, err
	}
	T := len(traffic)
	n := 2 * T
	nC, wC, wB := m.hosts()
	k := [2]float64{float64(nC), float64(Hosts - nC)}
	w := [2]float64{wC, wB}
	var rate [2]float64
	rate[0], rate[1] = m.RatePerRequest()
	mean = make([]float64, n)
	// per-host expected errors of side s in minute t
	hostMean := func(s, t int) float64 { return traffic[t] * w[s] * rate[s] }
	for s := range 2 {
		for t := range T {
			mean[s*T+t] = k[s] * hostMean(s, t)
		}
	}
	ls := m.LevelSD * m.LevelSD
	phiPow := make([]float64, T)
	for d := range phiPow {
		phiPow[d] = math.Pow(m.Phi, float64(d))
	}
	cov = make([]float64, n*n)
	for s := range 2 {
		for s2 := range 2 {
			for t := range T {
				for t2 := range T {
					d := phiPow[abs(t-t2)]
					var sum float64 // sum over host pairs of exp(C) - 1
					if s == s2 {
						same := errHostSD*errHostSD + (errHostARSD*errHostARSD+errCommonARSD*errCommonARSD+m.Overdisp*m.Overdisp)*d + ls
						other := (errCommonARSD*errCommonARSD+m.Overdisp*m.Overdisp)*d + ls
						sum = k[s]*math.Expm1(same) + k[s]*(k[s]-1)*math.Expm1(other)
					} else {
						sum = k[s] * k[s2] * math.Expm1(errCommonARSD*errCommonARSD*d+ls)
					}
					c := hostMean(s, t) * hostMean(s2, t2) * sum
					if s == s2 && t == t2 {
						c += mean[s*T+t]
					}
					cov[(s*T+t)*n+s2*T+t2] = c
				}
			}
		}
	}
	return mean, cov, nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// gaussian is a multivariate normal held by the Cholesky factor of its
// covariance.
type gaussian struct {
	mean   []float64
	chol   []float64 // lower triangle, row-major n x n
	logDet float64   // half the log-determinant: sum of log chol[i][i]
}

func newGaussian(mean, cov []float64) (gaussian, error) {
	n := len(mean)
	l := slices.Clone(cov)
	var half float64
	for j := range n {
		d := l[j*n+j]
		for k := range j {
			d -= l[j*n+k] * l[j*n+k]
		}
		if !(d > 0) {
			return gaussian{}, fmt.Errorf("eval: covariance not positive definite at %d", j)
		}
		d = math.Sqrt(d)
		l[j*n+j] = d
		half += math.Log(d)
		for i := j + 1; i < n; i++ {
			s := l[i*n+j]
			for k := range j {
				s -= l[i*n+k] * l[j*n+k]
			}
			l[i*n+j] = s / d
		}
		for i := range j {
			l[i*n+j] = 0
		}
	}
	return gaussian{mean: slices.Clone(mean), chol: l, logDet: half}, nil
}

// sub returns the marginal of the components idx.
func (g gaussian) sub(idx []int, cov []float64) (gaussian, error) {
	n := len(g.mean)
	m := make([]float64, len(idx))
	c := make([]float64, len(idx)*len(idx))
	for a, i := range idx {
		m[a] = g.mean[i]
		for b, j := range idx {
			c[a*len(idx)+b] = cov[i*n+j]
		}
	}
	return newGaussian(m, c)
}

// logPDF returns the log-density at y less the constant n/2 log(2 pi),
// with the mean replaced by mean when it is not nil; z is scratch of
// len(y).
func (g gaussian) logPDF(y, mean, z []float64) float64 {
	if mean == nil {
		mean = g.mean
	}
	n := len(y)
	var q float64
	for i := range n {
		s := y[i] - mean[i]
		row := g.chol[i*n : i*n+i]
		for k, v := range row {
			s -= v * z[k]
		}
		z[i] = s / g.chol[i*n+i]
		q += z[i] * z[i]
	}
	return -q/2 - g.logDet
}

// draw fills y with a draw and z with the standard normals it came from.
func (g gaussian) draw(r *rand.Rand, y, z []float64) {
	n := len(y)
	for i := range n {
		z[i] = r.NormFloat64()
	}
	for i := range n {
		s := g.mean[i]
		for k, v := range g.chol[i*n : i*n+i+1] {
			s += v * z[k]
		}
		y[i] = s
	}
}

// Pair is a null cell's model against a regression's, over the first T
// minutes.
type Pair struct {
	Null, Alt CountModel
	T         int
	// Phases is the number of points of the grid of daily phases over
	// which the surrogate averages (the simulation draws the phase
	// uniformly; the test sees the requests and so knows the traffic).
	Phases int
	// Only restricts what the test sees: "" both sides, "canary" or
	// "baseline" one side's counts alone.
	Only string
	// Sqrt puts the surrogate on the square roots sqrt(count + 3/8) rather
	// than on the counts (see SqrtMoments).
	Sqrt bool
}

// surrogate holds a pair's two Gaussians at every phase of the grid.
type surrogate struct {
	p         Pair
	null, alt []gaussian
	rateN     [2]float64 // per-request mean rates (canary, baseline)
	rateA     [2]float64
	idx       []int // components seen
	phases    []float64
}

func (p Pair) build() (*surrogate, error) {
	if p.T < 1 || p.T > Horizon {
		return nil, fmt.Errorf("eval: T %d: want 1 to %d minutes", p.T, Horizon)
	}
	if p.Phases < 1 {
		return nil, fmt.Errorf("eval: Phases %d: want at least 1", p.Phases)
	}
	s := &surrogate{p: p}
	s.rateN[0], s.rateN[1] = p.Null.RatePerRequest()
	s.rateA[0], s.rateA[1] = p.Alt.RatePerRequest()
	switch p.Only {
	case "":
		for i := range 2 * p.T {
			s.idx = append(s.idx, i)
		}
	case "canary", "baseline":
		off := 0
		if p.Only == "baseline" {
			off = p.T
		}
		for i := range p.T {
			s.idx = append(s.idx, off+i)
		}
	default:
		return nil, fmt.Errorf("eval: Only %q: want \"\", \"canary\" or \"baseline\"", p.Only)
	}
	for j := range p.Phases {
		ph := (float64(j) + 0.5) * 1440 / float64(p.Phases)
		s.phases = append(s.phases, ph)
		tr := Traffic(ph, p.T)
		for _, h := range []struct {
			m   CountModel
			out *[]gaussian
		}{{p.Null, &s.null}, {p.Alt, &s.alt}} {
			mean, cov, err := h.m.Moments(tr)
			if err != nil {
				return nil, err
			}
			if p.Sqrt {
				mean, cov = SqrtMoments(mean, cov)
			}
			g, err := gaussian{mean: mean}.sub(s.idx, cov)
			if err != nil {
				return nil, err
			}
			*h.out = append(*h.out, g)
		}
	}
	return s, nil
}

// llr returns log f_alt(y) - f_null(y) at phase j; means, when not nil,
// are the two hypotheses' means for y's observed requests.
func (s *surrogate) llr(j int, y, meanN, meanA, z []float64) float64 {
	return s.alt[j].logPDF(y, meanA, z) - s.null[j].logPDF(y, meanN, z)
}

// Curve is the surrogate's likelihood-ratio test between a pair: for every
// threshold, its level under the null and its power under the regression,
// estimated by Monte Carlo with half the draws from each Gaussian and
// weights from the balance heuristic (a draw with log-likelihood ratio l
// counts 2/(1+e^l) towards the null's tail and 2e^l/(1+e^l) towards the
// regression's), so that both tails are estimated well however far apart
// they are.
type Curve struct {
	// Draws is the number of draws from each hypothesis.
	Draws int
	llr   []float64 // sorted descending
	fromA []bool
	wN    []float64
	wA    []float64
	cumN  []float64 // level of the test that fails at llr[0..i]
	cumA  []float64
}

// Bound computes the pair's curve with draws from each hypothesis.
func (p Pair) Bound(draws int, seed uint64) (*Curve, error) {
	s, err := p.build()
	if err != nil {
		return nil, err
	}
	if draws < 100 {
		return nil, fmt.Errorf("eval: draws %d: want at least 100", draws)
	}
	return s.curve(draws, seed), nil
}

func (s *surrogate) curve(draws int, seed uint64) *Curve {
	r := rand.New(rand.NewPCG(seed, 0xb0c4d))
	n := len(s.idx)
	y, z := make([]float64, n), make([]float64, n)
	type rec struct {
		l     float64
		fromA bool
	}
	recs := make([]rec, 0, 2*draws)
	for i := range 2 * draws {
		fromA := i%2 == 1
		j := r.IntN(len(s.phases))
		if fromA {
			s.alt[j].draw(r, y, z)
		} else {
			s.null[j].draw(r, y, z)
		}
		recs = append(recs, rec{s.llr(j, y, nil, nil, z), fromA})
	}
	slices.SortFunc(recs, func(a, b rec) int {
		switch {
		case a.l > b.l:
			return -1
		case a.l < b.l:
			return 1
		}
		return 0
	})
	c := &Curve{Draws: draws}
	var cn, ca float64
	for _, rc := range recs {
		wn, wa := balance(rc.l)
		cn += wn / float64(2*draws)
		ca += wa / float64(2*draws)
		c.llr = append(c.llr, rc.l)
		c.fromA = append(c.fromA, rc.fromA)
		c.wN = append(c.wN, wn)
		c.wA = append(c.wA, wa)
		c.cumN = append(c.cumN, cn)
		c.cumA = append(c.cumA, ca)
	}
	return c
}

// balance returns the balance-heuristic weights 2/(1+e^l) and
// 2e^l/(1+e^l) without overflow.
func balance(l float64) (wNull, wAlt float64) {
	if l > 0 {
		e := math.Exp(-l)
		return 2 * e / (1 + e), 2 / (1 + e)
	}
	e := math.Exp(l)
	return 2 / (1 + e), 2 * e / (1 + e)
}

// Power returns the power of the most powerful test at level alpha (the
// test that fails when the log-likelihood ratio is above the threshold
// whose level is the largest not above alpha), its Monte Carlo standard
// error, and the threshold.
func (c *Curve) Power(alpha float64) (power, se, threshold float64) {
	i, _ := slices.BinarySearchFunc(c.cumN, alpha, func(v, a float64) int {
		if v > a {
			return 1
		}
		return -1
	})
	// c.cumN[i-1] <= alpha < c.cumN[i]: fail on the first i draws.
	if i == 0 {
		return 0, 0, math.Inf(1)
	}
	threshold = c.llr[i-1]
	return c.cumA[i-1], c.se(i, threshold), threshold
}

// se is the delta-method standard error of the power of the test that
// fails on the first k draws: the estimate moves with the draws that
// estimate it and with those that set the threshold, and at a threshold
// c the regression's tail moves e^c times the null's (the
// likelihood-ratio's density ratio), so each draw contributes
// u = wA - e^c wN if it is above the threshold; the variance is taken
// within each half of the draws.
func (c *Curve) se(k int, threshold float64) float64 {
	ec := math.Exp(threshold)
	var sum, sum2 [2]float64
	for i := range k {
		u := c.wA[i] - ec*c.wN[i]
		h := 0
		if c.fromA[i] {
			h = 1
		}
		sum[h] += u
		sum2[h] += u * u
	}
	n := float64(c.Draws)
	var v float64
	for h := range 2 {
		m := sum[h] / n
		v += sum2[h]/n - m*m
	}
	return math.Sqrt(v / (4 * n))
}

// AlphaFor returns the smallest level at which the most powerful test's
// power reaches target.
func (c *Curve) AlphaFor(target float64) float64 {
	for i, a := range c.cumA {
		if a >= target {
			return c.cumN[i]
		}
	}
	return 1
}

// SimCounts draws one canary's error counts and requests for minutes
// 1..T (canary minutes then baseline minutes) from the simulation's model
// (Run's): host factors, Poisson requests per host around the daily
// swing with the given phase (minutes), Poisson errors.
func (m CountModel) SimCounts(r *rand.Rand, phase float64, T int, counts, requests []float64) {
	nC, wC, wB := m.hosts()
	var hs [Hosts]struct{ off, ar float64 }
	for i := range hs {
		hs[i].off = errHostSD * r.NormFloat64()
		hs[i].ar = errHostARSD * r.NormFloat64()
	}
	stat := math.Sqrt(1 - m.Phi*m.Phi)
	common := errCommonARSD * r.NormFloat64()
	var od [2]float64
	for k := range od {
		od[k] = m.Overdisp * r.NormFloat64()
	}
	level := 0.0
	if m.LevelSD > 0 {
		level = m.LevelSD*r.NormFloat64() - m.LevelSD*m.LevelSD/2
	}
	clear(counts[:2*T])
	clear(requests[:2*T])
	for t := 1; t <= T; t++ {
		traffic := RequestsPerMin * (1 + dailySwing*math.Sin(2*math.Pi*(float64(t)+phase)/1440))
		common = m.Phi*common + stat*errCommonARSD*r.NormFloat64()
		for k := range od {
			od[k] = m.Phi*od[k] + stat*m.Overdisp*r.NormFloat64()
		}
		for i := range hs {
			h := &hs[i]
			h.ar = m.Phi*h.ar + stat*errHostARSD*r.NormFloat64()
			side, w, ratio := 1, wB, 1.0
			if i < nC {
				side, w, ratio = 0, wC, m.ratio()
			}
			n := poisson(r, traffic*w)
			rate := ratio * m.Base * math.Exp(h.off+h.ar+common+od[side]-m.Overdisp*m.Overdisp/2+level)
			counts[side*T+t-1] += float64(poisson(r, float64(n)*math.Min(rate, 1)))
			requests[side*T+t-1] += float64(n)
		}
	}
}

// Check is the surrogate's statistic applied to counts from the
// simulation's own model.
type Check struct {
	// Power is the share of the regression's runs the statistic fails, at
	// the threshold that fails the share alpha of the null's runs.
	Power float64
	// SE is its standard error, from ten batches that each set their own
	// threshold.
	SE float64
	// Others is the share of the runs of each other null model that the
	// same test (same threshold) fails: whether the test, built for one
	// null cell, holds its level in the others.
	Others []float64
}

// TrueCheck calibrates the surrogate's log-likelihood ratio (with the
// covariances of the nearest phase of the grid, and for counts the means
// scaled to each run's observed requests) on nullRuns runs of the null's
// true model, at each level of alphas, and returns its power on altRuns
// runs of the regression's and its false-fail rate on otherRuns runs of
// each of others.
func (p Pair) TrueCheck(alphas []float64, nullRuns, altRuns int, others []CountModel, otherRuns int, seed uint64) ([]Check, error) {
	s, err := p.build()
	if err != nil {
		return nil, err
	}
	const batches = 10
	if nullRuns < batches*100 || altRuns < batches*10 || (len(others) > 0 && otherRuns < 1) {
		return nil, fmt.Errorf("eval: runs %d, %d and %d: want at least %d, %d and 1", nullRuns, altRuns, otherRuns, batches*100, batches*10)
	}
	for _, m := range others {
		if err := m.validate(); err != nil {
			return nil, err
		}
	}
	r := rand.New(rand.NewPCG(seed, 0xc4ec))
	T := p.T
	counts, req := make([]float64, 2*T), make([]float64, 2*T)
	n := len(s.idx)
	y, z, mN, mA := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	stat := func(m CountModel) float64 {
		phase := r.Float64() * 1440
		m.SimCounts(r, phase, T, counts, req)
		j := int(math.Floor(phase/1440*float64(len(s.phases)))) % len(s.phases)
		for a, i := range s.idx {
			side := i / T
			y[a] = counts[i]
			mN[a] = req[i] * s.rateN[side]
			mA[a] = req[i] * s.rateA[side]
			if p.Sqrt {
				y[a] = math.Sqrt(counts[i] + 3.0/8)
			}
		}
		if p.Sqrt {
			// The roots' means are not linear in the requests: the
			// grid's expected requests stand for the observed ones.
			return s.llr(j, y, nil, nil, z)
		}
		return s.llr(j, y, mN, mA, z)
	}
	runs := func(m CountModel, k int) []float64 {
		out := make([]float64, k)
		for i := range out {
			out[i] = stat(m)
		}
		return out
	}
	nullL := runs(p.Null, nullRuns)
	altL := runs(p.Alt, altRuns)
	otherL := make([][]float64, len(others))
	for o, m := range others {
		otherL[o] = runs(m, otherRuns)
	}
	threshold := func(nl []float64, alpha float64) float64 {
		nl = slices.Clone(nl)
		slices.Sort(nl)
		// Fail above the (1-alpha) quantile: at most alpha of the null.
		k := int(math.Ceil((1 - alpha) * float64(len(nl))))
		return nl[min(k, len(nl)-1)]
	}
	above := func(l []float64, thr float64) float64 {
		f := 0
		for _, v := range l {
			if v > thr {
				f++
			}
		}
		return float64(f) / float64(len(l))
	}
	out := make([]Check, len(alphas))
	for a, alpha := range alphas {
		thr := threshold(nullL, alpha)
		out[a].Power = above(altL, thr)
		for _, ol := range otherL {
			out[a].Others = append(out[a].Others, above(ol, thr))
		}
		var sum, sum2 float64
		nb, ab := nullRuns/batches, altRuns/batches
		for b := range batches {
			v := above(altL[b*ab:(b+1)*ab], threshold(nullL[b*nb:(b+1)*nb], alpha))
			sum += v
			sum2 += v * v
		}
		m := sum / batches
		out[a].SE = math.Sqrt(math.Max(sum2/batches-m*m, 0) / (batches - 1))
	}
	return out, nil
}

// SqrtMoments turns the moments of counts (from Moments) into those of
// u = sqrt(count + 3/8), whose variance given the Poisson mean is about
// 1/4 whatever the mean (Anscombe), so that a Gaussian surrogate of u does
// not pretend that a count's Poisson variance stays put when its rate
// wanders, as one of the counts does.
//
// Each count's Poisson mean L is taken as log-normal with the mean and
// covariance of the counts' latent part (the covariance less the Poisson
// variance on the diagonal): log-covariance K_ij = log(1 + C_ij/(m_i m_j)).
// A component's mean and variance are then integrals over L of the exact
// conditional moments of sqrt(Y + 3/8), Y Poisson with mean L; two
// components' correlation is that of sqrt(L_i) and sqrt(L_j), which is
// exact for log-normals: (e^(K_ij/4) - 1) / sqrt((e^(K_ii/4) - 1)(e^(K_jj/4) - 1)).
func SqrtMoments(mean, cov []float64) (meanU, covU []float64) {
	n := len(mean)
	k := make([]float64, n*n)
	for i := range n {
		for j := range n {
			c := cov[i*n+j]
			if i == j {
				c -= mean[i]
			}
			k[i*n+j] = math.Log1p(c / (mean[i] * mean[j]))
		}
	}
	meanU = make([]float64, n)
	sd := make([]float64, n)    // sd of E[u | L]
	noise := make([]float64, n) // E[Var(u | L)]
	for i := range n {
		s := math.Sqrt(k[i*n+i])
		var m1, m2, v float64
		for q := range quadZ {
			l := mean[i] * math.Exp(s*quadZ[q]-s*s/2)
			cm, cv := sqrtPoissonMoments(l)
			m1 += quadW[q] * cm
			m2 += quadW[q] * cm * cm
			v += quadW[q] * cv
		}
		meanU[i] = m1
		sd[i] = math.Sqrt(math.Max(m2-m1*m1, 0))
		noise[i] = v
	}
	covU = make([]float64, n*n)
	for i := range n {
		for j := range n {
			if i == j {
				covU[i*n+j] = sd[i]*sd[i] + noise[i]
				continue
			}
			d := math.Sqrt(math.Expm1(k[i*n+i]/4) * math.Expm1(k[j*n+j]/4))
			if d > 0 {
				covU[i*n+j] = sd[i] * sd[j] * math.Expm1(k[i*n+j]/4) / d
			}
		}
	}
	return meanU, covU
}

// quadZ and quadW integrate over a standard normal: the trapezoid rule on
// [-8, 8] in steps of 1/20, far finer than the integrands vary.
var quadZ, quadW = func() ([]float64, []float64) {
	var z, w []float64
	var sum float64
	for i := -160; i <= 160; i++ {
		x := float64(i) / 20
		z = append(z, x)
		w = append(w, math.Exp(-x*x/2))
		sum += w[len(w)-1]
	}
	for i := range w {
		w[i] /= sum
	}
	return z, w
}()

// sqrtPoissonMoments returns the mean and variance of sqrt(Y + 3/8) for Y
// Poisson with mean l: summed over the distribution up to a mean of 40,
// Anscombe's expansions (sqrt(l + 1/8) and 1/4) above, where they are
// within 0.1%.
func sqrtPoissonMoments(l float64) (mean, variance float64) {
	if l > 40 {
		return math.Sqrt(l + 1.0/8), 0.25
	}
	p := math.Exp(-l)
	var m1, m2, tot float64
	for y := 0; tot < 1-1e-12 && y < 200; y++ {
		if y > 0 {
			p *= l / float64(y)
		}
		u := math.Sqrt(float64(y) + 3.0/8)
		m1 += p * u
		m2 += p * u * u
		tot += p
	}
	return m1, math.Max(m2-m1*m1, 0)
}
