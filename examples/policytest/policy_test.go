package policytest

import (
	"testing"
	"testing/synctest"
	"time"
	_ "time/tzdata"

	"github.com/shepherd-go/shepherd/blocker"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

// The team's rollouts start on Monday morning in New York. Inside a
// synctest bubble the clock starts at midnight UTC on Saturday 1 January
// 2000; the scenario sleeps until its start, which costs nothing.
var (
	newYork = mustLoad("America/New_York")
	monday  = time.Date(2000, 1, 3, 9, 0, 0, 0, newYork)
)

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// fleet is the team's fleet, simulated: three regions of two zones of six
// hosts, whose traffic follows the day in each region's time zone. The
// versions behave as the test says.
func fleet(t *testing.T, versions map[string]rollouttest.Behavior) (*rollouttest.Fleet, wave.Plan) {
	t.Helper()
	locs := map[string]*time.Location{}
	var names []string
	for r, z := range Regions {
		locs[r] = mustLoad(z)
		names = append(names, r)
	}
	f, err := rollouttest.NewFleet(rollouttest.Config{
		Targets:    rollouttest.Hosts(names, 2, 6),
		Initial:    "v1",
		Versions:   versions,
		DeployTime: 3 * time.Minute,
		Traffic:    rollouttest.Traffic{Locations: locs},
		Seed:       42,
	})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Waves.Plan(f.Targets())
	if err != nil {
		t.Fatal(err)
	}
	return f, *plan
}

// scenario is a rollout of v2 with the team's policy and calendar.
func scenario(t *testing.T, plan wave.Plan, freezes ...blocker.Freeze) rollouttest.Scenario {
	t.Helper()
	cal, err := blocker.NewCalendar(Calendar(freezes...))
	if err != nil {
		t.Fatal(err)
	}
	return rollouttest.Scenario{
		Plan:    plan,
		Version: "v2",
		Policy:  Rollout,
		Start:   monday,
		Options: rollout.Config{
			Blockers: rollout.BlockerSet{Set: blocker.Set{Entries: []blocker.Entry{{Name: "calendar", Blocker: cal}}}, Service: "checkout"},
			// Alarms and Evidence are left to rollouttest's defaults:
			// rollouttest.CanaryRules over the fleet's metrics, and the
			// fleet's request counts.
		},
	}
}

// A bad version must be stopped at the first one-box, whatever way it is
// bad: one host of 36, serving under 5% of the requests while it runs
// (more than 1/36 when its region is busier than the others).
func TestBadVersionStopsAtTheOneBox(t *testing.T) {
	for name, bad := range map[string]rollouttest.Behavior{
		"errors":               {ErrorRate: 0.05},
		"latency":              {Latency: 300 * time.Millisecond},
		"errors after a while": {Regressions: []rollouttest.Regression{{After: 30 * time.Minute, ErrorRate: 0.1}}},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f, plan := fleet(t, map[string]rollouttest.Behavior{"v2": bad})
				out, err := rollouttest.Run(t.Context(), f, scenario(t, plan))
				if err != nil {
					t.Fatal(err)
				}
				oneBox := plan.Waves[0].Stages[0]
				if out.Phase != rollout.RolledBack || out.Stage != oneBox.Name {
					t.Fatalf("v2 was not stopped at %s:\n%s", oneBox.Name, out)
				}
				if len(out.Blast.Targets) != 1 || out.Blast.Share >= 0.05 {
					t.Errorf("blast radius %s, want the one-box alone and under 5%% of requests", out.Blast)
				}
				if got := out.Running("v2"); len(got) != 0 {
					t.Errorf("still on v2 after the rollback: %v", got)
				}
			})
		})
	}
}

// A good version must reach every host within five business days.
func TestGoodVersionFinishesWithinFiveBusinessDays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, plan := fleet(t, nil)
		out, err := rollouttest.Run(t.Context(), f, scenario(t, plan))
		if err != nil {
			t.Fatal(err)
		}
		if out.Err != nil {
			t.Fatalf("the rollout failed:\n%s", out)
		}
		if n := BusinessDays(out.Started, out.Ended, newYork); n > 5 {
			t.Errorf("the rollout took %d business days (%s to %s), want at most 5",
				n, out.Started.In(newYork).Format(time.DateTime), out.Ended.In(newYork).Format(time.DateTime))
		}
		if got := len(out.Running("v2")); got != len(f.Targets()) {
			t.Errorf("%d of %d hosts on v2", got, len(f.Targets()))
		}
		t.Logf("done %s; blocked %s, baking %s, deploying %s",
			out.Ended.In(newYork).Format("Mon 15:04 MST"), out.Timings.Get(rollout.ActivityBlocked),
			out.Timings.Get(rollout.ActivityBaking), out.Timings.Get(rollout.ActivityDeploying))
	})
}

// A freeze must hold: nothing is deployed while it lasts, and the rollout
// carries on after it.
func TestFreezeHolds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		freeze := blocker.Freeze{
			Start:  time.Date(2000, 1, 4, 12, 0, 0, 0, newYork), // Tuesday noon
			End:    time.Date(2000, 1, 6, 12, 0, 0, 0, newYork), // Thursday noon
			Reason: "end-of-year sales",
		}
		f, plan := fleet(t, nil)
		out, err := rollouttest.Run(t.Context(), f, scenario(t, plan, freeze))
		if err != nil {
			t.Fatal(err)
		}
		if out.Err != nil {
			t.Fatalf("the rollout failed:\n%s", out)
		}
		held := false
		for _, c := range out.Calls {
			if c.Start.Before(freeze.End) && !c.Start.Before(freeze.Start) {
				t.Errorf("%s of %s started at %s, during the freeze", c.Op, c.Target, c.Start.In(newYork).Format(time.DateTime))
			}
		}
		for _, e := range out.Events {
			if e.Kind == rollout.EventUnblocked && e.Blockers["calendar"] > 0 && !e.Time.Before(freeze.End) && e.Time.Sub(freeze.End) < 24*time.Hour {
				held = true
			}
		}
		if !held {
			t.Error("no stage was held by the freeze until it ended")
		}
	})
}
