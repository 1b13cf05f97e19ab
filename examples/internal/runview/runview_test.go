package runview_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/examples/internal/runview"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

func TestRolledBackRun(t *testing.T) {
	f, err := rollouttest.NewFleet(rollouttest.Config{
		Targets:    rollouttest.Hosts([]string{"eu", "us"}, 2, 4),
		Initial:    "v1",
		Versions:   map[string]rollouttest.Behavior{"v2": {Regressions: []rollouttest.Regression{{Zones: []string{"eub"}, ErrorRate: 0.2}}}},
		DeployTime: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := wave.Policy{OneBox: wave.OneBoxRule{MaxFraction: 0.25}}.Plan(f.Targets())
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	pr := &runview.Printer{W: &log, Start: start}
	out, err := rollouttest.Simulate(context.Background(), f, rollouttest.Scenario{
		Plan: *plan, Version: "v2", Start: start,
		Options: rollout.Config{OnEvent: pr.Event},
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.Phase != rollout.RolledBack {
		t.Fatalf("outcome %s", out.Phase)
	}
	for _, w := range []string{"   0.0s  rollout rollout of v2 started: 16 targets\n", "  STOP on alarm\n", "rollback finished: rolled-back\n"} {
		if !strings.Contains(log.String(), w) {
			t.Errorf("the log lacks %q:\n%s", w, log.String())
		}
	}
}
