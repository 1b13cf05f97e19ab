// Command multiregion previews a rollout across six regions before it
// happens: it plans the waves with the published practice (a small region
// first, a one-box before each region's first zone, one zone at a time,
// bakes of hours), runs the whole rollout in simulated time against a
// simulated fleet, held by business hours in each region's own time zone,
// a holiday and an organisation-wide freeze, and prints the plan, the
// progress, where the time went, and the timeline (also written as an HTML
// page).
//
//	go run ./examples/multiregion
//
// The five-day rollout takes a second or two: rollouttest.Simulate drives
// the rollout's step function itself and jumps from one instant to the
// next, so no clock is faked and no goroutine sleeps. (A program cannot
// use testing/synctest; a test can, with rollouttest.Run and the real
// driver, which gives the same outcome.)
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"time"
	_ "time/tzdata" // the regions' time zones, wherever this runs

	"github.com/shepherd-go/shepherd/blocker"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/examples/internal/runview"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/timeline"
	"github.com/shepherd-go/shepherd/wave"
)

func main() {
	out, err := os.CreateTemp("", "shepherd-multiregion-*.html")
	if err == nil {
		err = run(context.Background(), os.Stdout, out)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(out.Name())
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "multiregion:", err)
		os.Exit(1)
	}
}

// region is one region of the fleet: its time zone and the weight of each
// of its hosts (its share of traffic).
type region struct {
	name, zone string
	weight     float64
}

// The six regions, lightest first: the planner sends the change to the
// lightest region first, then to the next, then two by two. Regions that
// share a wave share business hours too (Europe with Europe, America with
// America): a stage starts only when every region it touches is inside its
// window, and Tokyo's and California's working days never overlap.
var regions = []region{
	{"ap-southeast-2", "Australia/Sydney", 1},
	{"ap-northeast-1", "Asia/Tokyo", 2},
	{"eu-central-1", "Europe/Berlin", 3},
	{"eu-west-1", "Europe/Dublin", 4},
	{"us-west-2", "America/Los_Angeles", 5},
	{"us-east-1", "America/New_York", 8},
}

// start is Monday 2 March 2026, 00:00 UTC: 11:00 in Sydney.
var start = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// fleet is three zones of four hosts per region.
func fleet() []wave.Target {
	var ts []wave.Target
	for _, r := range regions {
		for _, z := range []string{"a", "b", "c"} {
			for h := 1; h <= 4; h++ {
				id := fmt.Sprintf("%s%s-%d", r.name, z, h)
				ts = append(ts, wave.Target{ID: id, Location: []string{r.name, r.name + z, id}, Weight: r.weight})
			}
		}
	}
	return ts
}

// The wave policy is the published practice: waves of 1, 1, 2 and 2
// regions; in each region a one-box (one host of four, so the share a
// one-box may carry is raised to 25%), then one zone at a time; bakes of
// 1h after a one-box and a zone, 12h after the first wave, 2h after the
// others, and 2h at the end. Every other field is a documented default.
var wavePolicy = wave.Policy{
	OneBox: wave.OneBoxRule{MaxFraction: 0.25},
	Waves:  wave.Sizing{Sizes: []int{1, 1, 2, 2}},
}

// calendar: deploy on weekdays from 09:00 to 17:00 local time, never on
// Friday after 15:00, not on a Tuesday that is a public holiday in Tokyo
// (for the example's sake), and nowhere during Wednesday's company-wide
// load test.
func calendar() blocker.Policy {
	zones := map[string]string{}
	for _, r := range regions {
		zones[r.name] = r.zone
	}
	return blocker.Policy{
		Zones:    zones,
		Windows:  []blocker.Window{{Days: []string{"Mon-Fri"}, Start: "09:00", End: "17:00"}},
		Deny:     []blocker.Window{{Days: []string{"Fri"}, Start: "15:00"}},
		Holidays: []blocker.Holiday{{Date: "2026-03-03", Name: "a public holiday", Regions: []string{"ap-northeast-1"}}},
		Freezes: []blocker.Freeze{{
			Start:  time.Date(2026, 3, 4, 13, 0, 0, 0, time.UTC),
			End:    time.Date(2026, 3, 4, 22, 0, 0, 0, time.UTC),
			Reason: "company-wide load test",
		}},
	}
}

// result is what the simulation produced.
type result struct {
	plan     *wave.Plan
	calendar *blocker.Calendar
	fleet    *rollouttest.Fleet
	outcome  *rollouttest.Outcome
	timeline *timeline.Timeline
}

// simulate plans and runs the rollout of v2, printing progress to w.
func simulate(ctx context.Context, w io.Writer) (*result, error) {
	targets := fleet()
	plan, err := wavePolicy.Plan(targets)
	if err != nil {
		return nil, err
	}
	cal, err := blocker.NewCalendar(calendar())
	if err != nil {
		return nil, err
	}
	locs := map[string]*time.Location{}
	for _, r := range regions {
		if locs[r.name], err = time.LoadLocation(r.zone); err != nil {
			return nil, err
		}
	}
	f, err := rollouttest.NewFleet(rollouttest.Config{
		Targets:    targets,
		Initial:    "v1",
		DeployTime: 4 * time.Minute,
		Traffic:    rollouttest.Traffic{Locations: locs},
		Seed:       2026,
	})
	if err != nil {
		return nil, err
	}
	tl := &timeline.Timeline{Title: "v2 across six regions (simulated; times in UTC)"}
	view := timeline.NewRecorder(tl, "v2", plan)
	pr := &runview.Printer{W: w, Clock: true}
	out, err := rollouttest.Simulate(ctx, f, rollouttest.Scenario{
		ID:      "v2-multiregion",
		Plan:    *plan,
		Version: "v2",
		Start:   start,
		// Alarms every five minutes rather than every minute: a preview
		// of days does not need the finer grain, and runs five times
		// faster.
		Policy: rollout.Policy{Alarms: rollout.AlarmPolicy{Interval: duration.Duration(5 * time.Minute)}},
		Options: rollout.Config{
			Blockers: rollout.BlockerSet{Set: blocker.Set{Entries: []blocker.Entry{{Name: "calendar", Blocker: cal}}}, Service: "checkout"},
			OnEvent: func(e rollout.Event) {
				pr.Event(e)
				view.Event(e)
			},
		},
	})
	if err != nil {
		return nil, err
	}
	if err := view.Err(); err != nil {
		return nil, err
	}
	return &result{plan: plan, calendar: cal, fleet: f, outcome: out, timeline: tl}, nil
}

func run(ctx context.Context, w io.Writer, html io.Writer) error {
	plan, err := wavePolicy.Plan(fleet())
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "== the plan")
	fmt.Fprintln(w, plan.Explain())
	fmt.Fprintln(w, "== the blockers (each region in its own time zone)")
	fmt.Fprintln(w, "  deploy Mon-Fri 09:00-17:00, never Friday after 15:00")
	fmt.Fprintln(w, "  holiday: Tue 2026-03-03 in ap-northeast-1")
	fmt.Fprintln(w, "  freeze: Wed 2026-03-04 13:00-22:00 UTC, company-wide load test")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "== the rollout, simulated from %s (times in UTC)\n", start.Format("Mon 2 Jan 2006 15:04"))
	res, err := simulate(ctx, w)
	if err != nil {
		return err
	}
	return report(w, html, res)
}

// report prints the outcome and the timeline, and writes the page.
func report(w io.Writer, html io.Writer, res *result) error {
	o := res.outcome
	if o.Err != nil {
		return fmt.Errorf("the rollout did not succeed: %v", o.Err)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "== the outcome: %s after %s, %d business days; %d targets on v2\n",
		o.Phase, o.Duration().Round(time.Minute), businessDays(o.Started, o.Ended), len(o.Running("v2")))
	fmt.Fprintln(w, "where the time went:")
	for _, a := range rollout.Activities {
		if d := o.Timings.Get(a); d > 0 {
			fmt.Fprintf(w, "  %-13s %s\n", a, d.Round(time.Minute))
		}
	}
	fmt.Fprintln(w, "time blocked, by blocker:")
	blocked := map[string]time.Duration{}
	for _, e := range o.Events {
		if e.Kind == rollout.EventUnblocked {
			for b, d := range e.Blockers {
				blocked[b] += d
			}
		}
	}
	var names []string
	for b := range blocked {
		names = append(names, b)
	}
	sort.Strings(names)
	for _, b := range names {
		fmt.Fprintf(w, "  %-13s %s\n", b, blocked[b].Round(time.Minute))
	}
	fmt.Fprintln(w)
	if err := res.timeline.WriteText(w, 120); err != nil {
		return err
	}
	if err := res.timeline.WriteHTML(html); err != nil {
		return err
	}
	if f, ok := html.(interface{ Name() string }); ok {
		fmt.Fprintf(w, "\ntimeline written to %s\n", f.Name())
	}
	return nil
}

// businessDays counts the weekdays from a to b, the first and last
// included.
func businessDays(a, b time.Time) int {
	n := 0
	for d := a.Truncate(24 * time.Hour); !d.After(b); d = d.Add(24 * time.Hour) {
		if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n++
		}
	}
	return n
}
