package rollout_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

// Helpers of the external tests (package rollout_test). The fixtures the
// tests of rollout, rollouttest and temporal share (AWSPlan, the target IDs
// of a plan, ZeroBake, EventLog, MemFleet) are in rollouttest; the few
// internal test files keep a copy in fleet_test.go and run_test.go, since
// package rollout cannot import rollouttest.

// monday9 is a Monday, 09:00 UTC: business hours open.
var monday9 = time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)

// sleepUntil sleeps until t (bubble time under synctest).
func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

// current returns the stage in progress, or nil once every stage is
// promoted.
func current(s *rollout.State) *rollout.StageState {
	if s.Stage < len(s.Stages) {
		return &s.Stages[s.Stage]
	}
	return nil
}

// regressionAlarm is an alarm that fires while any of ids runs bad.
func regressionAlarm(f *rollouttest.MemFleet, ids []string, bad string) rollout.Alarms {
	return rollout.AlarmsFunc(func(ctx context.Context, s rollout.Subject, now time.Time) ([]alarm.Result, error) {
		if f.OnAny(ids, bad) {
			return []alarm.Result{{Name: "fault-rate", State: alarm.Alarm, Reason: "5xx rate 12% > 1%", Time: now}}, nil
		}
		return []alarm.Result{{Name: "fault-rate", State: alarm.OK, Reason: "5xx rate 0.1% <= 1%", Time: now}}, nil
	})
}

// flatPlan is a one-region, one-stage plan of the given batches of target
// IDs, with the given MinHealthy.
func flatPlan(minHealthy int, batches ...[]string) wave.Plan {
	st := wave.Stage{Name: "w1/r", Kind: wave.Region, Regions: []string{"r"}, MinHealthy: minHealthy, Reason: "test"}
	for _, ids := range batches {
		var b wave.Batch
		for _, id := range ids {
			b.Targets = append(b.Targets, wave.Target{ID: id, Location: []string{"r"}})
		}
		st.Batches = append(st.Batches, b)
	}
	return wave.Plan{Levels: []string{"region"}, Waves: []wave.Wave{{Regions: []string{"r"}, Stages: []wave.Stage{st}}}}
}

// hostIDs returns IDs h<from>...h<to-1>.
func hostIDs(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("h%d", i))
	}
	return out
}
