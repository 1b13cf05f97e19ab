package wave

import (
	"math"
	"math/big"
	"strconv"
)

// Exact arithmetic.
//
// The planner rounds in a handful of places, each documented: a batch is
// the batch fraction of a zone rounded down, a minimum healthy percentage
// is rounded up, a wave's planned size is the last one times the growth
// rounded up, and a one-box may carry at most its fraction of its region's
// (or zone's) weight. Float arithmetic gets these wrong at the boundary
// (0.29 × 100 is 28.999999999999996 in float64, which rounds down to 28),
// and nudging by an epsilon only moves the boundary somewhere else.
//
// So every number of a policy or a fleet is read as the decimal it is
// written as: the shortest decimal that converts to the same float64,
// which is how encoding/json, strconv and fmt print it (0.29 is 29/100,
// not 0.28999999999999998002). The rounding is then done exactly, in
// rational numbers. To stay fast on a million targets, the planner first
// compares in float64 with a margin far wider than float error, and
// computes exactly only when a value falls inside the margin.

// ratOf returns f, which must be finite, as the decimal it is written as.
func ratOf(f float64) *big.Rat {
	r, ok := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64))
	if !ok {
		// Unreachable for finite f; NaN and infinities are refused by
		// validation before any arithmetic.
		return new(big.Rat)
	}
	return r
}

// floorMul returns ⌊f·n⌋ for f in [0, 1] and n ≥ 0, f read as a decimal.
func floorMul(f float64, n int) int {
	x := new(big.Rat).Mul(ratOf(f), new(big.Rat).SetInt64(int64(n)))
	q := new(big.Int).Quo(x.Num(), x.Denom()) // truncates; x ≥ 0
	return int(q.Int64())
}

// ceilMulCap returns ⌈f·n⌉ for f ≥ 0 and n ≥ 0, f read as a decimal, or
// limit if that is more than limit.
func ceilMulCap(f float64, n, limit int) int {
	if f*float64(n) > 2*float64(limit)+2 { // clearly above the cap (and no overflow below)
		return limit
	}
	x := new(big.Rat).Mul(ratOf(f), new(big.Rat).SetInt64(int64(n)))
	q, r := new(big.Int).QuoRem(x.Num(), x.Denom(), new(big.Int))
	if r.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() || q.Int64() > int64(limit) {
		return limit
	}
	return int(q.Int64())
}

// ceilPercent returns ⌈p·n/100⌉ for p in [0, 100] and n ≥ 0, p read as a
// decimal.
func ceilPercent(p float64, n int) int {
	x := new(big.Rat).Mul(ratOf(p), new(big.Rat).SetInt64(int64(n)))
	x.Quo(x, big.NewRat(100, 1))
	q, r := new(big.Int).QuoRem(x.Num(), x.Denom(), new(big.Int))
	if r.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return int(q.Int64())
}

// floatMargin is the relative margin of the float comparison in
// [atMost]: the float sum of n non-negative weights is within n·2⁻⁵³ of
// the exact sum, well inside 1e-6 for any fleet below a billion targets,
// and the decimal a float stands for is within 2⁻⁵³ of it.
const floatMargin = 1e-6

// atMost reports whether w ≤ f·total, each read as a decimal, where
// total is the float sum of the weights that exactSum adds up exactly
// (called only when the float comparison is too close to call).
func atMost(w, f, total float64, exactSum func() *big.Rat) bool {
	// Below 1e-300 a float has too few bits for the margin: go exact.
	if lim := f * total; lim > 1e-300 && !math.IsInf(lim, 0) {
		switch {
		case w <= lim*(1-floatMargin):
			return true
		case w > lim*(1+floatMargin):
			return false
		}
	}
	rhs := new(big.Rat).Mul(ratOf(f), exactSum())
	return ratOf(w).Cmp(rhs) <= 0
}
