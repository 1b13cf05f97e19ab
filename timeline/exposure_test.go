package timeline_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/timeline"
	"github.com/shepherd-go/shepherd/traffic"
	"github.com/shepherd-go/shepherd/wave"
)

// TestExposurePercentagesShow: a ramp's shares are pinned on its stage's
// row, and the share back to 0% carries the blast radius.
func TestExposurePercentagesShow(t *testing.T) {
	t0 := time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	plan := wave.Plan{Levels: []string{"region"}, Waves: []wave.Wave{{Regions: []string{"r1"}, Stages: []wave.Stage{{
		Name: "w1/r1", Kind: wave.Region, Regions: []string{"r1"},
		Batches: []wave.Batch{{Targets: []wave.Target{{ID: "h1", Location: []string{"r1"}}}}},
	}}}}}
	share := func(p float64) *float64 { return &p }
	blast := traffic.Blast{Peak: 10, Exposed: time.Minute, Full: 6 * time.Second}
	events := []rollout.Event{
		{Kind: rollout.EventStageStarted, Time: t0, Stage: "w1/r1"},
		{Kind: rollout.EventBatchStarted, Time: t0, Stage: "w1/r1", Targets: 1},
		{Kind: rollout.EventExposure, Time: t0.Add(time.Minute), Stage: "w1/r1", Share: share(10)},
		{Kind: rollout.EventExposure, Time: t0.Add(2 * time.Minute), Stage: "w1/r1", Share: share(0), Blast: &blast},
		{Kind: rollout.EventRollbackFinished, Time: t0.Add(3 * time.Minute), Phase: rollout.RolledBack},
	}
	tl, err := timeline.FromEvents(&plan, events)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tl.WriteText(&b, 100); err != nil {
		t.Fatal(err)
	}
	marks := tl.Row("w1/r1").Marks
	if len(marks) != 2 || marks[0].Label != "10% of traffic" || !strings.HasPrefix(marks[1].Label, "0% of traffic; peak 10% of requests") {
		t.Errorf("marks %+v\n%s", marks, b.String())
	}
}
