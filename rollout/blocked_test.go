package rollout_test

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/blocker"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
)

// TestBlockedBeyondMaxWaitGivesUpAtOnce: a calendar blocker that opens
// only after the maximum blocked wait, or never within its horizon, halts
// the rollout at once instead of after seven days, naming the blocker and
// when it would clear; one that opens within the wait is waited for.
func TestBlockedBeyondMaxWaitGivesUpAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name       string
		freeze     time.Duration // from the start, which is 2000-01-01 00:00 UTC
		wantErr    string        // the halt's reason; "" for success
		wantBlocks []string      // the EventBlocked reasons
	}{{
		name:    "clears after the wait",
		freeze:  10 * 24 * time.Hour,
		wantErr: `blocker freeze clears at 2000-01-11T00:00:00Z, after the maximum blocked wait of 168h0m0s ends at 2000-01-08T00:00:00Z; giving up at once: freeze: r0 (Sat 2000-01-01 00:00 UTC): freeze "sales event" until 2000-01-11T00:00:00Z`,
		wantBlocks: []string{
			`freeze: r0 (Sat 2000-01-01 00:00 UTC): freeze "sales event" until 2000-01-11T00:00:00Z`,
		},
	}, {
		name:    "never clears",
		freeze:  2 * 366 * 24 * time.Hour,
		wantErr: `blocker freeze never clears within its horizon; giving up at once: freeze: r0 (Sat 2000-01-01 00:00 UTC): freeze "sales event" until 2002-01-02T00:00:00Z; does not open within 366 days (never within the horizon)`,
		wantBlocks: []string{
			`freeze: r0 (Sat 2000-01-01 00:00 UTC): freeze "sales event" until 2002-01-02T00:00:00Z; does not open within 366 days (never within the horizon)`,
		},
	}, {
		name:   "clears within the wait",
		freeze: 2 * 24 * time.Hour,
		// The clear time is said once, not also as "may clear at".
		wantBlocks: []string{
			`freeze: r0 (Sat 2000-01-01 00:00 UTC): freeze "sales event" until 2000-01-03T00:00:00Z`,
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				cal, err := blocker.NewCalendar(blocker.Policy{Zone: "UTC", Freezes: []blocker.Freeze{{
					Start: start.Add(-time.Hour), End: start.Add(tc.freeze), Reason: "sales event",
				}}})
				if err != nil {
					t.Fatal(err)
				}
				plan := rollouttest.AWSPlan(1, 1, 2)
				f := rollouttest.NewMemFleet(plan, "v1")
				var log rollouttest.EventLog
				r, err := rollout.Create(t.Context(), rollout.Spec{ID: "frozen", Plan: plan, Version: "v2", Policy: rollout.Policy{}}, f, rollout.Config{
					Blockers: rollout.BlockerSet{Set: blocker.Set{Entries: []blocker.Entry{{Name: "freeze", Blocker: cal}}}},
					OnEvent:  log.Add,
				})
				if err != nil {
					t.Fatal(err)
				}
				err = r.Run(t.Context())
				var blocks []string
				for _, e := range log.Kinds(rollout.EventBlocked) {
					blocks = append(blocks, e.Reason)
				}
				if diff := cmp.Diff(tc.wantBlocks, blocks); diff != "" {
					t.Errorf("blocked events (-want +got):\n%s", diff)
				}
				if tc.wantErr == "" {
					if err != nil {
						t.Fatalf("Run = %v, want success", err)
					}
					if got := time.Since(start); got < tc.freeze {
						t.Errorf("finished after %s, before the freeze ended (%s)", got, tc.freeze)
					}
					return
				}
				var he *rollout.HaltError
				if !errors.As(err, &he) || he.Signal != rollout.SignalBlocked {
					t.Fatalf("Run = %v, want a halt on SignalBlocked", err)
				}
				if diff := cmp.Diff(tc.wantErr, he.Reason); diff != "" {
					t.Errorf("halt reason (-want +got):\n%s", diff)
				}
				if got := time.Since(start); got != 0 {
					t.Errorf("gave up after %s, want at once", got)
				}
				if f.Touched() {
					t.Error("a blocked rollout touched the fleet")
				}
			})
		})
	}
}
