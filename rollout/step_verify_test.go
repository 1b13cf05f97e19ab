package rollout_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
)

var verifySteps = []rollout.StepKind{rollout.StepBlockers, rollout.StepApproval, rollout.StepDeploy, rollout.StepVerify, rollout.StepBake, rollout.StepJudge}

func decisionsOf(st *rollout.State, gate rollout.Gate) []string {
	var out []string
	for _, d := range st.Decisions {
		if d.Gate == gate {
			out = append(out, d.Stage+" "+string(d.Outcome))
		}
	}
	return out
}

func TestVerifyStepPassesEveryStage(t *testing.T) {
	plan := rollouttest.AWSPlan(2, 2, 2)
	f := newPureFleet(plan)
	var asked []string
	f.verify = func(a rollout.Action, now time.Time) rollout.Observation {
		asked = append(asked, a.Stage)
		if a.Subject == nil || len(a.Subject.Targets) == 0 {
			t.Errorf("verify of %s without the stage's targets", a.Stage)
		}
		for _, id := range a.Subject.Targets {
			if f.v[id] != "v2" {
				t.Errorf("verify of %s while %s runs %s", a.Stage, id, f.v[id])
			}
		}
		if want := now.Add(rollout.DefaultVerifyTimeout); !a.Deadline.Equal(want) {
			t.Errorf("verify deadline %v, want %v", a.Deadline, want)
		}
		return rollout.ObserveVerify(a, rollout.VerifyResult{Outcome: rollout.VerifyPass, Reason: "42 tests pass"}, nil)
	}
	st, err := rollout.NewState("v", plan, "v2", rollout.Policy{Steps: verifySteps}, monday9)
	if err != nil {
		t.Fatal(err)
	}
	drivePure(t, st, f, monday9)
	if st.Phase != rollout.Succeeded {
		t.Fatalf("phase %s: %+v", st.Phase, st.Rollback)
	}
	var stages []string
	for _, s := range st.Stages {
		if s.Kind != rollout.KindFinal {
			stages = append(stages, s.Name)
		}
	}
	if diff := cmp.Diff(stages, asked); diff != "" {
		t.Errorf("verified stages (-want +got):\n%s", diff)
	}
	if got := decisionsOf(st, rollout.GateVerify); len(got) != len(stages) {
		t.Errorf("verify decisions %v", got)
	}
}

func TestVerifyStepFailRollsBack(t *testing.T) {
	plan := rollouttest.AWSPlan(2, 2, 2)
	f := newPureFleet(plan)
	second := plan.Waves[0].Stages[1].Name
	f.verify = func(a rollout.Action, now time.Time) rollout.Observation {
		if a.Stage == second {
			return rollout.ObserveVerify(a, rollout.VerifyResult{Outcome: rollout.VerifyFail, Reason: "checkout test: 500"}, nil)
		}
		return rollout.ObserveVerify(a, rollout.VerifyResult{Outcome: rollout.VerifyPass}, nil)
	}
	st, _ := rollout.NewState("v", plan, "v2", rollout.Policy{Steps: verifySteps}, monday9)
	drivePure(t, st, f, monday9)
	if st.Phase != rollout.RolledBack || st.Rollback.Signal != rollout.SignalVerify {
		t.Fatalf("phase %s, rollback %+v; want rolled back on verify", st.Phase, st.Rollback)
	}
	if !strings.Contains(st.Rollback.Reason, "checkout test: 500") || !strings.Contains(st.Rollback.Reason, second) {
		t.Errorf("reason %q names neither the stage nor the failure", st.Rollback.Reason)
	}
	for id, v := range f.v {
		if v != "v1" {
			t.Errorf("%s runs %s after the rollback", id, v)
		}
	}
}

func TestVerifyStepRetriesThenFailsClosed(t *testing.T) {
	plan := rollouttest.AWSPlan(1, 1, 2)
	f := newPureFleet(plan)
	var times []time.Time
	f.verify = func(a rollout.Action, now time.Time) rollout.Observation {
		times = append(times, now)
		return rollout.ObserveVerify(a, rollout.VerifyResult{}, errors.New("test runner unreachable"))
	}
	pol := rollout.Policy{Steps: verifySteps, Verify: rollout.VerifyPolicy{Retry: rollout.Retry{MaxAttempts: 4, Initial: duration.Duration(time.Minute)}}}
	st, _ := rollout.NewState("v", plan, "v2", pol, monday9)
	drivePure(t, st, f, monday9)
	if st.Phase != rollout.RolledBack || st.Rollback.Signal != rollout.SignalVerify || !strings.Contains(st.Rollback.Reason, "fail closed") {
		t.Fatalf("phase %s, rollback %+v; want a fail-closed rollback on verify", st.Phase, st.Rollback)
	}
	if len(times) != 4 {
		t.Fatalf("%d attempts, want 4", len(times))
	}
	r := pol.Verify.Retry.WithDefaults(rollout.DefaultVerifyAttempts) // Initial is set
	for i := 1; i < len(times); i++ {
		if got, want := times[i].Sub(times[i-1]), r.Wait("v", st.Stages[0].Name, i+1); got != want {
			t.Errorf("wait before attempt %d: %s, want %s", i+1, got, want)
		}
	}
}

func TestVerifyStepUnknownOutcomeFailsClosed(t *testing.T) {
	plan := rollouttest.AWSPlan(1, 1, 2)
	f := newPureFleet(plan)
	f.verify = func(a rollout.Action, now time.Time) rollout.Observation {
		return rollout.ObserveVerify(a, rollout.VerifyResult{Outcome: "maybe"}, nil)
	}
	st, _ := rollout.NewState("v", plan, "v2", rollout.Policy{Steps: verifySteps, Verify: rollout.VerifyPolicy{Retry: rollout.Retry{MaxAttempts: 1}}}, monday9)
	drivePure(t, st, f, monday9)
	if st.Phase != rollout.RolledBack || st.Rollback.Signal != rollout.SignalVerify {
		t.Fatalf("phase %s, rollback %+v", st.Phase, st.Rollback)
	}
}

func TestVerifyStepOnlyMatchingStages(t *testing.T) {
	plan := rollouttest.AWSPlan(2, 2, 2)
	f := newPureFleet(plan)
	var asked []string
	f.verify = func(a rollout.Action, now time.Time) rollout.Observation {
		asked = append(asked, a.Stage)
		return rollout.ObserveVerify(a, rollout.VerifyResult{Outcome: rollout.VerifyPass}, nil)
	}
	only := plan.Waves[1].Stages[0].Name
	st, _ := rollout.NewState("v", plan, "v2", rollout.Policy{Steps: verifySteps, Verify: rollout.VerifyPolicy{Stages: []string{only}}}, monday9)
	drivePure(t, st, f, monday9)
	if diff := cmp.Diff([]string{only}, asked); st.Phase != rollout.Succeeded || diff != "" {
		t.Errorf("phase %s; verified (-want +got):\n%s", st.Phase, diff)
	}
}

func TestVerifyStepTimingsAndEvents(t *testing.T) {
	plan := rollouttest.AWSPlan(1, 1, 1)
	st, _ := rollout.NewState("v", plan, "v2", rollout.Policy{Steps: verifySteps}, monday9)
	f := newPureFleet(plan)
	now := monday9
	var obs []rollout.Observation
	var kinds []rollout.EventKind
	for range 100000 {
		out, err := st.Step(now, obs...)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range out.Events {
			if e.Kind == rollout.EventVerifyStarted || e.Kind == rollout.EventVerifyResult {
				kinds = append(kinds, e.Kind)
			}
		}
		if current(st) != nil && current(st).Step == rollout.StepVerify {
			// The check takes three minutes.
			var a rollout.Action
			for _, x := range out.Actions {
				if x.Kind == rollout.ActionVerify {
					a = x
				}
			}
			if a.Kind == rollout.ActionVerify {
				now = now.Add(3 * time.Minute)
				obs = []rollout.Observation{rollout.ObserveVerify(a, rollout.VerifyResult{Outcome: rollout.VerifyPass}, nil)}
				continue
			}
		}
		if out.Done {
			break
		}
		obs = nil
		for _, a := range out.Actions {
			obs = append(obs, f.answer(a, now))
		}
		if len(out.Actions) == 0 {
			now = out.WakeAt
		}
	}
	if st.Phase != rollout.Succeeded {
		t.Fatalf("phase %s at %v: %+v", st.Phase, now, st.Progress())
	}
	if got := st.Timings.Verifying.Std(); got != 3*time.Minute {
		t.Errorf("verifying took %s, want 3m", got)
	}
	if got := st.Stages[0].Timings.Verifying.Std(); got != 3*time.Minute {
		t.Errorf("the stage's verifying took %s, want 3m", got)
	}
	if diff := cmp.Diff([]rollout.EventKind{rollout.EventVerifyStarted, rollout.EventVerifyResult}, kinds); diff != "" {
		t.Errorf("verify events (-want +got):\n%s", diff)
	}
}

func TestVerifyStepDryRun(t *testing.T) {
	plan := rollouttest.AWSPlan(1, 2, 2)
	f := newPureFleet(plan)
	f.verify = func(a rollout.Action, now time.Time) rollout.Observation {
		t.Errorf("a dry run verified %s", a.Stage)
		return rollout.ObserveVerify(a, rollout.VerifyResult{Outcome: rollout.VerifyPass}, nil)
	}
	st, _ := rollout.NewState("v", plan, "v2", rollout.Policy{DryRun: true, Steps: verifySteps}, monday9)
	drivePure(t, st, f, monday9)
	if st.Phase != rollout.Succeeded {
		t.Fatalf("phase %s", st.Phase)
	}
	got := decisionsOf(st, rollout.GateVerify)
	if len(got) != len(plan.Waves[0].Stages) {
		t.Fatalf("dry-run verify decisions %v", got)
	}
	for _, d := range got {
		if !strings.HasSuffix(d, string(rollout.OutcomeWouldVerify)) {
			t.Errorf("decision %q", d)
		}
	}
}

func TestStepsValidation(t *testing.T) {
	for _, tc := range []struct {
		steps []rollout.StepKind
		want  string
	}{
		{[]rollout.StepKind{rollout.StepBlockers, "smoke", rollout.StepDeploy}, `policy.Steps[1]: unknown step kind "smoke"`},
		{[]rollout.StepKind{rollout.StepDeploy, rollout.StepBake, rollout.StepBake}, `policy.Steps[2]: step "bake" appears twice`},
		{[]rollout.StepKind{rollout.StepBlockers, rollout.StepBake}, `policy.Steps: no "deploy" step`},
		{[]rollout.StepKind{rollout.StepVerify, rollout.StepDeploy}, `policy.Steps[0]: step "verify" comes before "deploy"`},
	} {
		t.Run(fmt.Sprint(tc.steps), func(t *testing.T) {
			err := rollout.Policy{Steps: tc.steps}.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, rollout.ErrInvalid) {
				t.Errorf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
	if err := (rollout.Policy{Verify: rollout.VerifyPolicy{Timeout: -1, Stages: []string{"["}}}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "policy.Verify.Timeout") || !strings.Contains(err.Error(), "policy.Verify.Stages[0]") {
		t.Errorf("Validate = %v", err)
	}
}
