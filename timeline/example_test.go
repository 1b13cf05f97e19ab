package timeline_test

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/timeline"
	"github.com/shepherd-go/shepherd/wave"
)

// A run's events become a timeline through the builder methods: each event
// opens the stage's next span (closing the previous one), pins a mark, or
// finishes the stage with its outcome.
func Example() {
	t0 := time.Date(2024, 3, 4, 9, 0, 0, 0, time.UTC)
	min := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }

	tl := &timeline.Timeline{
		Title: "checkout v2",
		Rows: []timeline.Row{
			{Name: "one-box", Group: "wave 1"},
			{Name: "zone-a", Group: "wave 1"},
			{Name: "zone-b", Group: "wave 1"},
		},
	}
	tl.Open("one-box", timeline.Deploying, min(0), "")
	tl.Open("one-box", timeline.Baking, min(5), "bake 30m")
	tl.Finish("one-box", min(35), timeline.Succeeded)
	tl.Open("zone-a", timeline.Blocked, min(35), "outside the window")
	tl.Open("zone-a", timeline.Deploying, min(50), "")
	tl.Open("zone-a", timeline.Baking, min(60), "bake 1h")
	tl.AddMark("zone-a", timeline.Mark{Kind: timeline.Alarm, Time: min(80), Label: "5xx > 1%", Severity: timeline.Critical})
	tl.Open("zone-a", timeline.RollingBack, min(80), "")
	tl.Finish("zone-a", min(90), timeline.RolledBack)
	tl.Finish("zone-b", min(90), timeline.Skipped)

	if err := tl.WriteText(os.Stdout, 110); err != nil {
		fmt.Println(err)
	}
	// Output:
	// checkout v2
	// 3 stages · 2024-03-04 09:00:00 UTC to 2024-03-04 10:30:00 UTC (1h30m)
	// legend: # deploying  = baking  ! blocked  < rolling-back  ^ alarm
	//            09:00   09:15    09:30    09:45   10:00    10:15
	// wave 1
	//   one-box |###==================                               |  succeeded at 09:35
	//   zone-a  |                    !!!!!!!!!######===========^<<<<<|  rolled-back at 10:30 · alarm 10:20: 5xx > 1%
	//   zone-b  |                                                    |  skipped
}

// FromPlan shows a plan before it runs, with every stage placed after the
// previous one's bake.
func ExampleFromPlan() {
	one := func(id string) []wave.Batch { return []wave.Batch{{Targets: []wave.Target{{ID: id}}}} }
	plan := &wave.Plan{Levels: []string{"region", "zone"}, Waves: []wave.Wave{
		{Index: 0, Regions: []string{"us-east-1"}, Stages: []wave.Stage{
			{Name: "w1/us-east-1/one-box", Kind: wave.OneBox, Batches: one("h1"), Bake: duration.Duration(time.Hour)},
			{Name: "w1/use1-az1", Kind: wave.Zone, Batches: one("h2"), Bake: duration.Duration(2 * time.Hour)},
		}},
		{Index: 1, Regions: []string{"eu-west-1"}, Stages: []wave.Stage{
			{Name: "w2/eu-west-1", Kind: wave.Region, Batches: append(one("e1"), one("e2")...), Bake: duration.Duration(4 * time.Hour)},
		}},
	}}
	tl, err := timeline.FromPlan(plan, timeline.Estimate{
		Start:       time.Date(2024, 3, 4, 9, 0, 0, 0, time.UTC),
		BatchDeploy: 15 * time.Minute,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := tl.WriteText(os.Stdout, 110); err != nil {
		fmt.Println(err)
	}
	// Output:
	// Plan: 2 waves, 3 stages, 4 targets
	// 3 stages · 2024-03-04 09:00:00 UTC to 2024-03-04 17:00:00 UTC (8h) · estimated times
	// legend: # deploying  = baking
	//                             10:00     12:00     14:00     16:00
	// wave 1: us-east-1
	//   w1/us-east-1/one-box |##=====                                |  planned 09:00-10:15
	//   w1/use1-az1          |      ##==========                     |  planned 10:15-12:30
	// wave 2: eu-west-1
	//   w2/eu-west-1         |                 ###===================|  planned 12:30-17:00
}

// WriteSVG writes a standalone picture: every span is a rect with a tooltip
// saying what, when and why.
func ExampleTimeline_WriteSVG() {
	t0 := time.Date(2024, 3, 4, 9, 0, 0, 0, time.UTC)
	tl := &timeline.Timeline{Title: "search v7", Rows: []timeline.Row{{
		Name: "one-box",
		Spans: []timeline.Span{
			{Kind: timeline.Deploying, Start: t0, End: t0.Add(4 * time.Minute)},
			{Kind: timeline.Baking, Start: t0.Add(4 * time.Minute), End: t0.Add(64 * time.Minute), Label: "bake 1h"},
		},
	}}}
	var b bytes.Buffer
	if err := tl.WriteSVG(&b); err != nil {
		fmt.Println(err)
		return
	}
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(line, `<rect class="span`) {
			fmt.Println(line)
		}
	}
	// Output:
	// <rect class="span deploying" x="156" y="88" width="63.8" height="14" rx="2" fill="#2563eb"><title>deploying 09:00:00–09:04:00 (4m)</title></rect>
	// <rect class="span baking" x="219.8" y="88" width="956.2" height="14" rx="2" fill="#86efac"><title>baking 09:04:00–10:04:00 (1h): bake 1h</title></rect>
}
