package rollout

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
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/wave"
)

// waitFor polls the runner's progress until cond holds, sleeping in bubble
// time.
func waitFor(t *testing.T, r *Runner, what string, cond func(Progress) bool) Progress {
	t.Helper()
	for range 100000 {
		if p := r.Progress(); cond(p) {
			return p
		}
		time.Sleep(time.Minute)
	}
	t.Fatalf("never saw %s; progress %+v", what, r.Progress())
	return Progress{}
}

func TestControlsFromOtherGoroutines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := awsPlan(2, 2, 3)
		f := newFleet(plan, "v1")
		f.Delay = time.Minute
		gated := plan.Waves[1].Stages[0].Name
		var authMu sync.Mutex
		var asked []string
		auth := func(ctx context.Context, c Control) error {
			authMu.Lock()
			asked = append(asked, string(c.Kind)+":"+c.Actor)
			authMu.Unlock()
			if c.Kind == ControlApprove && c.Actor != "release-manager" {
				return errors.New("only release managers approve")
			}
			return nil
		}
		var log eventLog
		pol := Policy{Approvals: []string{"w2/*/r1-z0"}}
		r, err := Create(t.Context(), Spec{ID: "ctl", Plan: plan, Version: "v2", Policy: pol}, f, Config{Authorize: auth, OnEvent: log.add})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- r.Run(t.Context()) }()

		var wg sync.WaitGroup
		// An operator pauses during the first bake, then resumes.
		wg.Go(func() {
			waitFor(t, r, "the first bake", func(p Progress) bool { return p.Step == StepBaking })
			if err := r.Pause(t.Context(), "alice", "looking at a dashboard"); err != nil {
				t.Error(err)
			}
			p := waitFor(t, r, "the pause", func(p Progress) bool { return p.Paused })
			if p.Hold.Actor != "alice" {
				t.Errorf("held by %q", p.Hold.Actor)
			}
			time.Sleep(3 * time.Hour)
			if err := r.Resume(t.Context(), "alice"); err != nil {
				t.Error(err)
			}
		})
		// A release manager approves wave 2 when asked; an intern cannot.
		wg.Go(func() {
			waitFor(t, r, "the approval gate", func(p Progress) bool { return p.AwaitingApproval })
			time.Sleep(30 * time.Minute) // a human takes a while
			if err := r.Approve(t.Context(), gated, "intern"); !errors.Is(err, ErrNotAuthorised) {
				t.Errorf("intern approval = %v, want ErrNotAuthorised", err)
			}
			if err := r.Approve(t.Context(), "no-such-stage", "release-manager"); !errors.Is(err, ErrInvalid) {
				t.Errorf("approval of an unknown stage = %v, want ErrInvalid", err)
			}
			if err := r.Approve(t.Context(), gated, "release-manager"); err != nil {
				t.Error(err)
			}
		})
		// Someone polls progress all along.
		stop := make(chan struct{})
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if p := r.Progress(); p.Phase.Terminal() {
					return
				}
				time.Sleep(7 * time.Minute)
			}
		})
		err = <-done
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
		if err := r.Pause(t.Context(), "bob", "too late"); !errors.Is(err, ErrDone) {
			t.Errorf("Pause after the end = %v, want ErrDone", err)
		}
		st := r.st
		if st.Timings.Paused < duration.Duration(3*time.Hour) {
			t.Errorf("paused %s, want 3h", st.Timings.Paused)
		}
		if st.Timings.Approval == 0 {
			t.Error("no time recorded waiting for approval")
		}
		// The pause did not count as bake time.
		first := st.Stages[0].Bake
		if first == nil || first.PausedFor.Std() < 3*time.Hour || first.Ended.Sub(first.Started)-first.PausedFor.Std() > time.Hour+time.Minute {
			t.Errorf("first bake %+v: want 1h baked, 3h paused and not counted", first)
		}
		if a := st.Stages[st.ix.byName[gated]].Approval; a == nil || a.Actor != "release-manager" {
			t.Errorf("approval record %+v", a)
		}
		var kinds []string
		for _, a := range st.Audit {
			kinds = append(kinds, string(a.Kind)+":"+a.Actor)
		}
		if got := strings.Join(kinds, ","); got != "pause:alice,resume:alice,approve:release-manager" {
			t.Errorf("audit %s", got)
		}
	})
}

func TestAbortFromAnotherGoroutineRollsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := awsPlan(2, 2, 3)
		f := newFleet(plan, "v1")
		r, err := Create(t.Context(), Spec{ID: "abort", Plan: plan, Version: "v2", Policy: Policy{}}, f, Config{})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- r.Run(t.Context()) }()
		waitFor(t, r, "the second stage baking", func(p Progress) bool { return p.StageIndex == 1 && p.Step == StepBaking })
		if err := r.Abort(t.Context(), "carol", ""); !errors.Is(err, ErrInvalid) {
			t.Errorf("abort without a reason = %v, want ErrInvalid", err)
		}
		if err := r.Abort(t.Context(), "carol", "customer tickets"); err != nil {
			t.Fatal(err)
		}
		err = <-done
		var he *HaltError
		if !errors.As(err, &he) || he.Signal != SignalAbort || !strings.Contains(he.Reason, "carol") {
			t.Fatalf("Run = %v, want a rollback on abort by carol", err)
		}
		for id, v := range f.snapshot() {
			if v != "v1" {
				t.Errorf("%s runs %s", id, v)
			}
		}
	})
}

func TestSkipBakeIsAnAuditedOverride(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := awsPlan(1, 1, 3)
		f := newFleet(plan, "v1")
		var log eventLog
		r, err := Create(t.Context(), Spec{ID: "skip", Plan: plan, Version: "v2", Policy: Policy{}}, f, Config{
			OnEvent: log.add,
			Authorize: func(ctx context.Context, c Control) error {
				if c.Kind == ControlSkipBake && c.Actor != "sre-lead" {
					return errors.New("bake skips need the SRE lead")
				}
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		stage := plan.Waves[0].Stages[0].Name // its 12h bake is skipped
		if err := r.SkipBake(t.Context(), stage, "dave", "hotfix"); !errors.Is(err, ErrNotAuthorised) {
			t.Errorf("SkipBake by dave = %v, want ErrNotAuthorised", err)
		}
		if err := r.SkipBake(t.Context(), stage, "sre-lead", ""); !errors.Is(err, ErrInvalid) {
			t.Errorf("SkipBake without reason = %v, want ErrInvalid", err)
		}
		if err := r.SkipBake(t.Context(), stage, "sre-lead", "hotfix for incident 42"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := r.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		// The zone's 12h bake was skipped; the final bake (2h) was not.
		if took := time.Since(start); took >= 12*time.Hour {
			t.Errorf("took %s: the bake was not skipped", took)
		}
		sk := log.kinds(EventBakeSkipped)
		if len(sk) != 1 || sk[0].Actor != "sre-lead" || sk[0].Stage != stage {
			t.Errorf("bake-skipped events %+v", sk)
		}
		if a := r.st.Audit; len(a) != 1 || a[0].Kind != ControlSkipBake || a[0].Reason != "hotfix for incident 42" {
			t.Errorf("audit %+v", a)
		}
	})
}

func TestPauseReactionWaitsForAHuman(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := awsPlan(2, 1, 3)
		f := newFleet(plan, "v1")
		var mu sync.Mutex
		firing := true
		alarms := AlarmsFunc(func(ctx context.Context, s Subject, now time.Time) ([]alarm.Result, error) {
			mu.Lock()
			defer mu.Unlock()
			if firing && f.version(plan.Waves[0].Stages[0].Batches[0].Targets[0].ID) == "v2" {
				return []alarm.Result{{Name: "latency", State: alarm.Alarm, Reason: "p99 900ms > 500ms"}}, nil
			}
			return nil, nil
		})
		pol := Policy{Reactions: map[Signal]Reaction{SignalAlarm: Pause}}
		r, err := Create(t.Context(), Spec{ID: "gentle", Plan: plan, Version: "v2", Policy: pol}, f, Config{Alarms: alarms})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- r.Run(t.Context()) }()
		p := waitFor(t, r, "a pause on the alarm", func(p Progress) bool { return p.Paused })
		if p.Hold.Signal != SignalAlarm || !strings.Contains(p.Hold.Reason, "latency") {
			t.Errorf("hold %+v", p.Hold)
		}
		// Nothing more is deployed while paused.
		time.Sleep(24 * time.Hour)
		if n := len(f.callLog()); n != 1 {
			t.Errorf("%d deploy calls while paused, want 1", n)
		}
		mu.Lock()
		firing = false // the human found a false alarm
		mu.Unlock()
		if err := r.Resume(t.Context(), "erin"); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
		for id, v := range f.snapshot() {
			if v != "v2" {
				t.Errorf("%s runs %s", id, v)
			}
		}
	})
}

func TestRunLeavesNoGoroutineBehind(t *testing.T) {
	before := runtime.NumGoroutine()
	plan := zeroBake(awsPlan(2, 2, 5))
	for i := range 5 {
		f := newFleet(plan, "v1")
		f.Delay = time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		r, err := Create(ctx, Spec{ID: fmt.Sprint("leak", i), Plan: plan, Version: "v2", Policy: Policy{Deploy: DeployPolicy{Concurrency: 3}}}, f, Config{})
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
	good := awsPlan(1, 2, 3)
	dup := awsPlan(1, 2, 3)
	dup.Waves[0].Stages[1].Batches[0].Targets[0].ID = dup.Waves[0].Stages[0].Batches[0].Targets[0].ID
	tight := awsPlan(1, 2, 3)
	tight.Waves[0].Stages[1].MinHealthy = 3 // a batch of 1 of 3 would leave 2
	empty := awsPlan(1, 2, 3)
	empty.Waves[0].Stages[1].Batches = append(empty.Waves[0].Stages[1].Batches, wave.Batch{})
	noLevels := flatPlan(0, hosts(0, 3))
	noLevels.Levels = nil
	noLevels.Waves[0].Stages[0].Batches[0].Targets[0].Location = nil
	for _, tc := range []struct {
		name    string
		plan    wave.Plan
		version string
		policy  Policy
		want    []string
		// sentinel is the sentinel the problems wrap besides ErrInvalid:
		// the planner's own, passed on as it reported them.
		sentinel error
	}{
		{"empty version", good, "", Policy{}, []string{"rollout: version: empty"}, ErrInvalid},
		{"no waves", wave.Plan{Levels: []string{"region"}}, "v2", Policy{}, []string{"wave: plan.Waves: there are no waves"}, wave.ErrPlan},
		{"no levels", noLevels, "v2", Policy{}, []string{
			"wave: plan.Levels: is empty",
			`wave: plan.Waves[0].Stages[0].Batches[0].Targets[0].Location: [] does not name every level of []`,
		}, wave.ErrPlan},
		{"duplicate target", dup, "v2", Policy{}, []string{`wave: plan.Waves[0].Stages[1].Batches[0].Targets[0].ID: target "r0-z0-h0" is also at Waves[0].Stages[0].Batches[0].Targets[0]`}, wave.ErrPlan},
		{"min healthy", tight, "v2", Policy{}, []string{"wave: plan.Waves[0].Stages[1].Batches[0].Targets: deploys 1 of the stage's 3 targets at once, leaving 2 healthy, below its MinHealthy 3"}, wave.ErrPlan},
		{"empty batch", empty, "v2", Policy{}, []string{"wave: plan.Waves[0].Stages[1].Batches[3].Targets: the batch is empty"}, wave.ErrPlan},
		{"bad policy, every problem", good, "v2", Policy{
			Deploy:    DeployPolicy{Concurrency: -1},
			Approvals: []string{"[bad"},
			Reactions: map[Signal]Reaction{SignalAbort: Pause, "nope": "explode"},
		}, []string{
			"policy.Deploy.Concurrency: -1 is negative",
			"policy.Approvals[0]: bad pattern",
			`policy.Reactions["abort"]: abort always rolls back`,
			`policy.Reactions["nope"]: unknown signal`,
			`policy.Reactions["nope"]: unknown reaction "explode"`,
		}, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFleet(good, "v1")
			store := new(MemoryStore)
			_, err := Create(context.Background(), Spec{ID: "bad", Plan: tc.plan, Version: tc.version, Policy: tc.policy}, f, Config{Store: store})
			if !errors.Is(err, ErrInvalid) || !errors.Is(err, tc.sentinel) {
				t.Fatalf("New = %v, want ErrInvalid and %v", err, tc.sentinel)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not report %q", err, w)
				}
			}
			if f.touched() || store.Get("bad") != nil {
				t.Error("bad input touched the fleet or the store")
			}
		})
	}
	// Corrupt and newer-schema states are refused before anything runs.
	st, _ := NewState("stored", good, "v2", Policy{}, monday9)
	data, _ := EncodeState(st)
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"corrupt", append(data[:len(data)-20:len(data)-20], "garbage!}"...), ErrCorrupt},
		{"newer schema", []byte(strings.Replace(string(data), fmt.Sprintf(`{"schema":%d,`, SchemaVersion), `{"schema":9,`, 1)), ErrSchema},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFleet(good, "v1")
			store := new(MemoryStore)
			store.Put("stored", tc.data)
			_, err := Open(context.Background(), "stored", f, Config{Store: store})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Resume = %v, want %v", err, tc.want)
			}
			if f.touched() {
				t.Error("a bad stored state touched the fleet")
			}
			// The lease was released: a fixed state can be resumed.
			if _, _, err := store.Load(context.Background(), "stored"); err != nil {
				t.Errorf("lease kept after a failed Resume: %v", err)
			}
		})
	}
}
