package timeline

import (
	"time"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/wave"
)

var t0 = time.Date(2024, 3, 4, 9, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// runTimeline is a finished run: the one-box and the first zone go out
// (the zone waits for its window), the second wave's canary alarms during
// its bake and the stage rolls back; the last stage never starts.
func runTimeline() *Timeline {
	m := time.Minute
	return &Timeline{
		Title: "checkout v2.4.1",
		Rows: []Row{
			{Name: "w1/us-east-1/one-box", Group: "wave 1: us-east-1", Detail: "one-box, 1 target", Outcome: Succeeded,
				Spans: []Span{
					{Kind: Deploying, Start: at(0), End: at(4 * m), Label: "batch 1/1"},
					{Kind: Baking, Start: at(4 * m), End: at(64 * m), Label: "bake 1h"},
				},
				Marks: []Mark{{Kind: Verdict, Time: at(64 * m), Label: "canary pass (score 98)"}},
			},
			{Name: "w1/use1-az1", Group: "wave 1: us-east-1", Detail: "zone, 6 targets", Outcome: Succeeded,
				Spans: []Span{
					{Kind: Blocked, Start: at(64 * m), End: at(90 * m), Label: "outside the deployment window"},
					{Kind: Deploying, Start: at(90 * m), End: at(102 * m), Label: "2 batches"},
					{Kind: Baking, Start: at(102 * m), End: at(162 * m), Label: "bake 1h"},
				},
			},
			{Name: "w2/euw1-az1+apne1-az2", Group: "wave 2: eu-west-1, ap-northeast-1", Outcome: RolledBack,
				Spans: []Span{
					{Kind: WaitingApproval, Start: at(162 * m), End: at(170 * m), Label: "approval by sre-oncall"},
					{Kind: Deploying, Start: at(170 * m), End: at(182 * m), Label: "2 batches"},
					{Kind: Baking, Start: at(182 * m), End: at(205 * m), Label: "bake 2h"},
					{Kind: RollingBack, Start: at(205 * m), End: at(214 * m), Label: "to v2.4.0"},
				},
				Marks: []Mark{
					{Kind: Alarm, Time: at(203 * m), Label: "probe:checkout:success_rate < 0.99 for 3 of 5", Severity: Critical},
					{Kind: Alarm, Time: at(195 * m), Label: "latency p99 rising", Severity: Warning},
					{Kind: Note, Time: at(210 * m), Label: "paged sre-oncall"},
				},
			},
			{Name: "w2/euw1-az2", Group: "wave 2: eu-west-1, ap-northeast-1", Outcome: Skipped},
		},
	}
}

// liveTimeline is a run in progress at Now: one stage baking, one waiting.
func liveTimeline() *Timeline {
	m := time.Minute
	return &Timeline{
		Title: "search v7",
		Now:   at(47 * m),
		Rows: []Row{
			{Name: "one-box", Group: "wave 1", Outcome: Succeeded, Spans: []Span{
				{Kind: Deploying, Start: at(0), End: at(3 * m)},
				{Kind: Baking, Start: at(3 * m), End: at(33 * m), Label: "bake 30m"},
			}},
			{Name: "zone-a", Group: "wave 1", Spans: []Span{
				{Kind: Deploying, Start: at(33 * m), End: at(38 * m)},
				{Kind: Baking, Start: at(38 * m), Label: "bake 1h"},
			}, Marks: []Mark{{Kind: Alarm, Time: at(44 * m), Label: "error rate 0.4% (threshold 1%)", Severity: Warning}}},
			{Name: "zone-b", Group: "wave 1"},
		},
	}
}

// hostileTimeline has user strings that try to break out of every output.
func hostileTimeline() *Timeline {
	return &Timeline{
		Title: `</title><script>alert("t")</script>`,
		Rows: []Row{
			{Name: `<script>alert(1)</script>`, Group: `"><img src=x onerror=alert(2)>`, Detail: "it's & <b>bold</b>",
				Spans: []Span{{Kind: Deploying, Start: at(0), End: at(time.Hour), Label: "]]><svg onload=alert(3)>"}},
				Marks: []Mark{{Kind: Note, Time: at(30 * time.Minute), Label: "\x1b[31mred\x1b[0m\u009b2J", Severity: Critical}},
			},
			{Name: "tab\tnew\nline\x00nul\xff", Outcome: Failed},
		},
	}
}

// samplePlan is a small three-wave plan: one-box and two zones in the first
// region, then two zones across two regions, then a whole region.
func samplePlan() *wave.Plan {
	tg := func(ids ...string) []wave.Batch {
		var b []wave.Batch
		for _, id := range ids {
			b = append(b, wave.Batch{Targets: []wave.Target{{ID: id}}})
		}
		return b
	}
	h := func(d time.Duration) duration.Duration { return duration.Duration(d) }
	return &wave.Plan{
		Levels: []string{"region", "zone"},
		Waves: []wave.Wave{
			{Index: 0, Regions: []string{"us-east-1"}, Stages: []wave.Stage{
				{Name: "w1/us-east-1/one-box", Kind: wave.OneBox, Regions: []string{"us-east-1"}, Batches: tg("h1"), Bake: h(time.Hour), Reason: "smallest slice first"},
				{Name: "w1/use1-az1", Kind: wave.Zone, Regions: []string{"us-east-1"}, Zones: []string{"use1-az1"}, Batches: tg("h2", "h3"), Bake: h(12 * time.Hour), Reason: "first zone bakes longest"},
				{Name: "w1/use1-az2", Kind: wave.Zone, Regions: []string{"us-east-1"}, Zones: []string{"use1-az2"}, Batches: tg("h4", "h5"), Bake: h(2 * time.Hour)},
			}},
			{Index: 1, Regions: []string{"eu-west-1", "us-west-2"}, Stages: []wave.Stage{
				{Name: "w2/euw1-az1+usw2-az1", Kind: wave.Zone, Regions: []string{"eu-west-1", "us-west-2"}, Batches: tg("e1", "u1", "e2"), Bake: h(4 * time.Hour)},
				{Name: "w2/euw1-az2+usw2-az2", Kind: wave.Zone, Regions: []string{"eu-west-1", "us-west-2"}, Batches: tg("e3", "u2"), Bake: h(4 * time.Hour)},
			}},
			{Index: 2, Regions: []string{"ap-south-1"}, Stages: []wave.Stage{
				{Name: "w3/ap-south-1", Kind: wave.Region, Regions: []string{"ap-south-1"}, Batches: tg("a1", "a2", "a3", "a4"), Bake: h(2 * time.Hour)},
			}},
		},
	}
}

func planTimeline() *Timeline {
	t, err := FromPlan(samplePlan(), Estimate{Start: t0})
	if err != nil {
		panic(err)
	}
	return t
}
