// This file is internal (package rollout): Its tests read the per-target attempts and errors in the runner's state
// (r.st.Targets).
// The other tests of this area are in the external test package.

package rollout

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v4"
)

type permErr struct{}

func (permErr) Error() string   { return "image not found" }
func (permErr) Permanent() bool { return true }

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
