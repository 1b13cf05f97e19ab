package temporal_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/temporal"
	"github.com/shepherd-go/shepherd/temporal/internal/testfleet"
)

// TestUnauthorisedSignalsRefusedAndRecorded sends control signals from an
// actor the authoriser refuses (an abort, a pause, an approval) and from
// one it allows. The refused ones change nothing and are recorded in the
// audit with the refusal and as events; the allowed approval is applied.
func TestUnauthorisedSignalsRefusedAndRecorded(t *testing.T) {
	plan := rollouttest.AWSPlan(1, 2, 3)
	stages := plan.Waves[0].Stages
	gated := stages[len(stages)-1].Name // the last stage waits for approval
	f := testfleet.New(plan, "v1")
	env := newEnv()
	env.SetStartTime(testfleet.Monday9)
	var asked []string
	temporal.Register(env, &temporal.Activities{
		Deployer: f.On("w"),
		Authorize: func(ctx context.Context, c rollout.Control) error {
			asked = append(asked, c.Actor+":"+string(c.Kind))
			if c.Actor == "mallory" {
				return errors.New("mallory is not on the release team")
			}
			return nil
		},
	})
	send := func(at time.Duration, c rollout.Control) {
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(temporal.SignalControl, c) }, at)
	}
	send(30*time.Minute, rollout.Control{Kind: rollout.ControlAbort, Actor: "mallory", Reason: "chaos"})
	send(40*time.Minute, rollout.Control{Kind: rollout.ControlPause, Actor: "mallory", Reason: "chaos"})
	send(2*time.Hour, rollout.Control{Kind: rollout.ControlApprove, Actor: "mallory", Stage: gated})
	send(30*time.Hour, rollout.Control{Kind: rollout.ControlApprove, Actor: "alice", Stage: gated, Reason: "looks good"})
	env.ExecuteWorkflow(temporal.WorkflowName, temporal.Input{
		ID: "auth", Plan: plan, Version: "v2",
		Policy: rollout.Policy{Approvals: []string{gated}},
	})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res temporal.Result
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Phase != rollout.Succeeded || res.Status.Progress.Paused {
		t.Fatalf("phase %s (paused %v), want succeeded: mallory's requests must change nothing", res.Phase, res.Status.Progress.Paused)
	}
	var got []string
	for _, e := range res.Status.Audit {
		got = append(got, fmt.Sprintf("%s %s %s ignored=%q", e.Time.Sub(testfleet.Monday9), e.Actor, e.Kind, e.Ignored))
	}
	refusal := `not authorised: mallory is not on the release team`
	want := []string{
		fmt.Sprintf("30m0s mallory abort ignored=%q", refusal),
		fmt.Sprintf("40m0s mallory pause ignored=%q", refusal),
		fmt.Sprintf("2h0m0s mallory approve ignored=%q", refusal),
		`30h0m0s alice approve ignored=""`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(asked) != 4 {
		t.Errorf("authoriser asked %v, want every request", asked)
	}
	// The approval waited for alice: the gated stage started at 30h.
	v, err := env.QueryWorkflow(temporal.QueryEvents, uint64(0))
	if err != nil {
		t.Fatal(err)
	}
	var recs []temporal.Record
	if err := v.Get(&recs); err != nil {
		t.Fatal(err)
	}
	refused, approved := 0, time.Time{}
	for _, r := range recs {
		e := r.Event
		if e.Kind == rollout.EventControl && strings.Contains(e.Reason, "not authorised") {
			refused++
		}
		if e.Kind == rollout.EventApproved {
			approved = e.Time
		}
	}
	if refused != 3 {
		t.Errorf("%d refusal events, want 3", refused)
	}
	if want := testfleet.Monday9.Add(30 * time.Hour); !approved.Equal(want) {
		t.Errorf("approved at %s, want %s", approved, want)
	}
}

// TestAuthoriserDownFailsClosed: an authoriser that errs refuses.
func TestAuthoriserDownFailsClosed(t *testing.T) {
	plan := rollouttest.AWSPlan(1, 1, 2)
	f := testfleet.New(plan, "v1")
	env := newEnv()
	env.SetStartTime(testfleet.Monday9)
	temporal.Register(env, &temporal.Activities{
		Deployer:  f.On("w"),
		Authorize: func(context.Context, rollout.Control) error { return errors.New("directory unreachable") },
	})
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(temporal.SignalControl, rollout.Control{Kind: rollout.ControlAbort, Actor: "alice", Reason: "regression"})
	}, 10*time.Minute)
	env.ExecuteWorkflow(temporal.WorkflowName, temporal.Input{ID: "down", Plan: plan, Version: "v2"})
	var res temporal.Result
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Phase != rollout.Succeeded {
		t.Errorf("phase %s: an unauthorised abort was applied", res.Phase)
	}
	if len(res.Status.Audit) != 1 || !strings.HasPrefix(res.Status.Audit[0].Ignored, "not authorised: directory unreachable") {
		t.Errorf("audit %+v, want the refused abort", res.Status.Audit)
	}
}

// TestRequestValidatesFirst: a malformed request is refused by the client
// before anything is sent.
func TestRequestValidatesFirst(t *testing.T) {
	c := temporal.NewClient(nil, "q")
	for _, ctl := range []rollout.Control{
		{Kind: rollout.ControlAbort, Actor: "alice"},         // no reason
		{Kind: rollout.ControlPause},                         // no actor
		{Kind: rollout.ControlApprove, Actor: "alice"},       // no stage
		{Kind: "promote", Actor: "alice", Reason: "because"}, // unknown kind
	} {
		if err := c.Request(t.Context(), "r", ctl); !errors.Is(err, rollout.ErrInvalid) {
			t.Errorf("Request(%+v) = %v, want ErrInvalid", ctl, err)
		}
	}
}

func TestSettingsValidate(t *testing.T) {
	if err := (temporal.Settings{}).Validate(); err != nil {
		t.Errorf("zero settings: %v", err)
	}
	err := temporal.Settings{DeployTimeout: -1, KeepEvents: -1, MaxHistory: -2}.Validate()
	for _, field := range []string{"settings.DeployTimeout", "settings.KeepEvents", "settings.MaxHistory"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Validate = %v, want a problem with %s", err, field)
		}
	}
}
