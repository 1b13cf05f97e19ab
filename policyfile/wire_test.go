package policyfile_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/policyfile"
	"github.com/shepherd-go/shepherd/rollout"
)

// TestWire turns a file's calendar and alarms into a rollout's gates: a
// freeze holds a stage until it ends, a blocking alarm in ALARM holds it,
// and the watched alarms report the rule.
func TestWire(t *testing.T) {
	p, err := policyfile.Parse([]byte(`
blockers:
  freezes: [{start: "2026-03-02T00:00:00Z", end: "2026-03-03T00:00:00Z", reason: load test}]
  alarms: [errors]
alarms:
  - name: errors
    threshold: {query: error_rate, comparison: ">", threshold: 0.05, period: 1m, evaluationPeriods: 1}
`))
	if err != nil {
		t.Fatal(err)
	}
	src := &alarm.Memory{}
	cfg, err := p.Wire(rollout.Config{}, src, "checkout")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Blockers == nil || cfg.Alarms == nil {
		t.Fatalf("gates not wired: %+v", cfg)
	}
	ctx := context.Background()
	subj := rollout.Subject{Rollout: "r", Version: "v2", Stage: "w1/one-box/eu", Regions: []string{"eu"}}

	// During the freeze, with the alarm OK: the freeze holds, until its end.
	during := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	src.Record("error_rate", during.Add(-30*time.Second), 0.01, 100)
	blocked, until, err := cfg.Blockers.Check(ctx, subj, during)
	if err != nil || len(blocked) == 0 || !strings.Contains(blocked[0].Reason, "load test") {
		t.Errorf("during the freeze: %v, %v", blocked, err)
	}
	if want := time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC); !until.Equal(want) {
		t.Errorf("held until %v, want %v", until, want)
	}

	// After it, with the alarm firing: the alarm blocks, and is watched.
	after := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	src.Record("error_rate", after.Add(-30*time.Second), 0.5, 100)
	blocked, _, err = cfg.Blockers.Check(ctx, subj, after)
	if err != nil || len(blocked) == 0 || !strings.Contains(blocked[0].Reason, "errors") {
		t.Errorf("with the alarm firing: %v, %v", blocked, err)
	}
	res, err := cfg.Alarms.Alarms(ctx, subj, after)
	if err != nil || len(res) != 1 || res[0].State != alarm.Alarm {
		t.Errorf("watched alarms: %+v, %v", res, err)
	}

	// A file with nothing to wire leaves the caller's gates alone.
	empty := &policyfile.Policy{}
	mine := rollout.BlockersFunc(func(context.Context, rollout.Subject, time.Time) ([]rollout.BlockReason, time.Time, error) {
		return nil, time.Time{}, nil
	})
	cfg, err = empty.Wire(rollout.Config{Blockers: mine}, nil, "")
	if err != nil || cfg.Blockers == nil || cfg.Alarms != nil {
		t.Errorf("empty file: %+v, %v", cfg, err)
	}
	// Alarms need a source.
	if _, err := p.Wire(rollout.Config{}, nil, ""); err == nil {
		t.Error("alarms wired without a source")
	}
}
