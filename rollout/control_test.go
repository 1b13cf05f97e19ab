package rollout_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

// waitFor polls the runner's progress until cond holds, sleeping in bubble
// time.
func waitFor(t *testing.T, r *rollout.Runner, what string, cond func(rollout.Progress) bool) rollout.Progress {
	t.Helper()
	for range 100000 {
		if p := r.Progress(); cond(p) {
			return p
		}
		time.Sleep(time.Minute)
	}
	t.Fatalf("never saw %s; progress %+v", what, r.Progress())
	return rollout.Progress{}
}

func TestAbortFromAnotherGoroutineRollsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := rollouttest.AWSPlan(2, 2, 3)
		f := rollouttest.NewMemFleet(plan, "v1")
		r, err := rollout.Create(t.Context(), rollout.Spec{ID: "abort", Plan: plan, Version: "v2", Policy: rollout.Policy{}}, f, rollout.Config{})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- r.Run(t.Context()) }()
		waitFor(t, r, "the second stage baking", func(p rollout.Progress) bool { return p.StageIndex == 1 && p.Step == rollout.StepBaking })
		if err := r.Abort(t.Context(), "carol", ""); !errors.Is(err, rollout.ErrInvalid) {
			t.Errorf("abort without a reason = %v, want ErrInvalid", err)
		}
		if err := r.Abort(t.Context(), "carol", "customer tickets"); err != nil {
			t.Fatal(err)
		}
		err = <-done
		var he *rollout.HaltError
		if !errors.As(err, &he) || he.Signal != rollout.SignalAbort || !strings.Contains(he.Reason, "carol") {
			t.Fatalf("Run = %v, want a rollback on abort by carol", err)
		}
		for id, v := range f.Snapshot() {
			if v != "v1" {
				t.Errorf("%s runs %s", id, v)
			}
		}
	})
}

func TestPauseReactionWaitsForAHuman(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := rollouttest.AWSPlan(2, 1, 3)
		f := rollouttest.NewMemFleet(plan, "v1")
		var mu sync.Mutex
		firing := true
		alarms := rollout.AlarmsFunc(func(ctx context.Context, s rollout.Subject, now time.Time) ([]alarm.Result, error) {
			mu.Lock()
			defer mu.Unlock()
			if firing && f.Running(plan.Waves[0].Stages[0].Batches[0].Targets[0].ID) == "v2" {
				return []alarm.Result{{Name: "latency", State: alarm.Alarm, Reason: "p99 900ms > 500ms"}}, nil
			}
			return nil, nil
		})
		pol := rollout.Policy{Reactions: map[rollout.Signal]rollout.Reaction{rollout.SignalAlarm: rollout.Pause}}
		r, err := rollout.Create(t.Context(), rollout.Spec{ID: "gentle", Plan: plan, Version: "v2", Policy: pol}, f, rollout.Config{Alarms: alarms})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- r.Run(t.Context()) }()
		p := waitFor(t, r, "a pause on the alarm", func(p rollout.Progress) bool { return p.Paused })
		if p.Hold.Signal != rollout.SignalAlarm || !strings.Contains(p.Hold.Reason, "latency") {
			t.Errorf("hold %+v", p.Hold)
		}
		// Nothing more is deployed while paused.
		time.Sleep(24 * time.Hour)
		if n := len(f.Calls()); n != 1 {
			t.Errorf("%d deploy calls while paused, want 1", n)
		}
		mu.Lock()
		firing = false // the human found a false alarm
		mu.Unlock()
		// and resumes once the alarm reads OK. (Resuming at once could
		// meet a check taken at the same instant, before the fix, which
		// pauses the rollout again, rightly: it read ALARM.)
		time.Sleep(2 * time.Minute)
		if err := r.Resume(t.Context(), "erin"); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
		for id, v := range f.Snapshot() {
			if v != "v2" {
				t.Errorf("%s runs %s", id, v)
			}
		}
	})
}

func TestRunLeavesNoGoroutineBehind(t *testing.T) {
	before := runtime.NumGoroutine()
	plan := rollouttest.ZeroBake(rollouttest.AWSPlan(2, 2, 5))
	for i := range 5 {
		f := rollouttest.NewMemFleet(plan, "v1")
		f.Delay = time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		r, err := rollout.Create(ctx, rollout.Spec{ID: fmt.Sprint("leak", i), Plan: plan, Version: "v2", Policy: rollout.Policy{Deploy: rollout.DeployPolicy{Concurrency: 3}}}, f, rollout.Config{})
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			// Cancel in the middle of a batch.
			go func() { time.Sleep(time.Duration(i+1) * 3 * time.Millisecond); cancel() }()
		}
		err = r.Run(ctx)
		cancel()
		if i%2 == 1 && err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

func TestBadInputTouchesNothing(t *testing.T) {
	good := rollouttest.AWSPlan(1, 2, 3)
	dup := rollouttest.AWSPlan(1, 2, 3)
	dup.Waves[0].Stages[1].Batches[0].Targets[0].ID = dup.Waves[0].Stages[0].Batches[0].Targets[0].ID
	tight := rollouttest.AWSPlan(1, 2, 3)
	tight.Waves[0].Stages[1].MinHealthy = 3 // a batch of 1 of 3 would leave 2
	empty := rollouttest.AWSPlan(1, 2, 3)
	empty.Waves[0].Stages[1].Batches = append(empty.Waves[0].Stages[1].Batches, wave.Batch{})
	noLevels := flatPlan(0, hostIDs(0, 3))
	noLevels.Levels = nil
	noLevels.Waves[0].Stages[0].Batches[0].Targets[0].Location = nil
	for _, tc := range []struct {
		name    string
		plan    wave.Plan
		version string
		policy  rollout.Policy
		want    []string
		// sentinel is the sentinel the problems wrap besides ErrInvalid:
		// the planner's own, passed on as it reported them.
		sentinel error
	}{
		{"empty version", good, "", rollout.Policy{}, []string{"rollout: version: empty"}, rollout.ErrInvalid},
		{"no waves", wave.Plan{Levels: []string{"region"}}, "v2", rollout.Policy{}, []string{"wave: plan.Waves: there are no waves"}, wave.ErrPlan},
		{"no levels", noLevels, "v2", rollout.Policy{}, []string{
			"wave: plan.Levels: is empty",
			`wave: plan.Waves[0].Stages[0].Batches[0].Targets[0].Location: [] does not name every level of []`,
		}, wave.ErrPlan},
		{"duplicate target", dup, "v2", rollout.Policy{}, []string{`wave: plan.Waves[0].Stages[1].Batches[0].Targets[0].ID: target "r0-z0-h0" is also at Waves[0].Stages[0].Batches[0].Targets[0]`}, wave.ErrPlan},
		{"min healthy", tight, "v2", rollout.Policy{}, []string{"wave: plan.Waves[0].Stages[1].Batches[0].Targets: deploys 1 of the stage's 3 targets at once, leaving 2 healthy, below its MinHealthy 3"}, wave.ErrPlan},
		{"empty batch", empty, "v2", rollout.Policy{}, []string{"wave: plan.Waves[0].Stages[1].Batches[3].Targets: the batch is empty"}, wave.ErrPlan},
		{"bad policy, every problem", good, "v2", rollout.Policy{
			Deploy:    rollout.DeployPolicy{Concurrency: -1},
			Approvals: []string{"[bad"},
			Reactions: map[rollout.Signal]rollout.Reaction{rollout.SignalAbort: rollout.Pause, "nope": "explode"},
		}, []string{
			"policy.Deploy.Concurrency: -1 is negative",
			"policy.Approvals[0]: bad pattern",
			`policy.Reactions["abort"]: abort always rolls back`,
			`policy.Reactions["nope"]: unknown signal`,
			`policy.Reactions["nope"]: unknown reaction "explode"`,
		}, rollout.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := rollouttest.NewMemFleet(good, "v1")
			store := new(rollout.MemoryStore)
			_, err := rollout.Create(context.Background(), rollout.Spec{ID: "bad", Plan: tc.plan, Version: tc.version, Policy: tc.policy}, f, rollout.Config{Store: store})
			if !errors.Is(err, rollout.ErrInvalid) || !errors.Is(err, tc.sentinel) {
				t.Fatalf("New = %v, want ErrInvalid and %v", err, tc.sentinel)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not report %q", err, w)
				}
			}
			if f.Touched() || store.Get("bad") != nil {
				t.Error("bad input touched the fleet or the store")
			}
		})
	}
	// Corrupt and newer-schema states are refused before anything runs.
	st, _ := rollout.NewState("stored", good, "v2", rollout.Policy{}, monday9)
	data, _ := rollout.EncodeState(st)
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"corrupt", append(data[:len(data)-20:len(data)-20], "garbage!}"...), rollout.ErrCorrupt},
		{"newer schema", []byte(strings.Replace(string(data), fmt.Sprintf(`{"schema":%d,`, rollout.SchemaVersion), `{"schema":9,`, 1)), rollout.ErrSchema},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := rollouttest.NewMemFleet(good, "v1")
			store := new(rollout.MemoryStore)
			store.Put("stored", tc.data)
			_, err := rollout.Open(context.Background(), "stored", f, rollout.Config{Store: store})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Resume = %v, want %v", err, tc.want)
			}
			if f.Touched() {
				t.Error("a bad stored state touched the fleet")
			}
			// The lease was released: a fixed state can be resumed.
			if _, _, err := store.Load(context.Background(), "stored"); err != nil {
				t.Errorf("lease kept after a failed Resume: %v", err)
			}
		})
	}
}
