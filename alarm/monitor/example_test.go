package monitor_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/alarm/monitor"
	"github.com/shepherd-go/shepherd/duration"
)

// A monitor polls the set and reports transitions. A source that fails
// counts as ALARM by default.
func ExampleMonitor() {
	src := new(alarm.Memory)
	src.SetError("p99", fmt.Errorf("connection refused"))
	set, err := alarm.NewSet(src,
		alarm.Rule{Name: "latency", Threshold: &alarm.Threshold{Query: "p99", Comparison: ">", Threshold: 0.5,
			Evaluation: alarm.Evaluation{Period: duration.Duration(time.Minute), EvaluationPeriods: 3}}},
	)
	if err != nil {
		panic(err)
	}
	m := &monitor.Monitor{Set: set, Interval: time.Minute}
	m.OnTransition = func(tr monitor.Transition) {
		fmt.Printf("%s: %s -> %s: %s\n", tr.Result.Name, tr.From, tr.Result.State, tr.Result.Reason)
		m.Stop() // after the first poll, for the example
	}
	if err := m.Run(context.Background()); err != nil {
		panic(err)
	}
	// Output:
	// latency: INSUFFICIENT_DATA -> ALARM: could not be evaluated, which counts as ALARM: alarm: "latency": alarm: memory: query "p99": connection refused
}
