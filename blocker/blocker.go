package blocker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/field"
)

// Subject is what a blocker judges: the stage of a change that is about to
// start. Blockers read the fields they need and ignore the rest.
type Subject struct {
	// Change identifies the rollout or change; overrides are granted for
	// one change.
	Change string `json:"change,omitempty"`
	// Service is the service being deployed; switches may be scoped to it.
	Service string `json:"service,omitempty"`
	// Stage names the stage in the plan, for example "w1/us-east-1/one-box".
	Stage string `json:"stage,omitempty"`
	// Regions are the regions the stage touches. Each is judged in its own
	// local time by a [Calendar]. A subject without regions is judged in a
	// calendar's default zone, and is treated as touching every region by
	// region-scoped holidays, freezes and switches (a stage whose location
	// is unknown could be anywhere, so it is held by all of them).
	Regions []string `json:"regions,omitempty"`
	// Targets are the IDs of the targets the stage deploys to.
	Targets []string `json:"targets,omitempty"`
	// Labels are free-form attributes for blockers written by users.
	Labels map[string]string `json:"labels,omitempty"`
}

// String describes the subject in plain words, for example
// `change "c-42" stage "w1/us-east-1" of service "api" in us-east-1`.
func (s Subject) String() string {
	var parts []string
	if s.Change != "" {
		parts = append(parts, fmt.Sprintf("change %q", s.Change))
	}
	if s.Stage != "" {
		parts = append(parts, fmt.Sprintf("stage %q", s.Stage))
	}
	if s.Service != "" {
		parts = append(parts, fmt.Sprintf("of service %q", s.Service))
	}
	if len(s.Regions) > 0 {
		parts = append(parts, "in "+strings.Join(s.Regions, ", "))
	}
	if len(parts) == 0 {
		return "(empty subject)"
	}
	return strings.Join(parts, " ")
}

// touches reports whether the subject touches region; a subject without
// regions touches every region.
func (s Subject) touches(region string) bool {
	return len(s.Regions) == 0 || slices.Contains(s.Regions, region)
}

// Decision is one blocker's answer for a subject at an instant.
type Decision struct {
	// Blocker is the blocker's name. A [Set] fills it in with the name of
	// the [Entry]; blockers may leave it empty.
	Blocker string `json:"blocker,omitempty"`
	// Blocked is true when the subject must not start now.
	Blocked bool `json:"blocked"`
	// Reason says in plain words why (which window, which alarm, which
	// switch); for a clear decision it may say why it is clear.
	Reason string `json:"reason,omitempty"`
	// Until is the earliest instant the block may clear when the blocker
	// knows it (the next time a window opens, the end of a freeze or of a
	// switch), or the zero time when it does not (an alarm clears when it
	// clears). It is a promise of nothing: callers check again at Until.
	Until time.Time `json:"until,omitzero"`
	// Never is true when the blocker knows the block does not clear
	// within the horizon it searches (a [Calendar] that does not open
	// within its [Policy.Horizon]; its NextOpen returns [ErrNeverOpen]).
	// Until is then zero. A driver may give up at once rather than wait.
	Never bool `json:"never,omitempty"`
	// Holds lists, when the subject is blocked, each rule that holds it
	// and until when: which freeze, holiday, window, alarm or switch, so
	// that a driver can name it ("held by freeze \"sales event\" until
	// ...") and treat kinds differently (wait through a freeze rather than
	// roll back). The blockers of this package fill it in; a blocker
	// written by users may leave it empty.
	Holds []Hold `json:"holds,omitempty"`
}

// HoldKind is the kind of rule that holds a subject.
type HoldKind string

// The kinds of rules of this package's blockers.
const (
	// HoldFreeze is a [Freeze] of a [Calendar].
	HoldFreeze HoldKind = "freeze"
	// HoldHoliday is a [Holiday] of a [Calendar].
	HoldHoliday HoldKind = "holiday"
	// HoldDeny is a Deny window of a [Calendar].
	HoldDeny HoldKind = "deny"
	// HoldWindow is a [Calendar] outside all of its allowed Windows.
	HoldWindow HoldKind = "window"
	// HoldAlarm is a watched alarm of [Alarms].
	HoldAlarm HoldKind = "alarm"
	// HoldSwitch is a [Switch] of a [SwitchBlocker] or [Switchboard].
	HoldSwitch HoldKind = "switch"
)

// Hold is one rule that holds a subject back, and until when.
type Hold struct {
	// Blocker is the name of the [Entry] whose blocker reported the hold;
	// a [Set] fills it in.
	Blocker string `json:"blocker,omitempty"`
	// Kind is the kind of rule.
	Kind HoldKind `json:"kind"`
	// Name names the rule: a freeze's reason, a holiday's name (or its
	// date), a window's text, an alarm's name, a switch's ID and reason.
	Name string `json:"name,omitempty"`
	// Region is the region held, "" when the rule holds the subject as a
	// whole (an alarm, a switch) or the subject has no regions.
	Region string `json:"region,omitempty"`
	// Until is when the rule stops holding the region (the end of the
	// freeze in the region's own time, the next local midnight after a
	// holiday, the end of a deny window, the next opening of a window, a
	// switch's End), zero when unknown (an alarm) or beyond the horizon.
	// Other rules may hold the subject longer: [Decision.Until] is when
	// all of them clear.
	Until time.Time `json:"until,omitzero"`
}

// String formats the hold as `freeze "sales event" in us-east-1 until
// 2025-12-02T05:00:00Z`.
func (h Hold) String() string {
	var b strings.Builder
	if h.Blocker != "" {
		b.WriteString(h.Blocker)
		b.WriteString(": ")
	}
	b.WriteString(string(h.Kind))
	if h.Name != "" {
		fmt.Fprintf(&b, " %q", h.Name)
	}
	if h.Region != "" {
		b.WriteString(" in ")
		b.WriteString(h.Region)
	}
	if !h.Until.IsZero() {
		b.WriteString(" until ")
		b.WriteString(h.Until.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// String formats the decision as "name: blocked until T: reason" or
// "name: clear".
func (d Decision) String() string {
	var b strings.Builder
	if d.Blocker != "" {
		b.WriteString(d.Blocker)
		b.WriteString(": ")
	}
	if !d.Blocked {
		b.WriteString("clear")
	} else {
		b.WriteString("blocked")
		if !d.Until.IsZero() {
			b.WriteString(" until ")
			b.WriteString(d.Until.UTC().Format(time.RFC3339))
		}
	}
	if d.Reason != "" {
		b.WriteString(": ")
		b.WriteString(d.Reason)
	}
	return b.String()
}

// Blocker decides whether a subject may start at now.
//
// An error means the blocker could not decide (its alarm source failed, its
// shared store was unreachable); a [Set] then blocks the subject (fails
// closed) unless the blocker's [Entry] is FailOpen. A blocker may return a
// blocked decision together with an error when part of its evidence already
// blocks; that decision blocks even when failing open.
//
// Check must be safe for concurrent use when the blocker is shared by sets
// that run concurrently.
type Blocker interface {
	Check(ctx context.Context, s Subject, now time.Time) (Decision, error)
}

// Func adapts a function to the [Blocker] interface.
type Func func(ctx context.Context, s Subject, now time.Time) (Decision, error)

// Check calls f.
func (f Func) Check(ctx context.Context, s Subject, now time.Time) (Decision, error) {
	return f(ctx, s, now)
}

var (
	// ErrInvalid is wrapped by every [FieldError]: the input (a policy, a
	// switch, an override request, a set) is malformed.
	ErrInvalid = errors.New("blocker: invalid input")
	// ErrNotAuthorised means the [Authoriser] refused an override, or there
	// was no authoriser.
	ErrNotAuthorised = errors.New("blocker: not authorised")
	// ErrNotFound means no switch or override has the given ID.
	ErrNotFound = errors.New("blocker: not found")
	// ErrNeverOpen means a calendar does not open within its horizon.
	ErrNeverOpen = errors.New("blocker: window does not open within the horizon")
	// ErrNoZone means a region has no time zone: it is not in
	// [Policy.Zones] and the policy has no default [Policy.Zone].
	ErrNoZone = errors.New("blocker: region has no time zone")
)

// FieldError is one problem with one field of an input: shepherd's one
// shape of a validation problem, [field.Error]. Its Path names the input
// and the field ("policy.Windows[0].End", "override.Expires",
// "set.Entries[2].Name"), its Err is [ErrInvalid], and it formats as
// "blocker: path: problem", for example `blocker: policy.Windows[0].End:
// "25:00": hour 25 is outside 0-24`. Validation reports every problem at
// once, joined with [errors.Join]; [errors.Is](err, [ErrInvalid]) holds for
// the whole and for each, and [field.All] lists them.
type FieldError = field.Error

// problems collects field errors.
type problems struct{ list field.List }

func (p *problems) add(path, format string, args ...any) {
	p.list.Add(ErrInvalid, path, format, args...)
}

func (p *problems) len() int { return p.list.Len() }

func (p *problems) err() error { return p.list.Err() }
