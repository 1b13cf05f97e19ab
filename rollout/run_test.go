package rollout_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
)

func TestRegressionInFirstOneBoxRollsBackThere(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sleepUntil(monday9)
		plan := rollouttest.AWSPlan(6, 3, 10)
		f := rollouttest.NewMemFleet(plan, "v1")
		f.Delay = time.Minute
		oneBox := plan.Waves[0].Stages[0]
		ids := rollouttest.StageTargets(plan, oneBox.Name)
		r, err := rollout.Create(t.Context(), rollout.Spec{ID: "ob", Plan: plan, Version: "v2", Policy: rollout.Policy{}}, f, rollout.Config{
			Alarms: regressionAlarm(f, ids, "v2"),
		})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Run(t.Context())
		var he *rollout.HaltError
		if !errors.As(err, &he) || !errors.Is(err, rollout.ErrRolledBack) || he.Signal != rollout.SignalAlarm {
			t.Fatalf("Run = %v, want a rollback on alarm", err)
		}
		want := []rollouttest.MemCall{
			{Kind: "deploy", Target: ids[0], Version: "v2", OK: true},
			{Kind: "deploy", Target: ids[0], Version: "v1", OK: true},
		}
		if diff := cmp.Diff(want, f.Calls()); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
		for id, v := range f.Snapshot() {
			if v != "v1" {
				t.Errorf("%s runs %s after the rollback", id, v)
			}
		}
		if p := r.Progress(); p.Phase != rollout.RolledBack || p.Stage != oneBox.Name {
			t.Errorf("progress: phase %s stage %q, want rolled-back at %s", p.Phase, p.Stage, oneBox.Name)
		}
	})
}

func TestRegressionInWave3RollsBackEverythingInReverse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sleepUntil(monday9)
		plan := rollouttest.AWSPlan(6, 3, 10)
		f := rollouttest.NewMemFleet(plan, "v1")
		f.Delay = time.Minute
		bad := rollouttest.WaveTargets(plan, 2)
		var log rollouttest.EventLog
		r, err := rollout.Create(t.Context(), rollout.Spec{ID: "w3", Plan: plan, Version: "v2", Policy: rollout.Policy{}}, f, rollout.Config{
			Alarms:  regressionAlarm(f, bad, "v2"),
			OnEvent: log.Add,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Run(t.Context()); !errors.Is(err, rollout.ErrRolledBack) {
			t.Fatalf("Run = %v, want a rollback", err)
		}
		calls := f.Calls()
		pos := map[string]int{}
		for i, id := range rollouttest.AllTargets(plan) {
			pos[id] = i
		}
		var deployed, rolled []string
		for _, c := range calls {
			if c.Version == "v2" {
				deployed = append(deployed, c.Target)
			} else {
				rolled = append(rolled, c.Target)
			}
		}
		// Every changed target rolled back exactly once, nothing else.
		if diff := cmp.Diff(sorted(deployed), sorted(rolled)); diff != "" {
			t.Errorf("rolled back targets differ from deployed ones (-deployed +rolled):\n%s", diff)
		}
		// Waves 1 and 2 were deployed entirely, wave 3 only in part.
		for wi := range 2 {
			for _, id := range rollouttest.WaveTargets(plan, wi) {
				if !slices.Contains(deployed, id) {
					t.Errorf("%s of wave %d was not deployed", id, wi+1)
				}
			}
		}
		if slices.ContainsFunc(deployed, func(id string) bool { return slices.Contains(rollouttest.WaveTargets(plan, 3), id) }) {
			t.Error("wave 4 was touched")
		}
		// Reverse order: the rollback walks the plan backwards; within one
		// group calls run concurrently, so compare stages, not targets.
		stageOf := map[string]int{}
		si := 0
		for _, w := range plan.Waves {
			for _, st := range w.Stages {
				for _, id := range rollouttest.StageTargets(plan, st.Name) {
					stageOf[id] = si
				}
				si++
			}
		}
		for i := 1; i < len(rolled); i++ {
			if stageOf[rolled[i]] > stageOf[rolled[i-1]] {
				t.Fatalf("rollback of %s (stage %d) came after %s (stage %d): not in reverse order",
					rolled[i], stageOf[rolled[i]], rolled[i-1], stageOf[rolled[i-1]])
			}
		}
		for id, v := range f.Snapshot() {
			if v != "v1" {
				t.Errorf("%s runs %s after the rollback", id, v)
			}
		}
		fin := log.Kinds(rollout.EventRollbackFinished)
		if len(fin) != 1 || fin[0].Targets != len(deployed) {
			t.Errorf("rollback finished events %+v, want one with %d targets", fin, len(deployed))
		}
	})
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestUnreadableAlarmRollsBack(t *testing.T) {
	for _, tc := range []struct {
		name      string
		failures  int // consecutive failed reads after the first deploy
		rollsBack bool
	}{
		{"stays unreadable", 1 << 30, true},
		{"two blips", 2, false},
		{"three in a row", 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				plan := rollouttest.AWSPlan(1, 3, 10)
				f := rollouttest.NewMemFleet(plan, "v1")
				var mu sync.Mutex
				failed := 0
				alarms := rollout.AlarmsFunc(func(ctx context.Context, s rollout.Subject, now time.Time) ([]alarm.Result, error) {
					mu.Lock()
					defer mu.Unlock()
					if failed < tc.failures {
						failed++
						return nil, errors.New("metrics backend: 503")
					}
					return nil, nil
				})
				r, err := rollout.Create(t.Context(), rollout.Spec{ID: "u", Plan: plan, Version: "v2", Policy: rollout.Policy{}}, f, rollout.Config{Alarms: alarms})
				if err != nil {
					t.Fatal(err)
				}
				err = r.Run(t.Context())
				if tc.rollsBack {
					var he *rollout.HaltError
					if !errors.As(err, &he) || he.Signal != rollout.SignalAlarm || !strings.Contains(he.Reason, "fail closed") {
						t.Fatalf("Run = %v, want a fail-closed rollback", err)
					}
					for id, v := range f.Snapshot() {
						if v != "v1" {
							t.Errorf("%s runs %s", id, v)
						}
					}
				} else if err != nil {
					t.Fatalf("Run = %v, want success after blips", err)
				}
			})
		})
	}
}
