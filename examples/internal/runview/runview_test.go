package runview_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/examples/internal/runview"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/timeline"
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
	tl := &timeline.Timeline{Title: "test"}
	view := runview.Add(tl, "v2", plan)
	var log strings.Builder
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	pr := &runview.Printer{W: &log, Start: start}
	out, err := rollouttest.Simulate(context.Background(), f, rollouttest.Scenario{
		Plan: *plan, Version: "v2", Start: start,
		Options: rollout.Options{OnEvent: func(e rollout.Event) { view.Event(e); pr.Event(e) }},
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.Phase != rollout.RolledBack || view.Err != nil {
		t.Fatalf("outcome %s, timeline error %v", out.Phase, view.Err)
	}
	if err := tl.Validate(); err != nil {
		t.Fatal(err)
	}
	type row struct {
		Name    string
		Kinds   []timeline.SpanKind
		Outcome timeline.Outcome
	}
	var got []row
	for _, r := range tl.Rows {
		var kinds []timeline.SpanKind
		for _, s := range r.Spans {
			kinds = append(kinds, s.Kind)
		}
		got = append(got, row{r.Name, kinds, r.Outcome})
	}
	d, b, rb := timeline.Deploying, timeline.Baking, timeline.RollingBack
	want := []row{
		{"v2 w1/one-box/eu", []timeline.SpanKind{d, b, rb}, timeline.RolledBack},
		{"v2 w1/eu/eua", []timeline.SpanKind{d, d, d, b, rb}, timeline.RolledBack}, // three batches of one
		{"v2 w1/eu/eub", []timeline.SpanKind{d, d, d, d, rb}, timeline.RolledBack}, // caught after its fourth
		{"v2 w2/one-box/us", nil, timeline.Skipped},
		{"v2 w2/us/usa", nil, timeline.Skipped},
		{"v2 w2/us/usb", nil, timeline.Skipped},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if len(tl.Rows[2].Marks) == 0 {
		t.Error("no alarm mark on the stage that stopped")
	}
	for _, w := range []string{"   0.0s  rollout rollout of v2 started: 16 targets\n", "  STOP on alarm\n", "rollback finished: rolled-back\n"} {
		if !strings.Contains(log.String(), w) {
			t.Errorf("the log lacks %q:\n%s", w, log.String())
		}
	}
}
