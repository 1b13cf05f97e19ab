package rollout

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/wave"
)

// Step advances the rollout: it charges the time since the last step to the
// activity in progress, applies the observations (results of the previous
// round's actions, control requests, a restart), then decides what to do
// next. See the package documentation for the executor's contract.
//
// Step is deterministic and does no I/O. It returns an error, and changes
// nothing, when the state is not one it can advance (a newer schema, a
// state inconsistent with its plan) or an observation is malformed.
// Observations from an earlier round, or for actions not outstanding, are
// ignored. A time before the last step's is taken as the last step's: a
// state's clock never runs backwards.
func (s *State) Step(now time.Time, obs ...Observation) (Output, error) {
	var out Output
	err := s.stepInto(now, &out, obs)
	return out, err
}

// stepInto is Step writing its output into out, whose Actions and Events
// it reuses: the Runner steps a rollout of 100,000 targets through two
// buffers instead of a fresh slice of actions and of events per round.
// On an error out is the zero Output.
func (s *State) stepInto(now time.Time, out *Output, obs []Observation) error {
	*out = Output{Actions: out.Actions[:0], Events: out.Events[:0]}
	if err := s.check(); err != nil {
		*out = Output{}
		return err
	}
	for i, o := range obs {
		if err := validObservation(o); err != nil {
			*out = Output{}
			return fmt.Errorf("rollout: observation %d: %w", i, err)
		}
	}
	if s.Phase.Terminal() {
		out.Done = true
		return nil
	}
	if now.Before(s.Updated) {
		now = s.Updated
	}
	s.accrue(now)
	s.inbox = s.inbox[:0]
	s.sig = nil
	if n := targetResults(obs); n > 8 && cap(out.Events) < n+4 {
		// A deploy or rollback answered brings an event: room for them
		// at once, not by doubling, on a batch of thousands.
		out.Events = make([]Event, 0, n+4)
	}
	for i := range obs {
		s.observe(now, &obs[i], out)
	}
	s.advance(now, out)
	s.inbox = s.inbox[:0]
	s.sig = nil
	return nil
}

// targetResults counts the answers to deploys and rollbacks in obs.
func targetResults(obs []Observation) int {
	n := 0
	for i := range obs {
		if k := obs[i].Kind; k == ObsDeploy || k == ObsRollback {
			n++
		}
	}
	return n
}

func validObservation(o Observation) error {
	switch o.Kind {
	case ObsVersion, ObsDeploy, ObsRollback:
		if o.Target == "" {
			return fmt.Errorf("%w: %s observation without a target", ErrInvalid, o.Kind)
		}
	case ObsBlockers, ObsAlarms, ObsEvidence, ObsRestarted, ObsRoute:
	case ObsVerdict:
		if o.Verdict == nil && o.Err == "" {
			return fmt.Errorf("%w: verdict observation without a verdict or an error", ErrInvalid)
		}
	case ObsVerify:
		if o.Verify == nil && o.Err == "" {
			return fmt.Errorf("%w: verify observation without a result or an error", ErrInvalid)
		}
	case ObsControl:
		if o.Control == nil {
			return fmt.Errorf("%w: control observation without a request", ErrInvalid)
		}
	default:
		return fmt.Errorf("%w: unknown observation kind %q", ErrInvalid, o.Kind)
	}
	return nil
}

// activity is what the time since the last step was spent on, if anything.
func (s *State) activity() (Activity, bool) {
	switch {
	case s.Phase == RollingBack:
		return ActivityRollingBack, true
	case s.Phase != Running || s.current() == nil:
		return "", false
	case s.Hold != nil:
		return ActivityPaused, true
	}
	st := s.current()
	if k, ok := kinds[st.Step]; ok {
		return k.activity(st)
	}
	return "", false
}

func (s *State) accrue(now time.Time) {
	d := now.Sub(s.Updated)
	s.Updated = now
	if d <= 0 {
		return
	}
	a, ok := s.activity()
	if !ok {
		return
	}
	s.Timings.add(a, d)
	if st := s.current(); st != nil {
		st.Timings.add(a, d)
	}
}

func (s *State) event(out *Output, now time.Time, e Event) {
	e.Time = now
	e.Rollout = s.ID
	out.Events = append(out.Events, e)
}

func (s *State) stageEvent(out *Output, now time.Time, si int, e Event) {
	e.Stage = s.Stages[si].Name
	e.StageKind = s.Stages[si].Kind
	s.event(out, now, e)
}

func (s *State) decide(now time.Time, stage string, gate Gate, outcome Outcome, reason string) {
	s.Decisions = append(s.Decisions, Decision{Time: now, Stage: stage, Gate: gate, Outcome: outcome, Reason: reason})
}

// raise records a signal; the first one of a step wins.
func (s *State) raise(sig Signal, reason string) {
	if s.sig == nil {
		s.sig = &pending{signal: sig, reason: reason}
	}
}

// current returns the stage in progress, or nil once every stage is
// promoted.
func (s *State) current() *StageState {
	if s.Stage < len(s.Stages) {
		return &s.Stages[s.Stage]
	}
	return nil
}

func (s *State) curStage() string {
	if st := s.current(); st != nil {
		return st.Name
	}
	if len(s.Stages) > 0 {
		return s.Stages[len(s.Stages)-1].Name
	}
	return ""
}

// ---- observations

func (s *State) observe(now time.Time, o *Observation, out *Output) {
	if o.Kind != ObsControl && o.Kind != ObsRestarted {
		o = checked(o)
	}
	switch o.Kind {
	case ObsControl:
		s.control(now, *o.Control, out)
	case ObsRestarted:
		s.restart(now, out)
	case ObsVersion, ObsDeploy, ObsRollback:
		if o.Round != s.Round {
			return
		}
		// A round's answers come in the order of its actions, which is
		// the plan's: the target after the last one answered is checked
		// before the map, which at 300,000 targets misses the caches.
		p, ok := s.ix.next, false
		if p < len(s.Targets) && s.Targets[p].ID == o.Target {
			ok = true
		} else {
			p, ok = s.ix.pos[o.Target]
		}
		if !ok {
			return
		}
		s.ix.next = p + 1
		s.observeTarget(now, p, o, out)
	default:
		if o.Round != s.Round || !s.takePending(gateAction(o.Kind)) {
			return
		}
		if o.Kind == ObsAlarms {
			s.onAlarms(now, o, out)
			return
		}
		s.inbox.put(o)
	}
}

// checked returns o, or a copy that fails closed when o carries what no
// outside call may answer (NaN, a negative count, an unknown outcome):
// the same check [Hands] makes, for executors that do not use it, so that
// no observation can make the state unencodable.
func checked(o *Observation) *Observation {
	switch o.Kind {
	case ObsDeploy, ObsRollback:
		return o // nothing in them can be out of range
	case ObsVersion:
		if o.Err != "" || o.Version != "" {
			return o
		}
	}
	a := Action{Kind: actionOf(o.Kind), Round: o.Round, Target: wave.Target{ID: o.Target}}
	if o.Kind == ObsEvidence {
		// The bake checks the number of counts against its requirements.
		a.Requirements = make([]bake.Requirement, len(o.Evidence))
	}
	if c, err := CheckObservation(a, *o); err != nil {
		return &c
	}
	return o
}

// actionOf returns the kind of action an observation of kind k answers.
func actionOf(k ObservationKind) ActionKind {
	switch k {
	case ObsVersion:
		return ActionReadVersion
	case ObsDeploy:
		return ActionDeploy
	case ObsRollback:
		return ActionRollback
	}
	return gateAction(k)
}

func gateAction(k ObservationKind) ActionKind {
	switch k {
	case ObsAlarms:
		return ActionCheckAlarms
	case ObsBlockers:
		return ActionCheckBlockers
	case ObsEvidence:
		return ActionReadEvidence
	case ObsVerdict:
		return ActionJudgeCanary
	case ObsVerify:
		return ActionVerify
	case ObsRoute:
		return ActionRoute
	}
	return ""
}

func (s *State) takePending(k ActionKind) bool {
	for i, p := range s.Pending {
		if p == k {
			s.Pending = append(s.Pending[:i], s.Pending[i+1:]...)
			if len(s.Pending) == 0 {
				s.Pending = nil
			}
			return true
		}
	}
	return false
}

func (s *State) observeTarget(now time.Time, p int, o *Observation, out *Output) {
	t := &s.Targets[p]
	si := s.ix.stageOf(p)
	ev := Event{Target: t.ID, Batch: s.batchOf(si, p)}
	switch {
	case o.Kind == ObsVersion && t.Status == TargetReading:
		switch {
		case o.Err != "":
			t.Error = "cannot read its version: " + o.Err
			s.setStatus(p, TargetFailed)
			ev.Kind, ev.Reason = EventTargetFailed, t.Error
		case o.Version == s.Version:
			t.Previous, t.Current = o.Version, o.Version
			s.setStatus(p, TargetUnchanged)
			ev.Kind, ev.Version, ev.Reason = EventTargetUnchanged, o.Version, "already runs the version"
		default:
			t.Previous, t.Current = o.Version, o.Version
			s.setStatus(p, TargetReady)
			return
		}
	case o.Kind == ObsVersion && t.Status == TargetDeploying:
		// Reconciling a deploy interrupted by a restart.
		switch {
		case o.Err != "":
			t.Error = "cannot read its version after an interrupted deploy: " + o.Err
			s.setStatus(p, TargetFailed)
			ev.Kind, ev.Reason = EventTargetFailed, t.Error
		case o.Version == s.Version:
			t.Current = o.Version
			s.setStatus(p, TargetDeployed)
			s.activateWatch(now)
			ev.Kind, ev.Version, ev.Reason = EventTargetDeployed, o.Version, "deploy confirmed after a restart"
		default:
			// The deploy did not happen: deploy again.
			t.Current = o.Version
			s.setStatus(p, TargetReady)
			return
		}
	case o.Kind == ObsDeploy && t.Status == TargetDeploying:
		t.Attempts += o.Attempts
		if o.Err != "" {
			t.Error = o.Err
			s.setStatus(p, TargetFailed)
			ev.Kind, ev.Reason = EventTargetFailed, o.Err
			if o.Permanent {
				ev.Reason = "permanent error: " + o.Err
			}
		} else {
			t.Current = s.Version
			if o.Version != "" {
				t.Current = o.Version
			}
			t.Error = ""
			s.setStatus(p, TargetDeployed)
			s.activateWatch(now)
			ev.Kind, ev.Version = EventTargetDeployed, t.Current
		}
	case o.Kind == ObsRollback && t.Status == TargetRollingBack:
		t.RollbackAttempts += o.Attempts
		if o.Err != "" {
			t.Error = "rollback: " + o.Err
			s.setStatus(p, TargetRollbackFailed)
			s.Rollback.Failed = append(s.Rollback.Failed, t.ID)
			ev.Kind, ev.Reason, ev.Version = EventRollbackError, o.Err, t.Previous
		} else {
			t.Current = t.Previous
			if o.Version != "" {
				t.Current = o.Version
			}
			s.setStatus(p, TargetRolledBack)
			s.Rollback.Done++
			ev.Kind, ev.Version = EventTargetRolledBack, t.Current
		}
	default:
		return
	}
	s.touch(p)
	out.Persist = true
	s.stageEvent(out, now, si, ev)
}

func (s *State) batchOf(si, p int) int {
	lo := s.ix.batchLo[si]
	return sort.Search(len(lo)-1, func(b int) bool { return lo[b+1] > p })
}

func (s *State) onAlarms(now time.Time, o *Observation, out *Output) {
	s.Watch.Next = now.Add(s.Policy.alarmInterval())
	// The bake reads the results too: it judges INSUFFICIENT_DATA, and
	// counts an unreadable check against its own limit, paced at its
	// interval.
	s.inbox.put(o)
	if s.Policy.DryRun {
		return
	}
	var firing []string
	for _, r := range o.Alarms {
		if r.State != alarm.OK && r.State != alarm.InsufficientData {
			firing = append(firing, r.String())
		}
	}
	switch {
	case len(firing) > 0:
		reason := strings.Join(firing, "; ")
		if !slices.Equal(s.Watch.Firing, firing) || s.Watch.Unreadable != 0 {
			// Report a firing alarm when it starts or changes, not at
			// every check while a paused rollout waits for a human.
			s.Watch.Firing = firing
			s.Watch.Unreadable = 0
			s.event(out, now, Event{Kind: EventAlarm, Stage: s.curStage(), Reason: reason})
			out.Persist = true
		}
		s.raise(SignalAlarm, reason)
	case o.Err != "":
		n := s.Policy.maxUnreadable()
		if s.Hold != nil && s.Hold.Signal != "" && s.Watch.Unreadable >= n {
			return // already paused on it, waiting for a human
		}
		s.Watch.Unreadable++
		reason := "alarms could not be read: " + o.Err
		s.Watch.Firing = []string{reason}
		reason = fmt.Sprintf("%s (%d of %d unreadable checks in a row)", reason, s.Watch.Unreadable, n)
		s.event(out, now, Event{Kind: EventAlarm, Stage: s.curStage(), Reason: reason})
		if s.Watch.Unreadable >= n {
			s.raise(SignalAlarm, "fail closed: "+reason)
		}
		out.Persist = true
	default:
		if s.Watch.Unreadable > 0 || s.Watch.Firing != nil {
			out.Persist = true
		}
		s.Watch.Unreadable = 0
		s.Watch.Firing = nil
		s.Watch.Last = now
	}
}

// activateWatch starts watching alarms with the first deployed target; the
// end of the batch looks at them.
func (s *State) activateWatch(now time.Time) {
	if !s.Watch.Active {
		s.Watch.Active = true
		s.Watch.Next = now.Add(s.Policy.alarmInterval())
	}
}

// restart re-issues the actions lost with the previous executor.
func (s *State) restart(now time.Time, out *Output) {
	s.event(out, now, Event{Kind: EventRestarted, Stage: s.curStage(), Reason: fmt.Sprintf("phase %s", s.Phase)})
	s.Pending = nil
	if s.Watch.Active {
		s.Watch.Next = now
	}
	if st := s.current(); s.Phase == Running && st != nil {
		if _, ok := kinds[st.Step]; ok {
			st.Next = now // look again at once: the gate in flight was lost
		}
		s.rereadExposure()
	}
	if s.inflight() == 0 {
		return
	}
	s.Round++
	var acts []Action
	conc := 0
	for p := range s.Targets {
		t := &s.Targets[p]
		var a Action
		switch t.Status {
		case TargetReading, TargetDeploying:
			a = s.targetAction(ActionReadVersion, p, "")
		case TargetRollingBack:
			a = s.targetAction(ActionRollback, p, t.Previous)
			conc = s.rollbackLimit(s.ix.stageOf(p))
		default:
			continue
		}
		acts = append(acts, a)
	}
	out.Actions = append(out.Actions, acts...)
	if conc == 0 {
		conc = s.Policy.Deploy.Concurrency
	}
	out.Concurrency = conc
}

func (s *State) targetAction(k ActionKind, p int, version string) Action {
	si := s.ix.stageOf(p)
	a := Action{
		Kind:    k,
		Round:   s.Round,
		Stage:   s.Stages[si].Name,
		Batch:   s.batchOf(si, p),
		Target:  *s.ix.targets[p],
		Version: version,
	}
	if k == ActionDeploy {
		a.Deadline = s.Stages[si].Deadline
	}
	return a
}

func (s *State) stageByName(name string) (int, bool) {
	i, ok := s.ix.byName[name]
	return i, ok
}

func (s *State) control(now time.Time, c Control, out *Output) {
	e := AuditEntry{Time: now, Kind: c.Kind, Actor: c.Actor, Stage: c.Stage, Reason: c.Reason}
	ev := Event{Kind: EventControl, Actor: c.Actor, Stage: c.Stage, Reason: string(c.Kind)}
	if c.Reason != "" {
		ev.Reason += ": " + c.Reason
	}
	ignore := func(why string) { e.Ignored = why }
	if err := c.Validate(); err != nil {
		ignore(err.Error())
	} else {
		switch c.Kind {
		case ControlPause:
			switch {
			case s.Phase != Running:
				ignore("the rollout is " + string(s.Phase))
			case s.Hold != nil:
				ignore("already paused")
			default:
				s.Hold = &Hold{Actor: c.Actor, Reason: c.Reason, Since: now}
				s.pauseBake(now)
				s.event(out, now, Event{Kind: EventPaused, Actor: c.Actor, Reason: c.Reason, Stage: s.curStage()})
			}
		case ControlResume:
			switch {
			case s.Hold == nil:
				ignore("not paused")
			default:
				held := now.Sub(s.Hold.Since)
				s.Hold = nil
				if st := s.current(); st != nil {
					if k, ok := kinds[st.Step]; ok {
						k.resumed(s, now, s.Stage)
					}
				}
				s.event(out, now, Event{Kind: EventResumed, Actor: c.Actor, Duration: held, Stage: s.curStage()})
			}
		case ControlAbort:
			switch {
			case s.Phase != Running:
				ignore("the rollout is " + string(s.Phase))
			case s.Abort != nil:
				ignore("already aborting")
			default:
				s.Abort = &e
			}
		case ControlApprove, ControlSkipBake, ControlPromote:
			si, ok := s.stageByName(c.Stage)
			switch {
			case !ok:
				ignore("no such stage")
			case s.Phase != Running:
				ignore("the rollout is " + string(s.Phase))
			case s.Stages[si].Step == StepPromoted:
				ignore("the stage is already promoted")
			case c.Kind == ControlApprove && s.Stages[si].Approval != nil:
				ignore("already approved")
			case c.Kind == ControlApprove:
				s.Stages[si].Approval = &e
				s.stageEvent(out, now, si, Event{Kind: EventApproved, Actor: c.Actor, Reason: c.Reason})
			case c.Kind == ControlPromote:
				if why := s.promoteControl(si, &e, out, now); why != "" {
					ignore(why)
				}
			case s.Stages[si].SkipBake != nil:
				ignore("bake skip already granted")
			default:
				s.Stages[si].SkipBake = &e
			}
		}
	}
	if e.Ignored != "" {
		ev.Reason += " (ignored: " + e.Ignored + ")"
	}
	s.Audit = append(s.Audit, e)
	s.event(out, now, ev)
	out.Persist = true
}

// ---- decisions

func (s *State) advance(now time.Time, out *Output) {
	for {
		if s.inflight() > 0 || len(s.Pending) > 0 {
			s.midRound(now, out)
			return
		}
		switch s.Phase {
		case RollingBack:
			s.rollbackStep(now, out)
			return
		case Running:
		default:
			out.Done = true
			return
		}
		if s.Abort != nil {
			a := s.Abort
			s.Abort = nil
			s.startRollback(now, SignalAbort, fmt.Sprintf("aborted by %s: %s", a.Actor, a.Reason), out)
			continue
		}
		if sig := s.sig; sig != nil {
			s.sig = nil
			s.react(now, sig, out)
			continue
		}
		// A step's answer is taken before the alarms are looked at
		// again: dropping it for the poll would ask again, and a check
		// slower than the alarm interval would never be heard.
		if s.watching() && !now.Before(s.Watch.Next) && !s.inbox.answers() {
			s.pollRound(now, out)
			return
		}
		if s.Hold != nil {
			s.wake(out, s.watchWake())
			return
		}
		if s.Stage >= len(s.Stages) {
			s.succeed(now, out)
			return
		}
		if !s.stageStep(now, out) {
			// With actions out, this is when a watchdog should look at
			// the alarms again (see Output.WakeAt).
			s.wake(out, s.watchWake())
			return
		}
	}
}

// midRound decides while a round's actions are still out, for an executor
// that steps the state before they all return (a watchdog): a control
// request or a signal is acted on at once, so that a rollback starts
// without waiting for slow deploys (Output.Cancel asks for the calls in
// flight to be cancelled; their observations are still expected), and
// the alarms are checked at their interval, in the same round.
func (s *State) midRound(now time.Time, out *Output) {
	if s.Phase != Running {
		return
	}
	switch {
	case s.Abort != nil:
		a := s.Abort
		s.Abort = nil
		s.startRollback(now, SignalAbort, fmt.Sprintf("aborted by %s: %s", a.Actor, a.Reason), out)
	case s.sig != nil:
		sig := s.sig
		s.sig = nil
		s.react(now, sig, out)
	}
	if s.Phase == RollingBack {
		out.Cancel = s.inflight() > 0
		return
	}
	if !s.watching() || s.Policy.DryRun {
		return
	}
	if !now.Before(s.Watch.Next) && !slices.Contains(s.Pending, ActionCheckAlarms) {
		a := s.gateAction(ActionCheckAlarms, s.stageForGates())
		a.Round = s.Round
		s.Pending = append(s.Pending, a.Kind)
		out.Actions = append(out.Actions, a)
		return
	}
	if !slices.Contains(s.Pending, ActionCheckAlarms) {
		s.wake(out, s.Watch.Next)
	}
}

func (s *State) stageForGates() int {
	if s.Stage < len(s.Stages) {
		return s.Stage
	}
	return len(s.Stages) - 1
}

// baking returns the tracker of the stage in progress while it bakes.
func (s *State) baking() *bake.Tracker {
	if s.Phase != Running {
		return nil
	}
	st := s.current()
	if st == nil {
		return nil
	}
	if !inBake(st) || st.Bake == nil || st.Bake.Phase != bake.Baking || st.SkipBake != nil || s.Policy.DryRun {
		return nil
	}
	return st.Bake
}

// watching reports whether alarms are polled: once something is deployed,
// and during every bake.
func (s *State) watching() bool { return s.Watch.Active || s.baking() != nil }

// pollRound checks the alarms and, during a bake, counts its evidence and
// judges the canary if an interval judgement is due.
func (s *State) pollRound(now time.Time, out *Output) {
	si := s.stageForGates()
	acts := []Action{s.gateAction(ActionCheckAlarms, si)}
	if tr := s.baking(); tr != nil {
		st := &s.Stages[si]
		if len(tr.Policy.Evidence) > 0 {
			a := s.gateAction(ActionReadEvidence, si)
			a.Since = tr.Started
			a.Requirements = tr.Policy.Evidence
			acts = append(acts, a)
		}
		if s.Policy.Canary.Judged(st.Kind) && s.Policy.Canary.Interval > 0 && !now.Before(st.NextJudge) {
			a := s.gateAction(ActionJudgeCanary, si)
			a.Since = tr.Started
			acts = append(acts, a)
			st.NextJudge = now.Add(s.Policy.Canary.Interval.Std())
		}
	}
	s.emitGates(out, acts...)
}

// pauseBake stops the bake clock of the stage in progress.
func (s *State) pauseBake(now time.Time) {
	if tr := s.baking(); tr != nil {
		tr.Pause(now)
	}
}

func (s *State) watchWake() time.Time {
	if s.watching() {
		return s.Watch.Next
	}
	return time.Time{}
}

// wake sets the output's wake-up time to t if it is earlier.
func (s *State) wake(out *Output, t time.Time) {
	if t.IsZero() {
		return
	}
	if out.WakeAt.IsZero() || t.Before(out.WakeAt) {
		out.WakeAt = t
	}
}

func (s *State) gateAction(k ActionKind, si int) Action {
	return Action{Kind: k, Stage: s.Stages[si].Name, Subject: s.subject(si)}
}

// emitGates starts a round of gate actions.
func (s *State) emitGates(out *Output, acts ...Action) {
	s.Round++
	for _, a := range acts {
		a.Round = s.Round
		s.Pending = append(s.Pending, a.Kind)
		out.Actions = append(out.Actions, a)
	}
}

func (s *State) react(now time.Time, sig *pending, out *Output) {
	stage := s.curStage()
	if s.Policy.DryRun {
		r := s.Policy.reaction(sig.signal, s.ix.count[TargetDeployed] > 0)
		s.decide(now, stage, Gate(sig.signal), Outcome("would "+string(r)), sig.reason)
		s.event(out, now, Event{Kind: EventDryRun, Stage: stage, Signal: sig.signal, Reason: "would " + string(r) + ": " + sig.reason})
		out.Persist = true
		return
	}
	r := s.Policy.reaction(sig.signal, s.ix.count[TargetDeployed] > 0)
	if sig.hold {
		r = Pause
	}
	if r == Pause && s.Hold != nil && s.Hold.Signal != "" {
		return // already paused on a signal, waiting for a human
	}
	s.decide(now, stage, Gate(sig.signal), Outcome(r), sig.reason)
	s.event(out, now, Event{Kind: EventSignal, Stage: stage, Signal: sig.signal, Reason: sig.reason})
	out.Persist = true
	if r == Pause {
		s.Hold = &Hold{Actor: "shepherd", Reason: sig.reason, Since: now, Signal: sig.signal}
		s.pauseBake(now)
		s.event(out, now, Event{Kind: EventPaused, Stage: stage, Actor: "shepherd", Signal: sig.signal, Reason: sig.reason})
		return
	}
	s.startRollback(now, sig.signal, sig.reason, out)
}

func (s *State) succeed(now time.Time, out *Output) {
	s.Phase = Succeeded
	s.Ended = now
	tm := s.Timings
	reason := "every stage promoted"
	if s.Policy.DryRun {
		reason = "dry run: every gate evaluated, nothing deployed"
	}
	s.decide(now, "", GateRollout, OutcomeSucceeded, reason)
	ev := Event{Kind: EventSucceeded, Phase: Succeeded, Version: s.Version, Duration: now.Sub(s.Created), Timings: &tm, Reason: reason, Targets: s.ix.count[TargetDeployed]}
	if b, ok := s.exposureBlast(now); ok {
		ev.Blast = &b
	}
	s.event(out, now, ev)
	out.Persist = true
	out.Done = true
}

// ---- rollback

func (s *State) startRollback(now time.Time, sig Signal, reason string, out *Output) {
	s.Phase = RollingBack
	s.Rollback = &RollbackState{Signal: sig, Reason: reason, Started: now, Cursor: len(s.Targets)}
	s.Hold = nil
	s.Abort = nil
	n := 0
	for p := range s.Targets {
		// A deploy still in flight is counted: it is read back and
		// rolled back once it returns.
		if s.needsRollback(p) || s.Targets[p].Status == TargetDeploying {
			n++
		}
	}
	s.event(out, now, Event{Kind: EventRollbackStarted, Stage: s.curStage(), Signal: sig, Reason: reason, Targets: n})
	out.Persist = true
}

// needsRollback reports whether the target at p was (or may have been)
// changed by the rollout and not yet restored.
func (s *State) needsRollback(p int) bool {
	t := &s.Targets[p]
	if !t.Attempted {
		return false
	}
	switch t.Status {
	case TargetDeployed, TargetFailed:
		return true
	case TargetReady:
		return t.Current != t.Previous
	}
	return false
}

func (s *State) rollbackLimit(si int) int {
	if c := s.Policy.Rollback.Concurrency; c > 0 {
		return c
	}
	n := s.ix.size(si) - s.ix.stages[si].MinHealthy
	if n < 1 {
		n = 1
	}
	return n
}

func (s *State) rollbackStep(now time.Time, out *Output) {
	rb := s.Rollback
	if s.unexpose(now, out) {
		return // traffic first: every scope back to 0% before any target
	}
	c := rb.Cursor
	for c > 0 && !s.needsRollback(c-1) {
		c--
	}
	if c == 0 {
		rb.Cursor = 0
		s.Phase = RolledBack
		outcome := "rolled back"
		if len(rb.Failed) > 0 {
			s.Phase = RollbackFailed
			outcome = fmt.Sprintf("%d target(s) could not be rolled back: %s", len(rb.Failed), strings.Join(rb.Failed, ", "))
		}
		s.Ended = now
		tm := s.Timings
		ev := Event{Kind: EventRollbackFinished, Phase: s.Phase, Signal: rb.Signal, Reason: outcome, Duration: now.Sub(rb.Started), Targets: rb.Done, Timings: &tm}
		if b, ok := s.exposureBlast(now); ok {
			rb.Blast = &b
			ev.Blast = &b
			outcome += "; the version's exposure: " + b.String()
			ev.Reason = outcome
		}
		s.decide(now, "", GateRollback, Outcome(s.Phase), outcome)
		s.event(out, now, ev)
		out.Persist = true
		out.Done = true
		return
	}
	// Roll back in reverse plan order, a group at a time, never mixing
	// stages in one group.
	si := s.ix.stageOf(c - 1)
	limit := s.rollbackLimit(si)
	lo := s.ix.stageLo[si]
	s.Round++
	for c > lo && len(out.Actions) < limit {
		p := c - 1
		c--
		if !s.needsRollback(p) {
			continue
		}
		s.setStatus(p, TargetRollingBack)
		out.Actions = append(out.Actions, s.targetAction(ActionRollback, p, s.Targets[p].Previous))
	}
	rb.Cursor = c
	out.Concurrency = limit
	out.Persist = true
}

// badFloat reports whether x is NaN or infinite: no count, score or value
// an outside call returns may be either (the state could not be saved).
func badFloat(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) }

func durationOf(d time.Duration) duration.Duration { return duration.Duration(d) }
