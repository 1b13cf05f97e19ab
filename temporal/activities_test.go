package temporal_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/temporal"
	"github.com/shepherd-go/shepherd/temporal/internal/testfleet"
	"github.com/shepherd-go/shepherd/wave"
)

// flaky fails the deploys of some targets: transiently a number of times,
// or permanently.
type flaky struct {
	rollout.Deployer
	mu        sync.Mutex
	transient map[string]int // target -> failures left
	permanent map[string]bool
	calls     map[string]int
}

func (f *flaky) Deploy(ctx context.Context, t wave.Target, v string) error {
	f.mu.Lock()
	f.calls[t.ID]++
	switch {
	case f.permanent[t.ID]:
		f.mu.Unlock()
		return rollout.Permanent(errors.New("artifact rejected"))
	case f.transient[t.ID] > 0:
		f.transient[t.ID]--
		f.mu.Unlock()
		return errors.New("connection reset")
	}
	f.mu.Unlock()
	return f.Deployer.Deploy(ctx, t, v)
}

// TestDeployRetriesMappedFromPolicy: a deploy that fails twice with a
// transient error is retried by Temporal per the rollout's retry policy and
// succeeds on its third attempt; a permanent error is not retried; a target
// that keeps failing fails after MaxAttempts calls, which the failure
// budget then judges.
func TestDeployRetriesMappedFromPolicy(t *testing.T) {
	plan := testfleet.ZonePlan(1, 1, 0, 0)
	plan.Waves[0].Stages = plan.Waves[0].Stages[1:]
	var b wave.Batch
	for _, id := range []string{"ok", "twice", "perm", "always"} {
		b.Targets = append(b.Targets, wave.Target{ID: id, Location: []string{"r0", "r0-z0"}})
	}
	plan.Waves[0].Stages[0].Batches = []wave.Batch{b}
	fl := testfleet.New(plan, "v1")
	d := &flaky{
		Deployer:  fl.On("w"),
		transient: map[string]int{"twice": 2, "always": 1 << 30},
		permanent: map[string]bool{"perm": true},
		calls:     map[string]int{},
	}
	env := newEnv()
	env.SetStartTime(testfleet.Monday9)
	temporal.Register(env, &temporal.Activities{Deployer: d})
	pol := rollout.Policy{Deploy: rollout.DeployPolicy{Retry: rollout.Retry{
		MaxAttempts: 4, Initial: duration.Duration(time.Second), Max: duration.Duration(4 * time.Second),
	}}}
	env.ExecuteWorkflow(temporal.WorkflowName, temporal.Input{ID: "retry", Plan: plan, Version: "v2", Policy: pol})
	var res temporal.Result
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	v, err := env.QueryWorkflow(temporal.QueryState)
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	if err := v.Get(&data); err != nil {
		t.Fatal(err)
	}
	st, err := temporal.DecodeState(data)
	if err != nil {
		t.Fatal(err)
	}
	type tgt struct {
		Status   rollout.TargetStatus
		Attempts int
	}
	got := map[string]tgt{}
	for _, ts := range st.Targets {
		got[ts.ID] = tgt{ts.Status, ts.Attempts}
	}
	// The stage (MinHealthy 0) tolerates failures; what matters is how
	// often each target was called.
	wantCalls := map[string]int{"ok": 1, "twice": 3, "perm": 1, "always": 4}
	if diff := cmp.Diff(wantCalls, d.calls); diff != "" {
		t.Errorf("deploy calls (-want +got):\n%s", diff)
	}
	for id, n := range wantCalls {
		if got[id].Attempts != n {
			t.Errorf("%s: state records %d attempts, want %d", id, got[id].Attempts, n)
		}
	}
	for id, want := range map[string]rollout.TargetStatus{"perm": rollout.TargetFailed, "always": rollout.TargetFailed} {
		if got[id].Status != want && got[id].Status != rollout.TargetRolledBack {
			t.Errorf("%s: status %s, want failed", id, got[id].Status)
		}
	}
}

// TestNotifyDeliversEveryEvent: with Settings.Notify, OnEvent receives the
// same events, in the same order, as the events query.
func TestNotifyDeliversEveryEvent(t *testing.T) {
	plan := rollouttest.AWSPlan(1, 2, 3)
	f := testfleet.New(plan, "v1")
	env := newEnv()
	env.SetStartTime(testfleet.Monday9)
	var mu sync.Mutex
	var got []rollout.Event
	temporal.Register(env, &temporal.Activities{
		Deployer: f.On("w"),
		OnEvent: func(_ context.Context, evs []rollout.Event) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, evs...)
			return nil
		},
	})
	env.ExecuteWorkflow(temporal.WorkflowName, temporal.Input{
		ID: "notify", Plan: plan, Version: "v2", Settings: temporal.Settings{Notify: true, KeepEvents: 1 << 20},
	})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	v, err := env.QueryWorkflow(temporal.QueryEvents, uint64(0))
	if err != nil {
		t.Fatal(err)
	}
	var recs []temporal.Record
	if err := v.Get(&recs); err != nil {
		t.Fatal(err)
	}
	var want []rollout.Event
	for _, r := range recs {
		want = append(want, r.Event)
	}
	if len(want) == 0 || want[len(want)-1].Kind != rollout.EventSucceeded {
		t.Fatalf("events end with %v, want succeeded", want[len(want)-1].Kind)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delivered events differ from the query's (-query +delivered):\n%s", diff)
	}
	// The events query pages from a sequence number.
	v, err = env.QueryWorkflow(temporal.QueryEvents, uint64(len(recs)-2))
	if err != nil {
		t.Fatal(err)
	}
	var tail []temporal.Record
	if err := v.Get(&tail); err != nil {
		t.Fatal(err)
	}
	if len(tail) != 2 || tail[1].Seq != uint64(len(recs)) {
		t.Errorf("events after %d: %+v, want the last two", len(recs)-2, tail)
	}
}

// FuzzSettings: any JSON either fails to decode, or decodes to settings that
// Validate accepts exactly when no field is negative, and that round-trip.
func FuzzSettings(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"taskQueue":"deploys","deployTimeout":"2h","heartbeatTimeout":"30s","gateTimeout":"1m","notify":true,"keepEvents":100,"maxHistory":5000}`))
	f.Add([]byte(`{"deployTimeout":"-1s","keepEvents":-3}`))
	f.Add([]byte(`{"maxHistory":-1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s temporal.Settings
		if json.Unmarshal(data, &s) != nil {
			return
		}
		bad := s.DeployTimeout < 0 || s.HeartbeatTimeout < 0 || s.GateTimeout < 0 || s.KeepEvents < 0 || s.MaxHistory < 0
		if err := s.Validate(); (err != nil) != bad {
			t.Fatalf("Validate(%+v) = %v", s, err)
		}
		out, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back temporal.Settings
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(s, back); diff != "" {
			t.Fatalf("round trip (-before +after):\n%s", diff)
		}
	})
}

// TestNotifyNeverDelaysTheRollout: a listener that is down (every
// delivery fails, and is retried for minutes) changes nothing in the
// rollout: an alarm in the one-box rolls back at the same instant, with
// the same events at the same times, as without notifications.
func TestNotifyNeverDelaysTheRollout(t *testing.T) {
	plan := rollouttest.AWSPlan(1, 2, 3)
	var calls atomic.Int64
	run := func(notify bool) []rollout.Event {
		f := testfleet.New(plan, "v1")
		env := newEnv()
		env.SetStartTime(testfleet.Monday9)
		temporal.Register(env, &temporal.Activities{
			Deployer: f.On("w"),
			Alarms:   testfleet.RegressionAlarm(f, rollouttest.AllTargets(plan), "v2"),
			OnEvent: func(context.Context, []rollout.Event) error {
				calls.Add(1)
				return errors.New("listener down")
			},
		})
		env.ExecuteWorkflow(temporal.WorkflowName, temporal.Input{
			ID: "notify", Plan: plan, Version: "v2", Policy: policy,
			Settings: temporal.Settings{Notify: notify, KeepEvents: 1 << 20},
		})
		var res temporal.Result
		if err := env.GetWorkflowResult(&res); err != nil {
			t.Fatal(err)
		}
		if res.Phase != rollout.RolledBack {
			t.Fatalf("phase %s, want rolled-back", res.Phase)
		}
		v, err := env.QueryWorkflow(temporal.QueryEvents, uint64(0))
		if err != nil {
			t.Fatal(err)
		}
		var recs []temporal.Record
		if err := v.Get(&recs); err != nil {
			t.Fatal(err)
		}
		var evs []rollout.Event
		for _, r := range recs {
			evs = append(evs, r.Event)
		}
		return evs
	}
	if diff := cmp.Diff(run(false), run(true)); diff != "" {
		t.Errorf("events with a failing listener differ (-without +with):\n%s", diff)
	}
	if calls.Load() < 10 {
		t.Errorf("the listener was called %d times, want its deliveries retried", calls.Load())
	}
	t.Logf("%d failed deliveries", calls.Load())
}

// keyed records the idempotency key of every deploy call.
type keyed struct {
	rollout.Deployer
	mu   sync.Mutex
	keys []string
}

func (k *keyed) Deploy(ctx context.Context, t wave.Target, v string) error {
	key, ok := temporal.IdempotencyKey(ctx)
	if !ok {
		return errors.New("no idempotency key")
	}
	k.mu.Lock()
	k.keys = append(k.keys, key)
	k.mu.Unlock()
	return k.Deployer.Deploy(ctx, t, v)
}

// TestIdempotencyKey: a deploy finds in its context a key naming the
// workflow, the action, its round and its target.
func TestIdempotencyKey(t *testing.T) {
	plan := testfleet.ZonePlan(2, 1, 0, 0)
	f := testfleet.New(plan, "v1")
	k := &keyed{Deployer: f.On("w")}
	env := newEnv()
	env.SetStartTime(testfleet.Monday9)
	temporal.Register(env, &temporal.Activities{Deployer: k})
	env.ExecuteWorkflow(temporal.WorkflowName, temporal.Input{ID: "keys", Plan: plan, Version: "v2"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(k.keys) != 2 {
		t.Fatalf("keys %v, want one per deploy", k.keys)
	}
	for i, id := range []string{"ob", "h1"} {
		if !strings.HasPrefix(k.keys[i], "default-test-workflow-id/deploy/") || !strings.HasSuffix(k.keys[i], "/"+id) {
			t.Errorf("key %q, want the workflow, the action kind, the round and %s", k.keys[i], id)
		}
	}
}
