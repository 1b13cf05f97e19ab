package rollout_test

import (
	"errors"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
)

// TestAlarmMidBatchStopsAtOnce: an executor that steps the state while a
// slow batch deploys gets an alarm check at the alarm interval; an alarm
// in ALARM starts the rollback at once (Cancel), and the rollback covers
// the targets whose deploys were in flight.
func TestAlarmMidBatchStopsAtOnce(t *testing.T) {
	plan := rollouttest.AWSPlan(1, 3, 8)
	st, err := rollout.NewState("mid", plan, "v2", rollout.Policy{}, monday9)
	if err != nil {
		t.Fatal(err)
	}
	f := newPureFleet(plan)
	now := monday9
	var obs []rollout.Observation
	var deploys []rollout.Action
	// Run until the first batch's deploys are issued.
	// Run until a batch of several deploys is issued.
	for range 100000 {
		out, err := st.Step(now, obs...)
		if err != nil {
			t.Fatal(err)
		}
		obs = nil
		deploys = nil
		for _, a := range out.Actions {
			if a.Kind == rollout.ActionDeploy {
				deploys = append(deploys, a)
			}
		}
		if len(deploys) > 1 {
			break
		}
		for _, a := range out.Actions {
			obs = append(obs, f.answer(a, now))
		}
		if len(out.Actions) == 0 {
			now = out.WakeAt
		}
	}
	if len(deploys) < 2 {
		t.Fatal("no batch of several deploys")
	}
	// One deploy returns quickly; the rest hang.
	f.v[deploys[0].Target.ID] = "v2"
	now = now.Add(10 * time.Second)
	out, err := st.Step(now, rollout.ObserveDeploy(deploys[0], "v2", 1, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Actions) != 0 || out.WakeAt.IsZero() {
		t.Fatalf("mid-round output %+v: want no action and a wake-up for the alarms", out)
	}
	// At the alarm interval, the state asks for an alarm check in the
	// same round.
	now = out.WakeAt
	out, err = st.Step(now)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Actions) != 1 || out.Actions[0].Kind != rollout.ActionCheckAlarms || out.Actions[0].Round != deploys[0].Round {
		t.Fatalf("mid-round actions %+v: want one alarm check of round %d", out.Actions, deploys[0].Round)
	}
	firing := rollout.ObserveAlarms(out.Actions[0], []alarm.Result{{Name: "errors", State: alarm.Alarm, Reason: "5xx 9%", Time: now}}, nil)
	out, err = st.Step(now, firing)
	if err != nil {
		t.Fatal(err)
	}
	if st.Phase != rollout.RollingBack || !out.Cancel {
		t.Fatalf("phase %s, cancel %t: want the rollback to start at once", st.Phase, out.Cancel)
	}
	// The hung deploys come back cancelled; one of them had happened.
	f.v[deploys[1].Target.ID] = "v2"
	obs = nil
	for _, a := range deploys[1:] {
		obs = append(obs, rollout.ObserveDeploy(a, "", 1, errors.New("context canceled")))
	}
	drivePureFrom(t, st, f, now, obs)
	if st.Phase != rollout.RolledBack {
		t.Fatalf("phase %s: %+v", st.Phase, st.Rollback)
	}
	for _, a := range deploys {
		if v := f.v[a.Target.ID]; v != "v1" {
			t.Errorf("%s runs %s after the rollback", a.Target.ID, v)
		}
	}
}

// drivePureFrom continues a pure drive with the given observations.
func drivePureFrom(t *testing.T, st *rollout.State, f *pureFleet, now time.Time, obs []rollout.Observation) {
	t.Helper()
	for range 100000 {
		out, err := st.Step(now, obs...)
		if err != nil {
			t.Fatal(err)
		}
		if out.Done {
			return
		}
		obs = nil
		for _, a := range out.Actions {
			obs = append(obs, f.answer(a, now))
		}
		if len(out.Actions) == 0 {
			now = out.WakeAt
		}
	}
	t.Fatal("never ended")
}
