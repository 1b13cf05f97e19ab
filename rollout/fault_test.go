package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/wave"
)

func TestFlakyDeploysSucceedAfterRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := awsPlan(1, 3, 10)
		f := newFleet(plan, "v1")
		f.Fail = func(target, version string, attempt int) error {
			if attempt <= 3 {
				return fmt.Errorf("deploy %s: connection reset (attempt %d)", target, attempt)
			}
			return nil
		}
		r, err := Create(t.Context(), Spec{ID: "flaky", Plan: plan, Version: "v2", Policy: Policy{}}, f, Config{})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := r.Run(t.Context()); err != nil {
			t.Fatalf("Run = %v", err)
		}
		for id, v := range f.snapshot() {
			if v != "v2" {
				t.Errorf("%s runs %s", id, v)
			}
		}
		for _, ts := range r.st.Targets {
			if ts.Attempts != 4 || ts.Status != TargetDeployed {
				t.Errorf("%s: %d attempts, status %s; want 4, deployed", ts.ID, ts.Attempts, ts.Status)
			}
		}
		// Backoff waited between attempts (1s, 2s, 4s ±50%) in every batch,
		// on top of the bakes.
		var bakes time.Duration
		for _, w := range plan.Waves {
			for _, st := range w.Stages {
				bakes += st.Bake.Std()
			}
		}
		bakes += plan.FinalBake.Std()
		if took := time.Since(start); took < bakes+10*time.Second {
			t.Errorf("took %s, want the bakes (%s) and the backoffs", took, bakes)
		}
	})
}

func TestRetriesGiveUpAfterMaxAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := awsPlan(1, 1, 3)
		f := newFleet(plan, "v1")
		f.Fail = func(target, version string, attempt int) error {
			if version == "v2" {
				return errors.New("timeout")
			}
			return nil
		}
		pol := Policy{Deploy: DeployPolicy{Retry: Retry{MaxAttempts: 3}}}
		r, err := Create(t.Context(), Spec{ID: "give-up", Plan: plan, Version: "v2", Policy: pol}, f, Config{})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Run(t.Context())
		var he *HaltError
		if !errors.As(err, &he) || he.Signal != SignalFailureBudget {
			t.Fatalf("Run = %v, want a rollback on the failure budget", err)
		}
		ob := plan.Waves[0].Stages[0].Batches[0].Targets[0].ID
		if got := r.st.Targets[0].Attempts; got != 3 {
			t.Errorf("%s: %d attempts, want 3", ob, got)
		}
	})
}

func TestPermanentErrorsFailFast(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"Permanent", Permanent(errors.New("image not found"))},
		{"wrapped Permanent", fmt.Errorf("deploy: %w", Permanent(errors.New("image not found")))},
		{"backoff.Permanent", backoff.Permanent(errors.New("image not found"))},
		{"PermanentError interface", permErr{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				plan := awsPlan(1, 1, 3)
				f := newFleet(plan, "v1")
				f.Fail = func(target, version string, attempt int) error {
					if version == "v2" {
						return tc.err
					}
					return nil
				}
				r, err := Create(t.Context(), Spec{ID: "perm", Plan: plan, Version: "v2", Policy: Policy{}}, f, Config{})
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				err = r.Run(t.Context())
				if !errors.Is(err, ErrRolledBack) {
					t.Fatalf("Run = %v, want a rollback", err)
				}
				if took := time.Since(start); took != 0 {
					t.Errorf("took %s of retries, want none", took)
				}
				calls := f.callLog()
				if len(calls) != 1 {
					t.Errorf("calls %+v, want the single failed deploy of the one-box", calls)
				}
				if ts := r.st.Targets[0]; ts.Attempts != 1 || !strings.Contains(ts.Error, "image not found") {
					t.Errorf("one-box record %+v, want 1 attempt and the error", ts)
				}
			})
		})
	}
}

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
		{Permanent(errors.New("x")), true},
		{fmt.Errorf("a: %w", Permanent(errors.New("x"))), true},
		{backoff.Permanent(errors.New("x")), true},
		{permErr{}, true},
		{context.DeadlineExceeded, false},
	} {
		if got := IsPermanent(tc.err); got != tc.want {
			t.Errorf("IsPermanent(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
}

func TestUnrollbackableTargetEndsInDistinctState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := awsPlan(2, 2, 4)
		f := newFleet(plan, "v1")
		stuck := plan.Waves[0].Stages[1].Batches[0].Targets[0].ID
		f.Fail = func(target, version string, attempt int) error {
			if target == stuck && version == "v1" {
				return errors.New("host unreachable")
			}
			return nil
		}
		bad := waveTargets(plan, 1)
		r, err := Create(t.Context(), Spec{ID: "stuck", Plan: plan, Version: "v2", Policy: Policy{}}, f, Config{Alarms: regressionAlarm(f, bad, "v2")})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Run(t.Context())
		var he *HaltError
		if !errors.As(err, &he) || !errors.Is(err, ErrRollbackFailed) || errors.Is(err, ErrRolledBack) {
			t.Fatalf("Run = %v, want ErrRollbackFailed", err)
		}
		if diff := cmp.Diff([]string{stuck}, he.Failed); diff != "" {
			t.Errorf("failed targets (-want +got):\n%s", diff)
		}
		if !strings.Contains(err.Error(), stuck) {
			t.Errorf("error %q does not name %s", err, stuck)
		}
		p := r.Progress()
		if p.Phase != RollbackFailed || !slices.Equal(p.Unrolled, []string{stuck}) {
			t.Errorf("progress phase %s unrolled %v", p.Phase, p.Unrolled)
		}
		// Every other target was rolled back regardless.
		for id, v := range f.snapshot() {
			if id != stuck && v != "v1" {
				t.Errorf("%s runs %s", id, v)
			}
		}
		// The stuck one was retried (10 attempts by default).
		n := 0
		for _, c := range f.callLog() {
			if c.Target == stuck && c.Version == "v1" {
				n++
			}
		}
		if n != DefaultRollbackAttempts {
			t.Errorf("%d rollback attempts on %s, want %d", n, stuck, DefaultRollbackAttempts)
		}
	})
}

func TestFailureBudgetHonoursMinHealthy(t *testing.T) {
	mk := func(n, minHealthy, per int) wave.Plan {
		var bs [][]string
		for i := 0; i < n; i += per {
			bs = append(bs, hosts(i, min(i+per, n)))
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
				f := newFleet(tc.plan, "v1")
				f.Fail = func(target, version string, attempt int) error {
					if version == "v2" && slices.Contains(tc.failing, target) {
						return Permanent(errors.New("crash loop"))
					}
					return nil
				}
				r, err := Create(t.Context(), Spec{ID: "budget", Plan: tc.plan, Version: "v2", Policy: Policy{}}, f, Config{})
				if err != nil {
					t.Fatal(err)
				}
				err = r.Run(t.Context())
				if tc.wantErr {
					var he *HaltError
					if !errors.As(err, &he) || he.Signal != SignalFailureBudget {
						t.Fatalf("Run = %v, want a rollback on the failure budget", err)
					}
				} else if err != nil {
					t.Fatalf("Run = %v", err)
				}
				failed := 0
				for _, c := range f.callLog() {
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
		plan := awsPlan(1, 1, 4)
		f := newFleet(plan, "v1")
		f.Delay = 20 * time.Minute
		pol := Policy{Deploy: DeployPolicy{StageDeadline: duration.Duration(30 * time.Minute)}}
		r, err := Create(t.Context(), Spec{ID: "deadline", Plan: plan, Version: "v2", Policy: pol}, f, Config{})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Run(t.Context())
		var he *HaltError
		if !errors.As(err, &he) || he.Signal != SignalDeadline {
			t.Fatalf("Run = %v, want a rollback on the deadline", err)
		}
		// The one-box took 20 minutes; the zone's second batch ran into the
		// deadline and was cut short; everything is back on v1.
		for id, v := range f.snapshot() {
			if v != "v1" {
				t.Errorf("%s runs %s", id, v)
			}
		}
	})
}

func TestDeployConcurrencyIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := flatPlan(0, hosts(0, 30))
		f := newFleet(plan, "v1")
		f.Delay = time.Minute
		pol := Policy{Deploy: DeployPolicy{Concurrency: 4}}
		r, err := Create(t.Context(), Spec{ID: "conc", Plan: plan, Version: "v2", Policy: pol}, f, Config{})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := r.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		if f.maxInfl != 4 {
			t.Errorf("at most %d deploys at once, want 4", f.maxInfl)
		}
		if took := time.Since(start); took != 8*time.Minute {
			t.Errorf("30 one-minute deploys 4 at a time took %s, want 8m", took)
		}
	})
}

func TestHealthCheckAndFastRollback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := awsPlan(1, 1, 3)
		f := &capable{fleet: newFleet(plan, "v1"), unhealthy: plan.Waves[0].Stages[0].Batches[0].Targets[0].ID}
		r, err := Create(t.Context(), Spec{ID: "caps", Plan: plan, Version: "v2", Policy: Policy{Deploy: DeployPolicy{Retry: Retry{MaxAttempts: 2}}}}, f, Config{})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Run(t.Context())
		if !errors.Is(err, ErrRolledBack) {
			t.Fatalf("Run = %v, want a rollback (a target never became healthy)", err)
		}
		if f.fast == 0 {
			t.Error("the fast rollback path was not used")
		}
		for id, v := range f.snapshot() {
			if v != "v1" {
				t.Errorf("%s runs %s", id, v)
			}
		}
	})
}

// capable is a fleet with a health check and a fast rollback path.
type capable struct {
	*fleet
	unhealthy string
	fast      int
}

func (c *capable) Healthy(ctx context.Context, t wave.Target) error {
	if t.ID == c.unhealthy {
		return errors.New("readiness probe failing")
	}
	return nil
}

func (c *capable) Rollback(ctx context.Context, t wave.Target, v string) error {
	c.mu.Lock()
	c.fast++
	c.versions[t.ID] = v
	c.mu.Unlock()
	return nil
}
