package rollouttest_test

import (
	"context"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

// awsRegions are six regions for an AWS-shaped fleet of 6 x 3 x 10 hosts.
var awsRegions = []string{"us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1", "ap-southeast-2"}

func awsFleet(b *testing.B) *rollouttest.Fleet {
	f, err := rollouttest.NewFleet(rollouttest.Config{
		Targets:    rollouttest.Hosts(awsRegions, 3, 10),
		Initial:    "v1",
		DeployTime: 2 * time.Minute,
		Seed:       1,
	})
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkQueryFleet is one alarm evaluation's query of the whole fleet
// (180 targets): seven one-minute points, none computed before.
func BenchmarkQueryFleet(b *testing.B) {
	f := awsFleet(b)
	end := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		// A new range each time: 7 points the cache has not seen.
		e := end.Add(time.Duration(i) * 7 * time.Minute)
		if _, err := f.Query(ctx, "error_rate", alarm.Range{Start: e.Add(-6 * time.Minute), End: e, Step: time.Minute}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQueryFleetCached is the same query asked again: what every
// check but the first costs for the points it shares with the last.
func BenchmarkQueryFleetCached(b *testing.B) {
	f := awsFleet(b)
	e := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	r := alarm.Range{Start: e.Add(-6 * time.Minute), End: e, Step: time.Minute}
	ctx := context.Background()
	if _, err := f.Query(ctx, "error_rate", r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Query(ctx, "error_rate", r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQueryLatencyP99 is the p99 latency of the whole fleet while a
// slower version runs on a third of it: the percentile of a mixture, over
// seven points not computed before.
func BenchmarkQueryLatencyP99(b *testing.B) {
	f, err := rollouttest.NewFleet(rollouttest.Config{
		Targets:  rollouttest.Hosts(awsRegions, 3, 10),
		Initial:  "v1",
		Versions: map[string]rollouttest.Behavior{"v2": {Latency: 80 * time.Millisecond}},
	})
	if err != nil {
		b.Fatal(err)
	}
	// Put v2 on the first two regions, in simulated time (in 2000).
	none := wave.BakeSchedule{OneBox: duration.None, Zone: duration.None, FirstWave: duration.None, LaterWaves: duration.None, Final: duration.None}
	plan, err := wave.Policy{Bake: none}.Plan(f.Targets()[:60])
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	out, err := rollouttest.Simulate(ctx, f, rollouttest.Scenario{Plan: *plan, Version: "v2", Options: rollout.Config{Alarms: quiet}})
	if err != nil || out.Err != nil {
		b.Fatal(err, out.Err)
	}
	end := out.Ended.Add(time.Hour)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e := end.Add(time.Duration(i) * 7 * time.Minute)
		if _, err := f.Query(ctx, "latency_p99_seconds", alarm.Range{Start: e.Add(-6 * time.Minute), End: e, Step: time.Minute}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSimulateAWS simulates a whole AWS-shaped rollout of a good
// version (6 regions x 3 zones x 10 hosts, the default wave policy and
// bakes, CanaryRules checked every minute, bakes needing 1,000 requests):
// about a day and a half of rollout per operation.
func BenchmarkSimulateAWS(b *testing.B) {
	targets := rollouttest.Hosts(awsRegions, 3, 10)
	plan, err := wave.Policy{}.Plan(targets)
	if err != nil {
		b.Fatal(err)
	}
	var simulated time.Duration
	for b.Loop() {
		f := awsFleet(b)
		out, err := rollouttest.Simulate(context.Background(), f, rollouttest.Scenario{
			Plan: *plan, Version: "v2", Start: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
			Policy: rollout.Policy{Bake: bake.Schedule{Base: bake.Policy{Evidence: []bake.Requirement{{Query: "requests", Min: 1000}}}}},
		})
		if err != nil || out.Err != nil {
			b.Fatal(err, out.Err)
		}
		simulated = out.Duration()
	}
	b.ReportMetric(simulated.Hours(), "simulated-h/op")
}
