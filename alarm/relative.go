package alarm

import (
	"math"
	"strconv"
	"time"
)

// Direction says which way a metric gets worse.
type Direction string

const (
	// HigherIsWorse (the default, also written as the empty string) is for
	// error rates, latencies, CPU: the scoped series breaches when it is
	// above the baseline.
	HigherIsWorse Direction = "higherIsWorse"
	// LowerIsWorse is for success rates, throughput, request counts: the
	// scoped series breaches when it is below the baseline.
	LowerIsWorse Direction = "lowerIsWorse"
)

func (d Direction) lowerIsWorse() (lower, ok bool) {
	switch d {
	case "", HigherIsWorse:
		return false, true
	case LowerIsWorse:
		return true, true
	}
	return false, false
}

// Relative compares a scoped series (one box, one zone, the canary) with a
// baseline series (the rest of the fleet) period by period, so that one bad
// box out of hundreds is caught where a fleet-wide threshold cannot see it.
//
// A period breaches when the scoped datapoint is worse than the baseline's
// by both more than Ratio times and more than Difference: with higher is
// worse, scoped > Ratio*baseline and scoped-baseline > Difference. Needing
// both keeps a ratio from firing on tiny numbers (0.02% against 0.01% is
// twice as bad and means nothing) and a difference from firing on large
// ones. Both bounds are strict, and the rule is meant for non-negative
// metrics.
//
// A period counts as a real datapoint only when both series have one there
// (each meeting MinSamples); otherwise it is missing, and the embedded
// [Evaluation] decides M of N and missing data exactly as for [Threshold].
type Relative struct {
	// Query selects the scoped series. Required.
	Query string `json:"query"`
	// Baseline selects the baseline series. Required, and different from
	// Query.
	Baseline string `json:"baseline"`
	// Direction says which way is worse; zero means [HigherIsWorse].
	Direction Direction `json:"direction,omitempty"`
	// Ratio is how many times worse than the baseline the scoped datapoint
	// must be, at least 1; zero means 1 (no ratio bound beyond "worse").
	Ratio float64 `json:"ratio,omitempty"`
	// Difference is by how much, in the metric's unit, the scoped datapoint
	// must be worse than the baseline; zero means any amount.
	Difference float64 `json:"difference,omitempty"`
	Evaluation
}

// Validate reports every problem with the rule, each as a [*FieldError]
// naming its field.
func (r Relative) Validate() error {
	p := problems{prefix: "Relative."}
	r.validate(&p)
	return p.err()
}

func (r *Relative) validate(p *problems) {
	if r.Query == "" {
		p.add("Query", "must not be empty")
	}
	if r.Baseline == "" {
		p.add("Baseline", "must not be empty")
	} else if r.Baseline == r.Query {
		p.add("Baseline", "must differ from Query %q: a series compared with itself never breaches", r.Query)
	}
	if _, ok := r.Direction.lowerIsWorse(); !ok {
		p.add("Direction", "unknown direction %q (want higherIsWorse or lowerIsWorse)", r.Direction)
	}
	if math.IsNaN(r.Ratio) || math.IsInf(r.Ratio, 0) || (r.Ratio != 0 && r.Ratio < 1) {
		p.add("Ratio", "%v is not a finite number of at least 1 (0 means 1)", r.Ratio)
	}
	if math.IsNaN(r.Difference) || math.IsInf(r.Difference, 0) || r.Difference < 0 {
		p.add("Difference", "%v is not a finite number of at least 0", r.Difference)
	}
	r.Evaluation.validate(p)
}

func (r *Relative) ratio() float64 { return max(r.Ratio, 1) }

// breaches reports whether a scoped datapoint breaches against its
// baseline's.
func (r *Relative) breaches(lower bool, scoped, baseline float64) bool {
	worse, better := scoped, baseline
	if lower {
		worse, better = baseline, scoped
	}
	return worse > r.ratio()*better && worse-better > r.Difference
}

// Assess evaluates the rule at now over the scoped and baseline series
// without allocating, given the previous state (used only by [Ignore]). An
// invalid rule or a series out of time order assesses as
// INSUFFICIENT_DATA.
func (r Relative) Assess(now time.Time, scoped, baseline Series, prev State) Assessment {
	par, ok := r.Evaluation.params()
	lower, okDir := r.Direction.lowerIsWorse()
	if !ok || !okDir || r.Query == "" || r.Baseline == "" || r.Query == r.Baseline ||
		math.IsNaN(r.Ratio) || math.IsInf(r.Ratio, 0) || (r.Ratio != 0 && r.Ratio < 1) ||
		math.IsNaN(r.Difference) || math.IsInf(r.Difference, 0) || r.Difference < 0 {
		return Assessment{State: InsufficientData, basis: basisInvalid}
	}
	var (
		ws, wb           walker
		tl               tally
		latest, latestBL Point
	)
	ws.init(scoped.Points, now, &par)
	wb.init(baseline.Points, now, &par)
	as, vs, ps, oks := ws.next()
	ab, vb, pb, okb := wb.next()
	for oks && okb {
		switch {
		case as == ab:
			if tl.real == 0 {
				latest, latestBL = ps, pb
			}
			tl.add(par.n, as, r.breaches(lower, vs, vb))
			as, vs, ps, oks = ws.next()
			ab, vb, pb, okb = wb.next()
		case as < ab:
			as, vs, ps, oks = ws.next()
		default:
			ab, vb, pb, okb = wb.next()
		}
	}
	// Drain the walkers so that a series out of order anywhere in the
	// range is noticed.
	for oks {
		_, _, _, oks = ws.next()
	}
	for okb {
		_, _, _, okb = wb.next()
	}
	if ws.unordered || wb.unordered {
		return Assessment{State: InsufficientData, Range: par.rng, basis: basisUnordered}
	}
	a := par.decide(&tl, prev)
	a.Latest, a.Baseline = latest, latestBL
	return a
}

// Evaluate returns the rule's state at now with a reason that gives both
// values, for an alarm with no previous state. It is
// EvaluateFrom(now, scoped, baseline, InsufficientData).
func (r Relative) Evaluate(now time.Time, scoped, baseline Series) Result {
	return r.EvaluateFrom(now, scoped, baseline, InsufficientData)
}

// EvaluateFrom is [Relative.Evaluate] for an alarm whose previous state was
// prev (see [Threshold.EvaluateFrom]).
func (r Relative) EvaluateFrom(now time.Time, scoped, baseline Series, prev State) Result {
	a := r.Assess(now, scoped, baseline, prev)
	return Result{State: a.State, Reason: r.reason(now, scoped, baseline, &a, prev), Time: now}
}

func (r *Relative) reason(now time.Time, scoped, baseline Series, a *Assessment, prev State) string {
	switch a.basis {
	case basisInvalid:
		msg := "rule is invalid"
		if err := r.Validate(); err != nil {
			msg += ": " + err.Error()
		}
		return msg
	case basisUnordered:
		return "series is not in time order; cannot evaluate"
	}
	lower, _ := r.Direction.lowerIsWorse()
	word := "above"
	if lower {
		word = "below"
	}
	cond := "scoped " + word + " baseline by more than " + formatFloat(r.ratio()) + "x and more than " + formatFloat(r.Difference)
	b := appendReason(nil, &r.Evaluation, now, a, prev, cond, func(b []byte, budget int) []byte {
		par, _ := r.Evaluation.params()
		var ws, wb walker
		ws.init(scoped.Points, now, &par)
		wb.init(baseline.Points, now, &par)
		as, vs, _, oks := ws.next()
		ab, vb, _, okb := wb.next()
		for i := 0; i < budget && oks && okb; {
			switch {
			case as == ab:
				if i > 0 {
					b = append(b, ", "...)
				}
				b = strconv.AppendFloat(b, vs, 'g', 6, 64)
				b = append(b, " vs "...)
				b = strconv.AppendFloat(b, vb, 'g', 6, 64)
				i++
				as, vs, _, oks = ws.next()
				ab, vb, _, okb = wb.next()
			case as < ab:
				as, vs, _, oks = ws.next()
			default:
				ab, vb, _, okb = wb.next()
			}
		}
		return b
	})
	if a.Real > 0 {
		b = append(b, "; latest scoped "...)
		b = strconv.AppendFloat(b, a.Latest.Value, 'g', 6, 64)
		b = append(b, " vs baseline "...)
		b = strconv.AppendFloat(b, a.Baseline.Value, 'g', 6, 64)
	}
	return string(b)
}
