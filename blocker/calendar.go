package blocker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Calendar is a compiled [Policy]: a [Blocker] that blocks a subject while
// any of its regions is outside the policy's windows in its own local time,
// on a holiday, in a Deny window or in a freeze, and says when all of them
// will next be open. Create it with [NewCalendar]; it is immutable and safe
// for concurrent use.
type Calendar struct {
	c *compiled
}

// NewCalendar validates p (see [Policy.Validate]) and compiles it, loading
// its time zones once.
func NewCalendar(p Policy) (*Calendar, error) {
	c, err := compile(p)
	if err != nil {
		return nil, err
	}
	return &Calendar{c: c}, nil
}

// zoned is a region to judge and its zone.
type zoned struct {
	region string // "" for a subject without regions
	loc    *time.Location
}

func (z zoned) label() string {
	if z.region == "" {
		return z.loc.String()
	}
	return z.region
}

// judged returns the subject's regions that the calendar governs, with their
// zones, or an error wrapping [ErrNoZone].
func (cal *Calendar) judged(s Subject) ([]zoned, error) {
	c := cal.c
	if len(s.Regions) == 0 {
		if c.regions != nil {
			return nil, nil
		}
		if c.def == nil {
			return nil, fmt.Errorf("%w: a subject without regions needs a default Zone", ErrNoZone)
		}
		return []zoned{{loc: c.def}}, nil
	}
	out := make([]zoned, 0, len(s.Regions))
	for i, r := range s.Regions {
		if c.regions != nil && !c.regions[r] {
			continue
		}
		dup := false
		for _, o := range s.Regions[:i] {
			dup = dup || o == r
		}
		if dup {
			continue
		}
		loc := c.zones[r]
		if loc == nil {
			loc = c.def
		}
		if loc == nil {
			return nil, fmt.Errorf("%w: %q is not in Zones and the policy has no default Zone", ErrNoZone, r)
		}
		out = append(out, zoned{region: r, loc: loc})
	}
	return out, nil
}

// applies reports whether a region-scoped entry (nil set: global) applies to
// region; the unknown region "" of a subject without regions could be any
// region, so every entry applies to it.
func applies(set map[string]bool, region string) bool {
	return set == nil || region == "" || set[region]
}

func appliesList(list []string, region string) bool {
	if len(list) == 0 || region == "" {
		return true
	}
	for _, r := range list {
		if r == region {
			return true
		}
	}
	return false
}

// held is one rule that holds a region, as closed reports it: the hold,
// and either its Until already known or the test of whether it still
// holds at an instant, from which [compiled.holdUntil] finds it.
type held struct {
	Hold
	text  string               // the reason, before its Until
	holds func(time.Time) bool // nil: Hold.Until is known
}

// closed reports whether z is closed at t; when why is not nil it appends
// every rule that holds it. With a nil why it stops at the first rule and
// formats nothing, since NextOpen calls it thousands of times.
func (c *compiled) closed(z zoned, t time.Time, why *[]held) bool {
	shut := false
	for _, f := range c.freezes {
		if !t.Before(f.Start) && t.Before(f.End) && appliesList(f.Regions, z.region) {
			if why == nil {
				return true
			}
			shut = true
			*why = append(*why, held{Hold: Hold{Kind: HoldFreeze, Name: f.Reason, Region: z.region, Until: f.End},
				text: fmt.Sprintf("freeze %q", f.Reason)})
		}
	}
	lt := t.In(z.loc)
	y, m, d := lt.Date()
	today := civil{y, m, d}
	for i := range c.local {
		f := &c.local[i]
		if !f.covers(today) || !appliesList(f.regions, z.region) {
			continue
		}
		if why == nil {
			return true
		}
		shut = true
		*why = append(*why, held{Hold: Hold{Kind: HoldFreeze, Name: f.reason, Region: z.region},
			text: fmt.Sprintf("freeze %q through %s (local dates from %s)", f.reason, f.through, f.from),
			holds: func(t time.Time) bool {
				y, m, d := t.In(z.loc).Date()
				return f.covers(civil{y, m, d})
			}})
	}
	for _, h := range c.holidays[today] {
		if !applies(h.regions, z.region) {
			continue
		}
		if why == nil {
			return true
		}
		shut = true
		text := fmt.Sprintf("holiday on %s", today)
		name := h.name
		if name != "" {
			text = fmt.Sprintf("holiday %q on %s", name, today)
		} else {
			name = today.String()
		}
		*why = append(*why, held{Hold: Hold{Kind: HoldHoliday, Name: name, Region: z.region}, text: text,
			holds: func(t time.Time) bool {
				y, m, d := t.In(z.loc).Date()
				return civil{y, m, d} == today
			}})
	}
	wd := lt.Weekday()
	hh, mm, ss := lt.Clock()
	sec := hh*3600 + mm*60 + ss
	for _, s := range c.deny {
		if s.covers(wd, sec) {
			if why == nil {
				return true
			}
			shut = true
			*why = append(*why, held{Hold: Hold{Kind: HoldDeny, Name: s.text, Region: z.region}, text: "denied by " + s.text,
				holds: func(t time.Time) bool {
					lt := t.In(z.loc)
					hh, mm, ss := lt.Clock()
					return s.covers(lt.Weekday(), hh*3600+mm*60+ss)
				}})
		}
	}
	if len(c.windows) == 0 {
		return shut
	}
	if c.inWindow(z, lt) {
		return shut
	}
	if why != nil {
		texts := make([]string, len(c.windows))
		for i, s := range c.windows {
			texts[i] = s.text
		}
		text := strings.Join(texts, "; ")
		*why = append(*why, held{Hold: Hold{Kind: HoldWindow, Name: text, Region: z.region}, text: "outside the allowed windows (" + text + ")",
			holds: func(t time.Time) bool { return !c.inWindow(z, t.In(z.loc)) }})
	}
	return true
}

// inWindow reports whether the local reading lt is inside an allowed
// window.
func (c *compiled) inWindow(z zoned, lt time.Time) bool {
	hh, mm, ss := lt.Clock()
	sec := hh*3600 + mm*60 + ss
	for _, s := range c.windows {
		if s.covers(lt.Weekday(), sec) {
			return true
		}
	}
	return false
}

// holdUntil returns the first instant at or after now when holds is
// false, searching up to the horizon by the same steps as NextOpen; the
// zero time if there is none.
func (c *compiled) holdUntil(z zoned, now time.Time, holds func(time.Time) bool) time.Time {
	limit := now.Add(c.horizon)
	for t := now; !t.After(limit); t = c.nextChange(z, t) {
		if !holds(t) {
			return t
		}
	}
	return time.Time{}
}

// nextChange returns an instant after t before which the state of z cannot
// change: the next boundary of a window, of a local day, of the zone's
// offset (a daylight saving transition) or of a freeze.
//
// Within one zone period the local reading is the instant plus a fixed
// offset, so the next wall-clock boundary converts back to an instant
// exactly; a transition in between ends the period first, and the search
// resumes from the transition with the new offset. This is what makes
// spring-forward gaps and fall-back repeats come out right without asking
// time.Date to interpret readings that do not exist or exist twice.
func (c *compiled) nextChange(z zoned, t time.Time) time.Time {
	lt := t.In(z.loc)
	_, offSec := lt.Zone()
	off := time.Duration(offSec) * time.Second
	_, zoneEnd := lt.ZoneBounds()
	naive := t.UTC().Add(off)
	day := naive.Truncate(24 * time.Hour)
	sod := naive.Sub(day)
	next := day.Add(24 * time.Hour)
	for _, cl := range c.clocks {
		if d := time.Duration(cl) * time.Second; d > sod {
			next = day.Add(d)
			break
		}
	}
	inst := next.Add(-off)
	if !zoneEnd.IsZero() && zoneEnd.After(t) && zoneEnd.Before(inst) {
		inst = zoneEnd
	}
	for _, f := range c.freezes {
		if !appliesList(f.Regions, z.region) {
			continue
		}
		if f.Start.After(t) && f.Start.Before(inst) {
			inst = f.Start
		}
		if f.End.After(t) && f.End.Before(inst) {
			inst = f.End
		}
	}
	return inst
}

// NextOpen returns the first instant at or after now when every region of s
// that the calendar governs is open at once (each in its own local time),
// searching up to the policy's horizon. It returns now when s is open now,
// and an error wrapping [ErrNeverOpen] when no such instant exists within
// the horizon (or [ErrNoZone] when a region has no zone).
//
// The result is exact to the second: it is a window's start, the end of a
// holiday, deny window or freeze, or a daylight saving transition.
func (cal *Calendar) NextOpen(s Subject, now time.Time) (time.Time, error) {
	zs, err := cal.judged(s)
	if err != nil {
		return time.Time{}, err
	}
	return cal.c.nextOpen(zs, now)
}

func (c *compiled) nextOpen(zs []zoned, now time.Time) (time.Time, error) {
	limit := now.Add(c.horizon)
	t := now
	for !t.After(limit) {
		open := true
		jump := t
		for _, z := range zs {
			if !c.closed(z, t, nil) {
				continue
			}
			open = false
			// No instant before this region's next change can be open
			// for every region, so jump to the latest such change.
			if n := c.nextChange(z, t); n.After(jump) {
				jump = n
			}
		}
		if open {
			return t, nil
		}
		t = jump
	}
	return time.Time{}, fmt.Errorf("%w (%s from %s)", ErrNeverOpen, c.horizon, now.UTC().Format(time.RFC3339))
}

// Check implements [Blocker]: the subject is blocked while any region the
// calendar governs is closed, with every region's reasons, each rule that
// holds a region and until when in Holds (the freeze, holiday, deny window
// or the allowed windows), and, in Until, the next instant all of them are
// open ([Calendar.NextOpen]). A region without
// a time zone is an error wrapping [ErrNoZone]. Check does no I/O and
// ignores ctx.
func (cal *Calendar) Check(_ context.Context, s Subject, now time.Time) (Decision, error) {
	zs, err := cal.judged(s)
	if err != nil {
		return Decision{}, err
	}
	if len(zs) == 0 {
		return Decision{Reason: "no region of the subject is governed by this calendar"}, nil
	}
	var blocked, open []string
	var holds []Hold
	for _, z := range zs {
		var why []held
		reading := now.In(z.loc).Format("Mon 2006-01-02 15:04 MST")
		if !cal.c.closed(z, now, &why) {
			open = append(open, fmt.Sprintf("%s (%s)", z.label(), reading))
			continue
		}
		texts := make([]string, len(why))
		for i, h := range why {
			if h.holds != nil {
				h.Until = cal.c.holdUntil(z, now, h.holds)
			}
			texts[i] = h.text
			if !h.Until.IsZero() {
				texts[i] += " until " + h.Until.UTC().Format(time.RFC3339)
			}
			holds = append(holds, h.Hold)
		}
		blocked = append(blocked, fmt.Sprintf("%s (%s): %s", z.label(), reading, strings.Join(texts, "; ")))
	}
	if len(blocked) == 0 {
		return Decision{Reason: "open in " + strings.Join(open, ", ")}, nil
	}
	d := Decision{Blocked: true, Reason: strings.Join(blocked, "; "), Holds: holds}
	next, err := cal.c.nextOpen(zs, now)
	if err != nil {
		d.Reason += fmt.Sprintf("; does not open within %s", fmtDays(cal.c.horizon))
		d.Never = errors.Is(err, ErrNeverOpen)
	} else {
		d.Until = next
	}
	return d, nil
}

func fmtDays(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}
