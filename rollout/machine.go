package rollout

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/duration"
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
	if err := s.check(); err != nil {
		return Output{}, err
	}
	for i, o := range obs {
		if err := validObservation(o); err != nil {
			return Output{}, fmt.Errorf("rollout: observation %d: %w", i, err)
		}
	}
	var out Output
	if s.Phase.Terminal() {
		out.Done = true
		return out, nil
	}
	if now.Before(s.Updated) {
		now = s.Updated
	}
	s.accrue(now)
	s.inbox = inbox{}
	s.sig = nil
	for i := range obs {
		s.observe(now, &obs[i], &out)
	}
	s.advance(now, &out)
	s.inbox = inbox{}
	s.sig = nil
	return out, nil
}

func validObservation(o Observation) error {
	switch o.Kind {
	case ObsVersion, ObsDeploy, ObsRollback:
		if o.Target == "" {
			return fmt.Errorf("%w: %s observation without a target", ErrInvalid, o.Kind)
		}
	case ObsBlockers, ObsAlarms, ObsEvidence, ObsRestarted:
	case ObsVerdict:
		if o.Verdict == nil && o.Err == "" {
			return fmt.Errorf("%w: verdict observation without a verdict or an error", ErrInvalid)
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
	switch st.Step {
	case StepBlockers:
		if len(st.Blocked) > 0 {
			return ActivityBlocked, true
		}
	case StepApproval:
		return ActivityApproval, true
	case StepDeploying:
		return ActivityDeploying, true
	case StepBaking:
		return ActivityBaking, true
	case StepJudging:
		return ActivityJudging, true
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

func (s *State) stEvent(out *Output, now time.Time, st *StageState, e Event) {
	e.Stage = st.Name
	e.StageKind = st.Kind
	s.event(out, now, e)
}

func (s *State) stageEvent(out *Output, now time.Time, si int, e Event) {
	e.Stage = s.Stages[si].Name
	e.StageKind = s.Stages[si].Kind
	s.event(out, now, e)
}

func (s *State) decide(now time.Time, stage, gate, outcome, reason string) {
	s.Decisions = append(s.Decisions, Decision{Time: now, Stage: stage, Gate: gate, Outcome: outcome, Reason: reason})
}

// raise records a signal; the first one of a step wins.
func (s *State) raise(sig Signal, reason string) {
	if s.sig == nil {
		s.sig = &pending{signal: sig, reason: reason}
	}
}

// current returns the stage in progress, or the final bake after the last
// stage, or nil.
func (s *State) current() *StageState {
	if s.Stage < len(s.Stages) {
		return &s.Stages[s.Stage]
	}
	return s.Final
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
	switch o.Kind {
	case ObsControl:
		s.control(now, *o.Control, out)
	case ObsRestarted:
		s.restart(now, out)
	case ObsVersion, ObsDeploy, ObsRollback:
		if o.Round != s.Round {
			return
		}
		p, ok := s.ix.pos[o.Target]
		if !ok {
			return
		}
		s.observeTarget(now, p, o, out)
	default:
		if o.Round != s.Round || !s.takePending(gateAction(o.Kind)) {
			return
		}
		switch o.Kind {
		case ObsAlarms:
			s.onAlarms(now, o, out)
		case ObsBlockers:
			s.inbox.blockers = o
		case ObsEvidence:
			s.inbox.evidence = o
		case ObsVerdict:
			s.inbox.verdict = o
		}
	}
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
	if o.Err == "" {
		s.inbox.alarms = o // for the bake, which judges INSUFFICIENT_DATA
	}
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
		if st.Step == StepBlockers || st.Step == StepBaking {
			st.Next = now
		}
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
				if st := s.current(); st != nil && st.Bake != nil && st.Bake.Phase == bake.Baking {
					st.Bake.Resume(now)
					st.Next = now
				}
				if s.Stage < len(s.Stages) {
					st := &s.Stages[s.Stage]
					if st.Step == StepDeploying && s.Policy.Deploy.StageDeadline > 0 {
						// A pause stops the deadline's clock: resume grants
						// a fresh deadline.
						st.Deadline = now.Add(s.Policy.Deploy.StageDeadline.Std())
					}
					if st.Step == StepBlockers && len(st.Blocked) > 0 {
						// Likewise a fresh wait for blockers.
						st.BlockedSince = now
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
		case ControlApprove, ControlSkipBake:
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
		if s.watching() && !now.Before(s.Watch.Next) {
			s.pollRound(now, out)
			return
		}
		if s.Hold != nil {
			s.wake(out, s.watchWake())
			return
		}
		if s.Stage >= len(s.Stages) {
			if !s.finalStep(now, out) {
				if len(out.Actions) == 0 && !out.Done {
					s.wake(out, s.watchWake())
				}
				return
			}
			continue
		}
		if !s.stageStep(now, out) {
			if len(out.Actions) == 0 {
				s.wake(out, s.watchWake())
			}
			return
		}
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
	st := s.Final
	if s.Stage < len(s.Stages) {
		st = &s.Stages[s.Stage]
	}
	if st == nil {
		return nil
	}
	if st.Step != StepBaking || st.Bake == nil || st.Bake.Phase != bake.Baking || st.SkipBake != nil || s.Policy.DryRun {
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
		st := s.Final
		if s.Stage < len(s.Stages) {
			st = &s.Stages[si]
		}
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
		s.decide(now, stage, string(sig.signal), "would "+string(s.Policy.Reaction(sig.signal)), sig.reason)
		s.event(out, now, Event{Kind: EventDryRun, Stage: stage, Signal: sig.signal, Reason: "would " + string(s.Policy.Reaction(sig.signal)) + ": " + sig.reason})
		out.Persist = true
		return
	}
	r := s.Policy.Reaction(sig.signal)
	if sig.hold {
		r = Pause
	}
	if r == Pause && s.Hold != nil && s.Hold.Signal != "" {
		return // already paused on a signal, waiting for a human
	}
	s.decide(now, stage, string(sig.signal), string(r), sig.reason)
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

// finalStep keeps watching after the last stage for the plan's final bake,
// then declares success.
func (s *State) finalStep(now time.Time, out *Output) bool {
	last := len(s.Stages) - 1
	if s.Plan.FinalBake <= 0 {
		s.succeed(now, out)
		return false
	}
	if s.Final == nil {
		st := &StageState{Name: "final", Wave: s.Stages[last].Wave, Step: StepBaking, Started: now, Baking: now, Next: now}
		if !s.Policy.DryRun {
			bp, _ := s.Policy.stageBake(st.Wave, len(s.Plan.Waves), "", s.Plan.FinalBake)
			tr, err := bake.Start(bp, now)
			if err != nil {
				s.raise(SignalBakeInconclusive, fmt.Sprintf("the final bake cannot start: %v", err))
				return true
			}
			st.Bake = &tr
			s.Watch.Next = now
		}
		s.Final = st
		s.stEvent(out, now, st, Event{Kind: EventBakeStarted, Duration: s.Plan.FinalBake.Std(), Reason: "the change is everywhere; still watched"})
		out.Persist = true
		return true
	}
	if s.Final.Step == StepPromoted {
		s.succeed(now, out)
		return false
	}
	return s.bake(now, s.Final, last, out, func() {
		s.Final.Step = StepPromoted
		s.Final.Finished = now
		out.Persist = true
	})
}

func (s *State) succeed(now time.Time, out *Output) {
	s.Phase = Succeeded
	s.Ended = now
	tm := s.Timings
	reason := "every stage promoted"
	if s.Policy.DryRun {
		reason = "dry run: every gate evaluated, nothing deployed"
	}
	s.decide(now, "", "rollout", "succeeded", reason)
	s.event(out, now, Event{Kind: EventSucceeded, Phase: Succeeded, Version: s.Version, Duration: now.Sub(s.Created), Timings: &tm, Reason: reason, Targets: s.ix.count[TargetDeployed]})
	out.Persist = true
	out.Done = true
}

func (s *State) stageStep(now time.Time, out *Output) bool {
	si := s.Stage
	st := &s.Stages[si]
	switch st.Step {
	case StepPending:
		if si == 0 {
			s.event(out, now, Event{Kind: EventStarted, Version: s.Version, Targets: len(s.Targets)})
		}
		st.Step = StepBlockers
		st.Started = now
		st.Next = now
		s.stageEvent(out, now, si, Event{Kind: EventStageStarted, Targets: s.ix.size(si), Reason: s.ix.stages[si].Reason})
		out.Persist = true
		return true
	case StepBlockers:
		if o := s.inbox.blockers; o != nil {
			s.inbox.blockers = nil
			s.onBlockers(now, si, o, out)
			return true
		}
		if !now.Before(st.Next) {
			s.emitGates(out, s.gateAction(ActionCheckBlockers, si))
			return false
		}
		s.wake(out, st.Next)
		return false
	case StepApproval:
		if !s.Policy.NeedsApproval(st.Name) || st.Approval != nil || s.Policy.DryRun {
			switch {
			case st.Approval != nil:
				s.decide(now, st.Name, "approval", "proceed", fmt.Sprintf("approved by %s", st.Approval.Actor))
			case s.Policy.NeedsApproval(st.Name):
				s.decide(now, st.Name, "approval", "would wait", "the stage needs a manual approval")
				s.stageEvent(out, now, si, Event{Kind: EventDryRun, Reason: "would wait for a manual approval"})
			}
			st.Step = StepDeploying
			st.Deployed = now
			st.Batch = 0
			if d := s.Policy.Deploy.StageDeadline; d > 0 {
				st.Deadline = now.Add(d.Std())
			}
			out.Persist = true
			return true
		}
		if st.AskedAt.IsZero() {
			st.AskedAt = now
			s.decide(now, st.Name, "approval", "wait", "the stage needs a manual approval")
			s.stageEvent(out, now, si, Event{Kind: EventAwaitingApproval})
			out.Persist = true
		}
		return false
	case StepDeploying:
		return s.deployStep(now, si, out)
	case StepBaking:
		return s.bakeStep(now, si, out)
	case StepJudging:
		return s.judgeStep(now, si, out)
	default: // StepPromoted: cannot be the current stage
		s.Stage++
		return true
	}
}

func (s *State) onBlockers(now time.Time, si int, o *Observation, out *Output) {
	st := &s.Stages[si]
	reasons := append([]BlockReason(nil), o.Blocked...)
	if o.Err != "" {
		reasons = append(reasons, BlockReason{Blocker: "error", Reason: "blockers could not be evaluated: " + o.Err})
	}
	// Charge the time since the last check to the blockers that held the
	// stage then.
	if len(st.Blocked) > 0 && !st.BlockedCheck.IsZero() {
		d := duration.Duration(now.Sub(st.BlockedCheck))
		if st.BlockedBy == nil {
			st.BlockedBy = map[string]duration.Duration{}
		}
		for _, name := range blockerNames(st.Blocked) {
			st.BlockedBy[name] += d
		}
	}
	st.BlockedCheck = now
	if len(reasons) == 0 {
		if len(st.Blocked) > 0 {
			by := map[string]time.Duration{}
			for k, v := range st.BlockedBy {
				by[k] = v.Std()
			}
			s.stageEvent(out, now, si, Event{Kind: EventUnblocked, Duration: now.Sub(st.BlockedSince), Blockers: by})
		}
		s.decide(now, st.Name, "blockers", "clear", "no blocker holds the stage")
		st.Blocked = nil
		st.BlockedSince = time.Time{}
		st.Step = StepApproval
		out.Persist = true
		return
	}
	words := reasonWords(reasons, o.Until)
	if s.Policy.DryRun {
		s.decide(now, st.Name, "blockers", "would wait", words)
		s.stageEvent(out, now, si, Event{Kind: EventDryRun, Reason: "would wait: " + words})
		st.Step = StepApproval
		out.Persist = true
		return
	}
	if len(st.Blocked) == 0 {
		st.BlockedSince = now
	}
	if !sameBlockers(st.Blocked, reasons) {
		by := map[string]time.Duration{}
		for _, n := range blockerNames(reasons) {
			by[n] = 0
		}
		s.decide(now, st.Name, "blockers", "blocked", words)
		s.stageEvent(out, now, si, Event{Kind: EventBlocked, Reason: words, Blockers: by})
		out.Persist = true
	}
	st.Blocked = reasons
	limit := s.Policy.maxBlocked()
	if waited := now.Sub(st.BlockedSince); waited >= limit {
		s.raise(SignalBlocked, fmt.Sprintf("blocked for %s (limit %s): %s", waited, limit, words))
		return
	}
	// Waiting is futile when a blocker says it clears only after the
	// limit, or never: give up now instead of days later.
	if why := hopeless(reasons, o.Until, st.BlockedSince.Add(limit), limit); why != "" {
		s.raise(SignalBlocked, why+": "+words)
		return
	}
	next := now.Add(s.Policy.recheck())
	if o.Until.After(now) && o.Err == "" {
		next = o.Until // sleep until the known opening
	}
	if end := st.BlockedSince.Add(limit); next.After(end) {
		next = end
	}
	st.Next = next
}

// hopeless says why the stage cannot start by end, the end of its
// blocked wait of limit, or returns "": a blocker that never clears within
// its horizon, or one (or the blockers together) that clears only after
// end.
func hopeless(rs []BlockReason, until, end time.Time, limit time.Duration) string {
	for _, r := range rs {
		if r.Never {
			return fmt.Sprintf("blocker %s never clears within its horizon; giving up at once", r.Blocker)
		}
	}
	after := func(who string, at time.Time) string {
		return fmt.Sprintf("%s at %s, after the maximum blocked wait of %s ends at %s; giving up at once",
			who, at.Format(time.RFC3339), limit, end.Format(time.RFC3339))
	}
	for _, r := range rs {
		if r.Until.After(end) {
			return after("blocker "+r.Blocker+" clears", r.Until)
		}
	}
	if until.After(end) {
		return after("blockers "+strings.Join(blockerNames(rs), ", ")+" clear", until)
	}
	return ""
}

// reasonWords lists the reasons. The time the blockers may clear together
// is added only when no reason already names it, so that one calendar
// does not print its opening twice.
func reasonWords(rs []BlockReason, until time.Time) string {
	parts := make([]string, len(rs))
	named := false
	for i, r := range rs {
		parts[i] = r.String()
		named = named || r.Until.Equal(until) || mentions(r.Reason, until)
	}
	w := strings.Join(parts, "; ")
	if !until.IsZero() && !named {
		w += " (may clear at " + until.Format(time.RFC3339) + ")"
	}
	return w
}

func blockerNames(rs []BlockReason) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range rs {
		if !seen[r.Blocker] {
			seen[r.Blocker] = true
			out = append(out, r.Blocker)
		}
	}
	sort.Strings(out)
	return out
}

func sameBlockers(a, b []BlockReason) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Blocker != b[i].Blocker || a[i].Reason != b[i].Reason {
			return false
		}
	}
	return true
}

func (s *State) deployStep(now time.Time, si int, out *Output) bool {
	st := &s.Stages[si]
	sp := s.ix.stages[si]
	dry := s.Policy.DryRun
	if !dry && !st.Deadline.IsZero() && !now.Before(st.Deadline) {
		s.raise(SignalDeadline, fmt.Sprintf("stage %s did not finish deploying by its deadline %s (%s after it began)",
			st.Name, st.Deadline.Format(time.RFC3339), s.Policy.Deploy.StageDeadline))
		return true
	}
	if st.Batch >= len(sp.Batches) {
		if !dry && s.ix.ok[si] == 0 && s.ix.failed[si] > 0 {
			s.raise(SignalFailureBudget, fmt.Sprintf("no target of stage %s could be deployed (%d failed)", st.Name, s.ix.failed[si]))
			return true
		}
		st.Step = StepBaking
		st.Baking = now
		st.Next = now
		if bp, ok := s.Policy.stageBake(st.Wave, len(s.Plan.Waves), st.Kind, sp.Bake); ok && !dry {
			tr, err := bake.Start(bp, now)
			if err != nil {
				// NewState validated every stage's policy; a time outside
				// the bake's range is all that is left.
				s.raise(SignalBakeInconclusive, fmt.Sprintf("stage %s cannot bake: %v", st.Name, err))
				return true
			}
			st.Bake = &tr
			s.Watch.Next = now // the bake's first look
		}
		if s.Policy.Canary.Interval > 0 {
			st.NextJudge = now.Add(s.Policy.Canary.Interval.Std())
		}
		s.stageEvent(out, now, si, Event{Kind: EventBakeStarted, Duration: sp.Bake.Std()})
		out.Persist = true
		return true
	}
	b := st.Batch
	lo, hi := s.ix.batchLo[si][b], s.ix.batchLo[si][b+1]
	if dry {
		s.decide(now, st.Name, "dry-run", "would deploy", fmt.Sprintf("batch %d: %d target(s)", b, hi-lo))
		s.stageEvent(out, now, si, Event{Kind: EventDryRun, Batch: b, Targets: hi - lo, Reason: fmt.Sprintf("would deploy %s to %d target(s)", s.Version, hi-lo)})
		st.Batch++
		out.Persist = true
		return true
	}
	var pendingPos, readyPos []int
	for p := lo; p < hi; p++ {
		switch s.Targets[p].Status {
		case TargetPending:
			pendingPos = append(pendingPos, p)
		case TargetReady:
			readyPos = append(readyPos, p)
		}
	}
	if len(pendingPos) > 0 {
		// Read what the targets run before touching them: that is what a
		// rollback restores. Reads are idempotent; no need to save first.
		s.Round++
		for _, p := range pendingPos {
			s.setStatus(p, TargetReading)
			out.Actions = append(out.Actions, s.targetAction(ActionReadVersion, p, ""))
		}
		out.Concurrency = s.Policy.Deploy.Concurrency
		if len(pendingPos) == hi-lo {
			s.stageEvent(out, now, si, Event{Kind: EventBatchStarted, Batch: b, Targets: hi - lo})
		}
		return false
	}
	if len(readyPos) > 0 {
		size, failed := s.ix.size(si), s.ix.failed[si]
		if healthy := size - failed - len(readyPos); healthy < sp.MinHealthy {
			s.raise(SignalFailureBudget, fmt.Sprintf("stage %s: %d target(s) failed; deploying %d more would leave %d of %d healthy, below the minimum of %d",
				st.Name, failed, len(readyPos), healthy, size, sp.MinHealthy))
			return true
		}
		// The intent to deploy is saved before any deploy is issued: after
		// a crash these targets are read again, never blindly redeployed.
		s.Round++
		for _, p := range readyPos {
			s.setStatus(p, TargetDeploying)
			s.Targets[p].Attempted = true
			s.touch(p)
			out.Actions = append(out.Actions, s.targetAction(ActionDeploy, p, s.Version))
		}
		out.Concurrency = s.Policy.Deploy.Concurrency
		out.Persist = true
		return false
	}
	failed := 0
	for p := lo; p < hi; p++ {
		if s.Targets[p].Status == TargetFailed {
			failed++
		}
	}
	s.stageEvent(out, now, si, Event{Kind: EventBatchFinished, Batch: b, Targets: hi - lo,
		Reason: fmt.Sprintf("%d ok, %d failed", hi-lo-failed, failed)})
	st.Batch++
	if s.Watch.Active {
		s.Watch.Next = now // watch the alarms after every batch
	}
	out.Persist = true
	return true
}

func (s *State) bakeStep(now time.Time, si int, out *Output) bool {
	st := &s.Stages[si]
	judged := s.Policy.Canary.Judged(st.Kind)
	return s.bake(now, st, si, out, func() {
		if judged {
			st.Step = StepJudging
		} else {
			s.promote(now, si, out)
		}
		out.Persist = true
	})
}

// bake advances the bake of st (a stage, or the final bake after the last
// stage); si is the stage whose subject the gates are asked about. next
// moves on once the bake is done.
func (s *State) bake(now time.Time, st *StageState, si int, out *Output, next func()) bool {
	if st.SkipBake != nil {
		s.decide(now, st.Name, "bake", "skipped", fmt.Sprintf("override by %s: %s", st.SkipBake.Actor, st.SkipBake.Reason))
		s.stEvent(out, now, st, Event{Kind: EventBakeSkipped, Actor: st.SkipBake.Actor, Reason: st.SkipBake.Reason, Duration: now.Sub(st.Baking)})
		next()
		return true
	}
	if s.Policy.DryRun {
		return s.dryBake(now, st, si, out, next)
	}
	if o := s.inbox.verdict; o != nil {
		s.inbox.verdict = nil
		v := verdictOf(o, now)
		st.Verdict = &v
		s.stEvent(out, now, st, Event{Kind: EventCanaryVerdict, Verdict: &v, Reason: v.Reason})
		if v.Outcome == VerdictFail {
			s.raise(SignalCanary, "canary failed during the bake: "+v.Reason)
			return true
		}
	}
	tr := st.Bake
	if tr == nil {
		s.decide(now, st.Name, "bake", "done", "the plan gives the stage no bake")
		next()
		return true
	}
	if tr.Phase == bake.Baking {
		var status bake.Status
		var err error
		updated := true
		readErrors := tr.ReadErrors
		switch a, e := s.inbox.alarms, s.inbox.evidence; {
		case e != nil && e.Err != "":
			status, err = tr.ReadFailed(now, errors.New(e.Err))
		case a != nil && (e != nil || len(tr.Policy.Evidence) == 0):
			var counts []float64
			if e != nil {
				counts = e.Evidence
			}
			if status, err = tr.Update(now, counts, a.Alarms); err != nil {
				status, err = tr.ReadFailed(now, err)
			}
		default:
			updated = false
		}
		if err != nil {
			// Only a time outside the bake's range gets here.
			s.raise(SignalBakeInconclusive, fmt.Sprintf("stage %s: bake: %v", st.Name, err))
			return true
		}
		if updated && tr.Phase == bake.Baking {
			st.Next = status.NextCheck
			// Report (and save) what changes the bake's standing, not
			// every look at it.
			if note := status.Reason; note != st.BakeNote || !slices.Equal(counts(s.inbox.evidence), st.Evidence) {
				st.BakeNote = note
				s.stEvent(out, now, st, Event{Kind: EventBakeProgress, Duration: status.Baked, Reason: status.String()})
			}
			if tr.ReadErrors != readErrors {
				out.Persist = true
			}
		}
		if tr.Phase != bake.Baking {
			out.Persist = true
		}
		if e := s.inbox.evidence; e != nil && e.Err == "" {
			st.Evidence = e.Evidence
		}
		s.inbox.alarms, s.inbox.evidence = nil, nil
	}
	switch tr.Phase {
	case bake.Done:
		s.decide(now, st.Name, "bake", "done", tr.Reason)
		next()
		return true
	case bake.Failed:
		s.raise(SignalAlarm, fmt.Sprintf("stage %s: bake failed: %s", st.Name, tr.Reason))
		return true
	case bake.Inconclusive:
		reason := fmt.Sprintf("stage %s: bake inconclusive: %s", st.Name, tr.Reason)
		switch tr.Policy.OnInconclusive {
		case bake.Pass:
			s.decide(now, st.Name, "bake", "pass", reason+" (the policy passes inconclusive bakes)")
			next()
		case bake.Hold:
			// Only an audited bake skip, or an abort, moves it on.
			s.sig = &pending{signal: SignalBakeInconclusive, reason: reason + "; skip the bake or abort", hold: true}
		default:
			s.raise(SignalBakeInconclusive, reason)
		}
		return true
	}
	// Still baking: look again when the tracker says.
	if s.Hold == nil && !now.Before(st.Next) && s.Watch.Next.After(now) {
		s.Watch.Next = now
		return true
	}
	s.wake(out, st.Next)
	return false
}

// dryBake looks at a stage's bake once: alarms and evidence now, over the
// last bake period.
func (s *State) dryBake(now time.Time, st *StageState, si int, out *Output, next func()) bool {
	d := s.ix.stages[si].Bake
	if st != &s.Stages[si] {
		d = s.Plan.FinalBake
	}
	bp, bakes := s.Policy.stageBake(st.Wave, len(s.Plan.Waves), st.Kind, d)
	if !st.Polled {
		st.Polled = true
		acts := []Action{s.gateAction(ActionCheckAlarms, si)}
		if bakes && len(bp.Evidence) > 0 {
			a := s.gateAction(ActionReadEvidence, si)
			a.Since = now.Add(-d.Std())
			a.Requirements = bp.Evidence
			acts = append(acts, a)
		}
		s.emitGates(out, acts...)
		return false
	}
	words := "would not bake (the plan gives the stage no bake)"
	if bakes {
		words = fmt.Sprintf("would bake at least %s, at most %s", bp.WithDefaults().MinDuration, bp.WithDefaults().MaxDuration)
	}
	if o := s.inbox.alarms; o != nil {
		if f := alarmWords(o.Alarms); len(f) > 0 {
			words += "; alarms not OK now: " + strings.Join(f, "; ")
		} else {
			words += "; alarms OK now"
		}
	} else {
		words += "; alarms could not be read now"
	}
	if o := s.inbox.evidence; o != nil {
		if o.Err != "" {
			words += "; evidence could not be read: " + o.Err
		} else {
			st.Evidence = o.Evidence
			var parts []string
			for i, r := range bp.Evidence {
				have := 0.0
				if i < len(o.Evidence) {
					have = o.Evidence[i]
				}
				name := r.Name
				if name == "" {
					name = r.Query
				}
				parts = append(parts, fmt.Sprintf("%s %g of %g", name, have, r.Min))
			}
			words += "; evidence over the last bake period: " + strings.Join(parts, ", ")
		}
	}
	s.inbox.alarms, s.inbox.evidence = nil, nil
	s.decide(now, st.Name, "bake", "would bake", words)
	s.stEvent(out, now, st, Event{Kind: EventDryRun, Reason: words, Duration: d.Std()})
	next()
	return true
}

func counts(o *Observation) []float64 {
	if o == nil || o.Err != "" {
		return nil
	}
	return o.Evidence
}

func verdictOf(o *Observation, now time.Time) Verdict {
	if o.Err != "" {
		return Verdict{Outcome: VerdictInconclusive, Reason: "the judge failed: " + o.Err, Time: now}
	}
	v := *o.Verdict
	if v.Time.IsZero() {
		v.Time = now
	}
	switch v.Outcome {
	case VerdictPass, VerdictMarginal, VerdictFail, VerdictInconclusive:
	default:
		v.Reason = fmt.Sprintf("unknown verdict %q: %s", v.Outcome, v.Reason)
		v.Outcome = VerdictInconclusive
	}
	return v
}

func (s *State) judgeStep(now time.Time, si int, out *Output) bool {
	st := &s.Stages[si]
	o := s.inbox.verdict
	if o == nil {
		a := s.gateAction(ActionJudgeCanary, si)
		a.Since = st.Baking
		a.Final = true
		s.emitGates(out, a)
		return false
	}
	s.inbox.verdict = nil
	v := verdictOf(o, now)
	st.Verdict = &v
	s.stageEvent(out, now, si, Event{Kind: EventCanaryVerdict, Verdict: &v, Reason: v.Reason})
	out.Persist = true
	if s.Policy.DryRun {
		s.decide(now, st.Name, "canary", "would "+string(v.Outcome), v.Reason)
		s.promote(now, si, out)
		return true
	}
	if v.Outcome != VerdictPass {
		s.raise(SignalCanary, fmt.Sprintf("canary verdict %s: %s", v.Outcome, v.Reason))
		return true
	}
	s.decide(now, st.Name, "canary", "pass", v.Reason)
	s.promote(now, si, out)
	return true
}

func (s *State) promote(now time.Time, si int, out *Output) {
	st := &s.Stages[si]
	st.Step = StepPromoted
	st.Finished = now
	tm := st.Timings
	s.stageEvent(out, now, si, Event{Kind: EventStagePromoted, Duration: now.Sub(st.Started), Timings: &tm})
	s.Stage = si + 1
	out.Persist = true
}

// ---- rollback

func (s *State) startRollback(now time.Time, sig Signal, reason string, out *Output) {
	s.Phase = RollingBack
	s.Rollback = &RollbackState{Signal: sig, Reason: reason, Started: now, Cursor: len(s.Targets)}
	s.Hold = nil
	s.Abort = nil
	n := 0
	for p := range s.Targets {
		if s.needsRollback(p) {
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
		s.decide(now, "", "rollback", string(s.Phase), outcome)
		s.event(out, now, Event{Kind: EventRollbackFinished, Phase: s.Phase, Signal: rb.Signal, Reason: outcome, Duration: now.Sub(rb.Started), Targets: rb.Done, Timings: &tm})
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
