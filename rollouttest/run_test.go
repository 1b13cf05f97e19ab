package rollouttest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

// executors runs a test body with each executor: the real driver in a
// synctest bubble, and Simulate.
func executors(t *testing.T, body func(t *testing.T, run func(*rollouttest.Fleet, rollouttest.Scenario) *rollouttest.Outcome)) {
	t.Run("runner", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			body(t, func(f *rollouttest.Fleet, s rollouttest.Scenario) *rollouttest.Outcome {
				out, err := rollouttest.Run(t.Context(), f, s)
				if err != nil {
					t.Fatal(err)
				}
				return out
			})
		})
	})
	t.Run("simulate", func(t *testing.T) {
		body(t, func(f *rollouttest.Fleet, s rollouttest.Scenario) *rollouttest.Outcome {
			out, err := rollouttest.Simulate(t.Context(), f, s)
			if err != nil {
				t.Fatal(err)
			}
			return out
		})
	})
}

// quiet watches no alarm: for scenarios about something else.
var quiet = rollout.AlarmsFunc(func(context.Context, rollout.Subject, time.Time) ([]alarm.Result, error) { return nil, nil })

func TestGoodVersionEverywhere(t *testing.T) {
	executors(t, func(t *testing.T, run func(*rollouttest.Fleet, rollouttest.Scenario) *rollouttest.Outcome) {
		plan := scenarioPlan(t)
		f := newFleet(t, rollouttest.Config{Targets: scenarioTargets, DeployTime: 2 * time.Minute, Seed: 7})
		out := run(f, rollouttest.Scenario{Plan: plan, Version: "v2", Start: monday9})
		if out.Err != nil || out.Phase != rollout.Succeeded || out.Stage != "" {
			t.Fatalf("outcome: %v\n%s", out.Err, out)
		}
		// Nine stages of the plan, then the final bake's stage.
		if len(out.Reached) != 10 || len(out.Promoted) != 10 || out.Promoted[9] != rollout.FinalStage {
			t.Errorf("reached %d and promoted %v, want the 9 stages of the plan and %q", len(out.Reached), out.Promoted, rollout.FinalStage)
		}
		if got := out.Running("v2"); len(got) != len(scenarioTargets) {
			t.Errorf("%d targets run v2, want all %d", len(got), len(scenarioTargets))
		}
		// One deploy per target, and no rollback.
		if len(out.Calls) != len(scenarioTargets) || len(out.Redeployed()) != 0 {
			t.Errorf("%d calls, redeployed %v", len(out.Calls), out.Redeployed())
		}
		// 22h of stage bakes and 24 batches of two minutes, then the
		// plan's final bake of 2h.
		if plan.FinalBake.Std() != 2*time.Hour {
			t.Fatalf("the plan's final bake is %s, want 2h", plan.FinalBake)
		}
		if d, want := out.Duration(), 22*time.Hour+24*2*time.Minute+2*time.Hour; d != want {
			t.Errorf("took %s, want %s", d, want)
		}
		if out.Blast.Share <= 0 || out.Blast.Share >= 1 || len(out.Blast.Targets) != 32 {
			t.Errorf("blast radius of a good version: %s", out.Blast)
		}
	})
}

func TestControls(t *testing.T) {
	executors(t, func(t *testing.T, run func(*rollouttest.Fleet, rollouttest.Scenario) *rollouttest.Outcome) {
		plan := scenarioPlan(t)
		f := newFleet(t, rollouttest.Config{Targets: scenarioTargets, DeployTime: 2 * time.Minute})
		out := run(f, rollouttest.Scenario{
			Plan: plan, Version: "v2", Start: monday9,
			Policy:  rollout.Policy{Approvals: []string{"w2/*/*"}},
			Options: rollout.Config{Alarms: quiet},
			Controls: []rollouttest.Control{
				{At: at(monday9, "20h"), Control: rollout.Control{Kind: rollout.ControlApprove, Actor: "ana", Stage: "w2/one-box/eu-west-1"}},
				{At: at(monday9, "21h"), Control: rollout.Control{Kind: rollout.ControlAbort, Actor: "bo", Reason: "customer report"}},
				{At: at(monday9, "21h1m"), Control: rollout.Control{Kind: rollout.ControlPause, Actor: "cy", Reason: "too late"}},
			},
		})
		if out.Phase != rollout.RolledBack || out.Signal != rollout.SignalAbort || !strings.Contains(out.Reason, "customer report") {
			t.Errorf("outcome: %s", out)
		}
		// Wave 1 ends its 12h bake at 15h26m; wave 2 waits for its approval
		// until 20h, then its one-box bakes until the abort at 21h.
		if diff := cmp.Diff([]string{"w1/one-box/ap-south-1", "w1/ap-south-1/ap-south-1a", "w1/ap-south-1/ap-south-1b"}, out.Promoted); diff != "" {
			t.Errorf("promoted (-want +got):\n%s", diff)
		}
		var approved, eu time.Time
		for _, e := range out.Events {
			if e.Kind == rollout.EventApproved {
				approved = e.Time
			}
		}
		for _, c := range out.Calls {
			if c.Target == "eu-west-1a-1" && c.Version == "v2" {
				eu = c.Start
			}
		}
		if !approved.Equal(at(monday9, "20h")) || !eu.Equal(approved) {
			t.Errorf("approved at %s, eu-west-1a-1 deployed at %s; want both at 20h", approved.Sub(monday9), eu.Sub(monday9))
		}
		if len(out.Running("v2")) != 0 {
			t.Errorf("still on v2 after the abort: %v", out.Running("v2"))
		}
		// The pause came during the rollback, and was recorded at once,
		// while the rollback call was in flight.
		if len(out.Refused) != 1 || !strings.Contains(out.Refused[0], "pause by cy at 2000-01-04T06:01:00Z: the rollout is rolling-back") {
			t.Errorf("refused requests %q, want the late pause", out.Refused)
		}
	})
}

func TestHorizon(t *testing.T) {
	executors(t, func(t *testing.T, run func(*rollouttest.Fleet, rollouttest.Scenario) *rollouttest.Outcome) {
		plan := scenarioPlan(t)
		f := newFleet(t, rollouttest.Config{Targets: scenarioTargets})
		out := run(f, rollouttest.Scenario{
			Plan: plan, Version: "v2", Start: monday9, Horizon: 48 * time.Hour,
			Policy:  rollout.Policy{Approvals: []string{"w2/*/*"}},
			Options: rollout.Config{Alarms: quiet},
		})
		if !errors.Is(out.Err, rollouttest.ErrHorizon) || out.Phase != rollout.Running || out.Stage != "w2/one-box/eu-west-1" {
			t.Errorf("outcome %v, %s in %q; want the horizon while waiting for approval", out.Err, out.Phase, out.Stage)
		}
		if out.Duration() != 48*time.Hour {
			t.Errorf("stopped after %s, want the horizon, 48h", out.Duration())
		}
	})
}

func TestRetriesAndDeadlines(t *testing.T) {
	executors(t, func(t *testing.T, run func(*rollouttest.Fleet, rollouttest.Scenario) *rollouttest.Outcome) {
		plan := scenarioPlan(t)
		f := newFleet(t, rollouttest.Config{Targets: scenarioTargets, DeployTime: time.Minute, Faults: []rollouttest.Fault{
			{Targets: []string{"ap-south-1a-1"}, FailFirst: 2},              // flaky: the third attempt lands
			{Targets: []string{"ap-south-1a-2"}, Version: "v2", Hang: true}, // never returns
		}})
		out := run(f, rollouttest.Scenario{
			Plan: plan, Version: "v2", Start: monday9,
			Policy: rollout.Policy{
				Deploy: rollout.DeployPolicy{StageDeadline: duration.Duration(30 * time.Minute)},
			},
			Options: rollout.Config{Alarms: quiet},
		})
		if out.Phase != rollout.RolledBack || out.Signal != rollout.SignalDeadline || out.Stage != "w1/ap-south-1/ap-south-1a" {
			t.Errorf("outcome: %s", out)
		}
		attempts := 0
		for _, c := range out.Calls {
			if c.Target == "ap-south-1a-1" && c.Version == "v2" {
				attempts++
			}
		}
		if attempts != 3 {
			t.Errorf("%d deploy calls to the flaky one-box, want 3", attempts)
		}
		if got := out.Running("v2"); len(got) != 0 {
			t.Errorf("still on v2: %v", got)
		}
	})
}

// TestSimulateBoundsAHang: a deploy that hangs ends at its call deadline
// (rollout.CallPolicy), as the Runner's does; the retries run out and the
// stage fails its budget, instead of waiting forever.
func TestSimulateBoundsAHang(t *testing.T) {
	plan := scenarioPlan(t)
	f := newFleet(t, rollouttest.Config{Targets: scenarioTargets, Faults: []rollouttest.Fault{{Hang: true}}})
	out, err := rollouttest.Simulate(t.Context(), f, rollouttest.Scenario{Plan: plan, Version: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	var he *rollout.HaltError
	if !errors.As(out.Err, &he) || he.Signal != rollout.SignalFailureBudget {
		t.Fatalf("Simulate with a hanging deploy: %v, want a rollback on the failure budget", out.Err)
	}
	// Five attempts of 15 minutes each, with the retry waits between.
	if d := out.Duration(); d < 5*rollout.DefaultDeployCall || d > 5*rollout.DefaultDeployCall+10*time.Minute {
		t.Errorf("the hung deploy held the rollout %s, want about %s", d, 5*rollout.DefaultDeployCall)
	}
}

func TestScenarioErrors(t *testing.T) {
	f := newFleet(t, rollouttest.Config{Targets: scenarioTargets})
	for name, run := range map[string]func(context.Context, *rollouttest.Fleet, rollouttest.Scenario) (*rollouttest.Outcome, error){
		"Run": rollouttest.Run, "Simulate": rollouttest.Simulate,
	} {
		_, err := run(t.Context(), f, rollouttest.Scenario{Policy: rollout.Policy{Alarms: rollout.AlarmPolicy{Interval: -1}}})
		for _, w := range []string{"rollout: version: empty", "wave: plan.Levels: is empty", "wave: plan.Waves: there are no waves", "rollout: policy.Alarms.Interval"} {
			if !errors.Is(err, rollout.ErrInvalid) || !errors.Is(err, wave.ErrPlan) || !strings.Contains(err.Error(), w) {
				t.Errorf("%s(invalid scenario) = %v, want %q", name, err, w)
			}
		}
	}
}

func TestRunWithAnotherDeployer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := scenarioPlan(t)
		f := newFleet(t, rollouttest.Config{Targets: scenarioTargets, Versions: map[string]rollouttest.Behavior{"v2": {ErrorRate: 0.2}}})
		out, err := rollouttest.Run(t.Context(), f, rollouttest.Scenario{
			Plan: plan, Version: "v2", Start: monday9,
			Deployer: struct{ rollout.Deployer }{f}, // no fast rollback
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []rollouttest.Call{
			{Op: rollouttest.OpDeploy, Target: "ap-south-1a-1", Version: "v2", From: "v1"},
			{Op: rollouttest.OpDeploy, Target: "ap-south-1a-1", Version: "v1", From: "v2"},
		}
		if diff := cmp.Diff(want, out.Calls, cmp.FilterPath(func(p cmp.Path) bool {
			n := p.Last().String()
			return n == ".Start" || n == ".End"
		}, cmp.Ignore())); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
	})
}

func TestCanaryRules(t *testing.T) {
	rules := rollouttest.CanaryRules(rollout.Subject{Version: `v"2`, Zones: []string{"a", "b", "a", ""}})
	var names []string
	for _, r := range rules {
		if err := r.Validate(); err != nil {
			t.Errorf("rule %s: %v", r.Name, err)
		}
		names = append(names, r.Name)
	}
	if diff := cmp.Diff([]string{"fleet-errors", "change-errors", "change-latency", "change-errors/a", "change-errors/b"}, names); diff != "" {
		t.Errorf("rule names (-want +got):\n%s", diff)
	}
	if q := rules[3].Relative.Query; q != `error_rate{version="v2",zone="a"}` {
		t.Errorf("zone rule query %s", q)
	}
}

func TestAlarmsFailClosed(t *testing.T) {
	f := newFleet(t, rollouttest.Config{})
	a := rollouttest.Alarms(f, func(s rollout.Subject) []alarm.Rule { return []alarm.Rule{{Name: "x"}} })
	if _, err := a.Alarms(t.Context(), rollout.Subject{Stage: "s"}, time.Now()); err == nil || !strings.Contains(err.Error(), `alarm rules of stage "s"`) {
		t.Errorf("invalid rules: %v", err)
	}
	b := rollouttest.Alarms(f, func(s rollout.Subject) []alarm.Rule {
		return []alarm.Rule{{Name: "typo", Threshold: &alarm.Threshold{Query: `error_rate{region="mars"}`, Comparison: alarm.GreaterThan,
			Evaluation: alarm.Evaluation{Period: duration.Duration(time.Minute), EvaluationPeriods: 1}}}}
	})
	if _, err := b.Alarms(t.Context(), rollout.Subject{Stage: "s"}, time.Now()); !errors.Is(err, rollouttest.ErrBadQuery) {
		t.Errorf("a rule with a bad query: %v", err)
	}
}
