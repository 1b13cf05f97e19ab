package fleetwide

import (
	"context"
	"errors"
	"time"
)

// ErrHorizon is returned by [Simulate] when the group is still running at
// the horizon: a member waits for an approval nobody gives, say.
var ErrHorizon = errors.New("fleetwide: the simulation ran past its horizon")

// Timed is a control request made at a given time of a simulation.
type Timed struct {
	At time.Time
	Control
}

// Simulation is what [Simulate] runs: a group, its wiring, and the
// requests a human makes on the way.
type Simulation struct {
	// Spec is the group.
	Spec Spec
	// Config is its wiring; Store and OnEvent are used as a [Runner]
	// uses them (Store may be nil).
	Config Config
	// Start is when the simulation begins; Horizon how long it may run.
	// Zero Horizon means 30 days.
	Start   time.Time
	Horizon time.Duration
	// Controls are applied at their times, in order.
	Controls []Timed
}

// Simulate runs a group in simulated time, without goroutines and
// without testing/synctest: it drives [State.Step] itself, jumping from
// one instant to the next, and performs every member action through the
// member's [rollout.Hands] at the simulated time, with waits between
// retries that move the simulated clock on instead of sleeping. Days of
// rollouts take milliseconds, in an Example or a program (a preview of
// next week's release train, say). The deployers and gates must use the
// time they are given rather than the clock, and deploy at once.
//
// It returns the final state; the error is the spec's problems,
// [ErrHorizon], or ctx's.
func Simulate(ctx context.Context, sim Simulation) (*State, error) {
	now := sim.Start
	st, err := NewState(sim.Spec, now)
	if err != nil {
		return nil, err
	}
	if err := checkHands(sim.Spec, sim.Config); err != nil {
		return nil, err
	}
	horizon := sim.Horizon
	if horizon == 0 {
		horizon = 30 * 24 * time.Hour
	}
	end := now.Add(horizon)
	controls := sim.Controls
	var obs []Observation
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		for len(controls) > 0 && !controls[0].At.After(now) {
			obs = append(obs, ObserveControl(controls[0].Control))
			controls = controls[1:]
		}
		out, err := st.Step(now, obs...)
		if err != nil {
			return st, err
		}
		obs = nil
		for _, e := range out.Events {
			if sim.Config.OnEvent != nil {
				sim.Config.OnEvent(e)
			}
		}
		if out.Done {
			return st, nil
		}
		// The actions of one output run side by side: the next step is
		// when the slowest is done.
		next := now
		for _, a := range out.Actions {
			o, done := simulate(ctx, st, sim.Config, a, now)
			obs = append(obs, o)
			if done.After(next) {
				next = done
			}
		}
		if len(out.Actions) == 0 {
			next = out.WakeAt
			if len(controls) > 0 && (next.IsZero() || controls[0].At.Before(next)) {
				next = controls[0].At
			}
			if next.IsZero() {
				return st, ErrHorizon
			}
		}
		if next.After(end) {
			return st, ErrHorizon
		}
		now = next
	}
}

func simulate(ctx context.Context, st *State, cfg Config, a Action, now time.Time) (Observation, time.Time) {
	clock := now
	if a.Kind == ActionCheckHealth {
		if cfg.Health == nil {
			return ObserveHealth(a, nil, errors.New("no Health gate is configured")), clock
		}
		res, err := safeHealth(ctx, cfg.Health, a.Scopes, now)
		return ObserveHealth(a, res, err), clock
	}
	if a.Kind == ActionDrain {
		return ObserveDrain(a, safeDrain(ctx, cfg.Drainers[a.Member], a)), clock
	}
	m := st.Member(a.Member)
	h := cfg.Members[a.Member]
	h.Policy, h.Rollout = m.Member.Rollout.Policy, m.Member.Rollout.ID
	h.Wait = func(ctx context.Context, d time.Duration) (time.Time, error) {
		clock = clock.Add(d)
		return clock, ctx.Err()
	}
	return ObserveMember(a, h.Do(ctx, a.Rollout, now)), clock
}
