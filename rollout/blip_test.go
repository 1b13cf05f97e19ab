package rollout

import (
	"strings"
	"testing"
	"time"
)

// TestAlarmBlipDoesNotRollBack: one failed alarm read in the middle of a
// bake is a blip; the bake goes on and the rollout succeeds.
func TestAlarmBlipDoesNotRollBack(t *testing.T) {
	plan := awsPlan(1, 2, 2)
	f := newPureFleet(plan)
	blip := monday9.Add(20 * time.Minute)
	var downAt []time.Time
	f.alarmsDown = func(now time.Time) bool {
		if !now.Before(blip) && now.Before(blip.Add(50*time.Millisecond)) {
			downAt = append(downAt, now)
			return true
		}
		return false
	}
	st, _ := NewState("blip", plan, "v2", Policy{}, monday9)
	drivePure(t, st, f, monday9)
	if st.Phase != Succeeded {
		t.Fatalf("phase %s: %+v", st.Phase, st.Rollback)
	}
	if len(downAt) != 1 {
		t.Errorf("the alarms were read %d times during a 50ms blip, want once (reads are paced)", len(downAt))
	}
}

// TestAlarmOutageFailsClosedPaced: a source that stays down fails the
// rollout closed after the unreadable checks, one interval apart, not
// in a tight loop.
func TestAlarmOutageFailsClosedPaced(t *testing.T) {
	plan := awsPlan(1, 2, 2)
	f := newPureFleet(plan)
	from := monday9.Add(20 * time.Minute)
	var downAt []time.Time
	f.alarmsDown = func(now time.Time) bool {
		if !now.Before(from) {
			downAt = append(downAt, now)
			return true
		}
		return false
	}
	st, _ := NewState("outage", plan, "v2", Policy{}, monday9)
	drivePure(t, st, f, monday9)
	if st.Phase != RolledBack || st.Rollback.Signal != SignalAlarm || !strings.Contains(st.Rollback.Reason, "connection refused") {
		t.Fatalf("phase %s, rollback %+v", st.Phase, st.Rollback)
	}
	if len(downAt) < DefaultMaxUnreadable {
		t.Fatalf("%d failed reads before failing closed", len(downAt))
	}
	for i := 1; i < DefaultMaxUnreadable; i++ {
		if gap := downAt[i].Sub(downAt[i-1]); gap < DefaultAlarmInterval {
			t.Errorf("failed reads %d and %d %s apart, want at least %s", i, i+1, gap, DefaultAlarmInterval)
		}
	}
}
