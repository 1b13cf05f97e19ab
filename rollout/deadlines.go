package rollout

import (
	"context"
	"sync"
	"time"
)

// deadlines lets the calls of a Runner's round that start together share
// one context with their deadline.
//
// Every attempt of a call has a deadline ([CallPolicy]), and a context with
// a deadline is a timer and a child of the round's context: on a batch of
// thousands of targets, a fifth of the driver's cost. The calls of a round
// start within milliseconds of each other with the same timeout, so an
// attempt that starts less than a thousandth of its timeout (at most a
// second) after another of the same timeout takes that one's context: its
// deadline comes at most that much early, never late. Only calls whose
// context is the round's plus the roundCall (no span, no deadline of their
// own) share, so that the shared context answers for them exactly.
type deadlines struct {
	mu      sync.Mutex
	base    context.Context // the round's context
	live    []sharedDeadline
	cancels []context.CancelFunc
}

type sharedDeadline struct {
	timeout time.Duration
	at      time.Time
	ctx     context.Context
}

// reset starts a round whose calls derive from base (nil: none), and
// releases the contexts of the last one.
func (d *deadlines) reset(base context.Context) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.cancels {
		c()
	}
	d.base, d.live, d.cancels = base, d.live[:0], d.cancels[:0]
}

// get returns the context of an attempt of timeout made with ctx, and its
// deadline, or nil when ctx cannot share one.
func (d *deadlines) get(ctx context.Context, timeout time.Duration) (context.Context, time.Time) {
	if d == nil {
		return nil, time.Time{}
	}
	c, ok := ctx.Value(roundCallKey{}).(*roundCall)
	q := min(timeout/1000, time.Second)
	if !ok || !c.plain || q <= 0 {
		return nil, time.Time{}
	}
	want := time.Now().Add(timeout)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.base == nil || ctx.Done() != d.base.Done() {
		return nil, time.Time{}
	}
	i := 0
	for ; i < len(d.live); i++ {
		if e := &d.live[i]; e.timeout == timeout {
			if !e.at.After(want) && want.Sub(e.at) < q {
				return sharedCall{e.ctx, c}, e.at
			}
			break
		}
	}
	sc, cancel := context.WithDeadline(d.base, want)
	d.cancels = append(d.cancels, cancel)
	e := sharedDeadline{timeout: timeout, at: want, ctx: sc}
	if i < len(d.live) {
		d.live[i] = e // the calls that hold the old one keep it
	} else {
		d.live = append(d.live, e)
	}
	return sharedCall{sc, c}, want
}

// sharedCall is the context of one call on a shared deadline: the
// round's context with the deadline, and the call's own roundCall, the
// one value its own context added.
type sharedCall struct {
	context.Context
	c *roundCall
}

func (s sharedCall) Value(key any) any {
	if _, ok := key.(roundCallKey); ok {
		return s.c
	}
	return s.Context.Value(key)
}
