package rollout_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

type permErr struct{}

func (permErr) Error() string   { return "image not found" }
func (permErr) Permanent() bool { return true }

func TestIsPermanent(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("x"), false},
		{rollout.Permanent(errors.New("x")), true},
		{fmt.Errorf("a: %w", rollout.Permanent(errors.New("x"))), true},
		{backoff.Permanent(errors.New("x")), true},
		{permErr{}, true},
		{context.DeadlineExceeded, false},
	} {
		if got := rollout.IsPermanent(tc.err); got != tc.want {
			t.Errorf("IsPermanent(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if rollout.Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
}

func TestUnrollbackableTargetEndsInDistinctState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := rollouttest.AWSPlan(2, 2, 4)
		f := rollouttest.NewMemFleet(plan, "v1")
		stuck := plan.Waves[0].Stages[1].Batches[0].Targets[0].ID
		f.Fail = func(target, version string, attempt int) error {
			if target == stuck && version == "v1" {
				return errors.New("host unreachable")
			}
			return nil
		}
		bad := rollouttest.WaveTargets(plan, 1)
		r, err := rollout.Create(t.Context(), rollout.Spec{ID: "stuck", Plan: plan, Version: "v2", Policy: rollout.Policy{}}, f, rollout.Config{Alarms: regressionAlarm(f, bad, "v2")})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Run(t.Context())
		var he *rollout.HaltError
		if !errors.As(err, &he) || !errors.Is(err, rollout.ErrRollbackFailed) || errors.Is(err, rollout.ErrRolledBack) {
			t.Fatalf("Run = %v, want ErrRollbackFailed", err)
		}
		if diff := cmp.Diff([]string{stuck}, he.Failed); diff != "" {
			t.Errorf("failed targets (-want +got):\n%s", diff)
		}
		if !strings.Contains(err.Error(), stuck) {
			t.Errorf("error %q does not name %s", err, stuck)
		}
		p := r.Progress()
		if p.Phase != rollout.RollbackFailed || !slices.Equal(p.Unrolled, []string{stuck}) {
			t.Errorf("progress phase %s unrolled %v", p.Phase, p.Unrolled)
		}
		// Every other target was rolled back regardless.
		for id, v := range f.Snapshot() {
			if id != stuck && v != "v1" {
				t.Errorf("%s runs %s", id, v)
			}
		}
		// The stuck one was retried (10 attempts by default).
		n := 0
		for _, c := range f.Calls() {
			if c.Target == stuck && c.Version == "v1" {
				n++
			}
		}
		if n != rollout.DefaultRollbackAttempts {
			t.Errorf("%d rollback attempts on %s, want %d", n, stuck, rollout.DefaultRollbackAttempts)
		}
	})
}

func TestFailureBudgetHonoursMinHealthy(t *testing.T) {
	mk := func(n, minHealthy, per int) wave.Plan {
		var bs [][]string
		for i := 0; i < n; i += per {
			bs = append(bs, hostIDs(i, min(i+per, n)))
		}
		return flatPlan(minHealthy, bs...)
	}
	for _, tc := range []struct {
		name       string
		plan       wave.Plan
		failing    []string
		wantErr    bool
		wantFailed int
	}{
		// 10 hosts, min 8, two at a time: one failure leaves 9 healthy;
		// the next batch of two would leave 7.
		{"one failure exhausts a tight budget", mk(10, 8, 2), []string{"h0"}, true, 1},
		{"failure in the last batch is tolerated", mk(10, 8, 2), []string{"h9"}, false, 1},
		{"min 0: failures tolerated while one succeeds", mk(4, 0, 4), []string{"h0", "h1", "h2"}, false, 3},
		{"min 0: no success at all", mk(4, 0, 4), []string{"h0", "h1", "h2", "h3"}, true, 4},
		{"one at a time, min 9", mk(10, 9, 1), []string{"h4"}, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := rollouttest.NewMemFleet(tc.plan, "v1")
				f.Fail = func(target, version string, attempt int) error {
					if version == "v2" && slices.Contains(tc.failing, target) {
						return rollout.Permanent(errors.New("crash loop"))
					}
					return nil
				}
				r, err := rollout.Create(t.Context(), rollout.Spec{ID: "budget", Plan: tc.plan, Version: "v2", Policy: rollout.Policy{}}, f, rollout.Config{})
				if err != nil {
					t.Fatal(err)
				}
				err = r.Run(t.Context())
				if tc.wantErr {
					var he *rollout.HaltError
					if !errors.As(err, &he) || he.Signal != rollout.SignalFailureBudget {
						t.Fatalf("Run = %v, want a rollback on the failure budget", err)
					}
				} else if err != nil {
					t.Fatalf("Run = %v", err)
				}
				failed := 0
				for _, c := range f.Calls() {
					if c.Version == "v2" && !c.OK {
						failed++
					}
				}
				if failed != tc.wantFailed {
					t.Errorf("%d failed deploys, want %d", failed, tc.wantFailed)
				}
			})
		})
	}
}

func TestStageDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := rollouttest.AWSPlan(1, 1, 4)
		f := rollouttest.NewMemFleet(plan, "v1")
		f.Delay = 20 * time.Minute
		pol := rollout.Policy{Deploy: rollout.DeployPolicy{StageDeadline: duration.Duration(30 * time.Minute)}}
		r, err := rollout.Create(t.Context(), rollout.Spec{ID: "deadline", Plan: plan, Version: "v2", Policy: pol}, f, rollout.Config{})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Run(t.Context())
		var he *rollout.HaltError
		if !errors.As(err, &he) || he.Signal != rollout.SignalDeadline {
			t.Fatalf("Run = %v, want a rollback on the deadline", err)
		}
		// The one-box took 20 minutes; the zone's second batch ran into the
		// deadline and was cut short; everything is back on v1.
		for id, v := range f.Snapshot() {
			if v != "v1" {
				t.Errorf("%s runs %s", id, v)
			}
		}
	})
}

func TestDeployConcurrencyIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := flatPlan(0, hostIDs(0, 30))
		f := rollouttest.NewMemFleet(plan, "v1")
		f.Delay = time.Minute
		pol := rollout.Policy{Deploy: rollout.DeployPolicy{Concurrency: 4}}
		r, err := rollout.Create(t.Context(), rollout.Spec{ID: "conc", Plan: plan, Version: "v2", Policy: pol}, f, rollout.Config{})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := r.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		if f.MaxInflight() != 4 {
			t.Errorf("at most %d deploys at once, want 4", f.MaxInflight())
		}
		if took := time.Since(start); took != 8*time.Minute {
			t.Errorf("30 one-minute deploys 4 at a time took %s, want 8m", took)
		}
	})
}

func TestHealthCheckAndFastRollback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := rollouttest.AWSPlan(1, 1, 3)
		f := &capable{MemFleet: rollouttest.NewMemFleet(plan, "v1"), unhealthy: plan.Waves[0].Stages[0].Batches[0].Targets[0].ID}
		r, err := rollout.Create(t.Context(), rollout.Spec{ID: "caps", Plan: plan, Version: "v2", Policy: rollout.Policy{Deploy: rollout.DeployPolicy{Retry: rollout.Retry{MaxAttempts: 2}}}}, f, rollout.Config{})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Run(t.Context())
		if !errors.Is(err, rollout.ErrRolledBack) {
			t.Fatalf("Run = %v, want a rollback (a target never became healthy)", err)
		}
		if f.fast.Load() == 0 {
			t.Error("the fast rollback path was not used")
		}
		for id, v := range f.Snapshot() {
			if v != "v1" {
				t.Errorf("%s runs %s", id, v)
			}
		}
	})
}

// capable is a fleet with a health check and a fast rollback path.
type capable struct {
	*rollouttest.MemFleet
	unhealthy string
	fast      atomic.Int64
}

func (c *capable) Healthy(ctx context.Context, t wave.Target) error {
	if t.ID == c.unhealthy {
		return errors.New("readiness probe failing")
	}
	return nil
}

func (c *capable) Rollback(ctx context.Context, t wave.Target, v string) error {
	c.fast.Add(1)
	c.Set(t.ID, v)
	return nil
}
