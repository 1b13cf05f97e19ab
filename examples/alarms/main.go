// Command alarms evaluates a deployment's alarms over half an hour of
// generated metrics and prints their states as the story unfolds: a bad
// change lands on one box (which fleet-wide error rates do not notice),
// then a latency regression hits the fleet for a few minutes, then traffic
// drops too low for a p99 to mean anything.
//
// Run it with
//
//	go run ./examples/alarms
//
// Everything is in memory ([alarm.Memory]) and seeded, so the output is the
// same on every run.
package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/duration"
)

var start = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

const minutes = 30

// generate records the metrics of a fleet of 40 boxes, minute by minute.
func generate(src *alarm.Memory) {
	rng := rand.New(rand.NewPCG(1, 2))
	for m := range minutes {
		at := start.Add(time.Duration(m) * time.Minute)

		// Error rates: the fleet's stays low; box-17 gets the bad change at
		// minute 12.
		fleet := 0.002 + 0.001*rng.Float64()
		box := 0.002 + 0.001*rng.Float64()
		if m >= 12 {
			box = 0.04 + 0.01*rng.Float64()
		}
		src.Record("errors:fleet", at, fleet, 40_000)
		src.Record("errors:box-17", at, box, 1_000)

		// Raw request latencies, one point per request: 1,500 a minute, 5%
		// of them slow in minutes 15 to 20, and only 400 a minute from
		// minute 24 (too few for a p99).
		requests, slow := 1500, 0.0
		if m >= 15 && m <= 20 {
			slow = 0.05
		}
		if m >= 24 {
			requests = 400
		}
		pts := make([]alarm.Point, requests)
		for i := range pts {
			v := 0.05 + 0.1*rng.Float64()
			if rng.Float64() < slow {
				v = 0.8 + 0.4*rng.Float64()
			}
			pts[i] = alarm.Point{Time: at.Add(-time.Minute + time.Duration(i+1)*time.Minute/time.Duration(requests)), Value: v}
		}
		src.Add("latency", pts...)
	}
}

func rules() []alarm.Rule {
	minute := duration.Duration(time.Minute)
	return []alarm.Rule{
		{Name: "fleet errors", Threshold: &alarm.Threshold{
			Query: "errors:fleet", Comparison: alarm.GreaterThan, Threshold: 0.01,
			Evaluation: alarm.Evaluation{Period: minute, EvaluationPeriods: 5, DatapointsToAlarm: 3,
				TreatMissingData: alarm.Breaching},
		}},
		{Name: "box-17 vs fleet", Relative: &alarm.Relative{
			Query: "errors:box-17", Baseline: "errors:fleet", Ratio: 3, Difference: 0.01,
			Evaluation: alarm.Evaluation{Period: minute, EvaluationPeriods: 3, DatapointsToAlarm: 2},
		}},
		{Name: "p99 latency", Threshold: &alarm.Threshold{
			Query: "latency", Comparison: alarm.GreaterThan, Threshold: 0.5,
			Evaluation: alarm.Evaluation{Period: minute, EvaluationPeriods: 3, DatapointsToAlarm: 2,
				Statistic: alarm.Percentile(99), MinSamples: alarm.PercentileMinSamples(99)},
		}},
		{Name: "rollback", Composite: &alarm.Composite{Expression: `ALARM("fleet errors") OR ALARM("box-17 vs fleet") ` +
			`OR ALARM("p99 latency") OR INSUFFICIENT_DATA("p99 latency")`}},
	}
}

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(out io.Writer) error {
	src := new(alarm.Memory)
	generate(src)
	set, err := alarm.NewSet(src, rules()...)
	if err != nil {
		return err
	}
	ctx := context.Background()
	names := set.Names()

	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "time\t%s\n", strings.Join(names, "\t"))
	var last []alarm.Outcome
	for m := 4; m < minutes; m += 3 {
		now := start.Add(time.Duration(m) * time.Minute)
		last = set.CheckAll(ctx, now)
		row := []string{now.Format("15:04")}
		for _, o := range last {
			if o.Err != nil {
				return o.Err
			}
			row = append(row, o.Result.State.String())
		}
		fmt.Fprintln(w, strings.Join(row, "\t"))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "why, at", last[0].Result.Time.Format("15:04"))
	for _, o := range last {
		fmt.Fprintf(out, "- %s\n", o.Result)
	}
	return nil
}
