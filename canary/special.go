package canary

import "math"

// This file holds the few special functions the tests need. They are written
// here rather than imported so that the package stays dependency-free; each
// one names the published algorithm it follows so that it can be checked.

// normQuantile returns the p-quantile of the standard normal distribution.
// It follows Wichura's algorithm AS 241 (PPND16, Applied Statistics 37, 1988),
// which is also what R's qnorm uses, so that confidence levels turn into the
// same critical values in both. Accurate to about 1e-16 relative.
func normQuantile(p float64) float64 {
	switch {
	case math.IsNaN(p) || p < 0 || p > 1:
		return math.NaN()
	case p == 0:
		return math.Inf(-1)
	case p == 1:
		return math.Inf(1)
	}
	q := p - 0.5
	if math.Abs(q) <= 0.425 {
		r := 0.180625 - q*q
		num := (((((((r*2509.0809287301226727+
			33430.575583588128105)*r+67265.770927008700853)*r+
			45921.953931549871457)*r+13731.693765509461125)*r+
			1971.5909503065514427)*r+133.14166789178437745)*r +
			3.387132872796366608)
		den := (((((((r*5226.495278852545925+
			28729.085735721942674)*r+39307.89580009271061)*r+
			21213.794301586595867)*r+5394.1960214247511077)*r+
			687.1870074920579083)*r+42.313330701600911252)*r + 1.0)
		return q * num / den
	}
	r := p
	if q > 0 {
		r = 1 - p
	}
	r = math.Sqrt(-math.Log(r))
	var val float64
	if r <= 5 {
		r -= 1.6
		num := (((((((r*7.7454501427834140764e-4+
			0.0227238449892691845833)*r+0.24178072517745061177)*r+
			1.27045825245236838258)*r+3.64784832476320460504)*r+
			5.7694972214606914055)*r+4.6303378461565452959)*r +
			1.42343711074968357734)
		den := (((((((r*1.05075007164441684324e-9+
			5.475938084995344946e-4)*r+0.0151986665636164571966)*r+
			0.14810397642748007459)*r+0.68976733498510000455)*r+
			1.6763848301838038494)*r+2.05319162663775882187)*r + 1.0)
		val = num / den
	} else {
		r -= 5
		num := (((((((r*2.01033439929228813265e-7+
			2.71155556874348757815e-5)*r+0.0012426609473880784386)*r+
			0.026532189526576123093)*r+0.29656057182850489123)*r+
			1.7848265399172913358)*r+5.4637849111641143699)*r +
			6.6579046435011037772)
		den := (((((((r*2.04426310338993978564e-15+
			1.4215117583164458887e-7)*r+1.8463183175100546818e-5)*r+
			7.868691311456132591e-4)*r+0.0148753612908506148525)*r+
			0.13692988092273580531)*r+0.59983220655588793769)*r + 1.0)
		val = num / den
	}
	if q < 0 {
		return -val
	}
	return val
}

// normCDF returns P(Z <= z) for a standard normal Z, accurate in the lower
// tail (it is computed from erfc, not as 1 minus something).
func normCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// normSF returns P(Z > z), accurate in the upper tail.
func normSF(z float64) float64 { return 0.5 * math.Erfc(z/math.Sqrt2) }

// lgamma is math.Lgamma without the sign: every argument here is positive.
func lgamma(x float64) float64 {
	v, _ := math.Lgamma(x)
	return v
}

// logBeta returns log B(a, b) = lgamma(a) + lgamma(b) - lgamma(a+b) for a,
// b > 0.
func logBeta(a, b float64) float64 { return lgamma(a) + lgamma(b) - lgamma(a+b) }

// regIncBeta returns the regularized incomplete beta function I_x(a, b), the
// probability that a Beta(a, b) variable is at most x, for a, b > 0.
//
// It evaluates the continued fraction of Numerical Recipes (section 6.4) by
// the modified Lentz method, on the side of the mean where it converges
// fast, and uses I_x(a, b) = 1 - I_{1-x}(b, a) on the other.
func regIncBeta(x, a, b float64) float64 {
	switch {
	case math.IsNaN(x) || !(a > 0) || !(b > 0):
		return math.NaN()
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	if x > (a+1)/(a+b+2) {
		return 1 - regIncBeta(1-x, b, a)
	}
	// Prefactor x^a (1-x)^b / (a B(a, b)), in logs to survive large a, b.
	lf := a*math.Log(x) + b*math.Log1p(-x) - logBeta(a, b) - math.Log(a)
	return math.Exp(lf) * betaContinuedFraction(x, a, b)
}

// betaContinuedFraction evaluates the continued fraction for I_x(a, b)
// (Numerical Recipes betacf) with the modified Lentz method.
func betaContinuedFraction(x, a, b float64) float64 {
	const (
		tiny = 1e-300
		eps  = 1e-15
	)
	qab, qap, qam := a+b, a+1, a-1
	c, d := 1.0, 1-qab*x/qap
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	// The fraction converges in O(sqrt(max(a, b))) terms near the mean and
	// much faster away from it; the cap only guards against a bug.
	for m := 1; m <= 100000; m++ {
		fm := float64(m)
		m2 := 2 * fm
		aa := fm * (b - fm) * x / ((qam + m2) * (a + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		h *= d * c
		aa = -(a + fm) * (qab + fm) * x / ((a + m2) * (qap + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < eps {
			break
		}
	}
	return h
}

// logSumExp returns log(exp(a) + exp(b)) without overflow.
func logSumExp(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	if math.IsInf(a, -1) {
		return a
	}
	return a + math.Log1p(math.Exp(b-a))
}
