// This file is internal (package rollout): It reads the per-target attempts in the runner's state (r.st.Targets).
// The other tests of this area are in the external test package.

package rollout

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/duration"
)

// TestFlakyRetriesAreReproducible: two runs of a rollout whose deploys
// fail transiently give the same events at the same instants, while
// another rollout ID jitters differently.
func TestFlakyRetriesAreReproducible(t *testing.T) {
	type stamp struct {
		Kind   EventKind
		Target string
		At     time.Duration // since the start
	}
	run := func(t *testing.T, id string) []stamp {
		var got []stamp
		synctest.Test(t, func(t *testing.T) {
			plan := zeroBake(awsPlan(1, 2, 4))
			f := newFleet(plan, "v1")
			f.Delay = time.Minute
			f.Fail = func(target, version string, attempt int) error {
				if version == "v2" && attempt <= int(target[len(target)-1])%3 {
					return errors.New("connection reset")
				}
				return nil
			}
			pol := Policy{Deploy: DeployPolicy{Retry: Retry{MaxAttempts: 5, Initial: duration.Duration(10 * time.Second)}}}
			var log eventLog
			r, err := Create(t.Context(), Spec{ID: id, Plan: plan, Version: "v2", Policy: pol}, f, Config{OnEvent: log.add})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if err := r.Run(t.Context()); err != nil {
				t.Fatalf("Run: %v", err)
			}
			for _, e := range log.evs {
				got = append(got, stamp{e.Kind, e.Target, e.Time.Sub(start)})
			}
			retried := 0
			for _, ts := range r.st.Targets {
				if ts.Attempts > 1 {
					retried++
				}
			}
			if retried == 0 {
				t.Error("no deploy was retried")
			}
		})
		return got
	}
	a, b := run(t, "flaky"), run(t, "flaky")
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("second run (-first +second):\n%s", diff)
	}
	if cmp.Equal(a, run(t, "other")) {
		t.Error("a rollout with another ID retried at the same instants")
	}
}
