package blocker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultMaxOverride is the longest override [Overrides] grants when
// MaxDuration is zero: long enough to ship a fix, short enough that a
// forgotten bypass does not outlive the incident.
const DefaultMaxOverride = 24 * time.Hour

// Override is an audited bypass of named blockers for one change: while it
// is active, a [Set] does not let those blockers block that change (their
// decisions are still reported, marked overridden).
type Override struct {
	// ID identifies the override; [Overrides.Grant] assigns it.
	ID string `json:"id"`
	// Change is the [Subject.Change] the override applies to.
	Change string `json:"change"`
	// Blockers are the names of the [Entry] values bypassed, for example
	// ["alarms"] to ship a fix through an alarm blocker.
	Blockers []string `json:"blockers"`
	// Actor is who asked for the override and Reason why.
	Actor  string `json:"actor"`
	Reason string `json:"reason"`
	// Granted is when it was granted; [Overrides.Grant] sets it.
	Granted time.Time `json:"granted,omitzero"`
	// Expires is when it stops applying; required.
	Expires time.Time `json:"expires"`
}

// ActiveAt reports whether the override applies at now: granted and not
// yet expired (revocation is known only to its store).
func (o Override) ActiveAt(now time.Time) bool {
	return (o.Granted.IsZero() || !now.Before(o.Granted)) && now.Before(o.Expires)
}

// Covers reports whether the override bypasses the blocker named name.
func (o Override) Covers(name string) bool { return slices.Contains(o.Blockers, name) }

// String describes the override in plain words.
func (o Override) String() string {
	return fmt.Sprintf("override %q of %s for change %q by %s until %s: %s", o.ID,
		strings.Join(o.Blockers, ", "), o.Change, o.Actor, o.Expires.UTC().Format(time.RFC3339), o.Reason)
}

// Authoriser decides whether an override request may be granted: it returns
// nil to allow it, or an error saying why not (which is audited). The
// request has Granted set and ID empty. It is called without locks held and
// may do I/O (ask a directory, check an on-call rota).
type Authoriser func(ctx context.Context, req Override) error

// OverrideSource is what a [Set] needs from a store of overrides: those in
// effect for a subject's change at now.
type OverrideSource interface {
	Active(ctx context.Context, s Subject, now time.Time) ([]Override, error)
}

// Overrides is an in-memory store of overrides and an [OverrideSource]. It
// grants only what Authorise allows; with a nil Authorise every request is
// refused ([ErrNotAuthorised]). Every grant, refusal and revocation is
// recorded in Audit, or when Audit is nil in the store's own trail, read
// with [Overrides.AuditTrail].
//
// It is safe for concurrent use and holds its lock only briefly (never
// while calling Authorise); set the exported fields before first use.
type Overrides struct {
	// Authorise decides who may override what. Nil denies everything.
	Authorise Authoriser
	// MaxDuration bounds how long after its grant an override may expire.
	// Zero means [DefaultMaxOverride]; negative is invalid and refuses
	// every request.
	MaxDuration time.Duration
	// Audit receives every grant, refusal and revocation.
	Audit *AuditLog

	mu   sync.Mutex
	list []Override
	seq  int
	own  AuditLog
}

var _ OverrideSource = (*Overrides)(nil)

func (o *Overrides) log() *AuditLog {
	if o.Audit != nil {
		return o.Audit
	}
	return &o.own
}

// Grant validates req, asks Authorise, and on success stores the override
// with a new ID and Granted set to now. Change, Blockers, Actor, Reason and
// Expires (after now, at most MaxDuration later) are required; an ID or
// Granted in req is ignored. A refusal, for any reason, is audited and
// returned as an error: field errors ([ErrInvalid]) for a malformed request,
// [ErrNotAuthorised] for a denied one.
func (o *Overrides) Grant(ctx context.Context, req Override, now time.Time) (Override, error) {
	req = req.clone()
	req.ID = ""
	req.Granted = now
	refuse := func(err error) (Override, error) {
		o.log().Record(Event{Time: now, Action: OverrideRefuse, Actor: req.Actor, Reason: req.Reason,
			Override: &req, Refusal: err.Error()})
		return Override{}, err
	}
	if err := o.validate(req, now); err != nil {
		return refuse(err)
	}
	if o.Authorise == nil {
		return refuse(fmt.Errorf("%w: no authoriser is configured, so nobody may override", ErrNotAuthorised))
	}
	if err := o.Authorise(ctx, req); err != nil {
		return refuse(fmt.Errorf("%w: %w", ErrNotAuthorised, err))
	}
	if err := ctx.Err(); err != nil {
		return refuse(err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seq++
	req.ID = fmt.Sprintf("override-%d", o.seq)
	o.list = append(o.list, req)
	o.log().Record(Event{Time: now, Action: OverrideGrant, Actor: req.Actor, Reason: req.Reason, Override: &req})
	return req.clone(), nil
}

func (o *Overrides) validate(req Override, now time.Time) error {
	var probs problems
	maxDur := o.MaxDuration
	if maxDur < 0 {
		probs.add("overrides.MaxDuration", "negative duration %s", maxDur)
	} else if maxDur == 0 {
		maxDur = DefaultMaxOverride
	}
	if strings.TrimSpace(req.Change) == "" {
		probs.add("override.Change", "empty: an override is for one change")
	}
	if len(req.Blockers) == 0 {
		probs.add("override.Blockers", "empty: name the blockers to bypass")
	}
	for i, b := range req.Blockers {
		if b == "" {
			probs.add(fmt.Sprintf("override.Blockers[%d]", i), "empty name")
		}
	}
	if strings.TrimSpace(req.Actor) == "" {
		probs.add("override.Actor", "empty: say who overrides")
	}
	if strings.TrimSpace(req.Reason) == "" {
		probs.add("override.Reason", "empty: say why")
	}
	switch {
	case req.Expires.IsZero():
		probs.add("override.Expires", "not set: every override expires")
	case !req.Expires.After(now):
		probs.add("override.Expires", "%s is not after now (%s)", req.Expires.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case maxDur > 0 && req.Expires.Sub(now) > maxDur:
		probs.add("override.Expires", "%s is more than %s from now", req.Expires.UTC().Format(time.RFC3339), maxDur)
	}
	return probs.err()
}

// Revoke ends the override id before its expiry, recording actor and reason.
// An unknown or expired override is [ErrNotFound].
func (o *Overrides) Revoke(ctx context.Context, id, actor, reason string, now time.Time) (Override, error) {
	if err := ctx.Err(); err != nil {
		return Override{}, err
	}
	var probs problems
	if strings.TrimSpace(actor) == "" {
		probs.add("revoke.Actor", "empty: say who revokes the override")
	}
	if strings.TrimSpace(reason) == "" {
		probs.add("revoke.Reason", "empty: say why")
	}
	if err := probs.err(); err != nil {
		return Override{}, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, ov := range o.list {
		if ov.ID == id && now.Before(ov.Expires) {
			o.list = append(o.list[:i], o.list[i+1:]...)
			o.log().Record(Event{Time: now, Action: OverrideRevoke, Actor: actor, Reason: reason, Override: &ov})
			return ov.clone(), nil
		}
	}
	return Override{}, fmt.Errorf("%w: override %q", ErrNotFound, id)
}

// Active returns the overrides in effect at now for s.Change (none when the
// subject has no change ID).
func (o *Overrides) Active(ctx context.Context, s Subject, now time.Time) ([]Override, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.Change == "" {
		return nil, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Override
	for _, ov := range o.list {
		if ov.Change == s.Change && ov.ActiveAt(now) {
			out = append(out, ov.clone())
		}
	}
	return out, nil
}

// List returns the overrides not revoked and not expired at now, in the
// order granted.
func (o *Overrides) List(now time.Time) []Override {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Override
	for _, ov := range o.list {
		if now.Before(ov.Expires) {
			out = append(out, ov.clone())
		}
	}
	return out
}

// AuditTrail returns the events recorded in the store's audit log (Audit,
// or its own).
func (o *Overrides) AuditTrail() []Event { return o.log().Events() }
