package rollouttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/wave"
)

// DefaultHorizon bounds a scenario's (simulated) time when
// [Scenario.Horizon] is zero.
const DefaultHorizon = 30 * 24 * time.Hour

// ErrHorizon is the [Outcome.Err] of a scenario stopped because it ran
// past its horizon: a rollout that waits for an approval nobody gives, or
// a blocker that never clears within its MaxWait.
var ErrHorizon = errors.New("rollouttest: scenario ran past its horizon")

// Scenario is one rollout to run against a [Fleet]: the plan, the version,
// the policy and the gates, with the requests a human would make on the
// way.
type Scenario struct {
	// ID names the rollout; empty means "rollout".
	ID string
	// Plan is the plan to carry out, usually from [wave.Policy.Plan] over
	// [Fleet.Targets].
	Plan wave.Plan
	// Version is the version to roll out. Required.
	Version string
	// Policy is the driver's policy.
	Policy rollout.Policy
	// Options wires the gates. A nil Alarms watches [CanaryRules] over the
	// fleet (set it to an [rollout.AlarmsFunc] that returns nothing to
	// watch nothing); a nil Evidence reads the fleet's ([Fleet.Evidence]).
	// OnEvent, if set, is called with every event as well.
	Options rollout.Config
	// Deployer replaces the fleet as the deployer in [Run], to test a
	// wrapper around it; nil means the fleet. [Simulate] always deploys
	// to the fleet.
	Deployer rollout.Deployer
	// Start is when the rollout starts: [Run] first sleeps until then
	// (free inside a testing/synctest bubble), [Simulate] starts its clock
	// there. Zero means now for Run and, for Simulate, midnight UTC on
	// 2000-01-01, where synctest bubbles start too.
	Start time.Time
	// Controls are requests made during the run, each at its time: an
	// approval, a pause, a resume, an abort, a bake skipped.
	Controls []Control
	// Horizon is how much (simulated) time the scenario may take; a
	// rollout still running then is stopped with [ErrHorizon]. Zero means
	// [DefaultHorizon].
	Horizon time.Duration
}

// Control is a control request made at a given time.
type Control struct {
	// At is when the request is made.
	At time.Time
	rollout.Control
}

func (s *Scenario) id() string {
	if s.ID == "" {
		return "rollout"
	}
	return s.ID
}

func (s *Scenario) horizon() time.Duration {
	if s.Horizon <= 0 {
		return DefaultHorizon
	}
	return s.Horizon
}

func (s *Scenario) controls() []Control {
	cs := slices.Clone(s.Controls)
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].At.Before(cs[j].At) })
	return cs
}

// options fills in the defaults of the gates.
func (s *Scenario) options(f *Fleet, rec *EventLog) rollout.Config {
	o := s.Options
	if o.Alarms == nil {
		o.Alarms = Alarms(f, CanaryRules)
	}
	if o.Evidence == nil {
		o.Evidence = f
	}
	user := o.OnEvent
	o.OnEvent = func(e rollout.Event) {
		rec.Add(e)
		if user != nil {
			user(e)
		}
	}
	return o
}

// Outcome is how a scenario ended: what the rollout did, where it stopped
// and why, what every target runs, and who was hurt.
type Outcome struct {
	// Err is nil when the rollout succeeded, a [*rollout.HaltError] when it
	// rolled back (or could not), [ErrHorizon] when it was still running
	// at the horizon, or the error that stopped the driver.
	Err error
	// Phase is the rollout's phase at the end.
	Phase rollout.Phase
	// Signal says why the rollout stopped, when it did, and Reason in
	// plain words.
	Signal rollout.Signal
	Reason string
	// Stage is the stage in progress at the end ("" when every stage was
	// promoted).
	Stage string
	// Reached lists the stages that started, in order; Promoted those
	// that were deployed, baked and promoted.
	Reached, Promoted []string
	// Started and Ended bound the run.
	Started, Ended time.Time
	// Versions is the version each target runs at the end.
	Versions map[string]string
	// Blast is the rollout's version's blast radius over the run.
	Blast Blast
	// Failed names the targets whose deploy failed, Unrolled those whose
	// rollback failed.
	Failed, Unrolled []string
	// Timings is the rollout's time per activity.
	Timings rollout.Timings
	// Exposure is each ramped scope's share of traffic at the end and its
	// blast radius by share of requests ([rollout.StepExposure] with a
	// [Router] in Options.Router).
	Exposure []rollout.ScopeExposure
	// Events are every event of the run, in order.
	Events []rollout.Event
	// Calls are the fleet's deploy and rollback calls during the run.
	Calls []Call
	// Refused lists the scenario's control requests that the driver
	// refused or recorded without effect, with why.
	Refused []string
}

// Duration is how long the run took.
func (o *Outcome) Duration() time.Duration { return o.Ended.Sub(o.Started) }

// Redeployed returns the targets that the rollout's version was
// successfully deployed to more than once: a rollout deploys each target
// once.
func (o *Outcome) Redeployed() []string {
	n := map[string]int{}
	var out []string
	for _, c := range o.Calls {
		if c.Op == OpDeploy && c.OK() && c.Version == o.Blast.Version && c.From != c.Version {
			n[c.Target]++
			if n[c.Target] == 2 {
				out = append(out, c.Target)
			}
		}
	}
	return out
}

// Running returns the IDs of the targets that run version at the end, in
// the order of the fleet.
func (o *Outcome) Running(version string) []string {
	var out []string
	for _, id := range sortedKeys(o.Versions) {
		if o.Versions[id] == version {
			out = append(out, id)
		}
	}
	return out
}

// String summarises the outcome in a few lines: phase, reason, stages,
// blast radius, timings.
func (o *Outcome) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s after %s", o.Phase, o.Duration())
	if o.Signal != "" {
		fmt.Fprintf(&b, " on %s: %s", o.Signal, o.Reason)
	}
	if o.Err != nil && o.Signal == "" {
		fmt.Fprintf(&b, " (%v)", o.Err)
	}
	fmt.Fprintf(&b, "\nstages: %d reached, %d promoted", len(o.Reached), len(o.Promoted))
	if o.Stage != "" {
		fmt.Fprintf(&b, "; stopped in %s", o.Stage)
	}
	fmt.Fprintf(&b, "\nblast radius: %s", o.Blast)
	if len(o.Failed) > 0 {
		fmt.Fprintf(&b, "\nfailed deploys: %s", strings.Join(o.Failed, ", "))
	}
	if len(o.Unrolled) > 0 {
		fmt.Fprintf(&b, "\nnot rolled back: %s", strings.Join(o.Unrolled, ", "))
	}
	return b.String()
}

// outcome assembles an Outcome.
func outcome(f *Fleet, version string, p rollout.Progress, events []rollout.Event, started, ended time.Time, err error, calls0 int) *Outcome {
	o := &Outcome{
		Err:      err,
		Phase:    p.Phase,
		Signal:   p.Signal,
		Reason:   p.Reason,
		Stage:    p.Stage,
		Started:  started,
		Ended:    ended,
		Versions: f.Versions(),
		Failed:   p.Failed,
		Unrolled: p.Unrolled,
		Timings:  p.Timings,
		Exposure: p.Exposure,
		Events:   events,
	}
	var he *rollout.HaltError
	if errors.As(err, &he) {
		o.Signal, o.Reason = he.Signal, he.Reason
	}
	for _, e := range events {
		switch e.Kind {
		case rollout.EventStageStarted:
			if !slices.Contains(o.Reached, e.Stage) {
				o.Reached = append(o.Reached, e.Stage)
			}
		case rollout.EventStagePromoted:
			o.Promoted = append(o.Promoted, e.Stage)
		}
	}
	calls := f.Calls()
	if calls0 <= len(calls) {
		o.Calls = calls[calls0:]
	}
	o.Blast = f.Blast(version, started, ended)
	return o
}

// Run runs the scenario with the real driver, [rollout.Runner], deploying
// to f (or to s.Deployer), and reports how it ended. Call it inside
// testing/synctest's Test, where a rollout of days takes milliseconds:
//
//	synctest.Test(t, func(t *testing.T) {
//		out, err := rollouttest.Run(t.Context(), fleet, scenario)
//		...
//	})
//
// Outside a bubble it runs in real time. The error is for a scenario the
// driver refused (an invalid plan or policy, a store that failed); how the
// rollout itself ended, a cancelled context included, is in [Outcome.Err].
func Run(ctx context.Context, f *Fleet, s Scenario) (*Outcome, error) {
	if !s.Start.IsZero() {
		if err := sleepUntil(ctx, s.Start); err != nil {
			return nil, err
		}
	}
	rec := new(EventLog)
	var d rollout.Deployer = f
	if s.Deployer != nil {
		d = s.Deployer
	}
	calls0 := len(f.Calls())
	started := time.Now()
	ctx, cancel := context.WithDeadlineCause(ctx, started.Add(s.horizon()), ErrHorizon)
	defer cancel()
	o := s.options(f, rec)
	if o.Store == nil {
		o.Store = new(rollout.MemoryStore)
	}
	r, err := rollout.Create(ctx, rollout.Spec{ID: s.id(), Plan: s.Plan, Version: s.Version, Policy: s.Policy}, d, o)
	if err != nil {
		return nil, err
	}
	var refused []string
	var wg sync.WaitGroup
	cctx, stop := context.WithCancel(ctx)
	if cs := s.controls(); len(cs) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, c := range cs {
				if sleepUntil(cctx, c.At) != nil {
					return
				}
				if err := r.Request(cctx, c.Control); err != nil {
					refused = append(refused, fmt.Sprintf("%s by %s at %s: %v", c.Kind, c.Actor, c.At.Format(time.RFC3339), err))
				}
			}
		}()
	}
	runErr := r.Run(ctx)
	stop()
	wg.Wait()
	if errors.Is(runErr, ErrHorizon) || (runErr != nil && errors.Is(context.Cause(ctx), ErrHorizon)) {
		runErr = ErrHorizon
	}
	out := outcome(f, s.Version, r.Progress(), rec.Events(), started, time.Now(), runErr, calls0)
	out.Refused = append(refused, ignored(finalState(o.Store, s.id()))...)
	return out, nil
}

// finalState reads the state the driver saved last, or nil.
func finalState(store rollout.Store, id string) *rollout.State {
	data, token, err := store.Load(context.Background(), id)
	if err != nil {
		return nil
	}
	defer store.Release(context.Background(), id, token)
	st, err := rollout.DecodeState(data)
	if err != nil {
		return nil
	}
	return st
}

// ignored lists the control requests the rollout recorded without
// effect.
func ignored(st *rollout.State) []string {
	if st == nil {
		return nil
	}
	var out []string
	for _, a := range st.Audit {
		if a.Ignored != "" {
			out = append(out, fmt.Sprintf("%s by %s at %s: %s", a.Kind, a.Actor, a.Time.Format(time.RFC3339), a.Ignored))
		}
	}
	return out
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-tm.C:
		return nil
	}
}
