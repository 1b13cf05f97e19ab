package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/shepherd-go/shepherd/traffic"
	"github.com/shepherd-go/shepherd/wave"
)

// Spec is what a rollout deploys: plain data, saved with its state.
type Spec struct {
	// ID names the rollout; one ID is one rollout, in a store and in its
	// events. A [FileStore] takes letters, digits, '-', '_' and '.'.
	ID string
	// Plan is the reviewed plan ([wave.Policy.Plan]).
	Plan wave.Plan
	// Version is the version to deploy.
	Version string
	// Policy is how the rollout behaves; its zero value is the documented
	// default everywhere.
	Policy Policy
}

// Config is the wiring of a [Runner]: where it saves its state, the gates
// it asks, who may steer it, where it reports. Every field is optional,
// and its zero value is the documented default.
type Config struct {
	// Store persists the state under a lease. Nil means a new
	// [MemoryStore]: no durability across processes.
	Store Store
	// Blockers decides whether a stage may start. Nil means nothing
	// blocks.
	Blockers Blockers
	// Alarms evaluates the alarms watched. Nil means no alarm is watched.
	Alarms Alarms
	// Evidence counts bake evidence ([Measure] adapts an alarm.Source).
	// Nil with evidence required by the bake policy makes every read fail,
	// so such bakes fail closed.
	Evidence Evidence
	// Judge is the canary judge. Nil with the canary enabled in the policy
	// fails every canary: fail closed.
	Judge Judge
	// Verifier runs the verify step ([StepVerify]). Nil with the step in
	// the policy fails every verification: fail closed.
	Verifier Verifier
	// Router sets the scopes' routes for the exposure step
	// ([StepExposure]). Nil with the step in the policy fails the first
	// route change: fail closed.
	Router traffic.Router
	// Authorize decides whether a control request (pause, resume, abort,
	// approve, skip a bake) may be applied; its error is returned to the
	// caller wrapped in [ErrNotAuthorised]. Nil allows every well-formed
	// request (each names its actor, which is audited).
	Authorize func(ctx context.Context, c Control) error
	// OnEvent receives every event, in order, from the goroutine that
	// called Run. It must not block for long, nor call the Runner's
	// methods other than Progress.
	OnEvent func(Event)
	// Logger receives a line per event. Nil means silence.
	Logger *slog.Logger
	// TracerProvider makes the spans rollout > stage > batch > target.
	// Nil means the global provider (a no-op until the application
	// installs one).
	TracerProvider trace.TracerProvider
	// Registerer receives the Prometheus metrics (shepherd_rollout_*).
	// Nil means no metrics.
	Registerer prometheus.Registerer
}

// Runner executes one rollout: it performs the actions the [State] asks
// for, feeds their results back, persists the state at every transition
// and sleeps between. Get one with [Create] (a new rollout) or [Open] (a
// saved one, after a crash or from another replica); call Run once.
// Its control methods (Pause, Resume, Abort, Approve, SkipBake) and
// Progress are safe to call from any goroutine.
type Runner struct {
	id      string
	d       Deployer
	o       Config
	store   Store
	token   uint64
	resumed bool
	obs     *observer
	hands   Hands // performs the actions
	calls   Calls // the calls abandoned past their deadline
	saves   saves // numbering for a [DeltaSaver]
	answers []Observation
	// round and answered are the buffers of a round (its output and
	// its answers' channel), reused by the next one unless a call of the
	// round was abandoned and may still read its action. The calls
	// themselves are not reused: a roundCall is its call's context, and
	// a goroutine a deployer left behind may still hold it, which must
	// go on seeing its own round's context, cancelled when the round
	// ended.
	round    Output
	answered chan *roundCall

	mu      sync.Mutex
	st      *State
	ctl     []Control
	started bool
	ended   bool
	closed  bool
	wake    chan struct{}
}

// Create validates a new rollout and records it in the store under a
// lease held until Run returns (or Close is called), the way [os.Create]
// makes a file. It fails with [ErrExists] if the store already holds a
// rollout with this ID, and with [ErrLocked] if another driver holds its
// lease. Invalid input (see [NewState]) is reported before anything is
// touched. d deploys the targets; it may be nil only for a dry run.
func Create(ctx context.Context, s Spec, d Deployer, o Config) (*Runner, error) {
	id := s.ID
	st, err := NewState(s.ID, s.Plan, s.Version, s.Policy, time.Now())
	if err != nil {
		return nil, err
	}
	if d == nil && !s.Policy.DryRun {
		return nil, &FieldError{Path: "deployer", Problem: "nil", Err: ErrInvalid}
	}
	r := newRunner(id, d, o)
	data, token, err := r.store.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	r.token = token
	if data != nil {
		r.store.Release(context.WithoutCancel(ctx), id, token)
		return nil, fmt.Errorf("%w: rollout %q", ErrExists, id)
	}
	r.st = st
	if err := r.save(ctx, false); err != nil {
		r.store.Release(context.WithoutCancel(ctx), id, token)
		return nil, err
	}
	r.start(st)
	return r, nil
}

// Open takes over a saved rollout, the way [os.Open] opens a file: it
// takes the lease ([ErrLocked] if
// another driver holds it), loads and checks the state ([ErrNotFound],
// [ErrCorrupt], a [*SchemaError]), all before anything is touched. Run then
// reconciles the targets whose deploy or rollback was interrupted by
// reading their versions, and carries on.
func Open(ctx context.Context, id string, d Deployer, o Config) (*Runner, error) {
	r := newRunner(id, d, o)
	data, token, err := r.store.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Runner, error) {
		r.store.Release(context.WithoutCancel(ctx), id, token)
		return nil, err
	}
	if data == nil {
		return fail(fmt.Errorf("%w: rollout %q", ErrNotFound, id))
	}
	st, err := DecodeState(data)
	if err != nil {
		return fail(fmt.Errorf("rollout %q: %w", id, err))
	}
	if st.ID != id {
		return fail(fmt.Errorf("%w: store returned rollout %q for %q", ErrCorrupt, st.ID, id))
	}
	if d == nil && !st.Policy.DryRun {
		return fail(&FieldError{Path: "deployer", Problem: "nil", Err: ErrInvalid})
	}
	r.token = token
	r.st = st
	r.resumed = true
	r.start(st)
	return r, nil
}

// start wires the observer and the hands once the state is known.
func (r *Runner) start(st *State) {
	r.obs = newObserver(r, st)
	r.hands = Hands{
		Deployer: r.d,
		Blockers: r.o.Blockers,
		Alarms:   r.o.Alarms,
		Evidence: r.o.Evidence,
		Judge:    r.o.Judge,
		Verifier: r.o.Verifier,
		Router:   r.o.Router,
		Policy:   st.Policy, // immutable after creation
		Rollout:  r.id,
		OnRetry:  r.obs.retrying,
		OnPanic:  r.obs.panicked,
		OnCall:   onCall,
		shared:   new(deadlines),
		// Calls run on the round's goroutines; perform abandons those
		// that outlive their deadline and grace.
		Sync: true,
	}
}

func newRunner(id string, d Deployer, o Config) *Runner {
	r := &Runner{id: id, d: d, o: o, store: o.Store, wake: make(chan struct{}, 1)}
	if r.store == nil {
		r.store = new(MemoryStore)
	}
	return r
}

// Close releases the lease without running. It is idempotent, and Run
// calls it when it returns.
func (r *Runner) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	return r.store.Release(context.Background(), r.id, r.token)
}

// Run drives the rollout until it ends, ctx is cancelled, or the store
// fails. It returns nil when the rollout succeeded, a [*HaltError] when it
// rolled back ([ErrRolledBack]) or could not roll back every target
// ([ErrRollbackFailed]), or the error that stopped it. A cancelled run can
// be continued with [Open]. Run returns only after every goroutine it
// started has stopped, and releases the lease.
func (r *Runner) Run(ctx context.Context) (err error) {
	r.mu.Lock()
	if r.started || r.closed {
		r.mu.Unlock()
		return errors.New("rollout: Run called twice, or after Close")
	}
	r.started = true
	r.mu.Unlock()
	defer r.Close()
	ctx, end := r.obs.startRun(ctx)
	defer func() { end(err) }()

	var obs []Observation
	if r.resumed {
		obs = append(obs, Restarted())
	}
	for {
		obs = append(obs, r.takeControls()...)
		out, err := r.stepInto(ctx, obs, &r.round)
		obs = nil
		if err != nil {
			return err
		}
		if out.Done {
			return r.result()
		}
		if err := context.Cause(ctx); err != nil {
			return err
		}
		if len(out.Actions) > 0 {
			if obs, err = r.perform(ctx, out); err != nil {
				return err
			}
			continue
		}
		if err := r.sleep(ctx, out.WakeAt); err != nil {
			return err
		}
	}
}

func (r *Runner) result() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.st
	if st.Phase == Succeeded {
		return nil
	}
	he := &HaltError{Phase: st.Phase}
	if rb := st.Rollback; rb != nil {
		he.Signal, he.Reason, he.Failed = rb.Signal, rb.Reason, append([]string(nil), rb.Failed...)
	}
	return he
}

func (r *Runner) save(ctx context.Context, deferrable bool) error {
	// A store that does not answer must not hold the run for ever: the
	// save fails, and Run returns its error (Open carries on later).
	ctx, cancel := context.WithTimeout(ctx, DefaultStoreCall)
	defer cancel()
	// Only the goroutine that steps the state writes it, so encoding
	// without the lock races with nothing but readers.
	if err := r.saves.save(ctx, r.store, r.id, r.token, r.st, deferrable); err != nil {
		return fmt.Errorf("rollout: save %q: %w", r.id, err)
	}
	return nil
}

func (r *Runner) sleep(ctx context.Context, at time.Time) error {
	var tc <-chan time.Time
	if !at.IsZero() {
		d := time.Until(at)
		if d <= 0 {
			return nil
		}
		t := time.NewTimer(d)
		defer t.Stop()
		tc = t.C
	}
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-tc:
	case <-r.wake:
	}
	return nil
}

func (r *Runner) takeControls() []Observation {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ctl) == 0 {
		return nil
	}
	obs := make([]Observation, len(r.ctl))
	for i, c := range r.ctl {
		obs[i] = ObserveControl(c)
	}
	r.ctl = nil
	return obs
}

// Request validates, authorises and queues a control request; it is
// applied at the next step (at once while the rollout waits; after the
// deploy calls in flight return otherwise), and recorded in the audit log.
// It fails with [ErrInvalid] for a malformed request or an unknown stage,
// [ErrNotAuthorised] when the authoriser refuses, and [ErrDone] once the
// rollout has ended.
func (r *Runner) Request(ctx context.Context, c Control) error {
	if err := c.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	done := r.ended || r.st.Phase.Terminal()
	_, known := r.st.ix.byName[c.Stage]
	r.mu.Unlock()
	if done {
		return ErrDone
	}
	if c.Stage != "" && !known {
		return &FieldError{Path: "control.Stage", Problem: fmt.Sprintf("no stage %q in the plan", c.Stage), Err: ErrInvalid}
	}
	if r.o.Authorize != nil {
		if err := r.o.Authorize(ctx, c); err != nil {
			return fmt.Errorf("%w: %s by %s: %w", ErrNotAuthorised, c.Kind, c.Actor, err)
		}
	}
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		return ErrDone
	}
	r.ctl = append(r.ctl, c)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return nil
}

// Pause holds the rollout after the deploy calls in flight; alarms are
// still watched, and a signal still rolls back.
func (r *Runner) Pause(ctx context.Context, actor, reason string) error {
	return r.Request(ctx, Control{Kind: ControlPause, Actor: actor, Reason: reason})
}

// Resume lifts a pause.
func (r *Runner) Resume(ctx context.Context, actor string) error {
	return r.Request(ctx, Control{Kind: ControlResume, Actor: actor})
}

// Abort stops the rollout and rolls back every target it changed.
func (r *Runner) Abort(ctx context.Context, actor, reason string) error {
	return r.Request(ctx, Control{Kind: ControlAbort, Actor: actor, Reason: reason})
}

// Approve approves the manual gate of a stage (before or while it waits).
func (r *Runner) Approve(ctx context.Context, stage, actor string) error {
	return r.Request(ctx, Control{Kind: ControlApprove, Stage: stage, Actor: actor})
}

// SkipBake ends a stage's bake early: an audited override, which must
// say why.
func (r *Runner) SkipBake(ctx context.Context, stage, actor, reason string) error {
	return r.Request(ctx, Control{Kind: ControlSkipBake, Stage: stage, Actor: actor, Reason: reason})
}

// Progress returns a snapshot of the rollout.
func (r *Runner) Progress() Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st.Progress()
}

// perform runs the actions of one output and returns their observations.
// It keeps watching while they run: at the state's wake-up time (the
// alarm interval) and at every control request it steps the state with
// what it has, performs the alarm checks the state asks for, and cancels
// the calls in flight when the state stops the rollout ([Output.Cancel]),
// so that an alarm in the middle of a long batch, or an abort, acts within
// one interval rather than after the batch. It returns when every action
// has answered: the hands bound each call by its deadline and grace
// ([CallPolicy]), so it returns in bounded time whatever the calls do.
func (r *Runner) perform(ctx context.Context, out Output) ([]Observation, error) {
	rctx, cancelRound := context.WithCancel(ctx)
	var wg sync.WaitGroup
	r.hands.shared.reset(rctx)
	defer func() {
		cancelRound()
		wg.Wait()
		r.hands.shared.reset(nil)
	}()
	// The answers go to the step and are not kept past it: one slice
	// serves every round.
	if cap(r.answers) < len(out.Actions) {
		r.answers = make([]Observation, len(out.Actions))
	}
	obs := r.answers[:len(out.Actions)]
	clear(obs)
	answered := r.answered
	if cap(answered) < len(out.Actions) {
		answered = make(chan *roundCall, len(out.Actions))
	}
	grace := r.hands.Policy.Calls.grace()
	var slots chan struct{} // nil: no limit
	if out.Concurrency > 0 && out.Concurrency < len(out.Actions) {
		slots = make(chan struct{}, out.Concurrency)
	}
	calls := make([]roundCall, len(out.Actions))
	abandoned := false
	defer func() {
		if abandoned || len(answered) > 0 {
			// An abandoned call may still read its action, and a
			// round cut short leaves answers behind: the next round
			// gets buffers of its own.
			r.round, r.answered = Output{}, nil
			return
		}
		r.answered = answered
	}()
	var watches []*roundCall // alarm checks asked for mid-round
	crew := newCrew(len(out.Actions), &wg, func(c *roundCall, o *Observation) bool {
		*o = Observation{}
		r.call(rctx, c, slots, o)
		if !c.state.CompareAndSwap(callRunning, callReturned) {
			c.done() // abandoned: the round went on without it
			return false
		}
		*c.o = *o
		answered <- c
		return true
	})
	launch := crew.submit
	for i := range out.Actions {
		calls[i] = roundCall{a: &out.Actions[i], o: &obs[i]}
		launch(&calls[i])
	}
	outstanding := len(out.Actions)
	wake := out.WakeAt
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	// A call that outlives its deadline and grace is abandoned: looked for
	// a few times per grace period.
	sweep := time.NewTicker(grace / 4)
	defer sweep.Stop()
	// watch steps the state in the middle of the round.
	watch := func(in []Observation) error {
		mid, err := r.step(ctx, in)
		if err != nil {
			return err
		}
		if mid.Cancel {
			cancelRound()
		}
		for _, a := range mid.Actions {
			if a.Kind.Target() {
				// A state never asks for target actions mid-round.
				continue
			}
			c := &roundCall{a: &a, o: new(Observation), watch: true}
			watches = append(watches, c)
			outstanding++
			launch(c)
		}
		wake = mid.WakeAt
		return nil
	}
	answer := func(c *roundCall) error {
		outstanding--
		if c.watch {
			return watch([]Observation{*c.o})
		}
		return nil
	}
	abandon := func(c *roundCall, now time.Time) error {
		if !c.overdue(now, grace) || !r.calls.take(c) {
			return nil
		}
		abandoned = true
		wg.Done() // the round no longer waits for its worker
		e := abandonedError(*c.a, time.Duration(c.timeout.Load()), grace)
		r.obs.abandoned(*c.a, e)
		*c.o = failed(*c.a, e)
		return answer(c)
	}
	var armed time.Time // when the timer is set to fire
	for outstanding > 0 {
		var tc <-chan time.Time
		if !wake.IsZero() {
			if !wake.Equal(armed) {
				timer.Reset(max(time.Until(wake), 0))
				armed = wake
			}
			tc = timer.C
		}
		var err error
		select {
		case c := <-answered:
			err = answer(c)
		case <-tc:
			armed = time.Time{}
			err = watch(nil)
		case <-r.wake:
			err = watch(r.takeControls())
		case now := <-sweep.C:
			for i := 0; i < len(calls) && err == nil; i++ {
				err = abandon(&calls[i], now)
			}
			for i := 0; i < len(watches) && err == nil; i++ {
				err = abandon(watches[i], now)
			}
		case <-ctx.Done():
			// Results gathered while cancelling are not trusted; the
			// saved state will have them reconciled on resume.
			return nil, context.Cause(ctx)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return obs, nil
}

// call performs one action of a round, writing its answer to o: a
// target action in its turn among at most cap(slots) (nil: no limit),
// and in its span.
func (r *Runner) call(ctx context.Context, c *roundCall, slots chan struct{}, o *Observation) {
	// The call's context is its roundCall, which carries itself as a
	// value (see roundCall.Value): no context allocated per call.
	c.ctx = ctx
	ctx = c
	a := c.a
	if !a.Kind.Target() {
		c.plain = true
		r.hands.do(ctx, a, time.Now(), o)
		return
	}
	if slots != nil {
		// Queued targets do not start once the round is cancelled: the
		// rollout stopped before their turn.
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		case <-ctx.Done():
		}
	}
	if ctx.Err() != nil {
		notStarted(a, o)
		return
	}
	r.target(ctx, a, o)
}

// notStarted answers a target action the rollout stopped before its turn.
//
//go:noinline
func notStarted(a *Action, o *Observation) {
	*o = failed(*a, Permanent(errors.New("not started: the rollout stopped before its turn")))
}

// roundCall is one action of a round, as its watch sees it.
type roundCall struct {
	a        *Action
	o        *Observation // where its answer goes
	watch    bool         // an alarm check asked for mid-round
	state    atomic.Int32 // callRunning, callReturned or callAbandoned
	deadline atomic.Int64 // of the attempt in progress, Unix ns; 0: none
	timeout  atomic.Int64 // of the attempt in progress
	done     func()       // set when abandoned: the call returned at last
	// plain: the call's context is the round's and this roundCall, no
	// more, so it may share a deadline ([deadlines]).
	plain bool
	// ctx is the round's context: a roundCall is its call's context,
	// the round's with the roundCall as the value of roundCallKey.
	ctx context.Context
}

func (c *roundCall) Deadline() (time.Time, bool) { return c.ctx.Deadline() }
func (c *roundCall) Done() <-chan struct{}       { return c.ctx.Done() }
func (c *roundCall) Err() error                  { return c.ctx.Err() }

func (c *roundCall) Value(key any) any {
	if _, ok := key.(roundCallKey); ok {
		return c
	}
	return c.ctx.Value(key)
}

const (
	callRunning int32 = iota
	callReturned
	callAbandoned
)

// roundCallKey finds the roundCall of a call's context.
type roundCallKey struct{}

// onCall is the hands' OnCall: it tells the round's watch when each
// attempt of an action ends at the latest.
func onCall(ctx context.Context, _ Action, deadline time.Time) {
	if c, ok := ctx.Value(roundCallKey{}).(*roundCall); ok {
		c.called(deadline)
	}
}

// called records the deadline of the attempt in progress (zero: none).
func (c *roundCall) called(deadline time.Time) {
	if deadline.IsZero() {
		c.deadline.Store(0)
		return
	}
	c.timeout.Store(int64(time.Until(deadline)))
	c.deadline.Store(deadline.UnixNano())
}

// overdue reports whether the attempt in progress is past its deadline
// and grace.
func (c *roundCall) overdue(now time.Time, grace time.Duration) bool {
	d := c.deadline.Load()
	return d != 0 && c.state.Load() == callRunning && now.UnixNano() > d+int64(grace)
}

// take abandons c, if it has not returned in the meantime: it is counted
// until it returns.
func (cs *Calls) take(c *roundCall) bool {
	taken := false
	cs.abandon(func(done func()) {
		c.done = done
		if !c.state.CompareAndSwap(callRunning, callAbandoned) {
			done() // it returned just now: not abandoned after all
			return
		}
		taken = true
	})
	if !taken {
		cs.abandoned.Add(-1)
	}
	return taken
}

// step steps the state with obs at the clock's time, saves it when it
// asks, and reports its events.
func (r *Runner) step(ctx context.Context, obs []Observation) (Output, error) {
	return r.stepInto(ctx, obs, new(Output))
}

// stepInto is step with the output written into buf, whose storage it
// reuses.
func (r *Runner) stepInto(ctx context.Context, obs []Observation, buf *Output) (Output, error) {
	r.mu.Lock()
	err := r.st.stepInto(time.Now(), buf, obs)
	out := *buf
	if out.Done {
		r.ended = true
	}
	r.mu.Unlock()
	if err != nil {
		return out, err
	}
	if out.Persist {
		if err := r.save(ctx, deferrable(&out)); err != nil {
			return out, err
		}
	}
	r.obs.events(ctx, out.Events)
	return out, nil
}

// deferrable reports whether the save of out may be made durable with the
// next one (see [Delta.Deferrable]): out goes on with reads only.
func deferrable(out *Output) bool {
	if out.Done || len(out.Actions) == 0 {
		return false
	}
	for i := range out.Actions {
		switch out.Actions[i].Kind {
		case ActionReadVersion, ActionCheckBlockers, ActionCheckAlarms, ActionReadEvidence, ActionJudgeCanary:
		default:
			return false
		}
	}
	return true
}

// target performs a target action in its span.
func (r *Runner) target(ctx context.Context, a *Action, o *Observation) {
	tctx, end := r.obs.startTarget(ctx, a)
	if c, ok := ctx.Value(roundCallKey{}).(*roundCall); ok {
		c.plain = end == nil && tctx == ctx
	}
	r.hands.do(tctx, a, time.Now(), o)
	if end != nil {
		end(o)
	}
}
