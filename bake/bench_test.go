package bake_test

import (
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/duration"
)

func benchPolicy() bake.Policy {
	return bake.Policy{
		MinDuration: duration.Duration(12 * time.Hour),
		MaxDuration: duration.Duration(24 * time.Hour),
		Evidence: []bake.Requirement{
			{Name: "create-requests", Query: "create", Min: 100},
			{Name: "list-requests", Query: "list", Min: 1000},
		},
		Alarms: []string{"high-severity", "one-box"},
	}
}

// BenchmarkTrackerUpdate measures one update of a running bake with two
// evidence requirements and two watched alarms: the call a driver makes at
// every poll.
func BenchmarkTrackerUpdate(b *testing.B) {
	tr, err := bake.Start(benchPolicy(), t0)
	if err != nil {
		b.Fatal(err)
	}
	evidence := []float64{40, 400}
	results := []alarm.Result{{Name: "high-severity", State: alarm.OK}, {Name: "one-box", State: alarm.OK}}
	now := t0.Add(3 * time.Hour)
	b.ReportAllocs()
	cpu0, ok := cpuTime()
	for b.Loop() {
		st, err := tr.Update(now, evidence, results)
		if err != nil || st.Phase != bake.Baking {
			b.Fatal(st, err)
		}
	}
	reportCPU(b, cpu0, ok)
}

// reportCPU adds the process's CPU time per operation as "cpu-ns/op": on a
// shared, loaded machine wall time per operation grows with the load while
// CPU time does not (much).
func reportCPU(b *testing.B, cpu0 time.Duration, ok bool) {
	cpu1, ok1 := cpuTime()
	if ok && ok1 && b.N > 0 {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkTrackerUpdateEnding measures the update that ends a bake (done),
// which formats its reason and keeps a copy of the evidence: once per bake.
func BenchmarkTrackerUpdateEnding(b *testing.B) {
	start, err := bake.Start(benchPolicy(), t0)
	if err != nil {
		b.Fatal(err)
	}
	evidence := []float64{140, 1400}
	results := []alarm.Result{{Name: "high-severity", State: alarm.OK}, {Name: "one-box", State: alarm.OK}}
	now := t0.Add(13 * time.Hour)
	b.ReportAllocs()
	cpu0, ok := cpuTime()
	for b.Loop() {
		tr := start
		st, err := tr.Update(now, evidence, results)
		if err != nil || st.Phase != bake.Done {
			b.Fatal(st, err)
		}
	}
	reportCPU(b, cpu0, ok)
}

var (
	sinkTime     time.Time
	sinkDuration time.Duration
)

// BenchmarkTimeArithmetic is the floor under BenchmarkTrackerUpdate: the
// time.Time arithmetic an update cannot avoid (one Sub for the bake clock,
// three Adds for EarliestEnd, Deadline and NextCheck, one comparison for
// the time range). Run in the same command, the ratio of the two says what
// the tracker adds, whatever the load on the machine.
func BenchmarkTimeArithmetic(b *testing.B) {
	now := t0.Add(3 * time.Hour)
	limit := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	b.ReportAllocs()
	cpu0, ok := cpuTime()
	for b.Loop() {
		d := now.Sub(t0)
		if now.After(limit) {
			b.Fatal("after the limit")
		}
		sinkTime = now.Add(9 * time.Hour)
		sinkTime = now.Add(21 * time.Hour)
		sinkTime = now.Add(time.Minute)
		sinkDuration = d
	}
	reportCPU(b, cpu0, ok)
}
