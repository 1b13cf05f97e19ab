// This file is internal (package rollout): TestHungDeployerIsAbandonedAndRolledBack reads the
// runner's abandoned-call accounting (r.calls), and the other tests share
// its stubborn deployer (and an external panicky type would clash with
// hands_test.go's).

package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/wave"
)

// This file is the fault-injection suite of the executor: for each fault
// of the outside world, the outcome and a bound on the time to a safe
// state, asserted in synctest's fake time.

// stubborn is a Deployer whose calls can be made to hang, ignoring their
// context, until released; every other call succeeds at once.
type stubborn struct {
	mu       sync.Mutex
	v        map[string]string
	hangOn   func(op, target, version string) bool
	release  chan struct{}
	deploys  map[string]int
	inflight int
}

func newStubborn(plan wave.Plan) *stubborn {
	s := &stubborn{v: map[string]string{}, release: make(chan struct{}), deploys: map[string]int{}}
	for _, id := range allTargets(plan) {
		s.v[id] = "v1"
	}
	return s
}

func (s *stubborn) hang(op, id, version string) {
	if s.hangOn != nil && s.hangOn(op, id, version) {
		<-s.release // ignores ctx
	}
}

func (s *stubborn) Deploy(ctx context.Context, t wave.Target, v string) error {
	s.mu.Lock()
	s.deploys[t.ID+"@"+v]++
	s.mu.Unlock()
	s.hang("deploy", t.ID, v)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.v[t.ID] = v
	return nil
}

func (s *stubborn) Version(ctx context.Context, t wave.Target) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.v[t.ID], nil
}

func (s *stubborn) get(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.v[id]
}

func TestHungDeployerIsAbandonedAndRolledBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := awsPlan(1, 2, 3)
		d := newStubborn(plan)
		oneBox := allTargets(plan)[0]
		d.hangOn = func(op, id, v string) bool { return op == "deploy" && id == oneBox && v == "v2" }
		start := time.Now()
		r, err := Create(t.Context(), Spec{ID: "hung", Plan: plan, Version: "v2"}, d, Config{})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Run(t.Context())
		took := time.Since(start)
		var he *HaltError
		if !errors.As(err, &he) || he.Phase != RolledBack {
			t.Fatalf("Run = %v, want a rollback", err)
		}
		// One attempt: the deadline, the grace, and it is abandoned (a
		// call that ignores its context is not tried again).
		if bound := DefaultDeployCall + DefaultGrace + time.Minute; took > bound {
			t.Errorf("reached the safe state after %s, want within %s", took, bound)
		}
		if got := r.calls.Abandoned(); got != 1 {
			t.Errorf("%d calls abandoned, want 1", got)
		}
		if r.calls.Running() != 1 {
			t.Errorf("the abandoned call is not counted as running")
		}
		// The abandoned call's goroutine ends when the call returns.
		close(d.release)
		synctest.Wait()
		if r.calls.Running() != 0 {
			t.Errorf("%d abandoned calls still running after they returned", r.calls.Running())
		}
	})
}

func TestHungRollbackEndsRollbackFailed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := awsPlan(1, 2, 3)
		d := newStubborn(plan)
		oneBox := allTargets(plan)[0]
		d.hangOn = func(op, id, v string) bool { return op == "deploy" && id == oneBox && v == "v1" }
		firing := AlarmsFunc(func(ctx context.Context, s Subject, now time.Time) ([]alarm.Result, error) {
			if d.get(oneBox) == "v2" {
				return []alarm.Result{{Name: "errors", State: alarm.Alarm, Reason: "5xx", Time: now}}, nil
			}
			return nil, nil
		})
		pol := Policy{Rollback: RollbackPolicy{Retry: Retry{MaxAttempts: 2}}}
		start := time.Now()
		r, err := Create(t.Context(), Spec{ID: "stuck", Plan: plan, Version: "v2", Policy: pol}, d, Config{Alarms: firing})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Run(t.Context())
		var he *HaltError
		if !errors.As(err, &he) || he.Phase != RollbackFailed || len(he.Failed) != 1 || he.Failed[0] != oneBox {
			t.Fatalf("Run = %v, want RollbackFailed naming %s", err, oneBox)
		}
		if bound := DefaultAlarmInterval + DefaultDeployCall + DefaultGrace + time.Minute; time.Since(start) > bound {
			t.Errorf("took %s, want within %s", time.Since(start), bound)
		}
		close(d.release)
	})
}

func TestHungAlarmSourceFailsClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := awsPlan(1, 2, 3)
		d := newStubborn(plan)
		// A metrics server that never answers, but honours its context.
		hung := AlarmsFunc(func(ctx context.Context, s Subject, now time.Time) ([]alarm.Result, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
		start := time.Now()
		r, err := Create(t.Context(), Spec{ID: "blind", Plan: plan, Version: "v2"}, d, Config{Alarms: hung})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Run(t.Context())
		var he *HaltError
		if !errors.As(err, &he) || he.Signal != SignalAlarm || !strings.Contains(he.Reason, "deadline") {
			t.Fatalf("Run = %v, want a fail-closed rollback on the unreadable alarms", err)
		}
		// Three unreadable checks, each taking its gate deadline, an
		// interval apart.
		if bound := DefaultMaxUnreadable * (DefaultGateCall + DefaultAlarmInterval); time.Since(start) > bound {
			t.Errorf("failed closed after %s, want within %s", time.Since(start), bound)
		}
		for _, id := range allTargets(plan) {
			if v := d.get(id); v != "v1" {
				t.Errorf("%s runs %s", id, v)
			}
		}
	})
}

func TestAlarmDuringLongBatchStopsIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := awsPlan(1, 3, 9)
		var slow *fleet
		slow = newFleet(plan, "v1")
		slow.Delay = 10 * time.Minute
		// The alarm fires once the first target of a batch of several has
		// been on v2 for 90 seconds.
		var firedAt time.Time
		var mu sync.Mutex
		var bigBatch []string
		for _, w := range plan.Waves {
			for _, st := range w.Stages {
				for _, b := range st.Batches {
					if len(b.Targets) > 1 && bigBatch == nil {
						for _, tg := range b.Targets {
							bigBatch = append(bigBatch, tg.ID)
						}
					}
				}
			}
		}
		if bigBatch == nil {
			t.Fatal("no batch of several targets in the plan")
		}
		var startedBig time.Time
		firing := AlarmsFunc(func(ctx context.Context, s Subject, now time.Time) ([]alarm.Result, error) {
			mu.Lock()
			defer mu.Unlock()
			if startedBig.IsZero() && slow.inflightOn(bigBatch) {
				startedBig = now
			}
			if !startedBig.IsZero() && now.Sub(startedBig) >= 90*time.Second {
				if firedAt.IsZero() {
					firedAt = now
				}
				return []alarm.Result{{Name: "errors", State: alarm.Alarm, Reason: "5xx 9%", Time: now}}, nil
			}
			return nil, nil
		})
		pol := Policy{Deploy: DeployPolicy{Concurrency: 1}}
		var log eventLog
		r, err := Create(t.Context(), Spec{ID: "long", Plan: plan, Version: "v2", Policy: pol}, slow, Config{Alarms: firing, OnEvent: log.add})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Run(t.Context())
		var he *HaltError
		if !errors.As(err, &he) || he.Signal != SignalAlarm || he.Phase != RolledBack {
			t.Fatalf("Run = %v, want a rollback on the alarm", err)
		}
		rb := log.kinds(EventRollbackStarted)
		if len(rb) != 1 || firedAt.IsZero() {
			t.Fatalf("rollback events %v, alarm fired at %v", rb, firedAt)
		}
		if late := rb[0].Time.Sub(firedAt); late > DefaultAlarmInterval {
			t.Errorf("the rollback started %s after the alarm fired, want within one interval (%s)", late, DefaultAlarmInterval)
		}
		// Every target ends on v1, the one in flight included; the
		// targets queued behind it were never deployed.
		for _, id := range allTargets(plan) {
			if v := slow.version(id); v != "v1" {
				t.Errorf("%s runs %s after the rollback", id, v)
			}
		}
		deployed := map[string]bool{}
		for _, c := range slow.callLog() {
			if c.Version == "v2" {
				deployed[c.Target] = true
			}
		}
		if deployed[bigBatch[len(bigBatch)-1]] {
			t.Errorf("the batch's last target was deployed after the alarm: %v", slow.callLog())
		}
	})
}

func TestPanickingDeployerIsContained(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := awsPlan(1, 2, 3)
		d := panicky{newStubborn(plan)}
		var logs strings.Builder
		var mu sync.Mutex
		logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return logs.Write(p)
		}), nil))
		r, err := Create(t.Context(), Spec{ID: "panic", Plan: plan, Version: "v2"}, d, Config{Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Run(t.Context())
		var he *HaltError
		if !errors.As(err, &he) || he.Phase != RolledBack {
			t.Fatalf("Run = %v, want a contained failure and a rollback", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if !strings.Contains(logs.String(), "panic") || !strings.Contains(logs.String(), "goroutine") {
			t.Errorf("the panic was not logged with its stack:\n%s", logs.String())
		}
	})
}

type panicky struct{ *stubborn }

func (p panicky) Deploy(ctx context.Context, t wave.Target, v string) error {
	if v == "v2" {
		panic("nil map in the team's deployer")
	}
	return p.stubborn.Deploy(ctx, t, v)
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestAbortDuringLongBatch: an abort mid-batch stops it at once.
func TestAbortDuringLongBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := awsPlan(1, 2, 6)
		slow := newFleet(plan, "v1")
		slow.Delay = 20 * time.Minute
		pol := Policy{Deploy: DeployPolicy{Concurrency: 1}, Alarms: AlarmPolicy{Interval: duration.Duration(time.Hour)}}
		r, err := Create(t.Context(), Spec{ID: "abort", Plan: plan, Version: "v2", Policy: pol}, slow, Config{})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- r.Run(t.Context()) }()
		time.Sleep(5 * time.Minute) // the one-box's deploy is in flight
		asked := time.Now()
		if err := r.Abort(t.Context(), "alice", "wrong build"); err != nil {
			t.Fatal(err)
		}
		err = <-done
		var he *HaltError
		if !errors.As(err, &he) || he.Signal != SignalAbort {
			t.Fatalf("Run = %v, want an abort", err)
		}
		// The in-flight deploy was cancelled at once (the fleet honours
		// its context), and nothing was left on v2.
		if took := time.Since(asked); took > time.Minute {
			t.Errorf("the abort took %s to reach a safe state", took)
		}
		for _, id := range allTargets(plan) {
			if v := slow.version(id); v != "v1" {
				t.Errorf("%s runs %s", id, v)
			}
		}
	})
}

// hungStore's saves never return until their context ends.
type hungStore struct{ MemoryStore }

func (h *hungStore) Save(ctx context.Context, id string, token uint64, data []byte) error {
	if h.MemoryStore.Get(id) == nil {
		return h.MemoryStore.Save(ctx, id, token, data) // Create's first save
	}
	<-ctx.Done()
	return ctx.Err()
}

func TestHungStoreEndsRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := awsPlan(1, 2, 3)
		r, err := Create(t.Context(), Spec{ID: "stuck-store", Plan: plan, Version: "v2"}, newStubborn(plan), Config{Store: new(hungStore)})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := r.Run(t.Context()); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Run = %v, want the save's deadline", err)
		}
		if took := time.Since(start); took > DefaultStoreCall+time.Second {
			t.Errorf("Run held %s by a hung store, want at most %s", took, DefaultStoreCall)
		}
	})
}

// TestAbandonedCallKeepsItsAction: a round reuses the buffers of the one
// before (its actions, its calls), except after a round that abandoned a
// call, whose goroutine may still read them when the call returns at
// last. Here a deploy hangs, ignoring its context, is abandoned, and is
// let go while a later batch deploys; what it then reads back must be its
// own target's version.
func TestAbandonedCallKeepsItsAction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ts []wave.Target
		for h := range 9 {
			ts = append(ts, wave.Target{ID: fmt.Sprintf("h%d", h), Location: []string{"r0", "r0-z0", fmt.Sprintf("h%d", h)}})
		}
		// Batches of three, and a failed deploy does not stop the stage.
		pp, err := wave.Policy{OneBox: wave.OneBoxRule{Off: true},
			Batch: wave.Batching{MaxFraction: 0.34, MinHealthy: &wave.MinHealthy{Count: 1}}}.Plan(ts)
		if err != nil {
			t.Fatal(err)
		}
		plan := *pp
		zone := plan.Waves[0].Stages[0]
		if len(zone.Batches) < 2 {
			t.Fatalf("stage %s has %d batches, want several", zone.Name, len(zone.Batches))
		}
		hung := zone.Batches[0].Targets[0].ID
		later := zone.Batches[1].Targets[0].ID
		d := &rereader{stubborn: newStubborn(plan), hung: hung, later: later}
		d.hangOn = func(op, id, v string) bool { return op == "deploy" && id == hung }
		r, err := Create(t.Context(), Spec{ID: "reuse", Plan: plan, Version: "v2"}, d, Config{})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Run(t.Context()); err != nil {
			t.Fatalf("Run = %v, want success with one target failed", err)
		}
		synctest.Wait()
		d.mu.Lock()
		defer d.mu.Unlock()
		if !d.released {
			t.Fatal("the hung deploy was never let go")
		}
		if len(d.readBack) == 0 {
			t.Fatal("the abandoned call read nothing back after it returned")
		}
		for _, id := range d.readBack {
			if id != hung {
				t.Errorf("the abandoned call of %s read back the version of %s: its action was overwritten by a later round", hung, id)
			}
		}
	})
}

// rereader is a stubborn deployer that lets the hung deploy go when a
// later batch deploys, and records which targets the hung call reads
// back afterwards.
type rereader struct {
	*stubborn
	hung, later string
	call        any // the hung call's roundCall
	released    bool
	readBack    []string
}

func (d *rereader) Deploy(ctx context.Context, t wave.Target, v string) error {
	d.mu.Lock()
	switch {
	case t.ID == d.hung:
		d.call = ctx.Value(roundCallKey{})
	case t.ID == d.later && !d.released:
		d.released = true
		close(d.release)
	}
	d.mu.Unlock()
	return d.stubborn.Deploy(ctx, t, v)
}

func (d *rereader) Version(ctx context.Context, t wave.Target) (string, error) {
	d.mu.Lock()
	if d.released && d.call != nil && ctx.Value(roundCallKey{}) == d.call {
		d.readBack = append(d.readBack, t.ID)
	}
	d.mu.Unlock()
	return d.stubborn.Version(ctx, t)
}

// TestCallContextEndsWithItsRound: a deployer that keeps a call's context
// past the call (a goroutine left behind) sees it cancelled once its
// round ended, while later rounds run.
func TestCallContextEndsWithItsRound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := awsPlan(1, 2, 3)
		d := &keeper{stubborn: newStubborn(plan)}
		r, err := Create(t.Context(), Spec{ID: "ctx", Plan: plan, Version: "v2"}, d, Config{})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.checked == 0 {
			t.Fatal("no deploy after the first round")
		}
		if d.live > 0 {
			t.Errorf("%d deploys of later rounds saw the first round's call context still live", d.live)
		}
	})
}

// keeper is a deployer that keeps the context of its first deploy and
// checks it at every deploy of a later round.
type keeper struct {
	*stubborn
	first   context.Context
	firstID string
	checked int
	live    int
}

func (k *keeper) Deploy(ctx context.Context, t wave.Target, v string) error {
	k.mu.Lock()
	switch {
	case k.first == nil:
		k.first, k.firstID = ctx, t.ID
	case t.ID != k.firstID && k.first.Value(roundCallKey{}) != ctx.Value(roundCallKey{}):
		k.checked++
		if k.first.Err() == nil {
			k.live++
		}
	}
	k.mu.Unlock()
	return k.stubborn.Deploy(ctx, t, v)
}
