package timeline

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/wave"
)

func TestFromPlan(t *testing.T) {
	got, err := FromPlan(samplePlan(), Estimate{Start: t0, BatchDeploy: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	m, h := time.Minute, time.Hour
	// Stages run one after the other: batches * 5m, then the bake.
	want := []Row{
		{Name: "w1/us-east-1/one-box", Group: "wave 1: us-east-1", Detail: "one-box, 1 target in 1 batch: smallest slice first", Spans: []Span{
			{Kind: Deploying, Start: at(0), End: at(5 * m), Label: "1 batch"},
			{Kind: Baking, Start: at(5 * m), End: at(h + 5*m), Label: "bake 1h"},
		}},
		{Name: "w1/use1-az1", Group: "wave 1: us-east-1", Detail: "zone, 2 targets in 2 batches: first zone bakes longest", Spans: []Span{
			{Kind: Deploying, Start: at(h + 5*m), End: at(h + 15*m), Label: "2 batches"},
			{Kind: Baking, Start: at(h + 15*m), End: at(13*h + 15*m), Label: "bake 12h"},
		}},
	}
	if diff := cmp.Diff(want, got.Rows[:2]); diff != "" {
		t.Errorf("first rows (-want +got):\n%s", diff)
	}
	if got.Title != "Plan: 3 waves, 6 stages, 14 targets" || !got.Estimated {
		t.Errorf("title %q, estimated %v", got.Title, got.Estimated)
	}
	// The last stage ends after every batch and bake: 14 batches * 5m plus
	// 1h+12h+2h+4h+4h+2h of bake.
	last := got.Rows[len(got.Rows)-1].Spans
	if end := last[len(last)-1].End; !end.Equal(at(14*5*m + 25*h)) {
		t.Errorf("plan ends at %v, want %v", end, at(14*5*m+25*h))
	}
	if err := got.Validate(); err != nil {
		t.Error(err)
	}
}

func TestFromPlanErrors(t *testing.T) {
	dup := samplePlan()
	dup.Waves[1].Stages[0].Name = dup.Waves[0].Stages[0].Name
	neg := samplePlan()
	neg.Waves[0].Stages[1].Bake = duration.Duration(-time.Hour)
	tests := []struct {
		name string
		p    *wave.Plan
		e    Estimate
		want []string
	}{
		{"nil", nil, Estimate{Start: t0}, []string{"timeline: from plan: nil plan"}},
		{"estimate", samplePlan(), Estimate{BatchDeploy: -1}, []string{
			"timeline: from plan: Estimate.Start: zero",
			"timeline: from plan: Estimate.BatchDeploy: -1ns is negative",
		}},
		{"negative bake", neg, Estimate{Start: t0}, []string{`timeline: from plan: stage "w1/use1-az1": negative bake -1h0m0s`}},
		{"duplicate stage", dup, Estimate{Start: t0}, []string{`timeline: from plan: timeline: Rows[3].Name: "w1/us-east-1/one-box" is also the name of Rows[0]`}},
	}
	for _, tc := range tests {
		tl, err := FromPlan(tc.p, tc.e)
		var got []string
		if err != nil {
			got = strings.Split(err.Error(), "\n")
		}
		if diff := cmp.Diff(tc.want, got); diff != "" || tl != nil {
			t.Errorf("%s: timeline %v, errors (-want +got):\n%s", tc.name, tl, diff)
		}
	}
}

func TestPlanRowsEmptyPlan(t *testing.T) {
	if rows := PlanRows(nil); rows != nil {
		t.Errorf("PlanRows(nil) = %v", rows)
	}
	tl, err := FromPlan(&wave.Plan{}, Estimate{Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := tl.WriteText(&b, 60); err != nil {
		t.Fatal(err)
	}
	want := "Plan: 0 waves, 0 stages, 0 targets\n0 stages · nothing has happened yet · estimated times\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("empty plan (-want +got):\n%s", diff)
	}
}
