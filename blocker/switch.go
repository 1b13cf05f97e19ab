package blocker

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Kind says what a switch is for. It is free-form; the package names the two
// common kinds.
type Kind string

const (
	// StopTheLine is a manual stop: something failed and new work stops
	// while the team swarms on it.
	StopTheLine Kind = "stop-the-line"
	// OrgEvent is an organisation-wide event (a large-scale event alarm, a
	// sales event) during which nothing deploys.
	OrgEvent Kind = "event"
)

// Scope says which subjects a switch stops. The zero Scope is global.
type Scope struct {
	// Region limits the switch to subjects touching this region; empty:
	// every region. A subject without regions touches every region.
	Region string `json:"region,omitempty"`
	// Service limits the switch to this service; empty: every service. A
	// subject without a service could be any service, so it matches.
	Service string `json:"service,omitempty"`
}

// Matches reports whether the scope covers s. Unknown regions and services
// of the subject match, so that a switch fails closed.
func (sc Scope) Matches(s Subject) bool {
	if sc.Region != "" && !s.touches(sc.Region) {
		return false
	}
	return sc.Service == "" || s.Service == "" || s.Service == sc.Service
}

// String describes the scope: "global", "region eu-west-1", "service api",
// or "service api in region eu-west-1".
func (sc Scope) String() string {
	switch {
	case sc.Region == "" && sc.Service == "":
		return "global"
	case sc.Service == "":
		return "region " + sc.Region
	case sc.Region == "":
		return "service " + sc.Service
	}
	return "service " + sc.Service + " in region " + sc.Region
}

// Switch is an organisation-wide event or a stop-the-line, set by an actor
// with a reason, that blocks every subject in its scope while it is active.
type Switch struct {
	// ID identifies the switch; [Switchboard.Set] assigns one when empty.
	ID     string `json:"id"`
	Kind   Kind   `json:"kind,omitempty"`
	Scope  Scope  `json:"scope"`
	Actor  string `json:"actor"`
	Reason string `json:"reason"`
	// SetAt is when the switch was set; the store fills it in.
	SetAt time.Time `json:"setAt"`
	// Start is when the switch takes effect (a scheduled event); zero:
	// when it is set.
	Start time.Time `json:"start,omitzero"`
	// End is when the switch lapses by itself; zero: when it is cleared.
	End time.Time `json:"end,omitzero"`
}

// ActiveAt reports whether the switch is in effect at now (ignoring
// whether it has been cleared, which only its store knows).
func (sw Switch) ActiveAt(now time.Time) bool {
	return (sw.Start.IsZero() || !now.Before(sw.Start)) && (sw.End.IsZero() || now.Before(sw.End))
}

// String describes the switch in plain words.
func (sw Switch) String() string {
	kind := sw.Kind
	if kind == "" {
		kind = "switch"
	}
	s := fmt.Sprintf("%s %q (%s) set by %s", kind, sw.ID, sw.Scope, sw.Actor)
	if !sw.End.IsZero() {
		s += " until " + sw.End.UTC().Format(time.RFC3339)
	}
	return s + ": " + sw.Reason
}

// Switches is what [SwitchBlocker] needs from a store of switches, shared
// or in memory: the switches in effect for a subject at now.
type Switches interface {
	Active(ctx context.Context, s Subject, now time.Time) ([]Switch, error)
}

// SwitchStore is a store of switches that can be changed: [Switchboard] in
// memory, or a shared one (a database, a configuration service) written by
// the program. Implementations record every change in an audit trail.
type SwitchStore interface {
	Switches
	// Set validates sw, sets it (replacing a switch with the same ID) and
	// returns it as stored.
	Set(ctx context.Context, sw Switch, now time.Time) (Switch, error)
	// Clear removes the switch with the given ID, saying who and why, and
	// returns it; [ErrNotFound] if there is none.
	Clear(ctx context.Context, id, actor, reason string, now time.Time) (Switch, error)
	// List returns every switch not cleared and not yet ended at now,
	// including scheduled ones, in the order set.
	List(ctx context.Context, now time.Time) ([]Switch, error)
}

// SwitchBlocker is a [Blocker] that blocks a subject while any switch of
// Switches is active in its scope. It filters what the store returns by
// scope and time again, so a store may return more than asked. The block
// may clear at the latest End of the active switches, when all have one.
// An error from the store is returned (a [Set] fails closed on it).
type SwitchBlocker struct {
	Switches Switches
}

// Check implements [Blocker].
func (b SwitchBlocker) Check(ctx context.Context, s Subject, now time.Time) (Decision, error) {
	if b.Switches == nil {
		return Decision{}, fmt.Errorf("blocker: switches: no store")
	}
	list, err := b.Switches.Active(ctx, s, now)
	if err != nil {
		return Decision{}, fmt.Errorf("blocker: switches: %w", err)
	}
	var reasons []string
	var holds []Hold
	var until time.Time
	known := true
	for _, sw := range list {
		if !sw.ActiveAt(now) || !sw.Scope.Matches(s) {
			continue
		}
		reasons = append(reasons, sw.String())
		holds = append(holds, Hold{Kind: HoldSwitch, Name: sw.ID + ": " + sw.Reason, Until: sw.End})
		if sw.End.IsZero() {
			known = false
		} else if sw.End.After(until) {
			until = sw.End
		}
	}
	if len(reasons) == 0 {
		return Decision{Reason: "no switch is set"}, nil
	}
	d := Decision{Blocked: true, Reason: strings.Join(reasons, "; "), Holds: holds}
	if known {
		d.Until = until
	}
	return d, nil
}

// Switchboard is an in-memory [SwitchStore] and a [Blocker]. It is safe for
// concurrent use and holds its lock only briefly (so it works inside a
// testing/synctest bubble); the zero value is ready to use.
//
// Every Set and Clear is recorded in Audit, or when Audit is nil in the
// board's own trail, read with [Switchboard.AuditTrail]. Set Audit before
// first use.
type Switchboard struct {
	// Audit receives every change; share one log between a Switchboard
	// and [Overrides] for a single trail.
	Audit *AuditLog

	mu       sync.Mutex
	switches []Switch
	seq      int
	own      AuditLog
}

var (
	_ SwitchStore = (*Switchboard)(nil)
	_ Blocker     = (*Switchboard)(nil)
)

func (b *Switchboard) log() *AuditLog {
	if b.Audit != nil {
		return b.Audit
	}
	return &b.own
}

// Set sets sw as of now. Actor and Reason are required; End, when set, must
// be after now and after Start. An empty ID is assigned ("switch-1", ...);
// an existing ID is replaced. SetAt is set to now.
func (b *Switchboard) Set(ctx context.Context, sw Switch, now time.Time) (Switch, error) {
	if err := ctx.Err(); err != nil {
		return Switch{}, err
	}
	var probs problems
	if strings.TrimSpace(sw.Actor) == "" {
		probs.add("switch.Actor", "empty: say who sets the switch")
	}
	if strings.TrimSpace(sw.Reason) == "" {
		probs.add("switch.Reason", "empty: say why")
	}
	if !sw.End.IsZero() {
		switch {
		case !sw.End.After(now):
			probs.add("switch.End", "%s is not after now (%s)", sw.End.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		case !sw.Start.IsZero() && !sw.End.After(sw.Start):
			probs.add("switch.End", "%s is not after Start %s", sw.End.UTC().Format(time.RFC3339), sw.Start.UTC().Format(time.RFC3339))
		}
	}
	if err := probs.err(); err != nil {
		return Switch{}, err
	}
	sw.SetAt = now
	b.mu.Lock()
	defer b.mu.Unlock()
	if sw.ID == "" {
		for {
			b.seq++
			sw.ID = fmt.Sprintf("switch-%d", b.seq)
			if b.index(sw.ID) < 0 {
				break
			}
		}
	}
	if i := b.index(sw.ID); i >= 0 {
		b.switches[i] = sw
	} else {
		b.switches = append(b.switches, sw)
	}
	b.log().Record(Event{Time: now, Action: SwitchSet, Actor: sw.Actor, Reason: sw.Reason, Switch: &sw})
	return sw, nil
}

func (b *Switchboard) index(id string) int {
	for i, sw := range b.switches {
		if sw.ID == id {
			return i
		}
	}
	return -1
}

// Clear removes the switch id as of now, recording actor and reason. A
// switch that has already ended is [ErrNotFound].
func (b *Switchboard) Clear(ctx context.Context, id, actor, reason string, now time.Time) (Switch, error) {
	if err := ctx.Err(); err != nil {
		return Switch{}, err
	}
	var probs problems
	if strings.TrimSpace(actor) == "" {
		probs.add("clear.Actor", "empty: say who clears the switch")
	}
	if strings.TrimSpace(reason) == "" {
		probs.add("clear.Reason", "empty: say why")
	}
	if err := probs.err(); err != nil {
		return Switch{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	i := b.index(id)
	if i < 0 || (!b.switches[i].End.IsZero() && !now.Before(b.switches[i].End)) {
		return Switch{}, fmt.Errorf("%w: switch %q", ErrNotFound, id)
	}
	sw := b.switches[i]
	b.switches = append(b.switches[:i], b.switches[i+1:]...)
	b.log().Record(Event{Time: now, Action: SwitchClear, Actor: actor, Reason: reason, Switch: &sw})
	return sw, nil
}

// Active returns the switches in effect at now whose scope matches s.
func (b *Switchboard) Active(ctx context.Context, s Subject, now time.Time) ([]Switch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Switch
	for _, sw := range b.switches {
		if sw.ActiveAt(now) && sw.Scope.Matches(s) {
			out = append(out, sw)
		}
	}
	return out, nil
}

// List returns the switches not cleared and not ended at now, including
// scheduled ones, in the order set.
func (b *Switchboard) List(ctx context.Context, now time.Time) ([]Switch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Switch
	for _, sw := range b.switches {
		if sw.End.IsZero() || now.Before(sw.End) {
			out = append(out, sw)
		}
	}
	return out, nil
}

// Check implements [Blocker] through [SwitchBlocker].
func (b *Switchboard) Check(ctx context.Context, s Subject, now time.Time) (Decision, error) {
	return SwitchBlocker{Switches: b}.Check(ctx, s, now)
}

// AuditTrail returns the events recorded in the board's audit log (Audit,
// or its own).
func (b *Switchboard) AuditTrail() []Event { return b.log().Events() }
