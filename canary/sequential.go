package canary

import (
	"math"
	"sort"
)

// This file holds the anytime-valid tests of the sequential judge and its
// traffic guard. Each test works on O(1) sufficient statistics kept in a
// MetricState (a fixed number of buckets for quantiles) and answers three
// questions: has the metric regressed beyond its tolerance (fail), has a
// regression beyond its margin been ruled out (pass), and what is the
// estimate with its confidence-sequence interval (for the verdict).

// Prior settings of the mixtures. They set where each test is most
// sensitive, not its validity.
const (
	// countConcentration is k in the Beta(k p0, k (1-p0)) mixtures over a
	// share of events or requests: tightest after roughly k of them.
	countConcentration = 100
	// quantileConcentration is k in the Beta(k q, k (1-q)) mixture over the
	// probability of a request falling below a bound: tightest after
	// roughly k requests.
	quantileConcentration = 1000
	// earlyDispersion is the overdispersion (variance over the binomial's)
	// the count test assumes before knownAfter intervals are in: error
	// rates that vary 25% from minute to minute with an AR(1) coefficient
	// of 0.8 have about 7 at a 1% error rate and 10% of the traffic.
	earlyDispersion = 8
	// maxPhi bounds the lag-1 autocorrelation the count series test
	// assumes.
	maxPhi = 0.95
	// meanMaxPhi bounds the serial correlation of the null processes of a
	// mean metric: stationary AR(1) with |phi| <= meanMaxPhi.
	meanMaxPhi = 0.9
)

// plan is a metric's test, prepared once from its policy: the constants of
// its mixtures and thresholds.
type plan struct {
	m         Metric
	dir       Direction
	logFail   float64 // log(1 / alpha_m): the evidence needed to fail
	alphaFail float64
	passLevel float64 // PassAlpha
	logPass   float64 // log(1 / PassAlpha)

	// Count: the test runs on the canary's events against the baseline's;
	// for a Decrease metric the roles swap.
	rho        float64 // expected share of the traffic (oriented)
	r0, rM     float64 // rate ratios at the tolerance and the margin
	slack      float64 // absolute slack on the rate (Increase only)
	logPassRel float64 // evidence the relative pass needs

	// frac is the information fraction of the current look (see
	// Judge.infoFraction), set before each evaluation.
	frac float64

	// Mean: null and margin in the units of the per-interval difference.
	theta0, thetaM float64

	// Quantile.
	bounds   []float64
	qa, qb   float64 // Beta prior of the mixture over P(X <= bound)
	qLogBeta float64 // log B(qa, qb)
	scratchC []int64 // cumulative counts, reused
	scratchB []int64
}

func newPlan(p Policy, m Metric, alphaFail float64) *plan {
	pl := &plan{m: m, dir: m.direction(), alphaFail: alphaFail, logFail: math.Log(1 / alphaFail),
		passLevel: p.passAlpha(), logPass: math.Log(1 / p.passAlpha())}
	tolRatio, marginRatio := 1+m.tolerance(), 1+m.margin()
	switch m.Kind {
	case Count:
		pl.rho = p.TrafficShare
		if pl.dir == Decrease {
			pl.rho = 1 - pl.rho
		}
		pl.r0, pl.rM = tolRatio, marginRatio
		pl.logPassRel = pl.logPass
		if pl.dir == Increase {
			pl.slack = m.slack()
			if pl.slack > 0 {
				// The relative and the absolute pass share PassAlpha.
				pl.logPassRel = math.Log(2 / pl.passLevel)
			}
		}
	case Mean:
		if m.Absolute {
			pl.theta0, pl.thetaM = m.tolerance(), m.margin()
		} else {
			pl.theta0, pl.thetaM = math.Log(tolRatio), math.Log(marginRatio)
		}
	case Quantile:
		pl.bounds = m.buckets()
		q := m.Quantile
		pl.qa, pl.qb = quantileConcentration*q, quantileConcentration*(1-q)
		pl.qLogBeta = logBeta(pl.qa, pl.qb)
		pl.scratchC = make([]int64, len(pl.bounds)+1)
		pl.scratchB = make([]int64, len(pl.bounds)+1)
	}
	return pl
}

// shareAt is the canary's expected share of the events when its event rate
// is ratio times the baseline's and its share of the traffic is rho.
func shareAt(rho, ratio float64) float64 { return ratio * rho / (ratio*rho + 1 - rho) }

// betaUpper returns P(Beta(a, b) > x).
func betaUpper(x, a, b float64) float64 { return regIncBeta(1-x, b, a) }

// result is what a test concludes at one instant.
type result struct {
	noData bool
	fail   bool
	pass   bool
	// estimate and interval of the effect, on the reporting scale (a ratio,
	// or a difference for absolute means), at level 1 - PassAlpha.
	estimate, lower, upper float64
	// logEvidence is the log e-value for a regression beyond the
	// tolerance; NaN when the test has none (quantiles).
	logEvidence float64
}

// ---- Shares (the exact test behind counts and the traffic guard) ----

// shareLogEvidence is the log Bayes factor of the one-sided mixture for
// "the share of x in x + y is above p0": the Beta(k p0, k (1-p0)) prior
// truncated to (p0, 1), against p0. It is a nonnegative supermartingale
// under every share at or below p0 when x and y are the counts of
// independent events (binomial given the total), so the chance it ever
// reaches 1/alpha is at most alpha (Ville).
func shareLogEvidence(x, y, p0 float64) float64 {
	if x+y == 0 {
		return 0
	}
	a0, b0 := countConcentration*p0, countConcentration*(1-p0)
	if x/(x+y) <= p0 {
		// Every share above p0 is less likely than p0 itself, so the
		// evidence is below 1; the formula would cancel two huge terms.
		return math.Min(0, logBeta(a0+x, b0+y)-logBeta(a0, b0)-x*math.Log(p0)-y*math.Log1p(-p0))
	}
	return logBeta(a0+x, b0+y) - logBeta(a0, b0) - x*math.Log(p0) - y*math.Log1p(-p0) -
		math.Log(betaUpper(p0, a0, b0)) + math.Log(betaUpper(p0, a0+x, b0+y))
}

// shareExcludes reports whether the confidence sequence for the share of x
// in x + y, at level 1 - level, from the mixture centred on rho, excludes
// p (the shares it keeps are those whose likelihood is at least level
// times the mixture's marginal likelihood).
func shareExcludes(x, y, rho, p, level float64) bool {
	if x+y == 0 {
		return false
	}
	aP, bP := countConcentration*rho, countConcentration*(1-rho)
	marg := logBeta(aP+x, bP+y) - logBeta(aP, bP)
	return x*math.Log(p)+y*math.Log1p(-p) < marg-math.Log(1/level)
}

// ---- Counts ----

// CountState is the state of a Count metric: events (and requests, when
// observed) on each side, and the sums of the per-interval series the test
// works on.
type CountState struct {
	// CanaryEvents and BaselineEvents are the events so far.
	CanaryEvents   int64 `json:"canaryEvents"`
	BaselineEvents int64 `json:"baselineEvents"`
	// CanaryRequests and BaselineRequests are the requests so far, when
	// observed.
	CanaryRequests   int64 `json:"canaryRequests,omitempty"`
	BaselineRequests int64 `json:"baselineRequests,omitempty"`
	// Series holds, per interval, x (1 - rho), y rho and a b / (a + b),
	// where x and y are the events of the side under test and of the
	// other side, a and b their requests, and rho = a / (a + b) (the
	// policy's TrafficShare when requests are not observed).
	Series SeriesSums `json:"series"`
	// Binomial is the sum over intervals of (x + y) rho (1 - rho): the
	// variance of the series at a rate ratio of 1 if events were
	// independent.
	Binomial float64 `json:"binomial"`
	// PoissonX and PoissonY are the sums over intervals of x (1 - rho)^2
	// and y rho^2: the variance of the series' two terms if events were
	// Poisson, whatever the rate ratio (see countFloor).
	PoissonX float64 `json:"poissonX,omitempty"`
	// PoissonY: see PoissonX.
	PoissonY float64 `json:"poissonY,omitempty"`
	// CanarySide and BaselineSide hold, per interval, each side's events
	// and requests (1 when requests are not observed), from which the
	// persistence of the error rates' variation is estimated (see
	// persistence). A state saved before they existed has none, and the
	// test then reads the persistence from Series alone.
	CanarySide SeriesSums `json:"canarySide,omitzero"`
	// BaselineSide: see CanarySide.
	BaselineSide SeriesSums `json:"baselineSide,omitzero"`
}

// addCount adds one interval of a Count metric.
func (pl *plan) addCount(c *CountState, o *Observation) {
	c.CanaryEvents += o.CanaryEvents
	c.BaselineEvents += o.BaselineEvents
	c.CanaryRequests += o.CanaryRequests
	c.BaselineRequests += o.BaselineRequests
	x, y := float64(o.CanaryEvents), float64(o.BaselineEvents)
	a, b := float64(o.CanaryRequests), float64(o.BaselineRequests)
	if pl.dir == Decrease {
		x, y, a, b = y, x, b, a
	}
	rho, cc := pl.rho, 0.0
	if a+b > 0 {
		rho, cc = a/(a+b), a*b/(a+b)
	}
	c.Series.add([3]float64{x * (1 - rho), y * rho, cc})
	c.Binomial += (x + y) * rho * (1 - rho)
	c.PoissonX += x * (1 - rho) * (1 - rho)
	c.PoissonY += y * rho * rho
	if a+b == 0 {
		a, b = 1, 1
	}
	c.CanarySide.add([3]float64{x, a})
	c.BaselineSide.add([3]float64{y, b})
}

// countT returns the t statistic of the series at rate ratio r, with its
// effective counts. The variance is the binomial one plus the excess the
// data show (see excessMoments), at the persistence the two sides' own
// series show (see persistence); when they show too little to tell, the
// larger of the estimate from the series itself and the binomial
// variance. dofZ says where, in the excess's uncertainty, the degrees of
// freedom are taken (see excessMoments): countFailZ for the fail,
// countPassZ for the pass and the interval.
func (pl *plan) countT(c *CountState, r, dofZ float64) (t float64, rm robust) {
	n := float64(c.Series.N)
	w := [3]float64{1, -r, 0}
	phiSE := countPassPhiSE
	if dofZ == countFailZ {
		phiSE = countFailPhiSE
	}
	if phiUp, ok := c.persistence(phiSE); ok {
		rm = c.Series.excessMoments(w, c.countFloor(r), phiUp, dofZ)
	} else {
		rm = c.Series.robustMoments(w, r*c.Binomial/n, countPhiSE)
	}
	return tOf(rm), rm
}

// countFailZ and countPassZ place the excess variance at which the count
// test takes its degrees of freedom, in standard deviations of its
// estimate above it: high for the fail, whose false alarms the policy's
// Alpha bounds, so that an excess estimated near zero from a few
// intervals does not make the variance look known; low for the pass,
// which is approximate anyway and whose cost is passes at the margin.
// Measured on the evaluation harness at commit 9454bf3 (1,000 healthy
// canaries a cell, 500 at the margin): the pass at -1 instead of 1.28
// passes 95.0% instead of
// 87.6% of healthy canaries at phi 0.8 (sigma 0.5, share 10%) and 79.6%
// instead of 74.1% with 25% overdispersion at phi 0.8, while canaries
// whose error rate is at the margin (1.5x) pass in 0.4-8.4% of runs
// (PassAlpha 5%).
const (
	countFailZ = 1.2816
	countPassZ = -1.0
)

// countFailPhiSE and countPassPhiSE are how many standard errors are
// added to the persistence the count test reads from the two sides' own
// series (see CountState.persistence), for the fail and for the pass.
// Measured on the evaluation harness at commit 05f2c0b (Kendall's bias
// correction, first-order boundary; 1,000 healthy canaries, 300 with
// errors x2 or x5 at a 10% share): with 1, healthy canaries at phi 0.9
// and 50% overdispersion failed in 3.2% of runs, errors x2 at a 0.1% base
// rate were found in 70% (median 44 minutes), errors x5 there in 96%;
// with 2: 1.8%, 50% (48 minutes), 82%. The pass takes the estimate as it
// is: its errors cost passes at the margin, which the harness measures.
const (
	countFailPhiSE = 1.0
	countPassPhiSE = 0.0
)

// countFloor is the variance per interval of the series at rate ratio r
// if events were Poisson on each side with the rates observed: x (1 -
// rho)^2 + r^2 y rho^2 on average. At the null's ratio it is about the
// binomial variance r (x + y) rho (1 - rho); under a regression the
// canary's extra events add their own Poisson variance, which is not an
// excess to be stretched by the persistence. A state saved before the
// sums existed falls back to the binomial variance.
func (c *CountState) countFloor(r float64) float64 {
	n := float64(c.Series.N)
	if c.PoissonX+c.PoissonY > 0 {
		return (c.PoissonX + r*r*c.PoissonY) / n
	}
	return r * c.Binomial / n
}

// persistence estimates the AR(1) coefficient of the variation of the
// error rates beyond Poisson noise, from both sides' own series of events
// (see the package documentation: the canary's variation is assumed to
// persist like the baseline's). For each side, the residuals z_t = e_t -
// lambda n_t of its events e_t about its mean rate lambda over its requests
// n_t have a Poisson part (white, variance lambda n_t) and an excess;
// their lag-1 autocorrelation is phi times the excess's share f of their
// variance, since white noise adds nothing at lag 1. phi is the
// least-squares fit of the two sides' autocorrelations against their
// excess shares, which weights each side by how much its excess stands
// out of its Poisson noise: the baseline, with many times the canary's
// events, mostly decides. It is corrected for its small-sample bias
// (unbiasAR1) and taken phiSE standard errors high, in [0, maxPhi]. ok is
// false when neither side shows an excess clear enough to measure its
// persistence.
func (c *CountState) persistence(phiSE float64) (phiUp float64, ok bool) {
	n := float64(c.BaselineSide.N)
	if c.CanarySide.N != c.BaselineSide.N || n < minSeries {
		return 0, false
	}
	var num, den float64
	for _, s := range []*SeriesSums{&c.CanarySide, &c.BaselineSide} {
		if !(s.Sum[0] > 0 && s.Sum[1] > 0) {
			continue
		}
		lambda := s.Sum[0] / s.Sum[1]
		_, _, g0, g1 := s.moments([3]float64{1, -lambda, 0})
		if !(g0 > 0) {
			continue
		}
		f := math.Max(0, 1-s.Sum[0]/n/g0) // the excess's share
		num += g1 / g0 * f
		den += f * f
	}
	if den < minExcessInfo {
		return 0, false
	}
	r1 := math.Max(-1, math.Min(1, num/den))
	se := math.Sqrt(math.Max(1-r1*r1, 0) / (n * den))
	return math.Max(0, math.Min(maxPhi, unbiasAR1(r1, n)+phiSE*se)), true
}

// unbiasAR1 returns the AR(1) coefficient phi whose lag-1 sample
// autocorrelation about the sample mean, over n values, is r1 on average:
// the root of phi - (1 + phi)(1 + 2 phi)/n = r1. Kendall's first-order
// bias, (1 + 3 phi)/n, is about half the bias at phi 0.9 and n = 20 (the
// raw estimate averages 0.63 there, Kendall's correction gives 0.72, this
// one 0.89); the second-order term 2 phi^2/n was fitted to simulated
// Gaussian AR(1) series of 10 to 60 values with phi from 0 to 0.9, where
// it predicts the average to within 0.035. Without a root (r1 too high
// for n) it returns 1.
func unbiasAR1(r1, n float64) float64 {
	disc := (n-3)*(n-3) - 8*(1+n*r1)
	if disc < 0 {
		return 1
	}
	return ((n - 3) - math.Sqrt(disc)) / 4
}

// minExcessInfo is the sum of the squared excess shares (see persistence)
// below which the sides say too little about the persistence of their
// variation: 0.1 is one side whose variance is a third beyond Poisson.
const minExcessInfo = 0.1

// tOf returns the t statistic of a mean against 0.
func tOf(rm robust) float64 {
	se := rm.se()
	if !(se > 0) {
		switch {
		case rm.mean > 0:
			return math.Inf(1)
		case rm.mean < 0:
			return math.Inf(-1)
		}
		return 0
	}
	return rm.mean / se
}

// oriented returns the event totals and the pooled traffic share in the
// orientation of the test.
func (pl *plan) oriented(c *CountState) (x, y, rho float64) {
	x, y = float64(c.CanaryEvents), float64(c.BaselineEvents)
	a, b := float64(c.CanaryRequests), float64(c.BaselineRequests)
	if pl.dir == Decrease {
		x, y, a, b = y, x, b, a
	}
	rho = pl.rho
	if a > 0 && b > 0 {
		rho = a / (a + b)
	}
	return x, y, rho
}

func (pl *plan) evalCount(s *MetricState, full bool) result {
	c := s.Count
	x, y, rho := pl.oriented(c)
	r := result{logEvidence: math.NaN(), estimate: math.NaN(), lower: 0, upper: math.Inf(1)}
	hasRequests := c.CanaryRequests+c.BaselineRequests > 0
	if (x+y == 0 && !hasRequests) || c.Series.N == 0 {
		r.noData = true
		return r
	}
	sumA, sumB := c.Series.Sum[0], c.Series.Sum[1]
	est := math.Inf(1)
	if sumB > 0 {
		est = sumA / sumB
	} else if sumA == 0 {
		est = math.NaN()
	}
	// Fail: the robust test and the exact one (which is valid when events
	// are independent, and guards the normal approximation when they are
	// few) must both find a regression beyond the tolerance.
	if est > pl.r0 {
		t, rm := pl.countT(c, pl.r0, countFailZ)
		lb := logBF(t, rm.nEff, rm.nu)
		exact := shareLogEvidence(x, y, shareAt(rho, pl.r0))
		r.logEvidence = math.Min(lb, exact)
		if c.Series.N < knownAfter {
			// Before the spread can be estimated, the exact test with the
			// counts deflated by a generous dispersion still catches a
			// gross regression.
			// When the sides' own series show a persistent excess, the
			// deflation is at least its upper bound.
			d := math.Max(earlyDispersion, rm.dispHi)
			r.logEvidence = math.Max(r.logEvidence, shareLogEvidence(x/d, y/d, shareAt(rho, pl.r0)))
		}
		// Half of the metric's alpha goes to the mixtures (which stop
		// early on large regressions), half to the group-sequential
		// boundary on the robust t statistic (which has the power late
		// in the canary, on smaller ones).
		r.fail = r.logEvidence >= pl.logFail+math.Ln2
		if !r.fail && c.Series.N >= minSeries {
			r.fail = obfCrossT(t, rm.nu, pl.alphaFail/2, pl.frac)
		}
	} else if !math.IsNaN(est) {
		r.logEvidence = math.Inf(-1)
	}
	// Pass: a ratio at the margin is ruled out, or an excess rate at the
	// absolute slack. Which of the two bounds the regression to rule out
	// depends on the baseline's rate: above slack / (margin ratio - 1) the
	// relative margin is the larger allowance, below it the slack. When
	// the baseline's confidence sequence (at a quarter of PassAlpha)
	// settles which, only that test runs, with all of PassAlpha; otherwise
	// they share it.
	logRel, slackLevel := pl.logPassRel, pl.passLevel/4
	useRel, useSlack := true, pl.slack > 0 && c.CanaryRequests > 0 && c.BaselineRequests > 0
	if useSlack {
		thr := pl.slack / (pl.rM - 1)
		be, br := float64(c.BaselineEvents), float64(c.BaselineRequests)
		switch {
		case poissonLower(be, br, pl.slack, pl.passLevel/4) > thr:
			useSlack, logRel = false, pl.logPass
		case poissonUpper(be, br, pl.slack, pl.passLevel/4) < thr:
			useRel, slackLevel = false, pl.passLevel/2
		}
	}
	if useRel && est < pl.rM && c.Series.N >= minSeries {
		// The group-sequential boundary alone (see obfPass): a union with
		// the mixture would spend PassAlpha twice.
		t, rm := pl.countT(c, pl.rM, countPassZ)
		r.pass = obfCross(-t, rm.nu, math.Exp(-logRel), pl.frac)
	}
	if !r.pass && useSlack {
		up := poissonUpper(float64(c.CanaryEvents), float64(c.CanaryRequests), pl.slack/4, slackLevel)
		lo := poissonLower(float64(c.BaselineEvents), float64(c.BaselineRequests), pl.slack, slackLevel)
		r.pass = up <= lo+pl.slack
	}
	if !full {
		return r
	}
	r.estimate = est
	if math.IsNaN(est) {
		r.estimate = 1 // no events on either side
	}
	// The interval: every ratio the evidence has not ruled out at level
	// PassAlpha, found in log space from the estimate outwards.
	f := func(u float64) float64 {
		t, rm := pl.countT(c, math.Exp(u), countPassZ)
		return pl.logPass - logBF(t, rm.nEff, rm.nu)
	}
	uHat := math.Log(r.estimate)
	if sumA > 0 {
		r.lower = math.Exp(logitRoot(f, uHat, -1))
	}
	if sumB > 0 {
		r.upper = math.Exp(logitRoot(f, uHat, +1))
	}
	if pl.dir == Decrease {
		r.estimate, r.lower, r.upper = 1/r.estimate, 1/r.upper, 1/r.lower
	}
	return r
}

// obfCross reports whether a t statistic crosses the one-sided
// group-sequential boundary of level level at information fraction frac:
// t >= c / sqrt(frac), the O'Brien-Fleming shape, with c the upper
// level/2 quantile of the normal. For a Brownian motion in information
// time the chance of ever crossing c / sqrt(t) before t = 1 is exactly
// level (reflection principle), and looking only at discrete times
// crosses less often. The boundary spends almost nothing on early looks
// and ends near the fixed-horizon test at the deadline, where a healthy
// canary needs it to pass and a moderate regression to fail; a mixture
// boundary would need about half as much again in t. c is widened for
// the degrees of freedom of the variance (Cornish-Fisher, first order).
// A pass asks whether -t (the distance below the margin) crosses.
func obfCross(t, nu, level, frac float64) bool {
	if !(t > 0) || !(frac > 0) || !(nu >= 3) {
		return false
	}
	c := normQuantileUpper(level / 2)
	if !math.IsInf(nu, 1) {
		c *= 1 + (c*c+1)/(4*nu)
	}
	return t >= c/math.Sqrt(frac)
}

// obfCrossT is obfCross with Student t tails for the degrees of freedom
// of the variance instead of the first-order widening: t sqrt(frac) must
// reach the Student quantile with the tail probability level/2. At the
// fail's small levels and a variance with few degrees of freedom (a
// persistent excess), the first-order widening is far too narrow: at a
// tail of 0.165% and 4 degrees of freedom it asks for 4.7 where the
// Student quantile is 6.3.
func obfCrossT(t, nu, level, frac float64) bool {
	if !(t > 0) || !(frac > 0) || !(nu >= 1) {
		return false
	}
	z := t * math.Sqrt(frac)
	if math.IsInf(nu, 1) {
		return normSF(z) <= level/2
	}
	return studentSF(z, nu) <= level/2
}

// flatCross reports whether a t statistic crosses a constant boundary
// whose chance of ever being crossed over the canary's looks is about
// level: c solves P(Z > c) + c phi(c) log(K / minSeries) / 2 = level, the
// crossing rate of a standardized Brownian motion B(t)/sqrt(t) (an
// Ornstein-Uhlenbeck process in log time) from the first look at
// minSeries intervals to the deadline at K = n / frac intervals.
// Discrete looks cross less often. c is widened for the degrees of
// freedom of the variance: the Student t quantile with the same tail
// probability (at the small levels and few intervals of early looks, a
// first-order correction is far too narrow). Unlike obfCross, the
// boundary does not spend most of its level at the end: a large shift is
// caught in the first minutes.
func flatCross(t, nu, level, n, frac float64) bool {
	if !(t > 0) || !(frac > 0) || !(nu >= 2) {
		return false
	}
	l := math.Log(math.Max(n/frac/minSeries, 1))
	crossing := func(c float64) float64 {
		return normSF(c) + c*math.Exp(-c*c/2)/math.Sqrt(2*math.Pi)*l/2
	}
	lo, hi := 0.0, 40.0
	for range 60 {
		mid := (lo + hi) / 2
		if crossing(mid) > level {
			lo = mid
		} else {
			hi = mid
		}
	}
	if t < hi {
		return false // a t quantile is never below the normal's
	}
	return studentSF(t, nu) <= normSF(hi)
}

// studentSF returns P(T > t) for Student's t with nu degrees of freedom,
// t >= 0.
func studentSF(t, nu float64) float64 {
	return 0.5 * regIncBeta(nu/(nu+t*t), nu/2, 0.5)
}

// poissonLogM is the log of the Gamma(1, 1/s)-mixture martingale against
// rate lambda after k events in exposure e (requests).
func poissonLogM(k, e, lambda, s float64) float64 {
	beta := 1 / s
	return math.Log(beta) + lgamma(1+k) - (1+k)*math.Log(beta+e) - k*math.Log(lambda) + lambda*e
}

// poissonUpper returns the upper end of the confidence sequence, at level
// 1 - level, for the rate of k events in e requests; poissonLower the
// lower end (0 without events). The mixture's prior has mean s, where the
// bound matters.
func poissonUpper(k, e, s, level float64) float64 {
	thr := math.Log(1 / level)
	lo := k / e
	hi := math.Max(2*lo, s)
	for poissonLogM(k, e, hi, s) < thr {
		hi *= 2
		if hi > 1e9 {
			return math.Inf(1)
		}
	}
	if k == 0 {
		lo = 0
	}
	for range 100 {
		mid := (lo + hi) / 2
		if poissonLogM(k, e, mid, s) < thr {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

func poissonLower(k, e, s, level float64) float64 {
	if k == 0 {
		return 0
	}
	thr := math.Log(1 / level)
	hi := k / e
	if poissonLogM(k, e, hi*1e-9, s) < thr {
		return 0
	}
	lo := hi * 1e-9
	for range 100 {
		mid := (lo + hi) / 2
		if poissonLogM(k, e, mid, s) < thr {
			hi = mid
		} else {
			lo = mid
		}
	}
	return lo
}

func softplus(u float64) float64 {
	if u > 30 {
		return u + math.Log1p(math.Exp(-u))
	}
	return math.Log1p(math.Exp(u))
}

// logitRoot finds where f, positive at the maximum uHat (or, when uHat is
// infinite, on the finite side), falls to zero in direction dir, widening
// the bracket until it changes sign. It returns an infinite end when f
// stays positive (the data cannot exclude that side yet).
func logitRoot(f func(float64) float64, uHat float64, dir float64) float64 {
	start := uHat
	if math.IsInf(start, 0) {
		// No events on one side: the likelihood is largest at the end of
		// the line; start far out, where f is positive.
		start = math.Copysign(40, uHat)
	}
	a, fa := start, f(start)
	if fa <= 0 {
		// Only possible through rounding at the maximum.
		return start
	}
	step := 1.0
	for i := 0; i < 60; i++ {
		b := start + dir*step
		fb := f(b)
		if fb <= 0 {
			if dir < 0 {
				r, _ := zeroin(f, b, a, fb, fa, 1e-10, 200)
				return r
			}
			r, _ := zeroin(f, a, b, fa, fb, 1e-10, 200)
			return r
		}
		a, fa = b, fb
		step *= 2
	}
	return dir * math.Inf(1)
}

// ---- Means ----

// MeanState is the state of a Mean metric: sufficient statistics of the
// per-interval differences d_t (the log ratio canary/baseline, or the
// difference), kept relative to the first one, e_t = d_t - d_1, so that the
// sums do not cancel.
type MeanState struct {
	// N counts the intervals; Missing counts intervals without a usable
	// value.
	N int64 `json:"n"`
	// Missing: see N.
	Missing int64 `json:"missing,omitempty"`
	// First is d_1; Last is the latest e_t.
	First float64 `json:"first"`
	// Last: see First.
	Last float64 `json:"last"`
	// Sum and SumSq are sums of e_t and e_t^2.
	Sum float64 `json:"sum"`
	// SumSq: see Sum.
	SumSq float64 `json:"sumSq"`
	// Pairs holds sums over consecutive pairs (e_(t-1), e_t), for the
	// autoregression; Scored the same over the pairs whose e_t was
	// predicted (the terms of the likelihood ratio).
	Pairs PairSums `json:"pairs"`
	// Scored: see Pairs.
	Scored PairSums `json:"scored"`
	// Series holds the sums of e_t (in its first slot) for the plug-in
	// long-run variance the pass uses.
	Series SeriesSums `json:"series"`
	// Baseline holds the sums of the baseline's own per-interval value
	// (its log for a relative metric), less its first one, in its first
	// slot: its persistence is pooled with the differences' for the fail's
	// plug-in route (see failPhiUp). A state saved before it existed has
	// none, and the route then reads the differences alone.
	Baseline SeriesSums `json:"baseline,omitzero"`
	// BaselineFirst is the baseline's first value (its log for a
	// relative metric).
	BaselineFirst float64 `json:"baselineFirst,omitempty"`
	// LogAR and LogIID are the log predictive likelihoods of the scored
	// values under the autoregressive and the independent predictor.
	LogAR float64 `json:"logAR"`
	// LogIID: see LogAR.
	LogIID float64 `json:"logIID"`
}

// PairSums are the sufficient statistics of the regression of y = e_t on x
// = e_(t-1).
type PairSums struct {
	// N is the number of pairs.
	N float64 `json:"n"`
	// X and Y are the sums of x and y.
	X float64 `json:"x"`
	Y float64 `json:"y"`
	// XX, YY and XY are the sums of x^2, y^2 and x y.
	XX float64 `json:"xx"`
	YY float64 `json:"yy"`
	XY float64 `json:"xy"`
}

func (p *PairSums) add(x, y float64) {
	p.N++
	p.X += x
	p.Y += y
	p.XX += x * x
	p.YY += y * y
	p.XY += x * y
}

// rss returns the smallest residual sum of squares of x_t = phi x_(t-1),
// |phi| <= meanMaxPhi, for the series shifted by mu (x = e - mu): the fit of
// the best stationary AR(1) process with mean mu.
func (p *PairSums) rss(mu float64) float64 {
	xx := p.XX - 2*mu*p.X + p.N*mu*mu
	yy := p.YY - 2*mu*p.Y + p.N*mu*mu
	xy := p.XY - mu*(p.X+p.Y) + p.N*mu*mu
	phi := 0.0
	if xx > 0 {
		phi = math.Max(-meanMaxPhi, math.Min(meanMaxPhi, xy/xx))
	}
	return math.Max(yy-2*phi*xy+phi*phi*xx, 0)
}

// minScored is the number of pairs the autoregression needs before it
// predicts (and the likelihood ratio starts to count).
const minScored = 3

// addMean adds one interval's difference, in the orientation of the test
// (negated for a Decrease metric). Before adding it to the sums, it scores
// the value under two predictors fitted to the past (their predictive
// densities are what the evidence compares with the null).
func (s *MeanState) add(d float64) {
	if s.N == 0 {
		s.First, s.Last, s.N = d, 0, 1
		s.Series.add([3]float64{})
		return
	}
	e := d - s.First
	s.Series.add([3]float64{e})
	if s.Pairs.N >= minScored {
		s.LogAR += s.predictAR(e)
		s.LogIID += s.predictIID(e)
		s.Scored.add(s.Last, e)
	}
	s.Pairs.add(s.Last, e)
	s.Sum += e
	s.SumSq += e * e
	s.Last = e
	s.N++
}

// addBaseline adds the baseline's own value of an interval (its log for a
// relative metric) to the series whose persistence failPhiUp pools with
// the differences'.
func (s *MeanState) addBaseline(b float64) {
	if s.Baseline.N == 0 {
		s.BaselineFirst = b
	}
	s.Baseline.add([3]float64{b - s.BaselineFirst})
}

// failPhiUp is the AR(1) coefficient the fail's plug-in route assumes: the
// lag-1 autocorrelations of the per-interval differences and of the
// baseline's own values, averaged, bias-corrected (Kendall: + (1 + 3
// r)/n) and taken meanFailPhiSE standard errors high, in [0, meanMaxPhi].
// The baseline's series is as long as the differences' and independent of
// the canary's noise, so pooling the two halves the variance of the
// estimate; the design assumes that the canary's noise persists like the
// baseline's (see the package documentation). Without the baseline's
// series (a state saved before it existed, or a baseline whose value
// never varies) the differences alone decide, as diffMoments does.
func (s *MeanState) failPhiUp() float64 {
	n, _, g0, g1 := s.Series.moments([3]float64{1})
	if n < minSeries || !(g0 > 0) {
		return meanMaxPhi
	}
	r, k := g1/g0, 1.0
	if nb, _, b0, b1 := s.Baseline.moments([3]float64{1}); nb >= minSeries && b0 > 0 {
		// Each autocorrelation is estimated with about 1/n variance; the
		// two series are about as long.
		r, k = (r+b1/b0)/2, 2
	}
	r = math.Max(-1, math.Min(1, r))
	se := math.Sqrt(math.Max(1-r*r, 0) / (k * n))
	return math.Max(0, math.Min(meanMaxPhi, r+(1+3*r)/n+meanFailPhiSE*se))
}

// predictAR is the log predictive density of e under the regression of
// e_t on e_(t-1) fitted to the past pairs: Student t with m-2 degrees of
// freedom, the Bayesian predictive under a flat prior.
func (s *MeanState) predictAR(e float64) float64 {
	p := &s.Pairs
	mx, my := p.X/p.N, p.Y/p.N
	vxx := p.XX - p.N*mx*mx
	vxy := p.XY - p.N*mx*my
	vyy := p.YY - p.N*my*my
	phi := 0.0
	if vxx > 0 {
		phi = vxy / vxx
	}
	rss := math.Max(vyy-phi*vxy, 0)
	nu := p.N - 2
	scale2 := rss / nu
	lev := 1.0 / p.N
	if vxx > 0 {
		lev += (s.Last - mx) * (s.Last - mx) / vxx
	}
	return logStudent(e, my+phi*(s.Last-mx), scale2*(1+lev), nu)
}

// predictIID is the log predictive density of e treating the past values
// as independent: Student t with n-1 degrees of freedom.
func (s *MeanState) predictIID(e float64) float64 {
	n := float64(s.N)
	m := s.Sum / n
	v := math.Max(s.SumSq-n*m*m, 0) / (n - 1)
	return logStudent(e, m, v*(1+1/n), n-1)
}

// logStudent is the log density of a Student t with nu degrees of freedom,
// location m and squared scale s2 (floored, so that a run of equal values
// does not give an infinite density).
func logStudent(x, m, s2, nu float64) float64 {
	s2 = math.Max(s2, 1e-24)
	z := (x - m) * (x - m) / (nu * s2)
	return lgamma((nu+1)/2) - lgamma(nu/2) - 0.5*math.Log(nu*math.Pi*s2) - (nu+1)/2*math.Log1p(z)
}

// meanLogEvidence is the log e-value against "the mean difference is mu"
// (in e units). The numerator averages the two predictors' likelihoods of
// the scored values; the denominator is the largest likelihood any
// stationary Gaussian AR(1) process with mean mu (|phi| <= 0.9, any
// variance) gives the same values. By universal inference (Wasserman,
// Ramdas and Balakrishnan, 2020) this is an e-process under every such
// process, whatever its correlation: the chance it ever reaches 1/alpha is
// at most alpha.
func (s *MeanState) meanLogEvidence(mu float64) float64 {
	m := s.Scored.N
	if m < 1 {
		return math.Inf(-1)
	}
	return logSumExp(s.LogAR, s.LogIID) - math.Log(2) - s.logNull(mu)
}

func (s *MeanState) logNull(mu float64) float64 {
	m := s.Scored.N
	rss := math.Max(s.Scored.rss(mu), 1e-24*m)
	return -m/2*math.Log(2*math.Pi*rss/m) - m/2
}

// evalMean judges the per-interval differences. The estimate is their
// mean; the interval is every mean the evidence has not ruled out at level
// PassAlpha.
func (pl *plan) evalMean(st *MetricState, full bool) result {
	s := st.Mean
	r := result{lower: math.Inf(-1), upper: math.Inf(1)}
	if s.N == 0 {
		r.noData = true
		r.estimate = math.NaN()
		r.logEvidence = math.NaN()
		pl.meanReport(&r)
		return r
	}
	mean := s.Sum / float64(s.N)
	r.estimate = s.First + mean
	c0, cm := pl.theta0-s.First, pl.thetaM-s.First
	r.logEvidence = math.Inf(-1)
	if mean > c0 {
		r.logEvidence = s.meanLogEvidence(c0)
	}
	// Fail: half of the metric's alpha to the universal-inference
	// e-process (exact; it stops early on large shifts), half to the
	// plug-in t statistic with the difference-based variance bound (see
	// diffMoments) against a constant boundary over the canary's looks.
	r.fail = r.logEvidence >= pl.logFail+math.Ln2
	if !r.fail && mean > c0 && s.N >= minSeries {
		rd := s.Series.diffMomentsAt([3]float64{1}, s.failPhiUp())
		if se := rd.se(); se > 0 {
			r.fail = flatCross((mean-c0)/se, rd.nu, pl.alphaFail/2, rd.n, pl.frac)
		}
	}
	passThr := math.Log(1 / pl.passLevel)
	// Pass: universal inference, or the plug-in t test with a long-run
	// variance (see the package documentation: faster, approximate).
	rm := s.Series.robustMoments([3]float64{1}, 0, meanPassPhiSE)
	plugT := func(mu float64) float64 {
		se := rm.se()
		if !(se > 0) {
			return math.Copysign(math.Inf(1), rm.mean-mu)
		}
		return (rm.mean - mu) / se
	}
	r.pass = mean < cm && (s.meanLogEvidence(cm) >= passThr || (s.N >= minSeries && obfCross(-plugT(cm), rm.nu, pl.passLevel, pl.frac)))
	if full && s.Scored.N >= 1 {
		f := func(mu float64) float64 { return s.meanLogEvidence(mu) - passThr }
		r.lower = s.First + meanRoot(f, mean, -1)
		r.upper = s.First + meanRoot(f, mean, +1)
		if g := func(mu float64) float64 { return logBF(plugT(mu), rm.nEff, rm.nu) - passThr }; g(mean) < 0 {
			r.upper = math.Min(r.upper, s.First+meanRoot(g, mean, +1))
		}
	}
	pl.meanReport(&r)
	return r
}

// meanRoot finds, from the estimate outwards in direction dir, where the
// evidence against the mean reaches the threshold (f crosses zero). The
// step starts at the spread of the data and doubles.
func meanRoot(f func(float64) float64, from, dir float64) float64 {
	a, fa := from, f(from)
	if fa >= 0 {
		return from // the estimate itself is ruled out: an empty interval
	}
	step := 1e-6 + math.Abs(from)*1e-3
	for i := 0; i < 80; i++ {
		b := from + dir*step
		fb := f(b)
		if fb >= 0 {
			if dir < 0 {
				r, _ := zeroin(f, b, a, fb, fa, 1e-12*(1+math.Abs(b)), 200)
				return r
			}
			r, _ := zeroin(f, a, b, fa, fb, 1e-12*(1+math.Abs(b)), 200)
			return r
		}
		a, fa = b, fb
		step *= 2
	}
	return dir * math.Inf(1)
}

// meanReport turns the estimate and interval from the test's scale (the
// oriented log ratio or difference) into the reporting scale.
func (pl *plan) meanReport(r *result) {
	if pl.dir == Decrease {
		r.estimate, r.lower, r.upper = -r.estimate, -r.upper, -r.lower
	}
	if !pl.m.Absolute {
		r.estimate, r.lower, r.upper = math.Exp(r.estimate), math.Exp(r.lower), math.Exp(r.upper)
	}
}

// ---- Quantiles ----

// bucketOf returns the bucket of a sample: the first bound at or above it,
// or the overflow bucket.
func bucketOf(bounds []float64, v float64) int { return sort.SearchFloat64s(bounds, v) }

// quantLogM is the log of the mixture martingale for "P(X <= b) = q" after
// n samples of which c were at or below b. lgn is lgamma(k + n), shared by
// every bound at the same n.
func (pl *plan) quantLogM(c, n, lgn float64) float64 {
	q := pl.m.Quantile
	return lgamma(pl.qa+c) + lgamma(pl.qb+n-c) - lgn - pl.qLogBeta - c*math.Log(q) - (n-c)*math.Log1p(-q)
}

// quantBounds returns the confidence sequence for the q-quantile of one side
// at level 1 - level, resolved to bucket bounds: the true quantile is above
// lo and at or below hi (lo 0 and hi +Inf when a side is not yet bounded).
//
// The count of samples at or below the true quantile is a Binomial(n, q)
// process, so the mixture martingale at that count stays below 1/level at
// all times with probability 1 - level. A bound whose cumulative count
// already makes the martingale reach 1/level is therefore on the far side
// of the quantile. The martingale is convex in the count, so each bound is
// found by galloping out from the empirical quantile's bucket and then
// bisecting: a handful of evaluations, however many buckets there are.
func (pl *plan) quantBounds(cum []int64, n int64, level float64) (lo, hi float64) {
	lo, hi = 0, math.Inf(1)
	if n == 0 {
		return lo, hi
	}
	k := len(pl.bounds)
	fn := float64(n)
	nq := fn * pl.m.Quantile
	thr := math.Log(1 / level)
	lgn := lgamma(pl.qa + pl.qb + fn)
	// First bucket whose cumulative count reaches nq.
	emp := sort.Search(k, func(i int) bool { return float64(cum[i]) >= nq })
	// below(i): bucket i's bound is below the quantile. True for small i,
	// false from some i on; we want the last true one before emp.
	below := func(i int) bool { return pl.quantLogM(float64(cum[i]), fn, lgn) >= thr }
	if emp > 0 {
		// Gallop down from emp-1 to an index where below holds.
		step, j := 1, emp-1
		for j > 0 && !below(j) {
			j = max(emp-1-step, 0)
			step *= 2
		}
		if below(j) {
			// The answer is in [j, min(j+step, emp-1)].
			top := min(j+step, emp-1)
			l := j + sort.Search(top-j+1, func(i int) bool { return !below(j + i) })
			lo = pl.bounds[l-1]
		}
	}
	// above(i): bucket i's bound is at or above the quantile. False for
	// small i, true from some i on; we want the first true one from emp.
	above := func(i int) bool {
		return float64(cum[i]) > nq && pl.quantLogM(float64(cum[i]), fn, lgn) >= thr
	}
	if emp < k {
		step, j := 1, emp
		for j < k-1 && !above(j) {
			j = min(emp+step, k-1)
			step *= 2
		}
		if above(j) {
			bottom := max(j-step, emp)
			h := bottom + sort.Search(j-bottom+1, func(i int) bool { return above(bottom + i) })
			hi = pl.bounds[h]
		}
	}
	return lo, hi
}

// cumulate fills cum with the cumulative counts of the buckets.
func cumulate(cum, counts []int64) []int64 {
	var c int64
	for i, x := range counts {
		c += x
		cum[i] = c
	}
	return cum
}

// quantEstimate interpolates the empirical q-quantile geometrically within
// its bucket.
func (pl *plan) quantEstimate(counts []int64, n int64) float64 {
	if n == 0 {
		return math.NaN()
	}
	nq := float64(n) * pl.m.Quantile
	var c int64
	for i, x := range counts {
		if float64(c+x) >= nq && x > 0 {
			if i == len(pl.bounds) {
				return pl.bounds[i-1] // in the overflow bucket: its lower bound
			}
			hi := pl.bounds[i]
			lo := hi / 1.05
			if i > 0 {
				lo = pl.bounds[i-1]
			}
			f := (nq - float64(c)) / float64(x)
			return lo * math.Pow(hi/lo, f)
		}
		c += x
	}
	return pl.bounds[len(pl.bounds)-1]
}

func (pl *plan) evalQuantile(st *MetricState, full bool) result {
	s := st.Quantile
	r := result{logEvidence: math.NaN(), estimate: math.NaN(), lower: 0, upper: math.Inf(1)}
	if s.CanarySamples == 0 || s.BaselineSamples == 0 {
		r.noData = true
		return r
	}
	tol, margin := 1+pl.m.tolerance(), 1+pl.m.margin()
	// Each side's sequence gets half of the metric's error budget.
	// The two sides' sequences share the metric's error budget in
	// proportion to the other side's samples (within 10-90%): the side
	// with fewer samples, whose band is the wide one, gets more of it.
	w := float64(s.BaselineSamples) / float64(s.CanarySamples+s.BaselineSamples)
	w = math.Max(0.1, math.Min(0.9, w))
	fa, pa := pl.alphaFail*w, pl.passLevel*w
	fb, pb := pl.alphaFail*(1-w), pl.passLevel*(1-w)
	cc, cb := cumulate(pl.scratchC, s.CanaryBuckets), cumulate(pl.scratchB, s.BaselineBuckets)
	cLo, cHi := pl.quantBounds(cc, s.CanarySamples, fa)
	bLo, bHi := pl.quantBounds(cb, s.BaselineSamples, fb)
	if pl.dir == Decrease {
		r.fail = cHi*tol <= bLo
	} else {
		r.fail = cLo > 0 && cLo >= tol*bHi
	}
	cLo, cHi = pl.quantBounds(cc, s.CanarySamples, pa)
	bLo, bHi = pl.quantBounds(cb, s.BaselineSamples, pb)
	if pl.dir == Decrease {
		r.pass = cLo > 0 && cLo*margin >= bHi
	} else {
		r.pass = bLo > 0 && cHi <= margin*bLo
	}
	if full {
		r.estimate = pl.quantEstimate(s.CanaryBuckets, s.CanarySamples) / pl.quantEstimate(s.BaselineBuckets, s.BaselineSamples)
		r.lower = cLo / bHi
		r.upper = math.Inf(1)
		if bLo > 0 {
			r.upper = cHi / bLo
		}
	}
	return r
}
