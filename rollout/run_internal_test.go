// This file is internal (package rollout): It reads the runner's state and its plan index (r.st.ix.stages,
// r.st.ix.byName) to check when each stage began.
// The other tests of this area are in the external test package.

package rollout

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/shepherd-go/shepherd/blocker"
)

// awsZones places the six regions of awsPlan around the world. The regions
// of a wave must share some business hours, or their stages never open
// (r2 in Los Angeles with r3 in Berlin would wait forever).
var awsZones = map[string]string{
	"r0": "America/New_York", "r1": "America/Los_Angeles", "r2": "Europe/London",
	"r3": "Europe/Berlin", "r4": "Asia/Tokyo", "r5": "Asia/Singapore",
}

func businessHoursCalendar(t *testing.T) *blocker.Calendar {
	t.Helper()
	cal, err := blocker.NewCalendar(blocker.Policy{
		Zones:   awsZones,
		Windows: []blocker.Window{{Days: []string{"Mon-Fri"}, Start: "09:00", End: "17:00"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return cal
}

func TestAWSRolloutCompletes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sleepUntil(monday9.Add(-2 * time.Hour)) // start before any window opens
		plan := awsPlan(6, 3, 10)
		f := newFleet(plan, "v1")
		f.Delay = 2 * time.Minute
		cal := businessHoursCalendar(t)
		var log eventLog
		r, err := Create(t.Context(), Spec{ID: "aws", Plan: plan, Version: "v2", Policy: Policy{}}, f, Config{
			Blockers: BlockerSet{Set: blocker.Set{Entries: []blocker.Entry{{Name: "business-hours", Blocker: cal}}}},
			Alarms:   regressionAlarm(f, nil, "v2"),
			OnEvent:  log.add,
		})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := r.Run(t.Context()); err != nil {
			t.Fatalf("Run: %v", err)
		}
		took := time.Since(start)
		for id, v := range f.snapshot() {
			if v != "v2" {
				t.Errorf("%s runs %s, want v2", id, v)
			}
		}
		p := r.Progress()
		if p.Phase != Succeeded {
			t.Errorf("phase %s, want succeeded", p.Phase)
		}
		if got := p.Targets[TargetDeployed]; got != 180 {
			t.Errorf("%d deployed, want 180", got)
		}
		// Every bake, plus nights in six time zones.
		var bakes time.Duration
		for _, w := range plan.Waves {
			for _, st := range w.Stages {
				bakes += st.Bake.Std()
			}
		}
		bakes += plan.FinalBake.Std()
		if took < bakes+24*time.Hour || took > 21*24*time.Hour {
			t.Errorf("simulated rollout took %s, want the bakes (%s) and nights: days", took, bakes)
		}
		if p.Timings.Blocked == 0 || p.Timings.Baking == 0 || p.Timings.Deploying == 0 {
			t.Errorf("timings %+v: want blocked, baking and deploying time", p.Timings)
		}
		// Every stage began inside business hours in the local time of
		// each of its regions.
		for _, e := range log.kinds(EventBatchStarted) {
			if e.Batch != 0 {
				continue
			}
			for _, reg := range r.st.ix.stages[r.st.ix.byName[e.Stage]].Regions {
				if d, err := cal.Check(t.Context(), blocker.Subject{Regions: []string{reg}}, e.Time); err != nil || d.Blocked {
					t.Errorf("stage %s began at %s, outside business hours in %s (%s): %v", e.Stage, e.Time, reg, awsZones[reg], d.Reason)
				}
			}
		}
		if n := len(log.kinds(EventStagePromoted)); n != len(r.st.Stages) {
			t.Errorf("%d stages promoted, want %d", n, len(r.st.Stages))
		}
		if n := len(log.kinds(EventUnblocked)); n == 0 {
			t.Error("no stage was ever blocked")
		}
		t.Logf("simulated %s; timings %+v", took, p.Timings)
	})
}
