package canary

import "math"

// This file holds the engine shared by the Count and Mean tests: a
// sequential test of the mean of a per-interval series whose intervals are
// serially correlated and whose variance is unknown (and, for counts,
// larger than a Poisson or binomial model says).
//
// The series is a linear combination w_t = c . v_t of up to three
// per-interval values v_t (for a Mean metric, v_t is the interval's log
// ratio; for a Count metric, the canary's and the baseline's events scaled
// by the traffic, see evalCount), so that the null value can move (a
// ratio r, an absolute slack s) without keeping the intervals: the sums of
// v, of v v' and of v_t v'_(t-1) are sufficient for the mean, the variance
// and the lag-1 autocovariance of every combination.
//
// The test statistic is Student's t with a long-run variance: the lag-1
// autocorrelation r1 of w about its mean, corrected for its small-sample
// bias (Kendall: r1 + (1 + 3 r1)/n) and read as an AR(1) coefficient phi
// in [0, maxPhi], gives the long-run variance gamma0 (1+phi)/(1-phi), the
// effective number of independent intervals n (1-phi)/(1+phi), and the
// degrees of freedom of the variance estimate n (1-phi^2)/(1+phi^2) - 1.
// The evidence is the Bayes factor of a normal mixture over the
// standardized effect, with those effective counts in place of n (for
// independent Gaussian intervals it is the scale-invariant mixture
// t-test, an e-process by group invariance):
//
//	BF(t) = sqrt(c/(n'+c)) * ((1 + t^2/nu) / (1 + t^2 c/(nu (n'+c))))^((nu+1)/2)
//
// which tends to the normal mixture sqrt(c/(n'+c)) exp(t^2 n'/(2 (n'+c)))
// when the variance is known (nu infinite). Few effective intervals, or
// few degrees of freedom, cap the evidence however large t is, which is
// what keeps early looks at correlated data from failing a canary. The
// same t statistic also feeds the group-sequential boundaries (obfCross)
// of the count test and of the mean test's pass.
//
// Validity is asymptotic, not exact: phi is estimated, and with an hour of
// one-minute data and phi near 0.9 it is estimated poorly. The evaluation
// harness measures the false-fail rate up to phi 0.9 (docs/benchmarks.md).

// mixC is c above: the prior precision of the standardized effect per
// effective interval. Small values spread the mixture over large effects,
// which is where a canary must stop early.
const mixC = 0.1

// countPhiSE is how many standard errors of r1 are added to its
// bias-corrected value for the count test: an upper estimate of the
// autocorrelation, so that the variance is rather over- than
// under-estimated when few intervals are in. meanPassPhiSE is the same
// for the pass of a mean metric (its fail uses universal inference).
const (
	countPhiSE    = 1.0
	meanPassPhiSE = 2.0
)

// meanFailPhiSE is the same for the plug-in route of a mean metric's
// fail (see MeanState.failPhiUp). Measured on the evaluation harness
// (Student t boundary) when the coefficient was read from the differences
// alone (commit ade9774): 2 failed 1.3% of healthy canaries judged on the
// mean alone at phi 0.9 and detected +10% at phi 0.5 in 96%; 2.5 failed
// 0.65% there but 1.6% with the whole policy (which keeps looking for the
// hour) and detected 87%; 3.5 failed 0.15% and 0.45% and detected 45%.
// Pooled with the baseline's series (half the variance; commit 05f2c0b),
// 3.5 fails 0.40% and 0.45% and detects 89.6% (docs/benchmarks.md).
const meanFailPhiSE = 3.5

// minSeries is the number of intervals before the serial correlation is
// estimated; until then the series test gives no evidence (unless a model
// variance is known). Most false alarms of plug-in tests happen earlier.
const minSeries = 4

// knownAfter is the number of intervals after which a long-run variance
// at or below the model's makes the test treat the model variance as
// known.
const knownAfter = 10

// SeriesSums are the sufficient statistics of a per-interval series of up
// to three values: their sums, the sums of their products in the same
// interval and with the previous interval, and the first and latest
// values. Products are stored row-major: Sq[3*i+j] is the sum of
// v_i(t) v_j(t); Lag[3*i+j] the sum of v_i(t) v_j(t-1).
type SeriesSums struct {
	// N counts the intervals.
	N int64 `json:"n"`
	// Sum, Sq and Lag: see the type.
	Sum [3]float64 `json:"sum"`
	// Sq: see the type.
	Sq [9]float64 `json:"sq"`
	// Lag: see the type.
	Lag [9]float64 `json:"lag"`
	// First and Last are the first and the latest values.
	First [3]float64 `json:"first"`
	// Last: see First.
	Last [3]float64 `json:"last"`
}

// add appends one interval's values.
func (s *SeriesSums) add(v [3]float64) {
	if s.N == 0 {
		s.First = v
	} else {
		for i := range 3 {
			for j := range 3 {
				s.Lag[3*i+j] += v[i] * s.Last[j]
			}
		}
	}
	for i := range 3 {
		s.Sum[i] += v[i]
		for j := range 3 {
			s.Sq[3*i+j] += v[i] * v[j]
		}
	}
	s.Last = v
	s.N++
}

func (s *SeriesSums) finite() bool {
	for _, a := range [][]float64{s.Sum[:], s.Sq[:], s.Lag[:], s.First[:], s.Last[:]} {
		for _, v := range a {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return false
			}
		}
	}
	return true
}

// moments returns, for w_t = c . v_t, the number of intervals, the mean,
// the variance (divisor n-1) and the lag-1 autocovariance about the mean.
func (s *SeriesSums) moments(c [3]float64) (n, mean, gamma0, gamma1 float64) {
	n = float64(s.N)
	if n == 0 {
		return 0, math.NaN(), 0, 0
	}
	dot := func(a [3]float64) float64 { return c[0]*a[0] + c[1]*a[1] + c[2]*a[2] }
	quad := func(m [9]float64) float64 {
		q := 0.0
		for i := range 3 {
			for j := range 3 {
				q += c[i] * m[3*i+j] * c[j]
			}
		}
		return q
	}
	sum := dot(s.Sum)
	mean = sum / n
	if n < 2 {
		return n, mean, 0, 0
	}
	gamma0 = math.Max(quad(s.Sq)-n*mean*mean, 0) / (n - 1)
	head, tail := sum-dot(s.First), sum-dot(s.Last)
	gamma1 = (quad(s.Lag) - mean*(head+tail) + (n-1)*mean*mean) / (n - 1)
	return n, mean, gamma0, gamma1
}

// robust is the t statistic's ingredients for a series' mean.
type robust struct {
	n, mean float64
	// lrv is the long-run variance per interval: n * Var(mean).
	lrv float64
	// nEff is the effective number of independent intervals; nu the
	// degrees of freedom of the variance (+Inf when it is known).
	nEff, nu float64
	// dispHi, when positive, is an upper bound on the long-run variance
	// over the model's (see excessMoments).
	dispHi float64
}

// se returns the standard error of the mean.
func (r robust) se() float64 { return math.Sqrt(r.lrv / r.n) }

// robustMoments estimates the long-run variance of w = c . v, with phi
// taken phiSE standard errors above its bias-corrected estimate. floor,
// when positive, is a model variance per interval (Poisson or binomial)
// below which the estimate is not trusted: when it binds, the variance is
// taken as known from knownAfter intervals on, and before that keeps the
// effective counts of the estimate. Before minSeries intervals there is no
// evidence at all.
func (s *SeriesSums) robustMoments(c [3]float64, floor, phiSE float64) robust {
	n, mean, g0, g1 := s.moments(c)
	r := robust{n: n, mean: mean}
	if n < minSeries {
		// Too few intervals to tell overdispersion from chance: no
		// evidence (with early looks at overdispersed counts, the floor
		// would bind by chance and the test would trust it).
		r.lrv, r.nEff, r.nu = math.Max(g0, floor), 0, 0
		return r
	}
	phi, phiC := 0.0, 0.0
	if g0 > 0 {
		r1 := g1 / g0
		phiC = math.Max(0, math.Min(maxPhi, r1+(1+3*r1)/n))
		phi = math.Max(0, math.Min(maxPhi, r1+(1+3*r1)/n+phiSE*math.Sqrt(math.Max(1-r1*r1, 0)/n)))
	}
	if floor > 0 {
		// Counts: the degrees of freedom of the high phi too (the
		// overdispersed null cells need both).
		phiC = phi
	}
	r.lrv = g0 * (1 + phi) / (1 - phi)
	r.nEff = n * (1 - phiC) / (1 + phiC)
	r.nu = n*(1-phiC*phiC)/(1+phiC*phiC) - 1
	if floor > 0 && r.lrv <= floor {
		// The data show no overdispersion: the model variance. Until
		// knownAfter intervals are in, that is only trusted with the
		// degrees of freedom of the estimate.
		r.lrv = floor
		if n >= knownAfter {
			r.nEff, r.nu = n, math.Inf(1)
		}
	}
	return r
}

// logBF is the log Bayes factor of the mixture for a t statistic (see the
// top of the file). Fewer than 1.5 effective intervals or degrees of
// freedom give no evidence.
func logBF(t, nEff, nu float64) float64 {
	if !(nEff >= 1.5) || !(nu >= 1.5) {
		return math.Inf(-1)
	}
	t2 := t * t
	lead := 0.5 * math.Log(mixC/(nEff+mixC))
	if math.IsInf(nu, 1) {
		return lead + t2/2*nEff/(nEff+mixC)
	}
	return lead + (nu+1)/2*(math.Log1p(t2/nu)-math.Log1p(t2*mixC/(nu*(nEff+mixC))))
}

// tStar returns the |t| at which the evidence reaches logThr, or +Inf when
// no t can (too few effective intervals).
func tStar(nEff, nu, logThr float64) float64 {
	if !(nEff >= 1.5) || !(nu >= 1.5) {
		return math.Inf(1)
	}
	if !math.IsInf(nu, 1) {
		// The limit as t grows.
		sup := 0.5*math.Log(mixC/(nEff+mixC)) + (nu+1)/2*math.Log((nEff+mixC)/mixC)
		if sup <= logThr {
			return math.Inf(1)
		}
	}
	lo, hi := 0.0, 1.0
	for logBF(hi, nEff, nu) < logThr {
		lo, hi = hi, 2*hi
		if hi > 1e12 {
			return math.Inf(1)
		}
	}
	for range 60 {
		mid := (lo + hi) / 2
		if logBF(mid, nEff, nu) < logThr {
			lo = mid
		} else {
			hi = mid
		}
		if hi-lo < 1e-9*hi {
			break
		}
	}
	return hi
}

// arG is n times the variance of the mean of n consecutive values of a
// stationary AR(1) process with coefficient phi and unit variance: the
// long-run variance factor (1+phi)/(1-phi) less the part that n intervals
// do not yet reach. For phi near 1 and a short series it is much smaller
// than the asymptotic factor (at phi 0.9: 16 at n = 60, 7.3 at n = 10,
// against 19), which is what lets a short, strongly correlated series
// still be judged.
func arG(phi, n float64) float64 {
	if n <= 1 {
		return 1
	}
	if phi <= 0 {
		return math.Max((1+phi)/(1-phi), 0)
	}
	return (1+phi)/(1-phi) - 2*phi*(1-math.Pow(phi, n))/(n*(1-phi)*(1-phi))
}

// diffMS returns the mean square of the first differences of w = c . v,
// sum (w_t - w_(t-1))^2 / (n-1), from the sums.
func (s *SeriesSums) diffMS(c [3]float64) float64 {
	n := float64(s.N)
	if n < 2 {
		return 0
	}
	dot := func(a [3]float64) float64 { return c[0]*a[0] + c[1]*a[1] + c[2]*a[2] }
	quad := func(m [9]float64) float64 {
		q := 0.0
		for i := range 3 {
			for j := range 3 {
				q += c[i] * m[3*i+j] * c[j]
			}
		}
		return q
	}
	f, l := dot(s.First), dot(s.Last)
	return math.Max(2*quad(s.Sq)-f*f-l*l-2*quad(s.Lag), 0) / (n - 1)
}

// diffMoments is the mean test's plug-in for the fail (see evalMean): the
// variance of the mean of w = c . v when w is a stationary AR(1) process
// (plus any white noise) with coefficient at most phiUp, its scale read
// from the first differences. With E[(w_t - w_(t-1))^2] = 2 gamma0 (1 -
// phi) for the AR(1) part (and 2 sigma^2 for white noise), the variance
// of the mean is at most
//
//	V = MSD / (2 (1 - phiUp)) * arG(phiUp, n) / n
//
// for every coefficient in [0, phiUp], white noise included, so the bound
// errs on the safe side wherever the true coefficient is below phiUp.
// The differences are nearly independent even when the series is
// strongly correlated, so MSD has about n - 1 degrees of freedom; the
// sample variance, by contrast, misses most of a slowly wandering level
// (at phi 0.9 and n = 10 it sees about a quarter of it). phiUp is the
// lag-1 autocorrelation, bias-corrected and taken phiSE standard errors
// high, capped at meanMaxPhi.
func (s *SeriesSums) diffMoments(c [3]float64, phiSE float64) robust {
	n, _, g0, g1 := s.moments(c)
	phi := meanMaxPhi
	if g0 > 0 && n >= minSeries {
		r1 := g1 / g0
		phi = math.Max(0, math.Min(meanMaxPhi, r1+(1+3*r1)/n+phiSE*math.Sqrt(math.Max(1-r1*r1, 0)/n)))
	}
	return s.diffMomentsAt(c, phi)
}

// diffMomentsAt is diffMoments with phiUp given.
func (s *SeriesSums) diffMomentsAt(c [3]float64, phi float64) robust {
	n, mean, _, _ := s.moments(c)
	r := robust{n: n, mean: mean}
	if n < minSeries {
		return r
	}
	r.lrv = s.diffMS(c) / (2 * (1 - phi)) * arG(phi, n)
	r.nEff = n / arG(phi, n)
	r.nu = n - 2
	return r
}

// excessMoments is the count test's long-run variance of w = c . v when w
// is white noise of known variance floor per interval (binomial) plus an
// AR(1) excess whose coefficient is known: phi as estimated, phiUp as
// assumed (see CountState.persistence). The excess's variance is what the
// sample variance has beyond the floor, scaled up for the part of a
// persistent excess that n intervals do not yet show: the sample variance
// of n values of an AR(1) process about their mean is, in expectation,
// (n - g)/(n - 1) of its variance, g = arG(phiUp, n). Only the part of
// the sample variance beyond the floor by more than one standard
// deviation of the floor's own estimate (floor sqrt(2/n)) counts as
// excess: less is what a series without any looks like, and stretched by
// g it would cost a series without excess much of its power. The
// long-run variance is floor + excess g.
//
// The excess is estimated with about nuE = (n - g) (1 - phiUp^2)/(1 +
// phiUp^2) degrees of freedom: many for a short memory, about one for an
// hour of a process with phi 0.9, whose level wanders on the scale of the
// hour. The degrees of freedom of the whole variance follow from
// Satterthwaite's rule, taken not at the excess's estimate but at the
// excess the sample variance would have were it z standard deviations
// below its expectation (z = 1.28: the excess's upper 90% confidence
// bound): for the fail, an excess estimated near zero from few degrees of
// freedom (a persistent offset that a few intervals do not show in their
// spread) must not make the variance look known. The effective count
// nEff is taken at the same excess, and dispHi is the ratio of the long-run
// variance there to the floor.
func (s *SeriesSums) excessMoments(c [3]float64, floor, phiUp, z float64) robust {
	n, mean, g0, _ := s.moments(c)
	r := robust{n: n, mean: mean}
	if n < minSeries {
		r.lrv = math.Max(g0, floor)
		return r
	}
	g := arG(phiUp, n)
	scale := (n - 1) / math.Max(n-g, 1)
	nuE := math.Max((n-g)*(1-phiUp*phiUp)/(1+phiUp*phiUp), 1)
	excess := math.Max(g0-floor*(1+math.Sqrt(2/n)), 0) * scale
	excessHi := math.Max(g0*nuE/chi2Lower(nuE, z)-floor, 0) * scale
	r.lrv = floor + excess*g
	hi := floor + excessHi*g
	r.nEff = n * (floor + excessHi) / hi
	if floor > 0 {
		r.dispHi = hi / floor
	}
	r.nu = math.Inf(1)
	if excessHi > 0 {
		r.nu = nuE * (hi / (excessHi * g)) * (hi / (excessHi * g))
	}
	return r
}

// chi2Lower approximates the quantile of the chi-square distribution with
// nu degrees of freedom that is z standard deviations below the median
// (above it for a negative z) by Wilson and Hilferty's cube, floored at
// 1e-3 nu; for one degree of freedom at z = 1.28 it is about a third of
// the exact 10% quantile, which errs on the wide side.
func chi2Lower(nu, z float64) float64 {
	a := 2 / (9 * nu)
	x := 1 - a - z*math.Sqrt(a)
	return nu * math.Max(x*x*x, 1e-3)
}
