package rollout

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/blocker"
)

// events collects events safely.
type eventLog struct {
	mu  sync.Mutex
	evs []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	l.evs = append(l.evs, e)
	l.mu.Unlock()
}

func (l *eventLog) kinds(k EventKind) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for _, e := range l.evs {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// monday9 is a Monday 09:00 UTC.
var monday9 = time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)

// startAt returns a context whose bubble clock has been advanced to t.
func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

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

func TestRegressionInFirstOneBoxRollsBackThere(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sleepUntil(monday9)
		plan := awsPlan(6, 3, 10)
		f := newFleet(plan, "v1")
		f.Delay = time.Minute
		oneBox := plan.Waves[0].Stages[0]
		ids := stageTargets(plan, oneBox.Name)
		r, err := Create(t.Context(), Spec{ID: "ob", Plan: plan, Version: "v2", Policy: Policy{}}, f, Config{
			Alarms: regressionAlarm(f, ids, "v2"),
		})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Run(t.Context())
		var he *HaltError
		if !errors.As(err, &he) || !errors.Is(err, ErrRolledBack) || he.Signal != SignalAlarm {
			t.Fatalf("Run = %v, want a rollback on alarm", err)
		}
		want := []call{
			{Kind: "deploy", Target: ids[0], Version: "v2", OK: true},
			{Kind: "deploy", Target: ids[0], Version: "v1", OK: true},
		}
		if diff := cmp.Diff(want, f.callLog()); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
		for id, v := range f.snapshot() {
			if v != "v1" {
				t.Errorf("%s runs %s after the rollback", id, v)
			}
		}
		if p := r.Progress(); p.Phase != RolledBack || p.Stage != oneBox.Name {
			t.Errorf("progress: phase %s stage %q, want rolled-back at %s", p.Phase, p.Stage, oneBox.Name)
		}
	})
}

func TestRegressionInWave3RollsBackEverythingInReverse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sleepUntil(monday9)
		plan := awsPlan(6, 3, 10)
		f := newFleet(plan, "v1")
		f.Delay = time.Minute
		bad := waveTargets(plan, 2)
		var log eventLog
		r, err := Create(t.Context(), Spec{ID: "w3", Plan: plan, Version: "v2", Policy: Policy{}}, f, Config{
			Alarms:  regressionAlarm(f, bad, "v2"),
			OnEvent: log.add,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Run(t.Context()); !errors.Is(err, ErrRolledBack) {
			t.Fatalf("Run = %v, want a rollback", err)
		}
		calls := f.callLog()
		pos := map[string]int{}
		for i, id := range allTargets(plan) {
			pos[id] = i
		}
		var deployed, rolled []string
		for _, c := range calls {
			if c.Version == "v2" {
				deployed = append(deployed, c.Target)
			} else {
				rolled = append(rolled, c.Target)
			}
		}
		// Every changed target rolled back exactly once, nothing else.
		if diff := cmp.Diff(sorted(deployed), sorted(rolled)); diff != "" {
			t.Errorf("rolled back targets differ from deployed ones (-deployed +rolled):\n%s", diff)
		}
		// Waves 1 and 2 were deployed entirely, wave 3 only in part.
		for wi := range 2 {
			for _, id := range waveTargets(plan, wi) {
				if !slices.Contains(deployed, id) {
					t.Errorf("%s of wave %d was not deployed", id, wi+1)
				}
			}
		}
		if slices.ContainsFunc(deployed, func(id string) bool { return slices.Contains(waveTargets(plan, 3), id) }) {
			t.Error("wave 4 was touched")
		}
		// Reverse order: the rollback walks the plan backwards; within one
		// group calls run concurrently, so compare stages, not targets.
		stageOf := map[string]int{}
		si := 0
		for _, w := range plan.Waves {
			for _, st := range w.Stages {
				for _, id := range stageTargets(plan, st.Name) {
					stageOf[id] = si
				}
				si++
			}
		}
		for i := 1; i < len(rolled); i++ {
			if stageOf[rolled[i]] > stageOf[rolled[i-1]] {
				t.Fatalf("rollback of %s (stage %d) came after %s (stage %d): not in reverse order",
					rolled[i], stageOf[rolled[i]], rolled[i-1], stageOf[rolled[i-1]])
			}
		}
		for id, v := range f.snapshot() {
			if v != "v1" {
				t.Errorf("%s runs %s after the rollback", id, v)
			}
		}
		fin := log.kinds(EventRollbackFinished)
		if len(fin) != 1 || fin[0].Targets != len(deployed) {
			t.Errorf("rollback finished events %+v, want one with %d targets", fin, len(deployed))
		}
	})
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestUnreadableAlarmRollsBack(t *testing.T) {
	for _, tc := range []struct {
		name      string
		failures  int // consecutive failed reads after the first deploy
		rollsBack bool
	}{
		{"stays unreadable", 1 << 30, true},
		{"two blips", 2, false},
		{"three in a row", 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				plan := awsPlan(1, 3, 10)
				f := newFleet(plan, "v1")
				var mu sync.Mutex
				failed := 0
				alarms := AlarmsFunc(func(ctx context.Context, s Subject, now time.Time) ([]alarm.Result, error) {
					mu.Lock()
					defer mu.Unlock()
					if failed < tc.failures {
						failed++
						return nil, errors.New("metrics backend: 503")
					}
					return nil, nil
				})
				r, err := Create(t.Context(), Spec{ID: "u", Plan: plan, Version: "v2", Policy: Policy{}}, f, Config{Alarms: alarms})
				if err != nil {
					t.Fatal(err)
				}
				err = r.Run(t.Context())
				if tc.rollsBack {
					var he *HaltError
					if !errors.As(err, &he) || he.Signal != SignalAlarm || !strings.Contains(he.Reason, "fail closed") {
						t.Fatalf("Run = %v, want a fail-closed rollback", err)
					}
					for id, v := range f.snapshot() {
						if v != "v1" {
							t.Errorf("%s runs %s", id, v)
						}
					}
				} else if err != nil {
					t.Fatalf("Run = %v, want success after blips", err)
				}
			})
		})
	}
}
