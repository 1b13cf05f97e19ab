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

// closed reports whether z is closed at t; when why is not nil it appends
// every reason. With a nil why it stops at the first reason and formats
// nothing, since NextOpen calls it thousands of times.
func (c *compiled) closed(z zoned, t time.Time, why *[]string) bool {
	shut := false
	for _, f := range c.freezes {
		if !t.Before(f.Start) && t.Before(f.End) && appliesList(f.Regions, z.region) {
			if why == nil {
				return true
			}
			shut = true
			*why = append(*why, fmt.Sprintf("freeze %q until %s", f.Reason, f.End.UTC().Format(time.RFC3339)))
		}
	}
	lt := t.In(z.loc)
	y, m, d := lt.Date()
	for _, h := range c.holidays[civil{y, m, d}] {
		if !applies(h.regions, z.region) {
			continue
		}
		if why == nil {
			return true
		}
		shut = true
		if h.name != "" {
			*why = append(*why, fmt.Sprintf("holiday %q on %04d-%02d-%02d", h.name, y, m, d))
		} else {
			*why = append(*why, fmt.Sprintf("holiday on %04d-%02d-%02d", y, m, d))
		}
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
			*why = append(*why, "denied by "+s.text)
		}
	}
	if len(c.windows) == 0 {
		return shut
	}
	for _, s := range c.windows {
		if s.covers(wd, sec) {
			return shut
		}
	}
	if why != nil {
		texts := make([]string, len(c.windows))
		for i, s := range c.windows {
			texts[i] = s.text
		}
		*why = append(*why, "outside the allowed windows ("+strings.Join(texts, "; ")+")")
	}
	return true
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
// calendar governs is closed, with every region's reasons and, in Until, the
// next instant all of them are open ([Calendar.NextOpen]). A region without
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
	for _, z := range zs {
		var why []string
		reading := now.In(z.loc).Format("Mon 2006-01-02 15:04 MST")
		if cal.c.closed(z, now, &why) {
			blocked = append(blocked, fmt.Sprintf("%s (%s): %s", z.label(), reading, strings.Join(why, "; ")))
		} else {
			open = append(open, fmt.Sprintf("%s (%s)", z.label(), reading))
		}
	}
	if len(blocked) == 0 {
		return Decision{Reason: "open in " + strings.Join(open, ", ")}, nil
	}
	d := Decision{Blocked: true, Reason: strings.Join(blocked, "; ")}
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
