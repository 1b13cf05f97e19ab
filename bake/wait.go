package bake

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
)

// Measure counts the evidence of each requirement over [start, end] by
// querying src, and appends one count per requirement to dst (see
// [Requirement] for how points are counted). It stops at the first error,
// wrapped with the requirement's name.
func Measure(ctx context.Context, src alarm.Source, reqs []Requirement, start, end time.Time, dst []float64) ([]float64, error) {
	if end.Before(start) {
		end = start
	}
	for i := range reqs {
		r := &reqs[i]
		step := r.Step.Std()
		if step <= 0 {
			step = DefaultStep
		}
		s, err := src.Query(ctx, r.Query, alarm.Range{Start: start, End: end, Step: step})
		if err != nil {
			return dst, fmt.Errorf("bake: evidence %q: %w", r.name(), err)
		}
		dst = append(dst, r.Sum(s))
	}
	return dst, nil
}

// Wait runs a started bake to its end: every Policy.PollInterval (and at
// the exact instants the bake can end) it reads the evidence from src with
// [Measure] and checks every checker, feeds [Tracker.Update], and returns
// as soon as the bake is done, failed or inconclusive. An alarm in ALARM
// ends it at the poll that sees it.
//
// checkers maps alarm names to their checkers; every name in
// Policy.Alarms must have one ([ErrNoChecker]), and every checker given is
// polled and judged (in name order, one after the other). src may be nil
// when the policy requires no evidence ([ErrNoSource]).
//
// A failed read (a source or checker error) is recorded with
// [Tracker.ReadFailed]: after Policy.MaxReadErrors in a row (3 by default)
// the bake fails closed; before that it keeps polling. An alarm in ALARM
// fails the bake even at a poll where another read failed.
//
// Wait updates *t in place, so that the caller holds the latest state to
// persist. progress, if not nil, is called on Wait's goroutine after every
// poll with the status (a failed read's status carries the error in its
// Reason); it may read *t, e.g. to persist it, but must not change it.
//
// Wait returns the final status with a nil error. It returns early with an
// error for a tracker that is not started ([ErrNotStarted]) or paused
// ([ErrPaused]), for missing checkers or source, and when ctx is done:
// then with the latest status and context.Cause(ctx), the tracker still
// baking and ready to be waited on again. It returns only after its timer
// is stopped, and starts no goroutine.
func Wait(ctx context.Context, t *Tracker, src alarm.Source, checkers map[string]alarm.Checker, progress func(Status)) (Status, error) {
	if t == nil {
		return Status{}, ErrNotStarted
	}
	if t.Phase != Baking {
		return t.settled()
	}
	if !t.PausedAt.IsZero() {
		return Status{}, ErrPaused
	}
	p := &t.Policy
	for _, name := range p.Alarms {
		if checkers[name] == nil {
			return Status{}, fmt.Errorf("%w %q", ErrNoChecker, name)
		}
	}
	if len(p.Evidence) > 0 && src == nil {
		return Status{}, ErrNoSource
	}
	names := slices.Sorted(maps.Keys(checkers))
	w := waiter{t: t, src: src, checkers: checkers, names: names,
		results: make([]alarm.Result, 0, len(names))}

	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	var last Status
	for {
		if err := ctx.Err(); err != nil {
			return last, context.Cause(ctx)
		}
		now := time.Now()
		st, err := w.poll(ctx, now)
		if ctx.Err() != nil {
			// The poll was cut short: its errors are the cancellation's,
			// not the sources'.
			return last, context.Cause(ctx)
		}
		if err != nil {
			return st, err
		}
		last = st
		if progress != nil {
			progress(st)
		}
		if st.Phase != Baking {
			return st, nil
		}
		d := st.NextCheck.Sub(time.Now())
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-ctx.Done():
			return last, context.Cause(ctx)
		case <-timer.C:
		}
	}
}

// waiter holds Wait's buffers, reused from poll to poll.
type waiter struct {
	t        *Tracker
	src      alarm.Source
	checkers map[string]alarm.Checker
	names    []string
	results  []alarm.Result
}

// poll reads everything once at now and feeds the tracker.
func (w *waiter) poll(ctx context.Context, now time.Time) (Status, error) {
	var errs []error
	w.results = w.results[:0]
	fired := false
	for _, name := range w.names {
		r, err := w.checkers[name].Check(ctx, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("alarm %q: %w", name, err))
			continue
		}
		if r.Name == "" {
			r.Name = name
		}
		fired = fired || r.State == alarm.Alarm
		w.results = append(w.results, r)
	}
	reqs := w.t.Policy.Evidence
	// A new slice each poll, since the status handed to progress (and
	// returned) refers to it.
	counts, err := Measure(ctx, w.src, reqs, w.t.Started, now, make([]float64, 0, len(reqs)))
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return w.t.Update(now, counts, w.results)
	}
	if fired {
		// An alarm in ALARM is a verdict whatever else failed to read.
		// Zero evidence cannot end the bake any other way.
		return w.t.Update(now, make([]float64, len(reqs)), w.results)
	}
	readErr := errors.Join(errs...)
	st, e := w.t.ReadFailed(now, readErr)
	if e == nil && st.Phase == Baking {
		st.Reason = reasonReadError + ": " + readErr.Error()
	}
	return st, e
}
