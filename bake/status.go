package bake

import (
	"strconv"
	"strings"
	"time"
)

// Status is a bake's standing at one instant, as returned by the
// [Tracker]'s methods: enough for a driver to decide (Phase, Consequence,
// NextCheck) and for a progress display to explain (Reason, the times and
// the evidence). [Status.String] says it all in one line.
type Status struct {
	// Phase is where the bake stands.
	Phase Phase
	// Reason says why in plain words. While baking it names what the bake
	// waits for; once ended, why it ended (which alarm and its reason,
	// how much time and evidence).
	Reason string
	// Consequence is what an ended bake means for the change: [Pass] when
	// done, [RollBack] when failed, the policy's OnInconclusive when
	// inconclusive. Empty while baking.
	Consequence Consequence
	// Paused reports that the bake clock is stopped.
	Paused bool
	// Baked is the time baked so far, pauses excluded.
	Baked time.Duration
	// PausedFor is the time paused so far (not counted as bake time).
	PausedFor time.Duration
	// MinDuration and MaxDuration are the policy's, defaults applied.
	MinDuration, MaxDuration time.Duration
	// TimeRemaining is the bake time still needed to reach MinDuration.
	TimeRemaining time.Duration
	// EarliestEnd is the earliest instant the bake can end done: when
	// MinDuration will have been baked (now, if it already has), if the
	// evidence is there by then. Zero while paused or once ended.
	EarliestEnd time.Time
	// Deadline is when the bake ends inconclusive if it is not done by
	// then. Zero while paused or once ended.
	Deadline time.Time
	// NextCheck is when the bake should next be looked at: after the
	// policy's PollInterval, or earlier at EarliestEnd or Deadline. Zero
	// once ended.
	NextCheck time.Time
	// ReadErrors is the number of consecutive failed reads so far.
	ReadErrors int
	// Ended is when the bake ended; zero while it has not.
	Ended time.Time
	// Evidence is the progress of each evidence requirement.
	Evidence Evidence
}

// Evidence is the progress of a bake's evidence requirements. It refers to
// the tracker's policy and to the counts passed to [Tracker.Update] (or
// kept by an ended tracker) without copying them, so that an update does
// not allocate: do not modify the counts while the status is in use.
type Evidence struct {
	// Requirements are the policy's requirements.
	Requirements []Requirement
	// Have holds one count per requirement, or is nil when nothing was
	// read (a failed read, or a bake that ended without a reading).
	Have []float64
}

// Progress is the progress of one requirement.
type Progress struct {
	Name string
	// Have is the evidence counted, Need the requirement's minimum and
	// Remaining how much is still missing (0 once met).
	Have, Need, Remaining float64
}

// Len returns the number of requirements.
func (e Evidence) Len() int { return len(e.Requirements) }

// At returns the progress of requirement i. Without a reading, Have is 0.
func (e Evidence) At(i int) Progress {
	r := &e.Requirements[i]
	var have float64
	if i < len(e.Have) {
		have = e.Have[i]
	}
	return Progress{Name: r.name(), Have: have, Need: r.Min, Remaining: max(r.Min-have, 0)}
}

// Met reports whether every requirement is met. Without a reading it is
// met only if there are no requirements.
func (e Evidence) Met() bool {
	for i := range e.Requirements {
		if i >= len(e.Have) || !(e.Have[i] >= e.Requirements[i].Min) {
			return false
		}
	}
	return true
}

// write formats the evidence as "create-requests 40 of 100 (60 to go)".
func (e Evidence) write(b *strings.Builder) {
	if e.Have == nil && e.Len() > 0 {
		b.WriteString("not read")
		return
	}
	for i := range e.Len() {
		if i > 0 {
			b.WriteString(", ")
		}
		p := e.At(i)
		b.WriteString(p.Name)
		b.WriteByte(' ')
		b.WriteString(fmtCount(p.Have))
		b.WriteString(" of ")
		b.WriteString(fmtCount(p.Need))
		if p.Remaining > 0 {
			b.WriteString(" (")
			b.WriteString(fmtCount(p.Remaining))
			b.WriteString(" to go)")
		}
	}
}

func fmtCount(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// String describes the status in one line, for example
//
//	baking: waiting for evidence; baked 12h0m0s of 12h0m0s; evidence: create-requests 40 of 100 (60 to go); paused 2h10m0s, not counted
//	failed: alarm "latency" is in ALARM: p99 1.2s > 1s; consequence: roll back
func (s Status) String() string {
	var b strings.Builder
	b.WriteString(s.Phase.String())
	if s.Reason != "" {
		b.WriteString(": ")
		b.WriteString(s.Reason)
	}
	if s.Phase.Ended() {
		if s.Consequence != "" && s.Phase != Inconclusive { // inconclusive reasons name it
			b.WriteString("; consequence: ")
			b.WriteString(s.Consequence.words())
		}
		return b.String()
	}
	b.WriteString("; baked ")
	b.WriteString(s.Baked.String())
	b.WriteString(" of ")
	b.WriteString(s.MinDuration.String())
	if s.Evidence.Len() > 0 {
		b.WriteString("; evidence: ")
		s.Evidence.write(&b)
	}
	if s.PausedFor > 0 {
		b.WriteString("; paused ")
		b.WriteString(s.PausedFor.String())
		b.WriteString(", not counted")
	}
	if s.ReadErrors > 0 {
		b.WriteString("; ")
		b.WriteString(strconv.Itoa(s.ReadErrors))
		b.WriteString(" failed read(s) in a row")
	}
	return b.String()
}
