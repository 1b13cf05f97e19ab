package rollout_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

// TestAlarmBlipDoesNotRollBack: one failed alarm read in the middle of a
// bake is a blip; the bake goes on and the rollout succeeds.
func TestAlarmBlipDoesNotRollBack(t *testing.T) {
	plan := rollouttest.AWSPlan(1, 2, 2)
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
	st, _ := rollout.NewState("blip", plan, "v2", rollout.Policy{}, monday9)
	drivePure(t, st, f, monday9)
	if st.Phase != rollout.Succeeded {
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
	plan := rollouttest.AWSPlan(1, 2, 2)
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
	st, _ := rollout.NewState("outage", plan, "v2", rollout.Policy{}, monday9)
	drivePure(t, st, f, monday9)
	if st.Phase != rollout.RolledBack || st.Rollback.Signal != rollout.SignalAlarm || !strings.Contains(st.Rollback.Reason, "connection refused") {
		t.Fatalf("phase %s, rollback %+v", st.Phase, st.Rollback)
	}
	if len(downAt) < rollout.DefaultMaxUnreadable {
		t.Fatalf("%d failed reads before failing closed", len(downAt))
	}
	for i := 1; i < rollout.DefaultMaxUnreadable; i++ {
		if gap := downAt[i].Sub(downAt[i-1]); gap < rollout.DefaultAlarmInterval {
			t.Errorf("failed reads %d and %d %s apart, want at least %s", i, i+1, gap, rollout.DefaultAlarmInterval)
		}
	}
}

// TestStepRejectsBadObservations: an executor that skips Hands still
// cannot make the state unencodable: NaN evidence and a NaN score fail
// closed in the step itself.
func TestStepRejectsBadObservations(t *testing.T) {
	plan := rollouttest.AWSPlan(1, 1, 2)
	for _, tc := range []struct {
		name string
		bad  func(a rollout.Action) (rollout.Observation, bool)
	}{
		{"NaN evidence", func(a rollout.Action) (rollout.Observation, bool) {
			if a.Kind != rollout.ActionReadEvidence {
				return rollout.Observation{}, false
			}
			return rollout.ObserveEvidence(a, []float64{math.NaN()}, nil), true
		}},
		{"NaN score", func(a rollout.Action) (rollout.Observation, bool) {
			if a.Kind != rollout.ActionJudgeCanary {
				return rollout.Observation{}, false
			}
			return rollout.ObserveVerdict(a, rollout.Verdict{Outcome: rollout.VerdictPass, Score: math.NaN()}, nil), true
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newPureFleet(plan)
			pol := rollout.Policy{
				Canary: rollout.CanaryPolicy{Enabled: true, Kinds: []wave.StageKind{wave.Zone}},
				Bake:   bake.Schedule{Base: bake.Policy{Evidence: []bake.Requirement{{Name: "requests", Query: "q", Min: 1}}}},
			}
			st, err := rollout.NewState("bad", plan, "v2", pol, monday9)
			if err != nil {
				t.Fatal(err)
			}
			now := monday9
			var obs []rollout.Observation
			for range 100000 {
				out, err := st.Step(now, obs...)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := rollout.EncodeState(st); err != nil {
					t.Fatalf("the state cannot be saved: %v", err)
				}
				if out.Done {
					break
				}
				obs = nil
				for _, a := range out.Actions {
					if o, ok := tc.bad(a); ok {
						obs = append(obs, o)
						continue
					}
					obs = append(obs, f.answer(a, now))
				}
				if len(out.Actions) == 0 {
					now = out.WakeAt
				}
			}
			if st.Phase != rollout.RolledBack {
				t.Fatalf("phase %s: want a fail-closed rollback", st.Phase)
			}
		})
	}
}
