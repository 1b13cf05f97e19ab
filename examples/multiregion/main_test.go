package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/blocker"
	"github.com/shepherd-go/shepherd/rollout"
)

// TestRolloutRespectsTheCalendar checks what the example claims: the
// rollout succeeds within five business days, every stage starts inside
// the business hours of every region it touches, nothing is deployed on
// Tokyo's holiday or during the freeze, and the timeline renders.
func TestRolloutRespectsTheCalendar(t *testing.T) {
	var log bytes.Buffer
	res, err := simulate(context.Background(), &log)
	if err != nil {
		t.Fatal(err)
	}
	o := res.outcome
	if o.Err != nil || o.Phase != rollout.Succeeded {
		t.Fatalf("outcome %v:\n%s", o.Err, o)
	}
	if n := businessDays(o.Started, o.Ended); n > 5 {
		t.Errorf("the rollout took %d business days, want at most 5", n)
	}
	if got := len(o.Running("v2")); got != 72 {
		t.Errorf("%d targets on v2, want 72", got)
	}
	regionsOf := map[string][]string{}
	for _, wv := range res.plan.Waves {
		for _, st := range wv.Stages {
			regionsOf[st.Name] = st.Regions
		}
	}
	starts := 0
	for _, e := range o.Events {
		if e.Kind != rollout.EventBatchStarted || e.Batch != 0 {
			continue
		}
		starts++
		d, err := res.calendar.Check(context.Background(), blocker.Subject{Regions: regionsOf[e.Stage]}, e.Time)
		if err != nil || d.Blocked {
			t.Errorf("stage %s started deploying at %s while the calendar says %s (%v)", e.Stage, e.Time.Format(time.RFC3339), d, err)
		}
	}
	if starts != 16 {
		t.Errorf("%d stages started deploying, want 16", starts)
	}
	freeze := calendar().Freezes[0]
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range o.Calls {
		if c.Start.Before(freeze.End) && c.End.After(freeze.Start) {
			t.Errorf("%s of %s during the freeze, %s to %s", c.Op, c.Target, c.Start.Format(time.RFC3339), c.End.Format(time.RFC3339))
		}
		if strings.HasPrefix(c.Target, "ap-northeast-1") && c.Start.In(tokyo).Format("2006-01-02") == "2026-03-03" {
			t.Errorf("%s deployed on Tokyo's holiday, at %s", c.Target, c.Start.In(tokyo))
		}
	}
	// Held by the holiday in Tokyo and by the freeze in America.
	text := log.String()
	for _, want := range []string{`holiday "a public holiday" on 2026-03-03`, `freeze "company-wide load test"`} {
		if !strings.Contains(text, want) {
			t.Errorf("the progress never says %q", want)
		}
	}
	// What the program prints after the progress, and the page.
	var out, html bytes.Buffer
	if err := report(&out, &html, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"== the outcome: succeeded after 96h48m0s, 5 business days; 72 targets on v2",
		"  blocked       61h36m0s",
		"v2 · wave 4: us-west-2, us-east-1",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(html.String(), "<svg") {
		t.Error("the timeline page has no SVG")
	}
}
