package alarm_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/duration"
)

var now = time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)

// minutes returns one-minute datapoints ending at now, oldest first; NaN
// marks a minute without data.
func minutes(values ...float64) alarm.Series {
	var s alarm.Series
	for i, v := range values {
		s.Points = append(s.Points, alarm.Point{Time: now.Add(-time.Duration(len(values)-1-i) * time.Minute), Value: v})
	}
	return s
}

// A 3-of-5 alarm on an error rate: three breaching minutes need not be
// consecutive.
func ExampleThreshold() {
	rule := alarm.Threshold{
		Query:      "errors",
		Comparison: alarm.GreaterThan,
		Threshold:  0.05,
		Evaluation: alarm.Evaluation{
			Period:            duration.Duration(time.Minute),
			EvaluationPeriods: 5,
			DatapointsToAlarm: 3,
		},
	}
	if err := rule.Validate(); err != nil {
		panic(err)
	}
	fmt.Println(rule.Evaluate(now, minutes(0.01, 0.09, 0.02, 0.08, 0.07)))
	fmt.Println(rule.Evaluate(now, minutes(0.01, 0.09, 0.02, 0.08, 0.01)))
	// Output:
	// ALARM (3 of the last 5 datapoints (1m0s periods) > 0.05, 3 needed for ALARM [newest first: 0.07, 0.08, 0.02, 0.09, 0.01])
	// OK (2 of the last 5 datapoints (1m0s periods) > 0.05, 3 needed for ALARM [newest first: 0.01, 0.08, 0.02, 0.09, 0.01])
}

// The same silence means different things under each treatment of missing
// data. A rollback alarm on a metric that reports every minute should treat
// silence as breaching.
func ExampleTreatment() {
	// The last datapoint is six minutes old: nothing in the evaluation
	// range of 3+2 minutes.
	silence := alarm.Series{Points: []alarm.Point{{Time: now.Add(-6 * time.Minute), Value: 0.01}}}
	for _, treat := range []alarm.Treatment{alarm.Missing, alarm.NotBreaching, alarm.Breaching, alarm.Ignore} {
		rule := alarm.Threshold{
			Query: "errors", Comparison: alarm.GreaterThan, Threshold: 0.05,
			Evaluation: alarm.Evaluation{
				Period: duration.Duration(time.Minute), EvaluationPeriods: 3, TreatMissingData: treat,
			},
		}
		fmt.Printf("%-12s %s\n", treat, rule.EvaluateFrom(now, silence, alarm.Alarm).State)
	}
	// Output:
	// missing      INSUFFICIENT_DATA
	// notBreaching OK
	// breaching    ALARM
	// ignore       ALARM
}

// One box out of many: its error rate is five times the fleet's.
func ExampleRelative() {
	rule := alarm.Relative{
		Query:      `errors{host="box-17"}`,
		Baseline:   `errors{host!="box-17"}`,
		Ratio:      2,
		Difference: 0.01,
		Evaluation: alarm.Evaluation{Period: duration.Duration(time.Minute), EvaluationPeriods: 3},
	}
	box := minutes(0.05, 0.06, 0.05)
	fleet := minutes(0.01, 0.01, 0.012)
	fmt.Println(rule.Evaluate(now, box, fleet))
	// Output:
	// ALARM (3 of the last 3 datapoints (1m0s periods) scoped above baseline by more than 2x and more than 0.01, 3 needed for ALARM [newest first: 0.05 vs 0.012, 0.06 vs 0.01, 0.05 vs 0.01]; latest scoped 0.05 vs baseline 0.012)
}

func ExampleParseExpression() {
	e, err := alarm.ParseExpression(`ALARM(errors) OR ALARM("p99 latency") AND NOT OK(canary)`)
	if err != nil {
		panic(err)
	}
	fmt.Println(e)
	fmt.Println(e.Names())

	_, err = alarm.ParseExpression(`ALARM(errors) OR ALARM(latency`)
	fmt.Println(err)
	// Output:
	// ALARM(errors) OR (ALARM("p99 latency") AND NOT OK(canary))
	// [canary errors p99 latency]
	// alarm: composite expression: position 31: expected ")" after the alarm name in ALARM(), found end of expression
}

// A set binds named rules to a source; a composite combines them into one
// rollback alarm.
func ExampleSet() {
	src := new(alarm.Memory)
	for i := range 5 {
		at := now.Add(-time.Duration(4-i) * time.Minute)
		src.Record("errors", at, 0.01, 1200)
		src.Record("p99", at, 0.35+0.06*float64(i), 1200) // getting slower
	}
	every := alarm.Evaluation{Period: duration.Duration(time.Minute), EvaluationPeriods: 3, DatapointsToAlarm: 2}
	set, err := alarm.NewSet(src,
		alarm.Rule{Name: "errors", Threshold: &alarm.Threshold{Query: "errors", Comparison: ">", Threshold: 0.05, Evaluation: every}},
		alarm.Rule{Name: "latency", Threshold: &alarm.Threshold{Query: "p99", Comparison: ">", Threshold: 0.5, Evaluation: every}},
		alarm.Rule{Name: "rollback", Composite: &alarm.Composite{Expression: "ALARM(errors) OR ALARM(latency)"}},
	)
	if err != nil {
		panic(err)
	}
	for _, o := range set.CheckAll(context.Background(), now) {
		fmt.Println(o.Result)
	}
	// Output:
	// errors: OK (0 of the last 3 datapoints (1m0s periods) > 0.05, 2 needed for ALARM [newest first: 0.01, 0.01, 0.01])
	// latency: ALARM (2 of the last 3 datapoints (1m0s periods) > 0.5, 2 needed for ALARM [newest first: 0.59, 0.53, 0.47])
	// rollback: ALARM (ALARM(errors) OR ALARM(latency) is true: errors is OK, latency is ALARM)
}

// Unknown names and cycles are rejected when the set is built.
func ExampleNewSet_errors() {
	_, err := alarm.NewSet(nil,
		alarm.Rule{Name: "a", Composite: &alarm.Composite{Expression: "ALARM(b) OR ALARM(c)"}},
		alarm.Rule{Name: "b", Composite: &alarm.Composite{Expression: "NOT OK(a)"}},
	)
	fmt.Println(err)
	// Output:
	// alarm: rules["a"].Composite.Expression: unknown alarm "c"
	// alarm: rules["a"].Composite.Expression: cycle: a -> b -> a
}

func ExamplePercentileMinSamples() {
	for _, p := range []float64{50, 90, 99, 99.9} {
		fmt.Printf("%s needs %d samples\n", alarm.Percentile(p), alarm.PercentileMinSamples(p))
	}
	// Output:
	// p50 needs 20 samples
	// p90 needs 100 samples
	// p99 needs 1000 samples
	// p99.9 needs 10000 samples
}
