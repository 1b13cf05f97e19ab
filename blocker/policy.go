package blocker

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/duration"
)

// DefaultHorizon is how far [Calendar.NextOpen] searches when
// [Policy.Horizon] is zero: 366 days, so that a yearly holiday or a long
// freeze is crossed but a policy that never opens is reported as such.
const DefaultHorizon = 366 * 24 * time.Hour

// MaxHorizon bounds [Policy.Horizon]; searching further is almost certainly
// a mistake in the policy.
const MaxHorizon = 5 * 366 * 24 * time.Hour

// Policy says when deploying is allowed, in each region's local time. It is
// plain data with a JSON form for configuration files; [NewCalendar]
// validates and compiles it into a [Calendar] blocker.
//
// A region is open at an instant when no freeze covers the instant (or,
// for a freeze of dates, the region's local date), the region's local date
// is not a holiday, no Deny window covers the local reading, and some
// Windows entry does (or Windows is empty). The zero
// Policy is always open, in UTC.
//
// Example JSON:
//
//	{
//	  "zone": "America/New_York",
//	  "zones": {"eu-central-1": "Europe/Berlin"},
//	  "windows": [{"days": ["Mon-Fri"], "start": "09:00", "end": "17:00"}],
//	  "deny": [{"days": ["Fri"], "start": "15:00"}],
//	  "holidays": [{"date": "2025-12-25", "name": "Christmas Day"}],
//	  "freezes": [
//	    {"start": "2025-11-27T00:00:00Z", "end": "2025-12-02T00:00:00Z", "reason": "sales event"},
//	    {"from": "2025-12-22", "through": "2026-01-02", "reason": "year-end freeze"}
//	  ]
//	}
type Policy struct {
	// Zone is the IANA time zone (for example "America/New_York") of
	// regions not listed in Zones and of subjects without regions. Empty
	// means UTC when Zones is empty; when Zones is not empty, an empty Zone
	// means there is no default, and a region missing from Zones cannot be
	// judged ([ErrNoZone]: the calendar fails closed) rather than being
	// judged in the wrong local time.
	Zone string `json:"zone,omitempty"`
	// Zones maps regions to their IANA time zones.
	Zones map[string]string `json:"zones,omitempty"`
	// Regions limits the policy to these regions: a subject's other
	// regions are not judged by it, and a subject none of whose regions is
	// listed is clear. A subject without regions is judged in Zone only
	// when Regions is empty. Empty: every region.
	Regions []string `json:"regions,omitempty"`
	// Windows are the local days and hours when deploying is allowed.
	// Empty: at any time (holidays, freezes and Deny still apply).
	Windows []Window `json:"windows,omitempty"`
	// Deny are local days and hours when deploying is not allowed even
	// inside Windows, for example {"days": ["Fri"], "start": "15:00"} for
	// "not after 15:00 on Fridays".
	Deny []Window `json:"deny,omitempty"`
	// Holidays are whole local days without deployments.
	Holidays []Holiday `json:"holidays,omitempty"`
	// Freezes are periods without deployments, as absolute instants or
	// as local dates of each region.
	Freezes []Freeze `json:"freezes,omitempty"`
	// Horizon bounds the search of [Calendar.NextOpen]. Zero means
	// [DefaultHorizon]; at most [MaxHorizon].
	Horizon duration.Duration `json:"horizon,omitempty"`
}

// Window is a range of local hours on some weekdays, [Start, End).
type Window struct {
	// Days are the weekdays the window applies to: names ("Mon",
	// "Monday", case-insensitive) or ranges ("Mon-Fri"; "Sat-Sun"; a range
	// may wrap, "Fri-Mon"). Empty: every day.
	Days []string `json:"days,omitempty"`
	// Start is the local time the window opens, "HH:MM". Empty: "00:00".
	Start string `json:"start,omitempty"`
	// End is the local time the window closes, "HH:MM", after Start;
	// "24:00" is the end of the day. Empty: "24:00". A window never crosses
	// midnight: write an overnight window as two windows.
	End string `json:"end,omitempty"`
}

// Holiday is a local date without deployments.
type Holiday struct {
	// Date is the local calendar date, "YYYY-MM-DD".
	Date string `json:"date"`
	// Name says which holiday it is, for reasons.
	Name string `json:"name,omitempty"`
	// Regions are the regions that observe the holiday, each on its own
	// local date. Empty: every region (a global holiday).
	Regions []string `json:"regions,omitempty"`
}

// Freeze is a period without deployments, in one of two forms:
//
//   - instants, Start and End: [Start, End), the same moment everywhere
//     (an incident, an event that starts at 18:00 UTC);
//   - local dates, From and Through: whole days, both included, judged in
//     each region's own time zone like a holiday, so that a company
//     freeze "from 2025-12-22 through 2026-01-02" starts at local midnight
//     in every region without converting anything by hand.
//
// Set Start and End, or From and Through, not both.
type Freeze struct {
	// Start and End bound a freeze of instants.
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
	// From and Through are the first and last local dates of a freeze of
	// dates, "YYYY-MM-DD"; Through may equal From (a one-day freeze).
	From    string `json:"from,omitempty"`
	Through string `json:"through,omitempty"`
	// Reason says why, for example "sales event"; required. It names the
	// freeze in reasons and in [Hold.Name].
	Reason string `json:"reason"`
	// Regions are the regions frozen. Empty: every region.
	Regions []string `json:"regions,omitempty"`
}

// Validate reports every problem with the policy, each naming its field
// (for example `blocker: policy.Windows[0].End: hour 25 is outside 0-24`),
// as an [errors.Join] of [*FieldError] values; nil when the policy is valid.
// It loads every time zone, so an unknown zone is reported here.
func (p Policy) Validate() error {
	_, err := compile(p)
	return err
}

// compiled is a validated policy in the form the calendar evaluates.
type compiled struct {
	def      *time.Location // nil: no default zone
	zones    map[string]*time.Location
	regions  map[string]bool // nil: every region
	windows  []span
	deny     []span
	holidays map[civil][]holiday
	freezes  []Freeze // of instants
	local    []localFreeze
	clocks   []int // sorted distinct boundaries in seconds of the day, with 0 and 86400
	horizon  time.Duration
}

// span is a compiled window: a weekday set and seconds of the local day.
type span struct {
	days       uint8 // bit i: time.Weekday(i)
	start, end int   // seconds of the day, start < end <= 86400
	text       string
}

func (s span) covers(wd time.Weekday, sec int) bool {
	return s.days&(1<<wd) != 0 && s.start <= sec && sec < s.end
}

type civil struct {
	y int
	m time.Month
	d int
}

// before reports whether c is an earlier date than o.
func (c civil) before(o civil) bool {
	if c.y != o.y {
		return c.y < o.y
	}
	if c.m != o.m {
		return c.m < o.m
	}
	return c.d < o.d
}

func (c civil) String() string { return fmt.Sprintf("%04d-%02d-%02d", c.y, c.m, c.d) }

// localFreeze is a freeze of local dates, from through through.
type localFreeze struct {
	from, through civil
	reason        string
	regions       []string
}

func (f *localFreeze) covers(c civil) bool { return !c.before(f.from) && !f.through.before(c) }

type holiday struct {
	name    string
	regions map[string]bool // nil: global
}

func compile(p Policy) (*compiled, error) {
	var probs problems
	c := &compiled{zones: make(map[string]*time.Location), holidays: make(map[civil][]holiday)}
	const pre = "policy."
	switch {
	case p.Zone != "":
		c.def = loadZone(&probs, pre+"Zone", p.Zone)
	case len(p.Zones) == 0:
		c.def = time.UTC
	}
	for r, z := range p.Zones {
		path := fmt.Sprintf("%sZones[%q]", pre, r)
		if r == "" {
			probs.add(path, "empty region name")
		}
		if z == "" {
			probs.add(path, "empty time zone")
			continue
		}
		if loc := loadZone(&probs, path, z); loc != nil {
			c.zones[r] = loc
		}
	}
	if len(p.Regions) > 0 {
		c.regions = make(map[string]bool, len(p.Regions))
		for i, r := range p.Regions {
			if r == "" {
				probs.add(fmt.Sprintf("%sRegions[%d]", pre, i), "empty region name")
			}
			c.regions[r] = true
		}
	}
	for i, w := range p.Windows {
		if s, ok := compileWindow(&probs, fmt.Sprintf("%sWindows[%d]", pre, i), w); ok {
			c.windows = append(c.windows, s)
		}
	}
	for i, w := range p.Deny {
		if s, ok := compileWindow(&probs, fmt.Sprintf("%sDeny[%d]", pre, i), w); ok {
			c.deny = append(c.deny, s)
		}
	}
	for i, h := range p.Holidays {
		path := fmt.Sprintf("%sHolidays[%d]", pre, i)
		d, err := time.Parse(time.DateOnly, h.Date)
		if err != nil {
			probs.add(path+".Date", "%q is not a date YYYY-MM-DD", h.Date)
			continue
		}
		hol := holiday{name: h.Name}
		if len(h.Regions) > 0 {
			hol.regions = make(map[string]bool, len(h.Regions))
			for j, r := range h.Regions {
				if r == "" {
					probs.add(fmt.Sprintf("%s.Regions[%d]", path, j), "empty region name")
				}
				hol.regions[r] = true
			}
		}
		k := civil{d.Year(), d.Month(), d.Day()}
		c.holidays[k] = append(c.holidays[k], hol)
	}
	for i, f := range p.Freezes {
		path := fmt.Sprintf("%sFreezes[%d]", pre, i)
		instants := !f.Start.IsZero() || !f.End.IsZero()
		dates := f.From != "" || f.Through != ""
		switch {
		case instants && dates:
			probs.add(path, "sets both Start/End and From/Through; a freeze is either instants or local dates")
		case dates:
			lf := localFreeze{reason: f.Reason, regions: f.Regions}
			var ok bool
			lf.from, ok = parseDate(&probs, path+".From", f.From)
			if t, tok := parseDate(&probs, path+".Through", f.Through); tok {
				lf.through = t
				if ok && t.before(lf.from) {
					probs.add(path+".Through", "%s is before From %s", t, lf.from)
				}
			}
			c.local = append(c.local, lf)
		case f.Start.IsZero():
			probs.add(path+".Start", "not set: give Start and End (instants) or From and Through (local dates)")
		case f.End.IsZero():
			probs.add(path+".End", "not set")
		case !f.End.After(f.Start):
			probs.add(path+".End", "%s is not after Start %s",
				f.End.Format(time.RFC3339), f.Start.Format(time.RFC3339))
		}
		if strings.TrimSpace(f.Reason) == "" {
			probs.add(path+".Reason", "empty: a freeze must say why")
		}
		for j, r := range f.Regions {
			if r == "" {
				probs.add(fmt.Sprintf("%s.Regions[%d]", path, j), "empty region name")
			}
		}
		if !dates {
			c.freezes = append(c.freezes, f)
		}
	}
	switch h := p.Horizon.Std(); {
	case h < 0:
		probs.add(pre+"Horizon", "negative duration %s", h)
	case h > MaxHorizon:
		probs.add(pre+"Horizon", "%s is longer than the maximum %s", h, MaxHorizon)
	case h == 0:
		c.horizon = DefaultHorizon
	default:
		c.horizon = h
	}
	if err := probs.err(); err != nil {
		return nil, err
	}
	seen := map[int]bool{0: true, 86400: true}
	for _, s := range append(append([]span(nil), c.windows...), c.deny...) {
		seen[s.start], seen[s.end] = true, true
	}
	for sec := range seen {
		c.clocks = append(c.clocks, sec)
	}
	slices.Sort(c.clocks)
	return c, nil
}

// parseDate parses a local date "YYYY-MM-DD".
func parseDate(probs *problems, path, v string) (civil, bool) {
	if v == "" {
		probs.add(path, "not set: a freeze of dates needs From and Through (equal for one day)")
		return civil{}, false
	}
	d, err := time.Parse(time.DateOnly, v)
	if err != nil {
		probs.add(path, "%q is not a date YYYY-MM-DD", v)
		return civil{}, false
	}
	return civil{d.Year(), d.Month(), d.Day()}, true
}

func loadZone(probs *problems, path, name string) *time.Location {
	// time.LoadLocation accepts "Local", which would judge a region in the
	// time zone of whatever machine runs the check; refuse it.
	if name == "Local" {
		probs.add(path, "%q is the machine's zone, not an IANA zone", name)
		return nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		probs.add(path, "unknown time zone %q", name)
		return nil
	}
	return loc
}

// Validate reports every problem with the window as field errors under
// "window".
func (w Window) Validate() error {
	var probs problems
	compileWindow(&probs, "window", w)
	return probs.err()
}

func compileWindow(probs *problems, path string, w Window) (span, bool) {
	n := probs.len()
	s := span{start: 0, end: 86400}
	if len(w.Days) == 0 {
		s.days = 0x7f
	}
	for i, d := range w.Days {
		bits, err := parseDays(d)
		if err != nil {
			probs.add(fmt.Sprintf("%s.Days[%d]", path, i), "%v", err)
		}
		s.days |= bits
	}
	if w.Start != "" {
		sec, err := parseClock(w.Start)
		if err == nil && sec == 86400 {
			err = fmt.Errorf("%q: a window cannot start at 24:00", w.Start)
		}
		if err != nil {
			probs.add(path+".Start", "%v", err)
		}
		s.start = sec
	}
	if w.End != "" {
		sec, err := parseClock(w.End)
		if err != nil {
			probs.add(path+".End", "%v", err)
		}
		s.end = sec
	}
	if probs.len() == n && s.end <= s.start {
		probs.add(path+".End", "%s is not after Start %s (a window cannot cross midnight; split it in two)",
			fmtClock(s.end), fmtClock(s.start))
	}
	days := "every day"
	if len(w.Days) > 0 {
		days = strings.Join(w.Days, ",")
	}
	s.text = fmt.Sprintf("%s %s-%s", days, fmtClock(s.start), fmtClock(s.end))
	return s, probs.len() == n
}

// parseClock parses "HH:MM" (one or two hour digits, two minute digits),
// from "00:00" to "24:00", into seconds of the day.
func parseClock(v string) (int, error) {
	hs, ms, ok := strings.Cut(v, ":")
	if !ok || len(hs) < 1 || len(hs) > 2 || len(ms) != 2 || !digits(hs) || !digits(ms) {
		return 0, fmt.Errorf("%q is not a time of day HH:MM", v)
	}
	h, _ := strconv.Atoi(hs)
	m, _ := strconv.Atoi(ms)
	switch {
	case h > 24:
		return 0, fmt.Errorf("%q: hour %d is outside 0-24", v, h)
	case m > 59:
		return 0, fmt.Errorf("%q: minute %d is outside 0-59", v, m)
	case h == 24 && m != 0:
		return 0, fmt.Errorf("%q: 24:00 is the latest time of day", v)
	}
	return h*3600 + m*60, nil
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func fmtClock(sec int) string { return fmt.Sprintf("%02d:%02d", sec/3600, sec%3600/60) }

var dayNames = map[string]time.Weekday{}

func init() {
	for d := time.Sunday; d <= time.Saturday; d++ {
		full := strings.ToLower(d.String())
		dayNames[full] = d
		dayNames[full[:3]] = d
	}
}

// parseDays parses a weekday name or a range of them into a bit set.
func parseDays(v string) (uint8, error) {
	one := func(s string) (time.Weekday, error) {
		d, ok := dayNames[strings.ToLower(strings.TrimSpace(s))]
		if !ok {
			return 0, fmt.Errorf("%q is not a weekday (Mon, Tuesday, Sat-Sun ...)", v)
		}
		return d, nil
	}
	a, b, isRange := strings.Cut(v, "-")
	from, err := one(a)
	if err != nil {
		return 0, err
	}
	if !isRange {
		return 1 << from, nil
	}
	to, err := one(b)
	if err != nil {
		return 0, err
	}
	var bits uint8
	for d := from; ; d = (d + 1) % 7 {
		bits |= 1 << d
		if d == to {
			return bits, nil
		}
	}
}
