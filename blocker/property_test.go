package blocker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// randomPolicy builds a valid policy over zones with awkward rules: DST in
// both hemispheres, a 30-minute DST shift (Lord Howe), odd offsets
// (Kolkata, Chatham) and none (Tokyo). Every boundary is whole minutes, so a
// minute-by-minute scan sees every change.
func randomPolicy(r *rand.Rand, base time.Time) (Policy, []string) {
	zones := []string{"America/New_York", "Europe/Berlin", "Australia/Sydney", "Australia/Lord_Howe",
		"Asia/Kolkata", "Pacific/Chatham", "Asia/Tokyo", "America/Santiago"}
	p := Policy{Zones: map[string]string{}, Horizon: 12 * 24 * 60 * 60 * 1e9}
	var regions []string
	for i := range 1 + r.IntN(3) {
		name := fmt.Sprintf("r%d", i)
		p.Zones[name] = zones[r.IntN(len(zones))]
		regions = append(regions, name)
	}
	clock := func() int { return r.IntN(96) * 15 }
	window := func() Window {
		a, b := clock(), clock()
		if a == b {
			b = a + 15
		}
		if a > b {
			a, b = b, a
		}
		w := Window{Start: fmtClock(a * 60), End: fmtClock(b * 60)}
		for d := range 7 {
			if r.IntN(2) == 0 {
				w.Days = append(w.Days, time.Weekday(d).String()[:3])
			}
		}
		return w
	}
	for range r.IntN(3) {
		p.Windows = append(p.Windows, window())
	}
	for range r.IntN(2) {
		p.Deny = append(p.Deny, window())
	}
	for range r.IntN(3) {
		d := base.AddDate(0, 0, r.IntN(10)-1)
		h := Holiday{Date: d.Format(time.DateOnly)}
		if r.IntN(2) == 0 {
			h.Regions = []string{regions[r.IntN(len(regions))]}
		}
		p.Holidays = append(p.Holidays, h)
	}
	for range r.IntN(2) {
		start := base.Add(time.Duration(r.IntN(8*24*60)-24*60) * time.Minute)
		f := Freeze{Start: start, End: start.Add(time.Duration(1+r.IntN(3*24*60)) * time.Minute), Reason: "random"}
		if r.IntN(2) == 0 {
			f.Regions = []string{regions[r.IntN(len(regions))]}
		}
		p.Freezes = append(p.Freezes, f)
	}
	for range r.IntN(2) {
		from := base.AddDate(0, 0, r.IntN(6)-1)
		f := Freeze{From: from.Format(time.DateOnly), Through: from.AddDate(0, 0, r.IntN(3)).Format(time.DateOnly), Reason: "local"}
		if r.IntN(2) == 0 {
			f.Regions = []string{regions[r.IntN(len(regions))]}
		}
		p.Freezes = append(p.Freezes, f)
	}
	return p, regions
}

// TestHoldsUntil checks, for random policies around the DST transitions,
// that every rule that holds a region holds it at every minute from now to
// its Until and no longer at Until: the Until a driver would name is
// exact.
func TestHoldsUntil(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	starts := []time.Time{
		utc("2025-03-07T00:00:00Z"), utc("2025-03-28T00:00:00Z"), utc("2025-10-24T00:00:00Z"),
		utc("2025-04-04T00:00:00Z"), utc("2025-09-05T00:00:00Z"), utc("2025-10-03T00:00:00Z"),
	}
	cases := 200
	if testing.Short() {
		cases = 20
	}
	checked := 0
	for i := range cases {
		base := starts[i%len(starts)]
		p, regions := randomPolicy(r, base)
		cal, err := NewCalendar(p)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		now := base.Add(time.Duration(r.IntN(3*24*60)) * time.Minute)
		zs, err := cal.judged(Subject{Regions: regions})
		if err != nil {
			t.Fatal(err)
		}
		for _, z := range zs {
			var why []held
			cal.c.closed(z, now, &why)
			for _, h := range why {
				if h.holds == nil {
					continue // an absolute freeze: its End
				}
				until := cal.c.holdUntil(z, now, h.holds)
				if until.IsZero() {
					continue // beyond the horizon
				}
				checked++
				if h.holds(until) || !h.holds(until.Add(-time.Second)) {
					t.Errorf("case %d: %s %q in %s (%s): holds at Until %s: %v, a second before: %v",
						i, h.Kind, h.Name, z.region, z.loc, until.UTC(), h.holds(until), h.holds(until.Add(-time.Second)))
				}
				for at := now; at.Before(until); at = at.Add(time.Minute) {
					if !h.holds(at) {
						t.Errorf("case %d: %s %q in %s stops holding at %s, before its Until %s", i, h.Kind, h.Name, z.region, at.UTC(), until.UTC())
						break
					}
				}
			}
		}
	}
	if checked < cases/4 {
		t.Errorf("only %d holds checked in %d cases", checked, cases)
	}
}

// TestNextOpenMatchesScan checks NextOpen against a brute-force scan, minute
// by minute, for random policies around the DST transitions of 2025 in both
// hemispheres: the scan's first open minute must be NextOpen's answer, and
// Check must agree with the scan at every minute.
func TestNextOpenMatchesScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	starts := []time.Time{
		utc("2025-03-07T00:00:00Z"), utc("2025-03-28T00:00:00Z"), // northern spring forward
		utc("2025-10-24T00:00:00Z"), utc("2025-10-31T00:00:00Z"), // northern fall back
		utc("2025-04-04T00:00:00Z"), utc("2025-10-03T00:00:00Z"), // southern changes
		utc("2025-06-01T00:00:00Z"),
	}
	cases := 100
	if testing.Short() {
		cases = 10
	}
	const scanDays = 5
	stats := map[string]int{}
	defer func() { t.Logf("outcomes: %v", stats) }()
	for i := range cases {
		base := starts[i%len(starts)]
		p, regions := randomPolicy(r, base)
		cal, err := NewCalendar(p)
		if err != nil {
			t.Fatalf("case %d: random policy invalid: %v\n%+v", i, err, p)
		}
		s := Subject{Regions: regions}
		now := base.Add(time.Duration(r.IntN(2*24*60)) * time.Minute)
		next, err := cal.NextOpen(s, now)
		if err != nil && !errors.Is(err, ErrNeverOpen) {
			t.Fatalf("case %d: NextOpen: %v", i, err)
		}
		zs, err := cal.judged(s)
		if err != nil {
			t.Fatal(err)
		}
		var scanned time.Time
		for m := 0; m < scanDays*24*60; m++ {
			at := now.Add(time.Duration(m) * time.Minute)
			open := true
			for _, z := range zs {
				open = open && !cal.c.closed(z, at, nil)
			}
			if open {
				scanned = at
				break
			}
		}
		if d, err := cal.Check(context.Background(), s, now); err != nil || d.Blocked != !scanned.Equal(now) {
			t.Errorf("case %d: Check(%s) = %+v, %v; scan says open at %s", i, now.UTC(), d, err, scanned.UTC())
		}
		switch {
		case scanned.Equal(now):
			stats["open now"]++
		case scanned.IsZero():
			stats["closed for the whole scan"]++
		default:
			stats["opens later"]++
		}
		switch {
		case scanned.IsZero() && !next.IsZero() && next.Before(now.AddDate(0, 0, scanDays)):
			t.Errorf("case %d: NextOpen = %s but the scan found nothing open in %d days\npolicy %+v",
				i, next.UTC(), scanDays, p)
		case !scanned.IsZero() && !scanned.Equal(next):
			t.Errorf("case %d: NextOpen(%s) = %s, scan says %s\npolicy %+v",
				i, now.UTC(), next.UTC(), scanned.UTC(), p)
		}
	}
}
