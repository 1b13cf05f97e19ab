package rollout_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
)

func TestAlarmRules(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	src := new(alarm.Memory)
	src.Record("errors{stage=\"one-box\"}", t0.Add(-30*time.Second), 0.5, 100)
	rule := func(q string) alarm.Rule {
		return alarm.Rule{Name: "errors", Threshold: &alarm.Threshold{Query: q, Comparison: alarm.GreaterThan, Threshold: 0.1,
			Evaluation: alarm.Evaluation{Period: duration.Duration(time.Minute), EvaluationPeriods: 1, TreatMissingData: alarm.Ignore}}}
	}
	a := rollout.AlarmRules(src, func(s rollout.Subject) []alarm.Rule {
		return []alarm.Rule{rule(`errors{stage="` + s.Stage + `"}`)}
	})
	state := func(now time.Time) alarm.State {
		t.Helper()
		res, err := a.Alarms(t.Context(), rollout.Subject{Rollout: "r", Version: "v2", Stage: "one-box"}, now)
		if err != nil || len(res) != 1 {
			t.Fatalf("Alarms = %v, %v", res, err)
		}
		return res[0].State
	}
	got := []alarm.State{state(t0), state(t0.Add(time.Hour))}
	// An hour later the window holds no data: the rule ignores missing
	// data and keeps its state, because the stage's set is kept.
	if diff := cmp.Diff([]alarm.State{alarm.Alarm, alarm.Alarm}, got); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}

	bad := rollout.AlarmRules(src, func(rollout.Subject) []alarm.Rule { return []alarm.Rule{{Name: "x"}} })
	if _, err := bad.Alarms(t.Context(), rollout.Subject{Stage: "s"}, t0); err == nil ||
		!strings.Contains(err.Error(), `rollout: alarm rules of stage "s"`) || !errors.Is(err, alarm.ErrInvalid) {
		t.Errorf("invalid rules: %v, want alarm's own problems", err)
	}
	boom := errors.New("boom")
	src.SetError("down", boom)
	down := rollout.AlarmRules(src, func(rollout.Subject) []alarm.Rule { return []alarm.Rule{rule("down")} })
	if _, err := down.Alarms(t.Context(), rollout.Subject{Stage: "s"}, t0); !errors.Is(err, boom) {
		t.Errorf("a failing source: %v, want it to fail the check", err)
	}
}
