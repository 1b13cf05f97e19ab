package rollout

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shepherd-go/shepherd/duration"
)

// Defaults of [CallPolicy]: every call to the outside world has a deadline,
// whatever the team's code does with its context.
const (
	// DefaultDeployCall bounds one deploy or rollback attempt: the call,
	// the health check and the read-back.
	DefaultDeployCall = 15 * time.Minute
	// DefaultReadCall bounds one version read.
	DefaultReadCall = time.Minute
	// DefaultGateCall bounds one evaluation of the blockers or the alarms,
	// or one evidence read.
	DefaultGateCall = time.Minute
	// DefaultJudgeCall bounds one canary judgement.
	DefaultJudgeCall = 5 * time.Minute
	// DefaultStoreCall bounds one save of the state by a [Runner].
	DefaultStoreCall = time.Minute
	// DefaultGrace is how long a call that ignores its context is waited
	// for past its deadline before it is abandoned.
	DefaultGrace = 30 * time.Second
)

// CallPolicy bounds each call to the outside world: the team's Deployer,
// gates, judges and verifiers. A call gets a context that ends at its
// deadline; a call that ignores it and has not returned [CallPolicy.Grace]
// later is abandoned: its action fails (closed) with an error that says
// so, the driver goes on, and the call's goroutine ends whenever the call
// returns. A target whose deploy was abandoned counts as failed and is
// read back before anything else touches it (a rollback reads first).
// Verifications are bounded by [VerifyPolicy.Timeout] instead.
type CallPolicy struct {
	// Deploy bounds one deploy or rollback attempt, health check and
	// read-back included. Zero means [DefaultDeployCall] (15 minutes).
	Deploy duration.Duration `json:"deploy,omitzero"`
	// Read bounds one version read. Zero means [DefaultReadCall] (1
	// minute).
	Read duration.Duration `json:"read,omitzero"`
	// Gate bounds one evaluation of the blockers or the alarms, or one
	// evidence read. Zero means [DefaultGateCall] (1 minute).
	Gate duration.Duration `json:"gate,omitzero"`
	// Judge bounds one canary judgement. Zero means [DefaultJudgeCall] (5
	// minutes).
	Judge duration.Duration `json:"judge,omitzero"`
	// Grace is how long a call is waited for past its deadline before it
	// is abandoned. Zero means [DefaultGrace] (30 seconds).
	Grace duration.Duration `json:"grace,omitzero"`
}

// Timeout returns the deadline of one call of an action of kind k, counted
// from the call's start, with its default.
func (c CallPolicy) Timeout(k ActionKind, verify VerifyPolicy) time.Duration {
	switch k {
	case ActionDeploy, ActionRollback:
		return orDefault(c.Deploy, DefaultDeployCall)
	case ActionReadVersion:
		return orDefault(c.Read, DefaultReadCall)
	case ActionJudgeCanary:
		return orDefault(c.Judge, DefaultJudgeCall)
	case ActionVerify:
		return verify.timeout()
	}
	return orDefault(c.Gate, DefaultGateCall)
}

// grace returns the grace period, with its default.
func (c CallPolicy) grace() time.Duration { return orDefault(c.Grace, DefaultGrace) }

func (c CallPolicy) validate(ps *problems, prefix string) {
	for _, f := range []struct {
		name string
		d    duration.Duration
	}{{"Deploy", c.Deploy}, {"Read", c.Read}, {"Gate", c.Gate}, {"Judge", c.Judge}, {"Grace", c.Grace}} {
		if f.d < 0 {
			ps.add(prefix+"."+f.name, "%s is negative", f.d)
		}
	}
}

// Calls counts the calls of a [Hands] that were abandoned, and waits for
// them: an abandoned call's goroutine ends when the call returns. Its zero
// value is ready to use; share one between the Hands of one executor.
type Calls struct {
	wg        sync.WaitGroup
	abandoned atomic.Int64
	running   atomic.Int64
}

// Abandoned reports how many calls were abandoned so far.
func (c *Calls) Abandoned() int64 { return c.abandoned.Load() }

// Running reports how many abandoned calls have not returned yet.
func (c *Calls) Running() int64 { return c.running.Load() }

// Wait waits until every abandoned call has returned, or ctx ends.
func (c *Calls) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// errPanic marks an attempt that panicked.
type panicError struct {
	kind  ActionKind
	value any
	stack []byte
}

func (p *panicError) Error() string   { return fmt.Sprintf("%s panicked: %v", p.kind, p.value) }
func (p *panicError) Permanent() bool { return true }

// guarded makes one attempt with the call's deadline: on the caller's
// goroutine when h.Sync (the executor abandons a call itself, told of its
// deadline by OnCall), otherwise on a goroutine of its own, returning when
// the attempt returns or Grace after the deadline, whichever is first. A
// panic in the team's code is an error of the attempt.
func (h *Hands) guarded(ctx context.Context, a *Action, now time.Time, o *Observation) error {
	timeout := h.Policy.Calls.Timeout(a.Kind, h.Policy.Verify) // small parts of the policy
	deadline := now.Add(timeout)
	var cctx context.Context
	if h.shared != nil {
		cctx, deadline = h.shared.get(ctx, timeout)
	}
	if cctx == nil {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
		deadline = now.Add(timeout)
	}
	if h.OnCall != nil {
		h.OnCall(ctx, *a, deadline)
	}
	if !h.Sync {
		return h.aside(cctx, a, now, o, timeout)
	}
	err := h.attemptSafe(cctx, a, now, o)
	if h.OnCall != nil {
		h.OnCall(ctx, *a, time.Time{})
	}
	return err
}

// aside makes the attempt on a goroutine of its own, and abandons it
// Grace after ctx ends.
func (h *Hands) aside(ctx context.Context, a *Action, now time.Time, o *Observation, timeout time.Duration) error {
	type result struct {
		o   Observation
		err error
	}
	ch := make(chan result, 1)
	calls := h.Calls
	if calls == nil {
		calls = new(Calls)
	}
	calls.wg.Add(1)
	go func() {
		defer calls.wg.Done()
		var r result
		r.err = h.attemptSafe(ctx, a, now, &r.o)
		ch <- r
	}()
	select {
	case r := <-ch:
		*o = r.o
		return r.err
	case <-ctx.Done():
	}
	grace := time.NewTimer(h.Policy.Calls.grace())
	defer grace.Stop()
	select {
	case r := <-ch:
		*o = r.o
		return r.err
	case <-grace.C:
	}
	calls.abandon(func(done func()) {
		go func() {
			defer done()
			<-ch // the call returned at last
		}()
	})
	err := abandonedError(*a, timeout, h.Policy.Calls.grace())
	if h.OnAbandon != nil {
		h.OnAbandon(*a, err)
	}
	*o = failed(*a, err)
	return err
}

// abandon counts an abandoned call; start starts the goroutine that waits
// for it, which calls done when the call returns.
func (c *Calls) abandon(start func(done func())) {
	c.abandoned.Add(1)
	c.running.Add(1)
	c.wg.Add(1)
	start(func() {
		c.running.Add(-1)
		c.wg.Done()
	})
}

// abandonedError is the error of a call abandoned past its deadline.
func abandonedError(a Action, timeout, grace time.Duration) error {
	return Permanent(fmt.Errorf("%s of %s: no answer %s after its deadline of %s; abandoned (it ignores its context)",
		a.Kind, cmpOr(a.Target.ID, a.Stage), grace, timeout))
}

// attemptSafe is attempt with panics recovered into a permanent error.
func (h *Hands) attemptSafe(ctx context.Context, a *Action, now time.Time, o *Observation) (err error) {
	defer func() {
		if v := recover(); v != nil {
			pe := &panicError{kind: a.Kind, value: v, stack: debug.Stack()}
			if h.OnPanic != nil {
				h.OnPanic(*a, v, pe.stack)
			}
			*o, err = failed(*a, pe), pe
		}
	}()
	return h.attempt(ctx, a, now, o)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
