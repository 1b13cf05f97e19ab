package rollout

import (
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/duration"
)

// TestRetryWait: the waits grow exponentially up to Max with a jitter of
// ±50%, are the same for the same rollout, target and attempt, and differ
// between targets.
func TestRetryWait(t *testing.T) {
	p := Retry{Initial: duration.Duration(time.Second), Max: duration.Duration(time.Minute)}.WithDefaults(10)
	bases := []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute, time.Minute}
	distinct := map[time.Duration]bool{}
	for attempt, base := range bases {
		for i := range 50 {
			target := fmt.Sprintf("t%d", i)
			w := p.Wait("r", target, attempt)
			if w != p.Wait("r", target, attempt) {
				t.Fatalf("Wait(r, %s, %d) differs between calls", target, attempt)
			}
			if w < base/2 || (base > 0 && w >= base*3/2) || (base == 0 && w != 0) {
				t.Errorf("Wait(r, %s, %d) = %s, want in [%s, %s)", target, attempt, w, base/2, base*3/2)
			}
			distinct[w] = true
		}
	}
	if len(distinct) < 400 {
		t.Errorf("only %d distinct waits of 450: the jitter does not spread targets out", len(distinct))
	}
	if p.Wait("r", "t0", 3) == p.Wait("s", "t0", 3) {
		t.Error("two rollouts wait the same for the same target and attempt")
	}
}

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
