package canary

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Alternative is the alternative hypothesis of a [RankTest]: which shift of
// the canary relative to the baseline the test looks for.
type Alternative int

const (
	// TwoSided looks for a shift in either direction (R's "two.sided",
	// Kayenta's choice).
	TwoSided Alternative = iota
	// Greater looks for the canary shifted up (R's "greater").
	Greater
	// Less looks for the canary shifted down (R's "less").
	Less
)

var alternativeNames = [...]string{TwoSided: "two.sided", Greater: "greater", Less: "less"}

// String returns R's name of the alternative: "two.sided", "greater" or
// "less".
func (a Alternative) String() string {
	if a < 0 || int(a) >= len(alternativeNames) {
		return fmt.Sprintf("Alternative(%d)", int(a))
	}
	return alternativeNames[a]
}

// RankOptions configures a [RankTest]. The zero value is R's
// wilcox.test(x, y, conf.int = TRUE, exact = FALSE) with its defaults:
// two-sided, 95% confidence, no null shift, continuity correction on, root
// tolerance 1e-4.
type RankOptions struct {
	// Alternative is the alternative hypothesis. Zero: TwoSided.
	Alternative Alternative
	// ConfLevel is the confidence level of the interval, in (0, 1).
	// Zero: 0.95 (R's default; Kayenta uses 0.98).
	ConfLevel float64
	// Mu is the shift under the null hypothesis (R's mu). Zero: 0.
	Mu float64
	// NoCorrection turns the continuity correction off (R's correct =
	// FALSE). By default it is on, as in R and Kayenta.
	NoCorrection bool
	// RootTol is the absolute tolerance of the root finder that locates the
	// interval ends and the estimate (R's tol.root). Zero: 1e-4, R's
	// default, which reproduces R's (and so Kayenta's) numbers exactly; a
	// smaller value lands closer to the exact jump of the step function
	// that defines each end.
	RootTol float64
}

// RankResult is the outcome of a [RankTest]: the Mann-Whitney (Wilcoxon
// rank-sum) test of the canary against the baseline, with the
// Hodges-Lehmann estimate of the shift and its confidence interval.
type RankResult struct {
	// M and N are the canary and baseline sample sizes.
	M, N int
	// W is the Mann-Whitney U statistic of the canary (R's W): the number of
	// (canary, baseline) pairs where the canary value, less Mu, is larger,
	// ties counting one half.
	W float64
	// Z is the standardized statistic, tie- and continuity-corrected.
	Z float64
	// PValue is the p-value of the normal approximation.
	PValue float64
	// Estimate is the Hodges-Lehmann estimate of the shift (canary minus
	// baseline): the root of the uncorrected standardized statistic, close
	// to the median of all pairwise differences.
	Estimate float64
	// Lower and Upper are the ends of the confidence interval for the
	// shift; one of them is infinite for a one-sided alternative.
	Lower, Upper float64
	// ConfLevel is the confidence level of [Lower, Upper].
	ConfLevel float64
}

// Errors reported for bad input to the tests.
var (
	// ErrEmpty means one of the samples has no values.
	ErrEmpty = errors.New("canary: empty sample")
	// ErrNonFinite means a sample holds a NaN or an infinite value.
	ErrNonFinite = errors.New("canary: value is NaN or infinite")
)

// RankTest runs the two-sample Mann-Whitney U test (Wilcoxon rank-sum test)
// of canary against baseline with the normal approximation, tie and
// continuity corrections, and computes the Hodges-Lehmann estimate of the
// shift with its confidence interval by root-finding, exactly as R's
// wilcox.test(canary, baseline, conf.int = TRUE, exact = FALSE) does (R
// 4.x). With the default options it matches R to the last few bits; the
// testdata directory holds the reference cases and the R script that made
// them.
//
// The samples are sorted once (O(n log n)); each evaluation of the
// statistic at a trial shift is then a single O(m+n) merge, never the m*n
// pairwise differences. Inputs are not modified.
//
// Both samples must be non-empty and finite ([ErrEmpty], [ErrNonFinite]);
// apply a NaN policy first (the Kayenta judge does). Where R fails or
// returns NaN this returns a defined answer instead: when every value ties
// (after removing Mu) there is no evidence of a shift, so Z is 0 and PValue
// is 1; when all canary values are equal and all baseline values are equal,
// the estimate and the finite interval ends are their difference.
func RankTest(canary, baseline []float64, o RankOptions) (RankResult, error) {
	conf, tol, err := o.resolve()
	if err != nil {
		return RankResult{}, err
	}
	if err := checkSample("canary", canary); err != nil {
		return RankResult{}, err
	}
	if err := checkSample("baseline", baseline); err != nil {
		return RankResult{}, err
	}
	rd := newRankData(canary, baseline)
	m, n := float64(len(canary)), float64(len(baseline))
	res := RankResult{M: len(canary), N: len(baseline), ConfLevel: conf}

	// The test at the null shift.
	clt, ceq, ties := rd.eval(o.Mu)
	res.W = float64(clt) + float64(ceq)/2
	z := res.W - m*n/2
	sigma := rd.sigma(ties)
	if sigma == 0 {
		res.Z, res.PValue = 0, 1
	} else {
		corr := 0.0
		if !o.NoCorrection {
			corr = o.Alternative.correction(z)
		}
		res.Z = (z - corr) / sigma
		switch o.Alternative {
		case Greater:
			res.PValue = normSF(res.Z)
		case Less:
			res.PValue = normCDF(res.Z)
		default:
			res.PValue = 2 * math.Min(normCDF(res.Z), normSF(res.Z))
		}
	}

	// The interval and the estimate.
	res.Lower, res.Upper, res.Estimate = rd.interval(o.Alternative, conf, tol, !o.NoCorrection)
	return res, nil
}

func (o RankOptions) resolve() (conf, tol float64, err error) {
	var errs []error
	conf = o.ConfLevel
	if conf == 0 {
		conf = 0.95
	}
	if !(conf > 0 && conf < 1) {
		errs = append(errs, fmt.Errorf("canary: rank test: ConfLevel: %v is outside (0, 1)", o.ConfLevel))
	}
	tol = o.RootTol
	if tol == 0 {
		tol = 1e-4
	}
	if !(tol > 0) || math.IsInf(tol, 0) {
		errs = append(errs, fmt.Errorf("canary: rank test: RootTol: %v is not a positive number", o.RootTol))
	}
	if math.IsNaN(o.Mu) || math.IsInf(o.Mu, 0) {
		errs = append(errs, fmt.Errorf("canary: rank test: Mu: %v is not finite", o.Mu))
	}
	if o.Alternative < TwoSided || o.Alternative > Less {
		errs = append(errs, fmt.Errorf("canary: rank test: Alternative: unknown value %d", int(o.Alternative)))
	}
	return conf, tol, errors.Join(errs...)
}

// correction is the continuity correction R applies to the centred
// statistic z for this alternative.
func (a Alternative) correction(z float64) float64 {
	switch a {
	case Greater:
		return 0.5
	case Less:
		return -0.5
	}
	switch {
	case z > 0:
		return 0.5
	case z < 0:
		return -0.5
	}
	return 0
}

func checkSample(side string, v []float64) error {
	if len(v) == 0 {
		return fmt.Errorf("canary: rank test: %s sample: %w", side, ErrEmpty)
	}
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("canary: rank test: %s value %d is %v: %w", side, i, x, ErrNonFinite)
		}
	}
	return nil
}

// rankData holds both samples sorted, ready for repeated evaluation of the
// rank statistic at different shifts.
type rankData struct {
	x, y  []float64 // canary and baseline, ascending
	xTies float64   // sum of t^3 - t over runs of equal canary values
	yTies float64   // the same for the baseline
	// minGap is the smallest difference between adjacent distinct canary
	// values and maxAbs the largest magnitude: together they tell when
	// subtracting a shift could round two distinct values into one.
	minGap, maxAbs float64
}

func newRankData(canary, baseline []float64) *rankData {
	rd := &rankData{x: slices.Clone(canary), y: slices.Clone(baseline)}
	sortFloats(rd.x)
	sortFloats(rd.y)
	rd.xTies = tieSum(rd.x)
	rd.yTies = tieSum(rd.y)
	rd.minGap = math.Inf(1)
	for i, v := range rd.x {
		rd.maxAbs = math.Max(rd.maxAbs, math.Abs(v))
		if i > 0 && v != rd.x[i-1] {
			rd.minGap = math.Min(rd.minGap, v-rd.x[i-1])
		}
	}
	return rd
}

// tieSum returns the sum of t^3 - t over runs of t equal values in the
// sorted v.
func tieSum(v []float64) float64 {
	s := 0.0
	for j := 0; j < len(v); {
		k := j + 1
		for k < len(v) && v[k] == v[j] {
			k++
		}
		if t := float64(k - j); t > 1 {
			s += t*t*t - t
		}
		j = k
	}
	return s
}

// sortFloats sorts finite values ascending: a least-significant-digit radix
// sort on the order-preserving bit pattern for large inputs (several times
// faster than a comparison sort at 100,000 values), slices.Sort for small
// ones. -0 sorts before +0; they still compare equal, which is all the rank
// statistic looks at.
func sortFloats(v []float64) {
	if len(v) < 1024 {
		slices.Sort(v)
		return
	}
	keys := make([]uint64, len(v))
	tmp := make([]uint64, len(v))
	for i, f := range v {
		b := math.Float64bits(f)
		if b>>63 == 1 {
			b = ^b
		} else {
			b |= 1 << 63
		}
		keys[i] = b
	}
	for shift := 0; shift < 64; shift += 8 {
		var count [256]int
		for _, k := range keys {
			count[(k>>shift)&0xff]++
		}
		if count[(keys[0]>>shift)&0xff] == len(keys) {
			continue // every key has this digit: the pass would not move anything
		}
		sum := 0
		for i, c := range count {
			count[i] = sum
			sum += c
		}
		for _, k := range keys {
			d := (k >> shift) & 0xff
			tmp[count[d]] = k
			count[d]++
		}
		keys, tmp = tmp, keys
	}
	for i, k := range keys {
		if k>>63 == 1 {
			k &^= 1 << 63
		} else {
			k = ^k
		}
		v[i] = math.Float64frombits(k)
	}
}

// eval ranks the combined sample {x_i - d} and {y_j} as R's rank does
// (average ranks for ties, ties being exact floating-point equality of the
// computed x_i - d and y_j) and returns
//
//   - clt, the number of pairs with y_j < x_i - d,
//   - ceq, the number of pairs with y_j == x_i - d,
//   - ties, the sum of t^3 - t over groups of t tied values.
//
// The sum of the canary's ranks is m(m+1)/2 + clt + ceq/2, so W = clt +
// ceq/2. It is one O(m+n) merge: a branch-free count when no canary value
// can tie a baseline value or another canary value at this shift (the usual
// case at the trial shifts of the root finder), the general merge
// otherwise.
func (rd *rankData) eval(d float64) (clt, ceq int64, ties float64) {
	// Subtracting d moves each value by at most half an ulp of the result;
	// two distinct canary values further apart than twice that stay
	// distinct.
	if rd.minGap > 4*epsilon*(rd.maxAbs+math.Abs(d)) {
		if clt, tie := rd.countLess(d); !tie {
			return clt, 0, rd.xTies + rd.yTies
		}
	}
	return rd.evalTies(d)
}

const epsilon = 2.220446049250313e-16

// countLess counts pairs with y_j < x_i - d and reports whether some y_j
// equals some x_i - d. It runs two independent merges, over the lower and
// the upper half of x, interleaved so that the processor overlaps them.
func (rd *rankData) countLess(d float64) (clt int64, tie bool) {
	x, y := rd.x, rd.y
	m, n := len(x), len(y)
	mid := m / 2
	// Start of the upper merge: the first y not below x[mid] - d.
	v := x[mid] - d
	j2, _ := slices.BinarySearch(y, v)
	i1, j1, i2 := 0, 0, mid
	t := 0
	for i1 < mid && j1 < n && i2 < m && j2 < n {
		v1, w1 := x[i1]-d, y[j1]
		v2, w2 := x[i2]-d, y[j2]
		a1, a2 := 0, 0
		if w1 < v1 {
			a1 = 1
		}
		if w2 < v2 {
			a2 = 1
		}
		if w1 == v1 {
			t = 1
		}
		if w2 == v2 {
			t = 1
		}
		j1 += a1
		j2 += a2
		i1 += 1 - a1
		i2 += 1 - a2
		clt += int64((1-a1)*j1 + (1-a2)*j2)
	}
	for i1 < mid && j1 < n {
		v1, w1 := x[i1]-d, y[j1]
		if w1 < v1 {
			j1++
			continue
		}
		if w1 == v1 {
			t = 1
		}
		clt += int64(j1)
		i1++
	}
	clt += int64(mid-i1) * int64(n)
	for i2 < m && j2 < n {
		v2, w2 := x[i2]-d, y[j2]
		if w2 < v2 {
			j2++
			continue
		}
		if w2 == v2 {
			t = 1
		}
		clt += int64(j2)
		i2++
	}
	clt += int64(m-i2) * int64(n)
	return clt, t != 0
}

// evalTies is the general merge behind eval, handling ties of any kind.
func (rd *rankData) evalTies(d float64) (clt, ceq int64, ties float64) {
	x, y := rd.x, rd.y
	m, n := len(x), len(y)
	j := 0
	for i := 0; i < m; {
		// x is ascending, and so is x - d (rounding is monotone): equal
		// shifted values are adjacent.
		v := x[i] - d
		a := int64(1)
		for i++; i < m && x[i]-d == v; i++ {
			a++
		}
		for j < n && y[j] < v {
			j++
		}
		b := int64(0)
		for k := j; k < n && y[k] == v; k++ {
			b++
		}
		clt += a * int64(j)
		ceq += a * b
		if a > 1 || b > 0 {
			t, fb := float64(a+b), float64(b)
			ties += (t*t*t - t) - (fb*fb*fb - fb)
		}
	}
	return clt, ceq, ties + rd.yTies
}

// sigma is the tie-corrected standard deviation of W under the null, in
// R's order of operations.
func (rd *rankData) sigma(ties float64) float64 {
	nx, ny := float64(len(rd.x)), float64(len(rd.y))
	return math.Sqrt((nx * ny / 12) * ((nx + ny + 1) - ties/((nx+ny)*(nx+ny-1))))
}

// standardized returns R's W(d) inside wilcox.test: the centred,
// optionally continuity-corrected, tie-corrected statistic at shift d.
func (rd *rankData) standardized(d float64, alt Alternative, correct bool) float64 {
	clt, ceq, ties := rd.eval(d)
	m, n := int64(len(rd.x)), int64(len(rd.y))
	dz := float64(2*clt+ceq-m*n) / 2
	corr := 0.0
	if correct {
		corr = alt.correction(dz)
	}
	return (dz - corr) / rd.sigma(ties)
}

// interval computes the confidence interval and the estimate as R does: the
// interval ends are roots of W(d) = z quantile, found by Brent's method
// between the smallest and largest pairwise difference; the estimate is the
// root of the uncorrected W(d) = 0.
func (rd *rankData) interval(alt Alternative, conf, tol float64, correct bool) (lo, hi, est float64) {
	x, y := rd.x, rd.y
	mumin := x[0] - y[len(y)-1]
	mumax := x[len(x)-1] - y[0]
	alpha := 1 - conf
	lo, hi = math.Inf(-1), math.Inf(1)
	if mumin == mumax {
		// Every canary value is equal and every baseline value is equal:
		// the shift is known exactly. (R stops with an error here.)
		switch alt {
		case Greater:
			lo = mumin
		case Less:
			hi = mumin
		default:
			lo, hi = mumin, mumin
		}
		return lo, hi, mumin
	}
	w := func(d float64) float64 { return rd.standardized(d, alt, correct) }
	wmin, wmax := w(mumin), w(mumax)
	root := func(zq float64) float64 {
		fl := wmin - zq
		if fl <= 0 {
			return mumin
		}
		fu := wmax - zq
		if fu >= 0 {
			return mumax
		}
		r, _ := zeroin(func(d float64) float64 { return w(d) - zq }, mumin, mumax, fl, fu, tol, 1000)
		return r
	}
	switch alt {
	case Greater:
		lo = root(normQuantileUpper(alpha))
	case Less:
		hi = root(normQuantile(alpha))
	default:
		lo = root(normQuantileUpper(alpha / 2))
		hi = root(normQuantile(alpha / 2))
	}

	// R computes the estimate with the continuity correction switched off.
	w0 := func(d float64) float64 { return rd.standardized(d, alt, false) }
	f0, f1 := w0(mumin), w0(mumax)
	switch {
	case f0*f1 > 0:
		// Not bracketed (possible only through rounding of the extreme
		// differences; R stops here): take the end nearer to zero.
		if math.Abs(f0) <= math.Abs(f1) {
			est = mumin
		} else {
			est = mumax
		}
	default:
		est, _ = zeroin(w0, mumin, mumax, f0, f1, tol, 1000)
	}
	return lo, hi, est
}

// normQuantileUpper returns the upper p-quantile of the standard normal,
// computed as R's qnorm(p, lower.tail = FALSE) does so that critical values
// agree bit for bit.
func normQuantileUpper(p float64) float64 {
	pl := (0.5 - p) + 0.5 // R_DT_qIv: the lower-tail probability
	if math.Abs(pl-0.5) <= 0.425 {
		return normQuantile(pl)
	}
	// In the tails R takes the small probability directly, without the
	// rounding of 1 - p.
	return -normQuantile(p)
}
