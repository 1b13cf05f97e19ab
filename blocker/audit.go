package blocker

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Action names a change recorded in an [AuditLog].
type Action string

const (
	// SwitchSet records a switch being set (or replaced).
	SwitchSet Action = "switch.set"
	// SwitchClear records a switch being cleared.
	SwitchClear Action = "switch.clear"
	// OverrideGrant records a granted override.
	OverrideGrant Action = "override.grant"
	// OverrideRefuse records a refused override request: unauthorised or
	// malformed.
	OverrideRefuse Action = "override.refuse"
	// OverrideRevoke records an override revoked before its expiry.
	OverrideRevoke Action = "override.revoke"
)

// Event is one entry of an audit trail: who did what, when and why.
type Event struct {
	Time   time.Time `json:"time"`
	Action Action    `json:"action"`
	// Actor and Reason are the person (or system) acting and their stated
	// reason; for a clear or revoke they are the clearer's, not the
	// original setter's.
	Actor  string `json:"actor"`
	Reason string `json:"reason"`
	// Switch is the switch set or cleared.
	Switch *Switch `json:"switch,omitempty"`
	// Override is the override granted, revoked, or requested and refused.
	Override *Override `json:"override,omitempty"`
	// Refusal says why a request was refused.
	Refusal string `json:"refusal,omitempty"`
}

// String formats the event on one line in plain words.
func (e Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s by %q", e.Time.UTC().Format(time.RFC3339), e.Action, e.Actor)
	switch {
	case e.Switch != nil:
		fmt.Fprintf(&b, " of switch %q (%s)", e.Switch.ID, e.Switch.Scope)
	case e.Override != nil:
		o := e.Override
		if o.ID != "" {
			fmt.Fprintf(&b, " of override %q", o.ID)
		}
		fmt.Fprintf(&b, " for change %q bypassing %s", o.Change, strings.Join(o.Blockers, ", "))
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, ": %s", e.Reason)
	}
	if e.Refusal != "" {
		fmt.Fprintf(&b, " (refused: %s)", e.Refusal)
	}
	return b.String()
}

// AuditLog is an append-only, in-memory audit trail. [Switchboard] and
// [Overrides] write every change to one (their own, or a shared one), and
// programs may record their own events. It is safe for concurrent use and
// holds its lock only briefly; the zero value is ready to use.
type AuditLog struct {
	mu     sync.Mutex
	events []Event
}

// Record appends e. The log keeps its own copy of e's switch or override.
func (l *AuditLog) Record(e Event) {
	e = cloneEvent(e)
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

// Events returns a copy of the trail in the order recorded.
func (l *AuditLog) Events() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Event, len(l.events))
	for i, e := range l.events {
		out[i] = cloneEvent(e)
	}
	return out
}

func cloneEvent(e Event) Event {
	if e.Switch != nil {
		sw := *e.Switch
		e.Switch = &sw
	}
	if e.Override != nil {
		o := e.Override.clone()
		e.Override = &o
	}
	return e
}

func (o Override) clone() Override {
	o.Blockers = slices.Clone(o.Blockers)
	return o
}
