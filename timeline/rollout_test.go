package timeline_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/timeline"
	"github.com/shepherd-go/shepherd/wave"
)

// simulateRun runs plan of a two-region fleet with rollouttest.Simulate
// and returns its events.
func simulateRun(versions map[string]rollouttest.Behavior, plan func([]wave.Target) *wave.Plan) (*wave.Plan, []rollout.Event, *rollouttest.Outcome, error) {
	f, err := rollouttest.NewFleet(rollouttest.Config{
		Targets:    rollouttest.Hosts([]string{"eu", "us"}, 2, 4),
		Initial:    "v1",
		Versions:   versions,
		DeployTime: time.Minute,
	})
	if err != nil {
		return nil, nil, nil, err
	}
	p := plan(f.Targets())
	var events []rollout.Event
	out, err := rollouttest.Simulate(context.Background(), f, rollouttest.Scenario{
		Plan: *p, Version: "v2", Start: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
		Options: rollout.Config{OnEvent: func(e rollout.Event) { events = append(events, e) }},
	})
	return p, events, out, err
}

func planOf(pol wave.Policy) func([]wave.Target) *wave.Plan {
	return func(ts []wave.Target) *wave.Plan {
		p, err := pol.Plan(ts)
		if err != nil {
			panic(err)
		}
		return p
	}
}

type rowShape struct {
	Name    string
	Kinds   []timeline.SpanKind
	Outcome timeline.Outcome
}

func shapes(tl *timeline.Timeline) []rowShape {
	var got []rowShape
	for _, r := range tl.Rows {
		var kinds []timeline.SpanKind
		for _, s := range r.Spans {
			kinds = append(kinds, s.Kind)
		}
		got = append(got, rowShape{r.Name, kinds, r.Outcome})
	}
	return got
}

func TestFromEvents(t *testing.T) {
	d, b, rb := timeline.Deploying, timeline.Baking, timeline.RollingBack
	pol := wave.Policy{OneBox: wave.OneBoxRule{MaxFraction: 0.25}}
	t.Run("rolled back", func(t *testing.T) {
		bad := map[string]rollouttest.Behavior{"v2": {Regressions: []rollouttest.Regression{{Zones: []string{"eub"}, ErrorRate: 0.2}}}}
		plan, events, out, err := simulateRun(bad, planOf(pol))
		if err != nil {
			t.Fatal(err)
		}
		if out.Phase != rollout.RolledBack {
			t.Fatalf("outcome %s", out.Phase)
		}
		tl, err := timeline.FromEvents(plan, events)
		if err != nil {
			t.Fatal(err)
		}
		want := []rowShape{
			{"w1/one-box/eu", []timeline.SpanKind{d, b, rb}, timeline.RolledBack},
			{"w1/eu/eua", []timeline.SpanKind{d, d, d, b, rb}, timeline.RolledBack}, // three batches of one
			{"w1/eu/eub", []timeline.SpanKind{d, d, d, d, rb}, timeline.RolledBack}, // caught after its fourth
			{"w2/one-box/us", nil, timeline.Skipped},
			{"w2/us/usa", nil, timeline.Skipped},
			{"w2/us/usb", nil, timeline.Skipped},
			{"final", nil, timeline.Skipped},
		}
		if diff := cmp.Diff(want, shapes(tl)); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
		if len(tl.Rows[2].Marks) == 0 {
			t.Error("no alarm mark on the stage that stopped")
		}
	})
	t.Run("succeeded with a final bake", func(t *testing.T) {
		plan, events, out, err := simulateRun(nil, planOf(pol))
		if err != nil {
			t.Fatal(err)
		}
		if out.Phase != rollout.Succeeded || plan.FinalBake <= 0 {
			t.Fatalf("outcome %s, final bake %s", out.Phase, plan.FinalBake)
		}
		tl, err := timeline.FromEvents(plan, events)
		if err != nil {
			t.Fatal(err)
		}
		final := tl.Row("final")
		if final == nil || final.Outcome != timeline.Succeeded || len(final.Spans) != 1 || final.Spans[0].Kind != b {
			t.Fatalf("final row %+v, want one baking span, succeeded", final)
		}
		if got, want := final.Spans[0].End.Sub(final.Spans[0].Start), plan.FinalBake.Std(); got != want {
			t.Errorf("final bake drawn for %s, want %s", got, want)
		}
	})
	t.Run("shared timeline", func(t *testing.T) {
		plan, events, _, err := simulateRun(nil, planOf(pol))
		if err != nil {
			t.Fatal(err)
		}
		tl := &timeline.Timeline{}
		r := timeline.NewRecorder(tl, "v2", plan)
		for _, e := range events {
			r.Event(e)
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		if tl.Rows[0].Name != "v2 w1/one-box/eu" || tl.Rows[0].Group != "v2 · wave 1: eu" {
			t.Errorf("first row %q in %q", tl.Rows[0].Name, tl.Rows[0].Group)
		}
	})
	t.Run("bad input", func(t *testing.T) {
		if _, err := timeline.FromEvents(nil, nil); err == nil {
			t.Errorf("nil plan: %v", err)
		}
		plan := planOf(pol)(rollouttest.Hosts([]string{"eu"}, 1, 2))
		st := plan.Waves[0].Stages[0].Name
		t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
		_, err := timeline.FromEvents(plan, []rollout.Event{
			{Kind: rollout.EventBakeStarted, Stage: st, Time: t0},
			{Kind: rollout.EventBakeStarted, Stage: st, Time: t0.Add(-time.Hour)},
		})
		if err == nil || !strings.HasPrefix(err.Error(), "timeline: recorder: ") {
			t.Errorf("an event out of time order: %v", err)
		}
	})
}

// A rollout's events, drawn as text: what ran when, and how each stage
// ended.
func ExampleFromEvents() {
	plan, events, _, err := simulateRun(nil, planOf(wave.Policy{OneBox: wave.OneBoxRule{Off: true}}))
	if err != nil {
		fmt.Println(err)
		return
	}
	tl, err := timeline.FromEvents(plan, events)
	if err != nil {
		fmt.Println(err)
		return
	}
	tl.WriteText(os.Stdout, 80)
	// Output:
	// rollout "rollout" of v2
	// 5 stages · 2026-03-02 09:00:00 UTC to 2026-03-03 03:16:00 UTC (18h16m)
	// legend: # deploying  = baking
	//                   12:00     18:00      Mar 3
	// wave 1: eu
	//   w1/eu/eua |#=                              |  succeeded at Mar 2 10:04
	//   w1/eu/eub | #======================        |  succeeded at Mar 2 22:08
	// wave 2: us
	//   w2/us/usa |                       #=       |  succeeded at Mar 2 23:12
	//   w2/us/usb |                        #====   |  succeeded at Mar 3 01:16
	// final bake
	//   final     |                            ====|  succeeded at Mar 3 03:16
}

// TestRecorderDrawsVerify: a verify step is a verifying span between the
// deploy and the bake, with its result as a mark.
func TestRecorderDrawsVerify(t *testing.T) {
	plan := &wave.Plan{Waves: []wave.Wave{{Stages: []wave.Stage{{Name: "w1/eu", Kind: wave.Zone,
		Batches: []wave.Batch{{Targets: []wave.Target{{ID: "eu-1", Location: []string{"eu", "eu-a"}}}}}}}}}}
	t0 := time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	ev := func(m int, k rollout.EventKind, reason string) rollout.Event {
		return rollout.Event{Kind: k, Time: at(m), Rollout: "r", Stage: "w1/eu", Targets: 1, Reason: reason}
	}
	tl, err := timeline.FromEvents(plan, []rollout.Event{
		ev(0, rollout.EventStageStarted, ""),
		ev(0, rollout.EventBatchStarted, ""),
		ev(2, rollout.EventVerifyStarted, ""),
		ev(5, rollout.EventVerifyResult, "pass: 42 tests"),
		ev(5, rollout.EventBakeStarted, ""),
		ev(65, rollout.EventStagePromoted, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	row := tl.Row("w1/eu")
	var kinds []timeline.SpanKind
	for _, s := range row.Spans {
		kinds = append(kinds, s.Kind)
	}
	if diff := cmp.Diff([]timeline.SpanKind{timeline.Deploying, timeline.Verifying, timeline.Baking}, kinds); diff != "" {
		t.Fatalf("spans (-want +got):\n%s", diff)
	}
	if v := row.Spans[1]; !v.Start.Equal(at(2)) || !v.End.Equal(at(5)) {
		t.Errorf("verifying from %v to %v, want 09:02 to 09:05", v.Start, v.End)
	}
	if len(row.Marks) != 1 || !strings.Contains(row.Marks[0].Label, "pass: 42 tests") {
		t.Errorf("marks %+v", row.Marks)
	}
}
