package rollouttest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/wave"
)

// SimStart is where [Simulate]'s clock starts by default: midnight UTC on
// Saturday 2000-01-01, where testing/synctest bubbles start too.
var SimStart = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// ErrHang is the [Outcome.Err] of a simulation in which a call scripted to
// hang ([Fault.Hang]) has no deadline to end it. Every call of the driver
// has one now ([rollout.CallPolicy]): a hung call ends at it, as a real
// call that honours its context does, so Simulate no longer returns it.
var ErrHang = errors.New("rollouttest: a call hangs and no deadline ends it")

// maxSteps bounds a simulation's steps, against a driver that would loop
// without advancing time.
const maxSteps = 5_000_000

// Simulate runs the scenario in simulated time, without goroutines and
// without testing/synctest: it drives the rollout's step function
// ([rollout.State.Step]) itself, jumping from one instant to the next
// (a deploy's end, a bake's, a blocker's next check) and calling the
// fleet's calls and the gates with the simulated time. Days of rollout
// take milliseconds, in a test, an Example or a program (a simulation
// of next week's rollout for review, say).
//
// It is a second executor of the same contract as [rollout.Runner], and
// performs every action through the same hands ([rollout.Hands]): the
// same retries at the same instants ([rollout.Retry.Wait]), the same
// read-back and health check after each deploy, the same checks of what
// the gates answer. The hands' waits move the simulated clock on instead
// of sleeping, and each fleet call takes the simulated time its
// [Config.DeployTime] and [Fault] delays say. The differences: deploys
// always go to f (s.Deployer is ignored), no state is persisted
// (Config.Store is ignored), and gates must use the time they are given
// rather than the clock (the fleet and the alarm, blocker and bake
// packages do). A rollout that waits for a human with no
// [Scenario.Controls] left ends at the horizon with [ErrHorizon].
//
// The error is for a scenario the driver refused (an invalid plan or
// policy); how the rollout ended is in [Outcome.Err].
func Simulate(ctx context.Context, f *Fleet, s Scenario) (*Outcome, error) {
	now := s.Start
	if now.IsZero() {
		now = SimStart
	}
	st, err := rollout.NewState(s.id(), s.Plan, s.Version, s.Policy, now)
	if err != nil {
		return nil, err
	}
	rec := new(EventLog)
	sim := &sim{f: f, st: st, o: s.options(f, rec), now: now}
	sim.hands = rollout.Hands{
		Blockers: sim.o.Blockers,
		Alarms:   sim.o.Alarms,
		Evidence: sim.o.Evidence,
		Judge:    sim.o.Judge,
		Verifier: sim.o.Verifier,
		Router:   sim.o.Router,
		Policy:   st.Policy,
		Rollout:  st.ID,
		Sync:     true, // calls take simulated time and return at once
	}
	f.mu.Lock()
	if f.clock != nil {
		f.mu.Unlock()
		return nil, errors.New("rollouttest: the fleet is already in a simulation")
	}
	f.clock = func() time.Time { return sim.now }
	f.mu.Unlock()
	if rr, ok := sim.o.Router.(*Router); ok && rr.Clock == nil {
		// The router's changes happen in simulated time too.
		rr.mu.Lock()
		rr.Clock = func() time.Time { return sim.now }
		rr.mu.Unlock()
		defer func() {
			rr.mu.Lock()
			rr.Clock = nil
			rr.mu.Unlock()
		}()
	}
	defer func() {
		f.mu.Lock()
		f.clock = nil
		f.mu.Unlock()
	}()
	calls0 := len(f.Calls())
	started := now
	end := now.Add(s.horizon())
	cs := s.controls()
	var obs []rollout.Observation
	var runErr error
	for step := 0; ; step++ {
		if err := ctx.Err(); err != nil {
			runErr = err
			break
		}
		if step >= maxSteps {
			runErr = fmt.Errorf("rollouttest: simulation did not end after %d steps", maxSteps)
			break
		}
		for len(cs) > 0 && !cs[0].At.After(sim.now) {
			obs = append(obs, rollout.ObserveControl(cs[0].Control))
			cs = cs[1:]
		}
		out, err := st.Step(sim.now, obs...)
		obs = nil
		if err != nil {
			return nil, err
		}
		for _, e := range out.Events {
			sim.o.OnEvent(e)
		}
		if out.Done {
			runErr = haltError(st)
			break
		}
		if len(out.Actions) > 0 {
			if obs, err = sim.perform(ctx, out, &cs); err != nil {
				runErr = err
				break
			}
			continue
		}
		next := out.WakeAt
		if len(cs) > 0 && (next.IsZero() || cs[0].At.Before(next)) {
			next = cs[0].At
		}
		if next.IsZero() || next.After(end) {
			sim.now = maxTime(sim.now, end)
			runErr = ErrHorizon
			break
		}
		sim.now = maxTime(sim.now, next)
	}
	o := outcome(f, s.Version, st.Progress(), rec.Events(), started, sim.now, runErr, calls0)
	o.Refused = ignored(st)
	return o, nil
}

// haltError is what Runner.Run returns for a terminal state.
func haltError(st *rollout.State) error {
	if st.Phase == rollout.Succeeded {
		return nil
	}
	he := &rollout.HaltError{Phase: st.Phase}
	if rb := st.Rollback; rb != nil {
		he.Signal, he.Reason, he.Failed = rb.Signal, rb.Reason, append([]string(nil), rb.Failed...)
	}
	return he
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

type sim struct {
	f     *Fleet
	st    *rollout.State
	o     rollout.Config
	hands rollout.Hands // the gates and the policy; each action adds its fleet calls
	now   time.Time
}

// perform carries out one output's actions: the gates from the start,
// the target actions in at most Concurrency slots, each taking the
// simulated time its calls and retries take. It watches as the Runner
// does while they run: at the state's wake-up times (the alarm interval)
// and at the scenario's control requests that fall within the round, it
// steps the state and performs the alarm checks it asks for; when the
// state stops the rollout (Output.Cancel), the calls in flight end at that
// instant, cancelled, and the targets not started yet are not touched.
// The clock ends at the last action's end, or at the cancellation.
func (s *sim) perform(ctx context.Context, out rollout.Output, cs *[]Control) ([]rollout.Observation, error) {
	obs := make([]rollout.Observation, len(out.Actions))
	start := s.now
	end := start
	calls0 := s.f.callCount()
	var targets []int
	for i, a := range out.Actions {
		if a.Kind.Target() {
			targets = append(targets, i)
			continue
		}
		o, done, err := s.do(ctx, a, start)
		if err != nil {
			return nil, err
		}
		obs[i] = o
		end = maxTime(end, done)
	}
	slots := out.Concurrency
	if slots <= 0 || slots > len(targets) {
		slots = len(targets)
	}
	free := make([]time.Time, slots)
	for i := range free {
		free[i] = start
	}
	type span struct{ from, to time.Time }
	spans := make(map[int]span, len(targets))
	for _, i := range targets {
		k := 0
		for j := range free {
			if free[j].Before(free[k]) {
				k = j
			}
		}
		o, done, err := s.do(ctx, out.Actions[i], free[k])
		if err != nil {
			return nil, err
		}
		obs[i] = o
		spans[i] = span{free[k], done}
		free[k] = done
		end = maxTime(end, done)
	}
	if len(targets) == 0 {
		s.now = end
		return obs, nil
	}
	// Watch, in time order, until the round's end.
	wake := out.WakeAt
	for {
		at := wake
		if len(*cs) > 0 && (at.IsZero() || (*cs)[0].At.Before(at)) {
			at = maxTime((*cs)[0].At, start)
		}
		if at.IsZero() || !at.Before(end) {
			break
		}
		s.now = at
		var in []rollout.Observation
		for len(*cs) > 0 && !(*cs)[0].At.After(at) {
			in = append(in, rollout.ObserveControl((*cs)[0].Control))
			*cs = (*cs)[1:]
		}
		mid, err := s.step(at, in)
		if err != nil {
			return nil, err
		}
		cancel := mid.Cancel
		for _, a := range mid.Actions {
			if a.Kind.Target() {
				continue
			}
			o, _, err := s.do(ctx, a, at)
			if err != nil {
				return nil, err
			}
			ans, err := s.step(at, []rollout.Observation{o})
			if err != nil {
				return nil, err
			}
			cancel = cancel || ans.Cancel
			mid.WakeAt = ans.WakeAt
		}
		if cancel {
			// The calls in flight end now; the targets not begun are not
			// touched. The round ends now, or when the actions that
			// finished before now did.
			end = at
			for _, i := range targets {
				sp := spans[i]
				a := out.Actions[i]
				switch {
				case !sp.to.After(at):
					continue // done before the cancellation
				case !sp.from.Before(at):
					s.f.rewind(a.Target.ID, calls0, at, context.Canceled)
					obs[i] = notStarted(a)
				default:
					s.f.rewind(a.Target.ID, calls0, at, context.Canceled)
					obs[i] = cancelled(a)
				}
			}
			break
		}
		wake = mid.WakeAt
	}
	s.now = end
	return obs, nil
}

// step steps the state mid-round and reports its events.
func (s *sim) step(at time.Time, in []rollout.Observation) (rollout.Output, error) {
	out, err := s.st.Step(at, in...)
	if err != nil {
		return out, err
	}
	for _, e := range out.Events {
		s.o.OnEvent(e)
	}
	return out, nil
}

// notStarted answers a target action the rollout stopped before its turn,
// as the Runner does.
func notStarted(a rollout.Action) rollout.Observation {
	return answerErr(a, rollout.Permanent(errors.New("not started: the rollout stopped before its turn")))
}

// cancelled answers a target action cancelled in flight.
func cancelled(a rollout.Action) rollout.Observation {
	return answerErr(a, context.Canceled)
}

func answerErr(a rollout.Action, err error) rollout.Observation {
	switch a.Kind {
	case rollout.ActionReadVersion:
		return rollout.ObserveVersion(a, "", err)
	case rollout.ActionRollback:
		return rollout.ObserveRollback(a, a.Version, 1, err)
	}
	return rollout.ObserveDeploy(a, a.Version, 1, err)
}

// do performs a from t through the shared hands ([rollout.Hands]), with
// the fleet's calls and the waits between retries taking simulated time;
// it returns the observation and when the action ended. The error is
// [ErrHang] for a call that hangs with no deadline to end it.
func (s *sim) do(ctx context.Context, a rollout.Action, t time.Time) (rollout.Observation, time.Time, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c := &simCalls{f: s.f, at: t, deadline: a.Deadline, cancel: cancel}
	h := s.hands
	h.Deployer = c
	h.Wait = c.wait
	h.OnCall = func(_ context.Context, _ rollout.Action, deadline time.Time) { c.callEnd = deadline }
	// The deadline is simulated time: c enforces it, ending the action's
	// context when a call or a wait would cross it, rather than the
	// clock.
	a.Deadline = time.Time{}
	o := h.Do(ctx, a, t)
	return o, c.at, c.hung
}

// simCalls is the fleet as one action's deployer in simulated time: each
// call begins at the action's cursor and moves it on by the time the call
// takes; a call or a wait that would cross the action's deadline ends at
// the deadline with [context.DeadlineExceeded], and ends the action's
// context, as a real deadline would.
type simCalls struct {
	f        *Fleet
	at       time.Time // the action's simulated time
	deadline time.Time // zero: none
	cancel   context.CancelCauseFunc
	hung     error     // a call hung with no deadline to end it
	callEnd  time.Time // the deadline of the attempt in progress, if any
}

func (c *simCalls) Deploy(ctx context.Context, t wave.Target, version string) error {
	return c.call(ctx, OpDeploy, t.ID, version)
}

func (c *simCalls) Rollback(ctx context.Context, t wave.Target, version string) error {
	return c.call(ctx, OpRollback, t.ID, version)
}

func (c *simCalls) Healthy(ctx context.Context, t wave.Target) error {
	return c.call(ctx, OpHealth, t.ID, c.f.Current(t.ID))
}

func (c *simCalls) Version(ctx context.Context, t wave.Target) (string, error) {
	if err := c.call(ctx, OpVersion, t.ID, ""); err != nil {
		return "", err
	}
	return c.f.Current(t.ID), nil
}

// call performs one fleet call at the cursor. It ends by the earlier of
// the action's deadline (which ends the action) and the call's own
// (told by the hands' OnCall; the attempt fails, and the hands may try
// again), as a real call that honours its context does.
func (c *simCalls) call(ctx context.Context, op Op, id, version string) error {
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	if c.late(c.at) {
		return c.expire()
	}
	cp, err := c.f.begin(c.at, op, id, version)
	if err != nil {
		return err
	}
	end := c.at.Add(cp.delay)
	callEnd, bounded := c.callEnd, !c.callEnd.IsZero()
	if cp.hang && c.deadline.IsZero() && !bounded {
		c.hung = fmt.Errorf("%w: %s of %s", ErrHang, op, id)
		c.cancel(c.hung)
		return c.hung
	}
	changes := op == OpDeploy || op == OpRollback
	if cp.hang || c.late(end) || (bounded && end.After(callEnd)) {
		if bounded && (c.deadline.IsZero() || callEnd.Before(c.deadline)) {
			// The call's own deadline comes first: this attempt fails.
			if changes {
				c.f.finish(cp, callEnd, context.DeadlineExceeded)
			}
			c.at = maxTime(c.at, callEnd)
			return context.DeadlineExceeded
		}
		if changes {
			c.f.finish(cp, c.deadline, context.DeadlineExceeded)
		}
		return c.expire()
	}
	c.at = end
	if changes {
		return c.f.finish(cp, end, cp.err)
	}
	return cp.err
}

// wait is the hands' wait between two attempts.
func (c *simCalls) wait(ctx context.Context, d time.Duration) (time.Time, error) {
	if c.late(c.at.Add(d)) {
		return c.at, c.expire()
	}
	c.at = c.at.Add(d)
	return c.at, ctx.Err()
}

func (c *simCalls) late(t time.Time) bool { return !c.deadline.IsZero() && t.After(c.deadline) }

// expire ends the action at its deadline.
func (c *simCalls) expire() error {
	c.at = maxTime(c.at, c.deadline)
	c.cancel(context.DeadlineExceeded)
	return context.DeadlineExceeded
}
