package rollouttest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shepherd-go/shepherd/rollout"
)

// SimStart is where [Simulate]'s clock starts by default: midnight UTC on
// Saturday 2000-01-01, where testing/synctest bubbles start too.
var SimStart = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// ErrHang is the [Outcome.Err] of a simulation in which a call scripted to
// hang ([Fault.Hang]) has no deadline to end it: the real driver would
// wait forever.
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
// It is a second executor of the same contract as [rollout.Runner], with
// these differences: deploys always go to f (s.Deployer is ignored), no
// state is persisted (Options.Store is ignored), retries back off
// exponentially without jitter (so that a simulation is reproducible),
// and gates must use the time they are given rather than the clock (the
// fleet and the alarm, blocker and bake packages do). A rollout that
// waits for a human with no [Scenario.Controls] left ends at the horizon
// with [ErrHorizon].
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
	rec := &recorder{}
	sim := &sim{f: f, st: st, o: s.options(f, rec), now: now}
	f.mu.Lock()
	if f.clock != nil {
		f.mu.Unlock()
		return nil, errors.New("rollouttest: the fleet is already in a simulation")
	}
	f.clock = func() time.Time { return sim.now }
	f.mu.Unlock()
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
			if obs, err = sim.perform(ctx, out); err != nil {
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
	o := outcome(f, s.Version, st.Progress(), rec.all(), started, sim.now, runErr, calls0)
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
	f   *Fleet
	st  *rollout.State
	o   rollout.Options
	now time.Time
}

// perform carries out one output's actions: the gates at once, the
// target actions in at most Concurrency slots, each taking the simulated
// time its calls take. The clock ends at the last action's end.
func (s *sim) perform(ctx context.Context, out rollout.Output) ([]rollout.Observation, error) {
	obs := make([]rollout.Observation, len(out.Actions))
	start := s.now
	var targets []int
	for i, a := range out.Actions {
		if a.Kind.Target() {
			targets = append(targets, i)
			continue
		}
		obs[i] = s.gate(ctx, a)
	}
	slots := out.Concurrency
	if slots <= 0 || slots > len(targets) {
		slots = len(targets)
	}
	free := make([]time.Time, slots)
	for i := range free {
		free[i] = start
	}
	end := start
	for _, i := range targets {
		k := 0
		for j := range free {
			if free[j].Before(free[k]) {
				k = j
			}
		}
		o, done, err := s.target(out.Actions[i], free[k])
		if err != nil {
			return nil, err
		}
		obs[i] = o
		free[k] = done
		end = maxTime(end, done)
	}
	s.now = end
	return obs, nil
}

func (s *sim) gate(ctx context.Context, a rollout.Action) rollout.Observation {
	now := s.now
	switch a.Kind {
	case rollout.ActionCheckBlockers:
		if s.o.Blockers == nil {
			return rollout.ObserveBlockers(a, nil, time.Time{}, nil)
		}
		b, until, err := s.o.Blockers.Check(ctx, *a.Subject, now)
		return rollout.ObserveBlockers(a, b, until, err)
	case rollout.ActionCheckAlarms:
		res, err := s.o.Alarms.Alarms(ctx, *a.Subject, now)
		return rollout.ObserveAlarms(a, res, err)
	case rollout.ActionReadEvidence:
		ev, err := s.o.Evidence.Evidence(ctx, *a.Subject, a.Requirements, a.Since, now)
		return rollout.ObserveEvidence(a, ev, err)
	case rollout.ActionJudgeCanary:
		if s.o.Judge == nil {
			return rollout.ObserveVerdict(a, rollout.Verdict{}, errors.New("no canary judge is configured"))
		}
		v, err := s.o.Judge.Judge(ctx, *a.Subject, a.Since, now)
		return rollout.ObserveVerdict(a, v, err)
	}
	return rollout.Observation{Kind: rollout.ObsRestarted} // unreachable: Target() kinds are handled apart
}

// call performs one fleet call beginning at t; it returns when it ends
// and its error.
func (s *sim) call(op Op, id, version string, t, deadline time.Time) (time.Time, error) {
	cp, err := s.f.begin(t, op, id, version)
	if err != nil {
		return t, err
	}
	end := t.Add(cp.delay)
	if cp.hang {
		if deadline.IsZero() {
			return t, fmt.Errorf("%w: %s of %s", ErrHang, op, id)
		}
		end = deadline
	}
	if !deadline.IsZero() && end.After(deadline) {
		err := context.DeadlineExceeded
		if op != OpVersion {
			s.f.finish(cp, deadline, err)
		}
		return deadline, err
	}
	if op != OpVersion {
		return end, s.f.finish(cp, end, cp.err)
	}
	return end, cp.err
}

// retry runs op with the policy's attempts and the driver's backoff
// ([rollout.Retry.Wait], whose jitter is a hash of the rollout, the target
// and the attempt, so the simulation retries when the driver does); it
// returns the end time, the number of attempts and the last error, and
// whether it was permanent.
func retry(p rollout.Retry, attempts int, rolloutID, target string, t, deadline time.Time, op func(t time.Time) (time.Time, error)) (time.Time, int, bool, error) {
	p = p.WithDefaults(attempts)
	n := 0
	for {
		n++
		end, err := op(t)
		t = end
		if err == nil {
			return t, n, false, nil
		}
		if errors.Is(err, ErrHang) {
			return t, n, false, err
		}
		perm := rollout.IsPermanent(err)
		if perm || n >= p.MaxAttempts || errors.Is(err, context.DeadlineExceeded) {
			return t, n, perm, err
		}
		t = t.Add(p.Wait(rolloutID, target, n+1))
		if !deadline.IsZero() && t.After(deadline) {
			return deadline, n, false, err
		}
	}
}

// target simulates one target action from t; it returns its observation
// and when it ended.
func (s *sim) target(a rollout.Action, t time.Time) (rollout.Observation, time.Time, error) {
	pol := s.st.Policy
	id := a.Target.ID
	var o rollout.Observation
	var end time.Time
	var err error
	switch a.Kind {
	case rollout.ActionReadVersion:
		var v string
		end, _, _, err = retry(pol.Deploy.Retry, rollout.DefaultDeployAttempts, s.st.ID, id, t, time.Time{}, func(t time.Time) (time.Time, error) {
			e, err := s.call(OpVersion, id, "", t, time.Time{})
			if err == nil {
				v = s.f.Current(id)
			}
			return e, err
		})
		o = rollout.ObserveVersion(a, v, err)
	case rollout.ActionDeploy:
		var n int
		var perm bool
		end, n, perm, err = retry(pol.Deploy.Retry, rollout.DefaultDeployAttempts, s.st.ID, id, t, a.Deadline, func(t time.Time) (time.Time, error) {
			e, err := s.call(OpDeploy, id, a.Version, t, a.Deadline)
			if err != nil {
				return e, err
			}
			return s.confirm(a, e)
		})
		o = rollout.ObserveDeploy(a, a.Version, n, err)
		o.Permanent = perm
	case rollout.ActionRollback:
		var n int
		end, n, _, err = retry(pol.Rollback.Retry, rollout.DefaultRollbackAttempts, s.st.ID, id, t, time.Time{}, func(t time.Time) (time.Time, error) {
			e, err := s.call(OpVersion, id, "", t, time.Time{})
			if err == nil && s.f.Current(id) == a.Version {
				return e, nil
			}
			if err != nil {
				e = t // an unreadable version: roll back anyway, as the Runner does
			}
			if e, err = s.call(OpRollback, id, a.Version, e, time.Time{}); err != nil {
				return e, err
			}
			return s.confirm(a, e)
		})
		o = rollout.ObserveRollback(a, a.Version, n, err)
	}
	if errors.Is(err, ErrHang) {
		return o, end, err
	}
	return o, end, nil
}

// confirm reads the version back after a deploy or rollback.
func (s *sim) confirm(a rollout.Action, t time.Time) (time.Time, error) {
	e, err := s.call(OpVersion, a.Target.ID, "", t, time.Time{})
	if err != nil {
		return e, fmt.Errorf("reading the version back: %w", err)
	}
	if v := s.f.Current(a.Target.ID); v != a.Version {
		return e, fmt.Errorf("target reports version %q after the %s of %q", v, a.Kind, a.Version)
	}
	return e, nil
}
