package canary

import "math"

// zeroin finds a root of f in [a, b] by Brent's method, given f(a) = fa and
// f(b) = fb of opposite signs (or one of them zero). It returns the root and
// whether it converged within maxit steps.
//
// It is the algorithm of R's zeroin (R_zeroin2 in src/library/stats/src/
// zeroin.c, after Brent, "Algorithms for Minimization without Derivatives",
// 1973) step for step, including R's stopping rule |c-b|/2 <= 2*eps*|b| +
// tol/2 and its rule for taking a tolerance-sized step. The step-for-step
// match matters: the Wilcoxon statistic is a step function of the shift, so
// every point between two jumps is "a root", and only the same sequence of
// trial points lands where R lands. The arithmetic is written with explicit
// conversions where a fused multiply-add could otherwise change a rounding.
func zeroin(f func(float64) float64, a, b, fa, fb, tol float64, maxit int) (root float64, ok bool) {
	const eps = 2.220446049250313e-16 // DBL_EPSILON
	c, fc := a, fa
	if fa == 0 {
		return a, true
	}
	if fb == 0 {
		return b, true
	}
	for it := maxit + 1; it > 0; it-- {
		prevStep := b - a
		if math.Abs(fc) < math.Abs(fb) {
			// Make b the best approximation so far.
			a, b, c = b, c, b
			fa, fb, fc = fb, fc, fb
		}
		tolAct := float64(2*eps*math.Abs(b)) + tol/2
		newStep := (c - b) / 2
		if math.Abs(newStep) <= tolAct || fb == 0 {
			return b, true
		}
		// Try interpolation when the previous step was large enough and went
		// in the right direction.
		if math.Abs(prevStep) >= tolAct && math.Abs(fa) > math.Abs(fb) {
			var p, q float64
			cb := c - b
			if a == c {
				// Only two distinct points: linear interpolation.
				t1 := fb / fa
				p = cb * t1
				q = 1.0 - t1
			} else {
				// Inverse quadratic interpolation.
				q = fa / fc
				t1 := fb / fc
				t2 := fb / fa
				p = t2 * (float64(float64(cb*q)*(q-t1)) - float64((b-a)*(t1-1.0)))
				q = float64(float64((q-1.0)*(t1-1.0)) * (t2 - 1.0))
			}
			if p > 0 {
				q = -q
			} else {
				p = -p
			}
			if p < float64(float64(0.75*cb)*q)-math.Abs(float64(tolAct*q))/2 &&
				p < math.Abs(float64(prevStep*q)/2) {
				newStep = p / q
			}
		}
		if math.Abs(newStep) < tolAct {
			if newStep > 0 {
				newStep = tolAct
			} else {
				newStep = -tolAct
			}
		}
		a, fa = b, fb
		b += newStep
		fb = f(b)
		if (fb > 0 && fc > 0) || (fb < 0 && fc < 0) {
			c, fc = a, fa
		}
	}
	return b, false
}
