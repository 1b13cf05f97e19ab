// Package timeline draws what a rollout will do and what it did: one row per
// stage, grouped by wave, with coloured spans for what the stage was doing
// (deploying, baking, blocked, waiting for approval, rolling back) and marks
// for what happened to it (alarms, canary verdicts, notes).
//
// A [Timeline] is plain data, independent of the rollout driver, so that it
// can be built from anything: [FromPlan] places a plan's stages in time
// before a run (the waves a change will take, with estimated durations), and
// a run's events become a timeline through the builder methods, which mirror
// how events arrive:
//
//	tl := &timeline.Timeline{Title: "checkout v2", Rows: timeline.PlanRows(plan)}
//	tl.Open("w1/us-east-1/one-box", timeline.Deploying, t0, "batch 1/1") // opens a span
//	tl.Open("w1/us-east-1/one-box", timeline.Baking, t1, "bake 1h")      // closes it, opens the next
//	tl.AddMark("w1/us-east-1/one-box", timeline.Mark{Kind: timeline.Alarm, Time: t2, Label: "5xx > 1%", Severity: timeline.Critical})
//	tl.Finish("w1/us-east-1/one-box", t3, timeline.RolledBack)          // closes it with an outcome
//
// A [Recorder] makes those calls from a rollout's events as they happen
// (pass its Event method as the driver's OnEvent), and [FromEvents] draws a
// finished rollout from its recorded events. (timeline imports rollout for
// its event type; rollout never imports timeline.)
//
// Three renderers read a timeline: [Timeline.WriteSVG] (a self-contained SVG:
// no external fonts, scripts or styles; a time axis whose ticks suit
// anything from minutes to weeks; a legend), [Timeline.WriteHTML] (a page
// with the SVG, a table of the stages and no network resources at all) and
// [Timeline.WriteText] (one line per stage with a bar and its state, for a
// terminal). All three validate first and write nothing when the timeline is
// invalid, and all three are deterministic: the same timeline gives the same
// bytes.
//
// Stage names, labels and titles come from users and are escaped for the
// output they land in: XML escaping in SVG, contextual HTML escaping in the
// page, and control characters (terminal escape sequences included) replaced
// in every output.
//
// Times are drawn in the location of the timeline's first instant (its
// Start, or the earliest span or mark): pass times in the zone the readers
// live in, or in UTC.
//
// For a live view, set [Timeline.Now] before each rendering: open spans are
// drawn up to it. A Timeline is plain data and not safe for concurrent use:
// when events arrive on one goroutine and a progress view renders on
// another, guard it with a mutex.
//
// The package's own tests open the HTML page in headless Chromium (Debian's
// chromium package) and save screenshots; set SHEPHERD_TEST_ARTIFACTS to a
// directory to keep them (timeline-run.png, timeline-hostile.png),
// otherwise they go to the test's temporary directory.
package timeline

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// SpanKind is what a stage was doing during a [Span]. Each kind has its own
// colour and text symbol.
type SpanKind string

// The span kinds, in legend order.
const (
	// Waiting is a stage queued behind an earlier stage or wave.
	Waiting SpanKind = "waiting"
	// Deploying is a stage whose batches are being deployed.
	Deploying SpanKind = "deploying"
	// Verifying is a deployed stage whose verification (smoke or
	// integration tests against its targets) is running.
	Verifying SpanKind = "verifying"
	// Baking is a deployed stage being watched before promotion.
	Baking SpanKind = "baking"
	// Blocked is a stage held by a blocker: a time window, a freeze, an
	// active alarm, a stop-the-line switch.
	Blocked SpanKind = "blocked"
	// WaitingApproval is a stage waiting for a person's approval.
	WaitingApproval SpanKind = "waiting-approval"
	// RollingBack is a stage whose targets are being returned to the
	// previous version.
	RollingBack SpanKind = "rolling-back"
)

// SpanKinds lists every span kind in legend order.
var SpanKinds = []SpanKind{Waiting, Deploying, Verifying, Baking, Blocked, WaitingApproval, RollingBack}

// MarkKind is what a [Mark] records.
type MarkKind string

// The mark kinds, in legend order.
const (
	// Alarm marks an alarm changing state (firing, or clearing).
	Alarm MarkKind = "alarm"
	// Verdict marks a canary judgement or a bake's decision.
	Verdict MarkKind = "verdict"
	// Note marks anything else worth a pin: an override, a manual pause.
	Note MarkKind = "note"
)

// MarkKinds lists every mark kind in legend order.
var MarkKinds = []MarkKind{Alarm, Verdict, Note}

// Severity grades a mark. The zero value is [Info].
type Severity string

// The severities, from least to most severe.
const (
	Info     Severity = ""
	Warning  Severity = "warning"
	Critical Severity = "critical"
)

// Outcome is how a stage ended. The zero value means it has not ended (or
// the run did not say).
type Outcome string

// The outcomes.
const (
	// Unfinished is a stage that has not ended.
	Unfinished Outcome = ""
	// Succeeded is a stage deployed and baked without trouble.
	Succeeded Outcome = "succeeded"
	// Failed is a stage that failed and was not rolled back (or could not
	// be).
	Failed Outcome = "failed"
	// RolledBack is a stage returned to the previous version.
	RolledBack Outcome = "rolled-back"
	// Cancelled is a stage stopped by cancellation of the run.
	Cancelled Outcome = "cancelled"
	// Skipped is a stage the run never started because it stopped earlier.
	Skipped Outcome = "skipped"
)

var outcomes = []Outcome{Unfinished, Succeeded, Failed, RolledBack, Cancelled, Skipped}

// Timeline is what a rollout did (or will do), stage by stage. The zero
// value is an empty timeline; fill Rows directly or with the builder
// methods.
type Timeline struct {
	// Title heads every rendering, for example "checkout v2 → prod".
	Title string `json:"title"`
	// Start and End bound the time axis. Zero means the earliest and latest
	// instants of the content (spans, marks and Now). Content outside them
	// is clipped.
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
	// Now is the current time of a run in progress: open spans (zero End)
	// are drawn up to it and a "now" line is drawn. Zero for a finished run
	// or a plan; open spans then reach the end of the axis.
	Now time.Time `json:"now,omitzero"`
	// Estimated says the times are a forecast (a plan rendered before a
	// run); spans are then drawn faded with dashed outlines and labelled
	// as estimates.
	Estimated bool `json:"estimated,omitempty"`
	// Rows are the stages, in the order they are drawn.
	Rows []Row `json:"rows"`
}

// Row is one stage of a rollout.
type Row struct {
	// Name identifies the stage, unique within the timeline, for example
	// "w1/us-east-1/one-box".
	Name string `json:"name"`
	// Group is the wave the stage belongs to, for example "wave 1";
	// consecutive rows of one group are drawn under one heading. Empty
	// means no heading.
	Group string `json:"group,omitempty"`
	// Detail is a longer description shown in the page's table and as a
	// tooltip: the stage's targets, or why it is there.
	Detail string `json:"detail,omitempty"`
	// Spans are what the stage was doing, in time order and not
	// overlapping; only the last may be open (zero End).
	Spans []Span `json:"spans,omitempty"`
	// Marks are what happened to the stage, in any order.
	Marks []Mark `json:"marks,omitempty"`
	// Outcome is how the stage ended.
	Outcome Outcome `json:"outcome,omitempty"`
}

// Span is an interval during which a stage was doing one thing.
type Span struct {
	Kind  SpanKind  `json:"kind"`
	Start time.Time `json:"start"`
	// End is zero while the span is open (the stage is still doing it).
	End time.Time `json:"end,omitzero"`
	// Label says more: "batch 2/3", "outside the deployment window".
	Label string `json:"label,omitempty"`
}

// Open reports whether the span has not ended.
func (s Span) Open() bool { return s.End.IsZero() }

// Mark is an instant worth pinning on a stage's row.
type Mark struct {
	Kind     MarkKind  `json:"kind"`
	Time     time.Time `json:"time"`
	Label    string    `json:"label,omitempty"`
	Severity Severity  `json:"severity,omitempty"`
}

// Validate reports every problem of the timeline, each with its field path,
// for example "timeline: Rows[2].Spans[1].End: 10:00:00 is before its Start
// 10:05:00".
func (t *Timeline) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("timeline: %s: %s", field, fmt.Sprintf(format, args...)))
	}
	if !t.Start.IsZero() && !t.End.IsZero() && t.End.Before(t.Start) {
		add("End", "%s is before Start %s", stamp(t.End), stamp(t.Start))
	}
	seen := make(map[string]int)
	for i, r := range t.Rows {
		f := fmt.Sprintf("Rows[%d]", i)
		if r.Name == "" {
			add(f+".Name", "empty")
		} else if j, ok := seen[r.Name]; ok {
			add(f+".Name", "%q is also the name of Rows[%d]", r.Name, j)
		} else {
			seen[r.Name] = i
		}
		if !slices.Contains(outcomes, r.Outcome) {
			add(f+".Outcome", "unknown outcome %q (want %s)", r.Outcome, list(outcomes[1:]))
		}
		for j, s := range r.Spans {
			sf := fmt.Sprintf("%s.Spans[%d]", f, j)
			if !slices.Contains(SpanKinds, s.Kind) {
				add(sf+".Kind", "unknown kind %q (want %s)", s.Kind, list(SpanKinds))
			}
			if s.Start.IsZero() {
				add(sf+".Start", "zero")
				continue
			}
			if !s.Open() && s.End.Before(s.Start) {
				add(sf+".End", "%s is before its Start %s", stamp(s.End), stamp(s.Start))
			}
			if s.Open() && !t.Now.IsZero() && s.Start.After(t.Now) {
				add(sf+".Start", "open span starts at %s, after Now %s", stamp(s.Start), stamp(t.Now))
			}
			if j > 0 {
				p := r.Spans[j-1]
				switch {
				case p.Open():
					add(sf, "follows Spans[%d], which is open: only the last span may be open", j-1)
				case !p.Start.IsZero() && s.Start.Before(p.End):
					add(sf+".Start", "%s overlaps Spans[%d], which ends at %s", stamp(s.Start), j-1, stamp(p.End))
				}
			}
		}
		for j, m := range r.Marks {
			mf := fmt.Sprintf("%s.Marks[%d]", f, j)
			if !slices.Contains(MarkKinds, m.Kind) {
				add(mf+".Kind", "unknown kind %q (want %s)", m.Kind, list(MarkKinds))
			}
			if m.Time.IsZero() {
				add(mf+".Time", "zero")
			}
			if m.Severity != Info && m.Severity != Warning && m.Severity != Critical {
				add(mf+".Severity", "unknown severity %q (want empty for info, %s or %s)", m.Severity, Warning, Critical)
			}
		}
	}
	return errors.Join(errs...)
}

func list[T ~string](xs []T) string {
	s := ""
	for i, x := range xs {
		switch {
		case i == 0:
		case i == len(xs)-1:
			s += " or "
		default:
			s += ", "
		}
		s += string(x)
	}
	return s
}

func stamp(t time.Time) string { return t.Format(time.RFC3339) }

// ErrUnknownRow is wrapped by the builder methods' errors when they name a
// row the timeline does not have and cannot create.
var ErrUnknownRow = errors.New("timeline: unknown row")

// Row returns the row with the given name, or nil. The pointer is valid
// until rows are added.
func (t *Timeline) Row(name string) *Row {
	for i := range t.Rows {
		if t.Rows[i].Name == name {
			return &t.Rows[i]
		}
	}
	return nil
}

// row returns the named row, appending an empty one (with no group) when it
// does not exist yet.
func (t *Timeline) row(name string) (*Row, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: empty name", ErrUnknownRow)
	}
	if r := t.Row(name); r != nil {
		return r, nil
	}
	t.Rows = append(t.Rows, Row{Name: name})
	return &t.Rows[len(t.Rows)-1], nil
}

// Open starts a span of the given kind on the named row at the given time,
// closing the row's open span, if any, at the same instant. A row that does
// not exist yet is appended (without a group; start from [PlanRows] to have
// every stage in place with its wave). It fails, changing nothing, when the
// kind is unknown, the time is zero or the time is before the start of the
// row's last span.
func (t *Timeline) Open(row string, kind SpanKind, at time.Time, label string) error {
	if !slices.Contains(SpanKinds, kind) {
		return fmt.Errorf("timeline: open %q: unknown kind %q (want %s)", row, kind, list(SpanKinds))
	}
	if err := t.checkTime(row, at); err != nil {
		return err
	}
	r, err := t.row(row)
	if err != nil {
		return err
	}
	if n := len(r.Spans); n > 0 && r.Spans[n-1].Open() {
		r.Spans[n-1].End = at
	}
	r.Spans = append(r.Spans, Span{Kind: kind, Start: at, Label: label})
	return nil
}

// Close ends the named row's open span at the given time; it does nothing
// when no span is open. It fails, changing nothing, when the row does not
// exist or the time is before the span's start.
func (t *Timeline) Close(row string, at time.Time) error {
	r := t.Row(row)
	if r == nil {
		return fmt.Errorf("%w %q", ErrUnknownRow, row)
	}
	if err := t.checkTime(row, at); err != nil {
		return err
	}
	if n := len(r.Spans); n > 0 && r.Spans[n-1].Open() {
		r.Spans[n-1].End = at
	}
	return nil
}

// Finish closes the named row's open span at the given time and records the
// stage's outcome. It fails, changing nothing, when the row does not exist,
// the outcome is unknown or the time is before the open span's start.
func (t *Timeline) Finish(row string, at time.Time, o Outcome) error {
	if !slices.Contains(outcomes, o) {
		return fmt.Errorf("timeline: finish %q: unknown outcome %q (want %s)", row, o, list(outcomes[1:]))
	}
	if err := t.Close(row, at); err != nil {
		return err
	}
	t.Row(row).Outcome = o
	return nil
}

// AddMark pins a mark on the named row, appending the row when it does not
// exist yet. It fails, changing nothing, when the mark's kind or severity is
// unknown or its time is zero.
func (t *Timeline) AddMark(row string, m Mark) error {
	switch {
	case !slices.Contains(MarkKinds, m.Kind):
		return fmt.Errorf("timeline: mark %q: unknown kind %q (want %s)", row, m.Kind, list(MarkKinds))
	case m.Severity != Info && m.Severity != Warning && m.Severity != Critical:
		return fmt.Errorf("timeline: mark %q: unknown severity %q", row, m.Severity)
	case m.Time.IsZero():
		return fmt.Errorf("timeline: mark %q: zero time", row)
	}
	r, err := t.row(row)
	if err != nil {
		return err
	}
	r.Marks = append(r.Marks, m)
	return nil
}

// CloseAll ends every open span at the given time, for a run that stopped
// (or for a snapshot to be drawn without a Now). Spans that start after it
// are left open.
func (t *Timeline) CloseAll(at time.Time) {
	for i := range t.Rows {
		r := &t.Rows[i]
		if n := len(r.Spans); n > 0 && r.Spans[n-1].Open() && !at.Before(r.Spans[n-1].Start) {
			r.Spans[n-1].End = at
		}
	}
}

func (t *Timeline) checkTime(row string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("timeline: %q: zero time", row)
	}
	r := t.Row(row)
	if r == nil || len(r.Spans) == 0 {
		return nil
	}
	last := r.Spans[len(r.Spans)-1]
	if at.Before(last.Start) || !last.Open() && at.Before(last.End) {
		return fmt.Errorf("timeline: %q: time %s is before the row's last span (%s from %s)", row, stamp(at), last.Kind, stamp(last.Start))
	}
	return nil
}

// Bounds returns the interval the time axis covers: Start and End when set,
// otherwise the earliest and latest instants of the spans, the marks and
// Now. ok is false when the timeline holds no instant at all. When start and
// end coincide, end is moved a minute later so that the axis has a width.
func (t *Timeline) Bounds() (start, end time.Time, ok bool) {
	var lo, hi time.Time
	see := func(x time.Time) {
		if x.IsZero() {
			return
		}
		if lo.IsZero() || x.Before(lo) {
			lo = x
		}
		if hi.IsZero() || x.After(hi) {
			hi = x
		}
	}
	see(t.Now)
	for _, r := range t.Rows {
		for _, s := range r.Spans {
			see(s.Start)
			see(s.End)
		}
		for _, m := range r.Marks {
			see(m.Time)
		}
	}
	if !t.Start.IsZero() {
		lo = t.Start
	}
	if !t.End.IsZero() {
		hi = t.End
	}
	switch {
	case lo.IsZero() && hi.IsZero():
		return time.Time{}, time.Time{}, false
	case lo.IsZero():
		lo = hi.Add(-time.Minute)
	case hi.IsZero() || !hi.After(lo):
		hi = lo.Add(time.Minute)
	}
	return lo, hi, true
}

// spanEnd is where an open span is drawn to: Now when set, else the end of
// the axis.
func (t *Timeline) spanEnd(s Span, axisEnd time.Time) time.Time {
	switch {
	case !s.Open():
		return s.End
	case !t.Now.IsZero():
		return t.Now
	default:
		return axisEnd
	}
}

// state describes a row in a few words for the text view and the table:
// what it is doing, how it ended, or that it has not started.
func (t *Timeline) state(r *Row) string {
	n := len(r.Spans)
	switch {
	case r.Outcome != Unfinished:
		return string(r.Outcome)
	case n > 0 && r.Spans[n-1].Open():
		return string(r.Spans[n-1].Kind)
	case n == 0:
		return "pending"
	case t.Estimated:
		return "planned"
	default:
		return "idle"
	}
}

// local returns a copy of the timeline with every instant in the location
// of its first one (see Bounds), so that labels, ticks and tooltips all
// read in one zone whatever zones the events were stamped in.
func (t *Timeline) local() *Timeline {
	start, _, ok := t.Bounds()
	if !ok {
		return t
	}
	loc := start.Location()
	in := func(x time.Time) time.Time {
		if x.IsZero() {
			return x
		}
		return x.In(loc)
	}
	c := *t
	c.Start, c.End, c.Now = in(t.Start), in(t.End), in(t.Now)
	c.Rows = make([]Row, len(t.Rows))
	for i, r := range t.Rows {
		r.Spans = slices.Clone(r.Spans)
		for j := range r.Spans {
			r.Spans[j].Start, r.Spans[j].End = in(r.Spans[j].Start), in(r.Spans[j].End)
		}
		r.Marks = slices.Clone(r.Marks)
		for j := range r.Marks {
			r.Marks[j].Time = in(r.Marks[j].Time)
		}
		c.Rows[i] = r
	}
	return &c
}
