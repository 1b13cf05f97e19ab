// This file is internal (package rollout) because it tests the unexported
// reasonWords; the rest of the blocked-rollout tests are in blocked_test.go.

package rollout

import (
	"testing"
	"time"
)

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
