package alarm

import (
	"math"
	"strconv"
	"time"
)

// Threshold is a CloudWatch-style metric alarm rule: a statistic per period
// compared with a threshold, M of N datapoints to alarm, and a missing-data
// treatment. The zero values of the embedded [Evaluation]'s optional fields
// are CloudWatch's defaults (M = N, missing data treated as missing).
//
// For example, "ALARM when the 5xx rate is above 1% in 3 of the last 5
// minutes, and treat silence as breaching":
//
//	alarm.Threshold{
//		Query:      `sum(rate(http_errors_total[1m])) / sum(rate(http_requests_total[1m]))`,
//		Comparison: alarm.GreaterThan,
//		Threshold:  0.01,
//		Evaluation: alarm.Evaluation{
//			Period:            duration.Duration(time.Minute),
//			EvaluationPeriods: 5,
//			DatapointsToAlarm: 3,
//			TreatMissingData:  alarm.Breaching,
//		},
//	}
type Threshold struct {
	// Query selects the metric in the source's language (PromQL for
	// alarm/prometheus, a key for [Memory]). Required.
	Query string `json:"query"`
	// Comparison says which side of the threshold breaches. Required.
	Comparison Comparison `json:"comparison"`
	// Threshold is the value datapoints are compared with. It must be
	// finite.
	Threshold float64 `json:"threshold"`
	Evaluation
}

// Validate reports every problem with the rule, each as a [*FieldError]
// naming its field.
func (t Threshold) Validate() error {
	p := problems{prefix: "Threshold."}
	t.validate(&p)
	return p.err()
}

func (t *Threshold) validate(p *problems) {
	if t.Query == "" {
		p.add("Query", "must not be empty")
	}
	if t.Comparison == "" {
		p.add("Comparison", "must be set (GreaterThanThreshold, GreaterThanOrEqualToThreshold, LessThanThreshold, LessThanOrEqualToThreshold, or >, >=, <, <=)")
	} else if _, ok := t.Comparison.op(); !ok {
		p.add("Comparison", "unknown comparison %q (want GreaterThanThreshold, GreaterThanOrEqualToThreshold, LessThanThreshold, LessThanOrEqualToThreshold, or >, >=, <, <=)", t.Comparison)
	}
	if math.IsNaN(t.Threshold) || math.IsInf(t.Threshold, 0) {
		p.add("Threshold", "must be finite, got %v", t.Threshold)
	}
	t.Evaluation.validate(p)
}

// Assess evaluates the rule at now over s without allocating, given the
// state the alarm was in before (used only by [Ignore]; pass
// [InsufficientData] when there is none). An invalid rule or a series out of
// time order assesses as INSUFFICIENT_DATA.
func (t Threshold) Assess(now time.Time, s Series, prev State) Assessment {
	par, ok := t.Evaluation.params()
	op, okOp := t.Comparison.op()
	if !ok || !okOp || t.Query == "" || math.IsNaN(t.Threshold) || math.IsInf(t.Threshold, 0) {
		return Assessment{State: InsufficientData, basis: basisInvalid}
	}
	var (
		w      walker
		tl     tally
		latest Point
	)
	w.init(s.Points, now, &par)
	for {
		age, v, from, ok := w.next()
		if !ok {
			break
		}
		if tl.real == 0 {
			latest = from
		}
		tl.add(par.n, age, op.breaches(v, t.Threshold))
	}
	if w.unordered {
		return Assessment{State: InsufficientData, Range: par.rng, basis: basisUnordered}
	}
	a := par.decide(&tl, prev)
	a.Latest = latest
	return a
}

// Evaluate returns the rule's state at now over s, with a reason in plain
// words, for an alarm with no previous state. It is
// EvaluateFrom(now, s, InsufficientData).
func (t Threshold) Evaluate(now time.Time, s Series) Result {
	return t.EvaluateFrom(now, s, InsufficientData)
}

// EvaluateFrom is [Threshold.Evaluate] for an alarm whose previous state was
// prev: with TreatMissingData [Ignore], an evaluation that the real
// datapoints cannot decide keeps prev. The other treatments ignore prev.
func (t Threshold) EvaluateFrom(now time.Time, s Series, prev State) Result {
	a := t.Assess(now, s, prev)
	return Result{State: a.State, Reason: t.reason(now, s, &a, prev), Time: now}
}

// reason renders an assessment in words. It walks the series again to list
// the values it counted; only Evaluate pays for that.
func (t *Threshold) reason(now time.Time, s Series, a *Assessment, prev State) string {
	var b []byte
	switch a.basis {
	case basisInvalid:
		b = append(b, "rule is invalid: "...)
		if err := t.Validate(); err != nil {
			b = append(b, err.Error()...)
		}
		return string(b)
	case basisUnordered:
		return "series is not in time order; cannot evaluate"
	}
	cond := t.Comparison.Symbol() + " " + formatFloat(t.Threshold)
	return string(appendReason(b, &t.Evaluation, now, a, prev, cond, func(b []byte, budget int) []byte {
		par, _ := t.Evaluation.params()
		var w walker
		w.init(s.Points, now, &par)
		for i := 0; i < budget; i++ {
			_, v, _, ok := w.next()
			if !ok {
				break
			}
			if i > 0 {
				b = append(b, ", "...)
			}
			b = strconv.AppendFloat(b, v, 'g', 6, 64)
		}
		return b
	}))
}

// appendReason renders the parts of a reason common to threshold and
// relative rules. cond is the breach condition in words ("> 0.05");
// values appends up to budget of the real datapoints, newest first.
func appendReason(b []byte, e *Evaluation, now time.Time, a *Assessment, prev State,
	cond string, values func(b []byte, budget int) []byte) []byte {
	n := e.EvaluationPeriods
	m := e.datapointsToAlarm()
	period := e.Period.String()
	appendValues := func(b []byte, count int) []byte {
		const maxListed = 10
		b = append(b, " [newest first: "...)
		b = values(b, min(count, maxListed))
		if count > maxListed {
			b = append(b, ", ..."...)
		}
		return append(b, ']')
	}
	itoa := func(b []byte, i int) []byte { return strconv.AppendInt(b, int64(i), 10) }
	// Datapoints below MinSamples are missing; say so where missing ones
	// are counted.
	datapoints := " datapoints"
	if e.MinSamples > 0 {
		datapoints = " datapoints of at least " + strconv.FormatInt(e.MinSamples, 10) + " samples"
	}
	switch a.basis {
	case basisRecent:
		b = itoa(b, a.Breaching)
		b = append(b, " of the last "...)
		b = itoa(b, n)
		b = append(b, " datapoints ("...)
		b = append(b, period...)
		b = append(b, " periods) "...)
		b = append(b, cond...)
		b = append(b, ", "...)
		b = itoa(b, m)
		b = append(b, " needed for ALARM"...)
		b = appendValues(b, n)
	case basisFilled:
		b = append(b, "only "...)
		b = itoa(b, a.Real)
		b = append(b, " of "...)
		b = itoa(b, n)
		b = append(b, datapoints...)
		b = append(b, " in the last "...)
		b = itoa(b, a.Range)
		b = append(b, " periods of "...)
		b = append(b, period...)
		b = append(b, "; "...)
		b = itoa(b, a.Filled)
		b = append(b, " missing filled as "...)
		b = append(b, e.TreatMissingData.name()...)
		b = append(b, ": "...)
		b = itoa(b, a.Breaching)
		b = append(b, " of "...)
		b = itoa(b, n)
		b = append(b, " "...)
		b = append(b, cond...)
		b = append(b, ", "...)
		b = itoa(b, m)
		b = append(b, " needed for ALARM"...)
		b = appendValues(b, a.Real)
	case basisNoData, basisKept, basisPartial, basisAged, basisUndecided:
		if a.Real == 0 {
			b = append(b, "no"...)
		} else {
			b = append(b, "only "...)
			b = itoa(b, a.Real)
			b = append(b, " of "...)
			b = itoa(b, n)
		}
		b = append(b, datapoints...)
		b = append(b, " in the last "...)
		b = itoa(b, a.Range)
		b = append(b, " periods of "...)
		b = append(b, period...)
		if a.Real > 0 {
			b = append(b, ", "...)
			b = itoa(b, a.Breaching)
			b = append(b, " of them "...)
			b = append(b, cond...)
			b = appendValues(b, a.Real)
		}
		b = append(b, "; missing data is treated as "...)
		b = append(b, e.TreatMissingData.name()...)
		switch a.basis {
		case basisNoData:
			if a.Filled > 0 {
				b = append(b, ", so all "...)
				b = itoa(b, a.Filled)
				b = append(b, " count as "...)
				b = append(b, e.TreatMissingData.name()...)
			}
		case basisKept:
			b = append(b, ", so the previous state "...)
			b = append(b, prev.String()...)
			b = append(b, " is kept"...)
		case basisPartial:
			if a.State == Alarm {
				b = append(b, ", and at least "...)
				b = itoa(b, m)
				b = append(b, " breach"...)
			} else {
				b = append(b, ", and fewer than "...)
				b = itoa(b, m)
				b = append(b, " breach with at least one that does not"...)
			}
		case basisAged:
			b = append(b, ", and the oldest breaching datapoint is "...)
			b = itoa(b, a.oldest)
			b = append(b, " periods old (at least "...)
			b = itoa(b, m)
			b = append(b, ") with nothing but breaching or missing datapoints after it"...)
		case basisUndecided:
			b = append(b, ", and the "...)
			b = itoa(b, a.Real)
			b = append(b, " real datapoints all breach but are too few and too recent to decide"...)
		}
	}
	return b
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
