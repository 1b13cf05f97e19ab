package rollout

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/blocker"
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
				plan := awsPlan(1, 1, 2)
				f := newFleet(plan, "v1")
				var log eventLog
				r, err := Create(t.Context(), Spec{ID: "frozen", Plan: plan, Version: "v2", Policy: Policy{}}, f, Config{
					Blockers: BlockerSet{Set: blocker.Set{Entries: []blocker.Entry{{Name: "freeze", Blocker: cal}}}},
					OnEvent:  log.add,
				})
				if err != nil {
					t.Fatal(err)
				}
				err = r.Run(t.Context())
				var blocks []string
				for _, e := range log.kinds(EventBlocked) {
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
				var he *HaltError
				if !errors.As(err, &he) || he.Signal != SignalBlocked {
					t.Fatalf("Run = %v, want a halt on SignalBlocked", err)
				}
				if diff := cmp.Diff(tc.wantErr, he.Reason); diff != "" {
					t.Errorf("halt reason (-want +got):\n%s", diff)
				}
				if got := time.Since(start); got != 0 {
					t.Errorf("gave up after %s, want at once", got)
				}
				if f.touched() {
					t.Error("a blocked rollout touched the fleet")
				}
			})
		})
	}
}

// TestReasonWords: the time the blockers clear together is added only
// when no single blocker already names it.
func TestReasonWords(t *testing.T) {
	at := time.Date(2025, 6, 16, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		rs    []BlockReason
		until time.Time
		want  string
	}{
		{"unknown", []BlockReason{{Blocker: "alarm", Reason: "ALARM"}}, time.Time{}, "alarm: ALARM"},
		{"named once", []BlockReason{{Blocker: "hours", Reason: "closed", Until: at}}, at,
			"hours: closed (until 2025-06-16T09:00:00Z)"},
		{"only the set knows", []BlockReason{{Blocker: "custom", Reason: "busy"}}, at,
			"custom: busy (may clear at 2025-06-16T09:00:00Z)"},
		{"two blockers", []BlockReason{{Blocker: "a", Reason: "x", Until: at.Add(-time.Hour)}, {Blocker: "b", Reason: "y", Until: at}}, at,
			"a: x (until 2025-06-16T08:00:00Z); b: y (until 2025-06-16T09:00:00Z)"},
		{"never", []BlockReason{{Blocker: "cal", Reason: "frozen", Never: true}}, time.Time{},
			"cal: frozen (never within the horizon)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := reasonWords(tc.rs, tc.until); got != tc.want {
				t.Errorf("reasonWords = %q, want %q", got, tc.want)
			}
		})
	}
}
