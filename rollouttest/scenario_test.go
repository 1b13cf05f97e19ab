package rollouttest_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

// The scenario fleet: four regions of two zones of four hosts. With a
// one-box allowed to carry a quarter of its zone and waves of 1, 1 and 2
// regions, the plan is:
//
//	wave 1 ap-south-1: one-box ap-south-1a-1 (1h), zone a (3 batches of 1, 1h), zone b (4 batches of 1, 12h)
//	wave 2 eu-west-1:  one-box eu-west-1a-1 (1h), zone a (1h), zone b (2h)
//	wave 3 us-east-1 + us-west-2: both one-boxes (1h), both zones a (1h), both zones b (2h)
//	final bake 2h
//
// Deploys take two minutes. Every scenario runs twice, with the real
// driver inside a synctest bubble and with Simulate, and both must give
// exactly the same outcome, down to the request.
var (
	scenarioTargets = rollouttest.Hosts([]string{"eu-west-1", "us-east-1", "us-west-2", "ap-south-1"}, 2, 4)
	scenarioPolicy  = wave.Policy{
		OneBox: wave.OneBoxRule{MaxFraction: 0.25},
		Waves:  wave.Sizing{Sizes: []int{1, 1, 2}},
	}
	// monday9 is 09:00 UTC on Monday 2000-01-03; the fleet's traffic
	// follows UTC.
	monday9 = time.Date(2000, 1, 3, 9, 0, 0, 0, time.UTC)
	monday0 = time.Date(2000, 1, 3, 0, 0, 0, 0, time.UTC)
)

func scenarioPlan(t *testing.T) wave.Plan {
	t.Helper()
	plan, err := scenarioPolicy.Plan(scenarioTargets)
	if err != nil {
		t.Fatal(err)
	}
	return *plan
}

type scenarioWant struct {
	phase    rollout.Phase
	signal   rollout.Signal
	stage    string   // where it stopped
	promoted int      // stages promoted
	unrolled []string // targets left on the bad version
	blast    rollouttest.Blast
}

type scenarioCase struct {
	name     string
	versions map[string]rollouttest.Behavior
	faults   []rollouttest.Fault
	start    time.Time
	policy   rollout.Policy
	want     scenarioWant
}

func at(start time.Time, d string) time.Time {
	dd, err := time.ParseDuration(d)
	if err != nil {
		panic(err)
	}
	return start.Add(dd)
}

func TestScenarios(t *testing.T) {
	plan := scenarioPlan(t)
	bad := rollouttest.Behavior{ErrorRate: 0.05}
	evidence := rollout.Policy{Bake: bake.Schedule{
		Base:   bake.Policy{Evidence: []bake.Requirement{{Query: "requests", Min: 100_000}}},
		OneBox: bake.Policy{MaxDuration: duration.Duration(12 * time.Hour)}, // a one-box bake may last the night
	}}
	loadOnly := map[string]rollouttest.Behavior{"v2": {Regressions: []rollouttest.Regression{{MinLoad: 0.6, ErrorRate: 0.05}}}}
	cases := []scenarioCase{{
		// A version that fails 5% of requests everywhere is caught on
		// the first one-box, three minutes after it lands.
		name:     "one-box catch",
		versions: map[string]rollouttest.Behavior{"v2": bad},
		start:    monday9,
		want: scenarioWant{
			phase: rollout.RolledBack, signal: rollout.SignalAlarm, stage: "w1/one-box/ap-south-1",
			blast: rollouttest.Blast{
				Version: "v2", Targets: []string{"ap-south-1a-1"},
				Requests: 2210, Errors: 114, Total: 97846, Share: 2210.0 / 97846,
				First: at(monday9, "2m"), Last: at(monday9, "7m"), TargetTime: 5 * time.Minute,
			},
		},
	}, {
		// A regression that only shows in the regions of wave 3 passes
		// waves 1 and 2 and is caught on wave 3's one-boxes.
		name: "wave-3 catch",
		versions: map[string]rollouttest.Behavior{"v2": {Regressions: []rollouttest.Regression{
			{Regions: plan.Waves[2].Regions, ErrorRate: 0.05},
		}}},
		start: monday9,
		want: scenarioWant{
			phase: rollout.RolledBack, signal: rollout.SignalAlarm, stage: "w3/one-box/us-east-1+us-west-2", promoted: 6,
			blast: rollouttest.Blast{
				Version: "v2",
				Targets: []string{
					"ap-south-1a-1", "ap-south-1a-2", "ap-south-1a-3", "ap-south-1a-4",
					"ap-south-1b-1", "ap-south-1b-2", "ap-south-1b-3", "ap-south-1b-4",
					"eu-west-1a-1", "eu-west-1a-2", "eu-west-1a-3", "eu-west-1a-4",
					"eu-west-1b-1", "eu-west-1b-2", "eu-west-1b-3", "eu-west-1b-4",
					"us-east-1a-1", "us-west-2a-1",
				},
				Requests: 3495701, Errors: 4222, Total: 14513795, Share: 3495701.0 / 14513795,
				First: at(monday9, "2m"), Last: at(monday9, "19h11m"), TargetTime: 164*time.Hour + 34*time.Minute,
			},
		},
	}, {
		// A latency regression confined to one zone passes the one-box
		// and zone a, and is caught while zone b deploys.
		name: "zone-only regression",
		versions: map[string]rollouttest.Behavior{"v2": {Regressions: []rollouttest.Regression{
			{Zones: []string{"ap-south-1b"}, Latency: 200 * time.Millisecond},
		}}},
		start: monday9,
		want: scenarioWant{
			phase: rollout.RolledBack, signal: rollout.SignalAlarm, stage: "w1/ap-south-1/ap-south-1b", promoted: 2,
			blast: rollouttest.Blast{
				Version: "v2",
				// The alarm fires while the zone's second batch deploys:
				// the watchdog stops it there, and ap-south-1b-3 is never
				// touched.
				Targets: []string{
					"ap-south-1a-1", "ap-south-1a-2", "ap-south-1a-3", "ap-south-1a-4",
					"ap-south-1b-1", "ap-south-1b-2",
				},
				Requests: 194373, Errors: 244, Total: 2304318, Share: 194373.0 / 2304318,
				First: at(monday9, "2m"), Last: at(monday9, "2h25m"), TargetTime: 6*time.Hour + 18*time.Minute,
			},
		},
	}, {
		// A regression that only shows under load (above 60% of the
		// daily peak, from about 07:45) starts at midnight. The bake
		// needs 100,000 requests to the one-box, which the night cannot
		// provide: the bake lasts until the morning and catches it.
		name:     "load-only regression caught during bake",
		versions: loadOnly,
		start:    monday0,
		policy:   evidence,
		want: scenarioWant{
			phase: rollout.RolledBack, signal: rollout.SignalAlarm, stage: "w1/one-box/ap-south-1",
			blast: rollouttest.Blast{
				Version: "v2", Targets: []string{"ap-south-1a-1"},
				Requests: 98067, Errors: 199, Total: 3164628, Share: 98067.0 / 3164628,
				First: at(monday0, "2m"), Last: at(monday0, "7h50m"), TargetTime: 7*time.Hour + 48*time.Minute,
			},
		},
	}, {
		// The same regression with a bake of time alone: the one-box and
		// zone a pass in the night, and the morning catches it with the
		// whole region on it.
		name:     "load-only regression passes a time-only bake",
		versions: loadOnly,
		start:    monday0,
		want: scenarioWant{
			phase: rollout.RolledBack, signal: rollout.SignalAlarm, stage: "w1/ap-south-1/ap-south-1b", promoted: 2,
			blast: rollouttest.Blast{
				Version: "v2",
				Targets: []string{
					"ap-south-1a-1", "ap-south-1a-2", "ap-south-1a-3", "ap-south-1a-4",
					"ap-south-1b-1", "ap-south-1b-2", "ap-south-1b-3", "ap-south-1b-4",
				},
				Requests: 692310, Errors: 2531, Total: 3331653, Share: 692310.0 / 3331653,
				First: at(monday0, "2m"), Last: at(monday0, "8h4m"), TargetTime: 51*time.Hour + 24*time.Minute,
			},
		},
	}, {
		// Deploys of v2 fail for good on two hosts of zone a: the first
		// failure leaves the zone unable to keep two of its three hosts
		// healthy, and the rollout stops on its failure budget.
		name:   "deploy failures beyond the failure budget",
		faults: []rollouttest.Fault{{Version: "v2", Targets: []string{"ap-south-1a-2", "ap-south-1a-3"}, FailAlways: true, Permanent: true}},
		start:  monday9,
		want: scenarioWant{
			phase: rollout.RolledBack, signal: rollout.SignalFailureBudget, stage: "w1/ap-south-1/ap-south-1a", promoted: 1,
			blast: rollouttest.Blast{
				Version: "v2", Targets: []string{"ap-south-1a-1"},
				Requests: 29807, Errors: 38, Total: 980396, Share: 29807.0 / 980396,
				First: at(monday9, "2m"), Last: at(monday9, "1h6m"), TargetTime: time.Hour + 4*time.Minute,
			},
		},
	}, {
		// The bad one-box refuses its rollback: the rollout ends in
		// rollback-failed, naming it, and it still serves the bad
		// version when the driver gives up.
		name:     "stuck rollback",
		versions: map[string]rollouttest.Behavior{"v2": bad},
		faults:   []rollouttest.Fault{{Op: rollouttest.OpRollback, Targets: []string{"ap-south-1a-1"}, FailAlways: true}},
		start:    monday9,
		// Four attempts: the driver's jitter is a hash of the rollout, the
		// target and the attempt, so the runner and the simulation retry
		// at the same instants and the blast radius is exact.
		policy: rollout.Policy{Rollback: rollout.RollbackPolicy{Retry: rollout.Retry{MaxAttempts: 4}}},
		want: scenarioWant{
			phase: rollout.RollbackFailed, signal: rollout.SignalAlarm, stage: "w1/one-box/ap-south-1",
			unrolled: []string{"ap-south-1a-1"},
			blast: rollouttest.Blast{
				Version: "v2", Targets: []string{"ap-south-1a-1"},
				// Three retries of two minutes each after waits of
				// about 1s, 2s and 4s (5.32128957s with their jitter).
				Requests: 4897, Errors: 258, Total: 184278, Share: 4897.0 / 184278,
				First: at(monday9, "2m"), Last: at(monday9, "13m5.32128957s"), TargetTime: 11*time.Minute + 5321289570*time.Nanosecond,
			},
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Run("runner", func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					f, s := tc.setup(t, plan)
					out, err := rollouttest.Run(t.Context(), f, s)
					if err != nil {
						t.Fatal(err)
					}
					tc.check(t, f, out)
				})
			})
			t.Run("simulate", func(t *testing.T) {
				f, s := tc.setup(t, plan)
				out, err := rollouttest.Simulate(t.Context(), f, s)
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, f, out)
			})
		})
	}
}

func (tc *scenarioCase) setup(t *testing.T, plan wave.Plan) (*rollouttest.Fleet, rollouttest.Scenario) {
	t.Helper()
	f, err := rollouttest.NewFleet(rollouttest.Config{
		Targets:    scenarioTargets,
		Initial:    "v1",
		Versions:   tc.versions,
		Faults:     tc.faults,
		DeployTime: 2 * time.Minute,
		Seed:       7,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, rollouttest.Scenario{Plan: plan, Version: "v2", Policy: tc.policy, Start: tc.start}
}

func (tc *scenarioCase) check(t *testing.T, f *rollouttest.Fleet, out *rollouttest.Outcome) {
	t.Helper()
	w := tc.want
	if out.Phase != w.phase || out.Signal != w.signal || out.Stage != w.stage {
		t.Errorf("ended %s on %q in %q, want %s on %q in %q\n%s", out.Phase, out.Signal, out.Stage, w.phase, w.signal, w.stage, out)
	}
	if len(out.Promoted) != w.promoted {
		t.Errorf("promoted %d stages %v, want %d", len(out.Promoted), out.Promoted, w.promoted)
	}
	if diff := cmp.Diff(w.blast, out.Blast); diff != "" {
		t.Errorf("blast radius (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(w.unrolled, out.Unrolled); diff != "" {
		t.Errorf("targets not rolled back (-want +got):\n%s", diff)
	}
	// Every target runs v1 again, except those whose rollback failed.
	if diff := cmp.Diff(w.unrolled, out.Running("v2")); diff != "" {
		t.Errorf("targets on v2 at the end (-want +got):\n%s", diff)
	}
	// Those keep serving it after the driver gave up, until a human acts.
	later := f.Blast("v2", out.Ended, out.Ended.Add(time.Hour))
	if diff := cmp.Diff(w.unrolled, later.Targets); diff != "" || later.TargetTime != time.Duration(len(w.unrolled))*time.Hour {
		t.Errorf("in the hour after the run, v2 ran on %v for %s, want %v for an hour each", later.Targets, later.TargetTime, w.unrolled)
	}
	if r := out.Redeployed(); len(r) > 0 {
		t.Errorf("targets deployed twice: %v", r)
	}
}
