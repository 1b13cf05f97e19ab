// This file is internal (package rollout): Its tests read the runner's state (r.st, and st.ix.byName to find a
// stage) while the controls act on it.
// The other tests of this area are in the external test package.

package rollout

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shepherd-go/shepherd/duration"
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
