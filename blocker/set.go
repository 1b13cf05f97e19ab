package blocker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Entry is a named blocker of a [Set].
type Entry struct {
	// Name identifies the blocker in decisions and overrides; unique in
	// the set.
	Name    string
	Blocker Blocker
	// FailOpen lets the subject through when the blocker cannot be
	// evaluated (the error is still reported). The default, false, blocks:
	// a blocker that cannot answer has not said the stage is safe. A
	// blocker that reports blocked alongside its error blocks either way.
	FailOpen bool
}

// Set evaluates blockers together for a subject and reports every reason,
// not only the first. The zero Set has no blockers and always clears.
//
// A Set is plain data: build it once and call Check before each stage. Do
// not modify it while a Check is running.
type Set struct {
	Entries []Entry
	// Overrides, when not nil, is asked for the overrides of the subject's
	// change whenever something blocks; an override that names a blocking
	// entry bypasses it, whether the entry blocked by its decision or by
	// failing closed. An error reading it applies no override (fails
	// closed) and is reported in [Verdict.OverrideError].
	Overrides OverrideSource
	// Concurrency is how many blockers are evaluated at once; 0 or 1
	// evaluates them one after another. Raise it when blockers do I/O (an
	// alarm query, a shared switch store).
	Concurrency int
}

// Validate reports every problem with the set's entries: empty or
// duplicate names, missing blockers.
func (s Set) Validate() error {
	var probs problems
	seen := make(map[string]bool, len(s.Entries))
	for i, e := range s.Entries {
		path := fmt.Sprintf("set.Entries[%d]", i)
		switch {
		case e.Name == "":
			probs.add(path+".Name", "empty")
		case seen[e.Name]:
			probs.add(path+".Name", "duplicate name %q", e.Name)
		}
		seen[e.Name] = true
		if e.Blocker == nil {
			probs.add(path+".Blocker", "nil")
		}
	}
	if s.Concurrency < 0 {
		probs.add("set.Concurrency", "negative: %d", s.Concurrency)
	}
	return probs.err()
}

// Result is one entry's part of a [Verdict]: its decision as the set applied
// it, and why.
type Result struct {
	// Decision is the blocker's decision, named after its entry. When the
	// blocker failed, Blocked is true unless the entry fails open, Reason
	// says it could not be evaluated, Until is zero and Never is false.
	Decision
	// Error is the blocker's error, if any.
	Error string `json:"error,omitempty"`
	// FailedOpen is true when the blocker failed and its entry let the
	// subject through.
	FailedOpen bool `json:"failedOpen,omitempty"`
	// Override is the override that bypassed this blocked decision, if any.
	Override *Override `json:"override,omitempty"`
}

// Blocking reports whether the result keeps the subject from starting:
// blocked and not overridden.
func (r Result) Blocking() bool { return r.Blocked && r.Override == nil }

// Verdict is a [Set]'s answer for a subject at an instant. It is plain data
// (JSON-serialisable) for events, logs and persisted rollout state.
type Verdict struct {
	Subject Subject   `json:"subject"`
	Time    time.Time `json:"time"`
	// Blocked is true when any result is blocking.
	Blocked bool `json:"blocked"`
	// Until is when the subject may clear, known only when every blocking
	// result knows its own Until: the latest of them, since each blocker
	// clears no earlier than its own Until. Zero when not blocked or when
	// some blocking result cannot say (an alarm, a switch with no end, an
	// error). It is a lower bound, not a promise: a window may close again
	// by then, a new switch may be set, so check again at Until.
	Until time.Time `json:"until,omitzero"`
	// Earliest is the earliest known Until among the blocking results: the
	// first instant at which something may change. Zero when none is known.
	Earliest time.Time `json:"earliest,omitzero"`
	// Results has one entry per blocker, in the set's order.
	Results []Result `json:"results"`
	// OverrideError is the error reading overrides; none were applied.
	OverrideError string `json:"overrideError,omitempty"`
}

// Holds returns the holds of every blocking result, in the set's order,
// each with its entry's name: what a driver names when it waits ("held
// by calendar: freeze \"sales event\" in us-east-1 until ...").
func (v Verdict) Holds() []Hold {
	var out []Hold
	for _, r := range v.Results {
		if r.Blocking() {
			out = append(out, r.Holds...)
		}
	}
	return out
}

// Reasons returns the reason of every blocking result, as "name: reason".
func (v Verdict) Reasons() []string {
	var out []string
	for _, r := range v.Results {
		if r.Blocking() {
			out = append(out, r.Blocker+": "+r.Reason)
		}
	}
	return out
}

// String says in plain words whether the subject is blocked, by what, until
// when, and what was overridden or failed open.
func (v Verdict) String() string {
	var b strings.Builder
	n := 0
	for _, r := range v.Results {
		if r.Blocking() {
			n++
		}
	}
	if !v.Blocked {
		fmt.Fprintf(&b, "clear: %d blocker(s) checked", len(v.Results))
	} else {
		fmt.Fprintf(&b, "blocked by %d of %d blocker(s)", n, len(v.Results))
		switch {
		case !v.Until.IsZero():
			fmt.Fprintf(&b, " until %s", v.Until.UTC().Format(time.RFC3339))
		case !v.Earliest.IsZero():
			fmt.Fprintf(&b, ", clear time unknown, next change at %s", v.Earliest.UTC().Format(time.RFC3339))
		default:
			b.WriteString(", clear time unknown")
		}
		b.WriteString(": ")
		b.WriteString(strings.Join(v.Reasons(), "; "))
	}
	for _, r := range v.Results {
		switch {
		case r.Blocked && r.Override != nil:
			fmt.Fprintf(&b, "; %s overridden by %s (%s, until %s: %s)", r.Blocker, r.Override.ID,
				r.Override.Actor, r.Override.Expires.UTC().Format(time.RFC3339), r.Override.Reason)
		case r.FailedOpen:
			fmt.Fprintf(&b, "; %s failed open: %s", r.Blocker, r.Error)
		}
	}
	if v.OverrideError != "" {
		fmt.Fprintf(&b, "; overrides unavailable: %s", v.OverrideError)
	}
	return b.String()
}

// Check evaluates every entry for subj at now, applies overrides, and
// returns the verdict.
//
// The error is not nil only when the set is invalid (see [Set.Validate];
// the verdict then blocks with no results) or ctx is done (the verdict is
// returned as far as it got, and blocks if anything failed). Blocker errors
// are not returned: they are in the verdict, which blocks on them unless the
// entry fails open.
func (s Set) Check(ctx context.Context, subj Subject, now time.Time) (Verdict, error) {
	v := Verdict{Subject: subj, Time: now}
	if err := s.Validate(); err != nil {
		v.Blocked = true
		return v, err
	}
	v.Results = make([]Result, len(s.Entries))
	if s.Concurrency <= 1 {
		for i, e := range s.Entries {
			v.Results[i] = evaluate(ctx, e, subj, now)
		}
	} else {
		sem := make(chan struct{}, s.Concurrency)
		var wg sync.WaitGroup
		for i, e := range s.Entries {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				v.Results[i] = evaluate(ctx, e, subj, now)
			}()
		}
		wg.Wait()
	}
	s.applyOverrides(ctx, &v)
	for _, r := range v.Results {
		if !r.Blocking() {
			continue
		}
		v.Blocked = true
		if r.Until.IsZero() {
			continue
		}
		if v.Earliest.IsZero() || r.Until.Before(v.Earliest) {
			v.Earliest = r.Until
		}
	}
	if v.Blocked {
		v.Until = v.Earliest
		for _, r := range v.Results {
			if !r.Blocking() {
				continue
			}
			if r.Until.IsZero() {
				v.Until = time.Time{}
				break
			}
			if r.Until.After(v.Until) {
				v.Until = r.Until
			}
		}
	}
	return v, context.Cause(ctx)
}

func evaluate(ctx context.Context, e Entry, subj Subject, now time.Time) Result {
	d, err := e.Blocker.Check(ctx, subj, now)
	d.Blocker = e.Name
	if len(d.Holds) > 0 {
		d.Holds = slices.Clone(d.Holds)
		for i := range d.Holds {
			d.Holds[i].Blocker = e.Name
		}
	}
	r := Result{Decision: d}
	if err == nil {
		return r
	}
	r.Error = err.Error()
	r.Until = time.Time{}
	r.Never = false // an error says nothing about when the block clears
	switch {
	case d.Blocked:
		r.Reason = joinReason(d.Reason, "could not be fully evaluated: "+r.Error)
	case e.FailOpen:
		r.FailedOpen = true
		r.Reason = joinReason(d.Reason, "could not be evaluated (fails open): "+r.Error)
	default:
		r.Blocked = true
		r.Reason = "could not be evaluated (fails closed): " + r.Error
	}
	return r
}

func joinReason(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func (s Set) applyOverrides(ctx context.Context, v *Verdict) {
	if s.Overrides == nil || v.Subject.Change == "" {
		return
	}
	blocked := false
	for _, r := range v.Results {
		blocked = blocked || r.Blocked
	}
	if !blocked {
		return
	}
	list, err := s.Overrides.Active(ctx, v.Subject, v.Time)
	if err != nil {
		v.OverrideError = err.Error()
		return
	}
	for i := range v.Results {
		r := &v.Results[i]
		if !r.Blocked {
			continue
		}
		for _, o := range list {
			// Filter again: a shared store may return more than asked.
			if o.Change == v.Subject.Change && o.ActiveAt(v.Time) && o.Covers(r.Blocker) {
				o := o.clone()
				r.Override = &o
				break
			}
		}
	}
}

// Wait checks the set at time.Now() until the subject is clear, and returns
// the clearing verdict. While blocked it sleeps until the verdict's Earliest
// instant or for poll, whichever is sooner, because blocks without a known
// end (alarms, switches, errors) and overrides granted meanwhile can clear
// the subject at any moment; poll <= 0 means one minute. progress, when not
// nil, receives every verdict. Wait returns the last verdict and the error
// of Check, or the cause of ctx when it is done.
//
// Wait uses real timers, so under testing/synctest a weekend passes in an
// instant.
func (s Set) Wait(ctx context.Context, subj Subject, poll time.Duration, progress func(Verdict)) (Verdict, error) {
	if poll <= 0 {
		poll = time.Minute
	}
	for {
		now := time.Now()
		v, err := s.Check(ctx, subj, now)
		if progress != nil {
			progress(v)
		}
		if err != nil || !v.Blocked {
			return v, err
		}
		d := poll
		if e := v.Earliest.Sub(now); !v.Earliest.IsZero() && e > 0 && e < d {
			d = e
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return v, context.Cause(ctx)
		case <-t.C:
		}
	}
}
