package rollout

import (
	"fmt"
	"math"
	"time"

	"github.com/shepherd-go/shepherd/traffic"
)

// GateExposure names the decisions of the exposure step.
const GateExposure Gate = "exposure"

// exposureStep ramps the stage's traffic through the router, one step of
// [ExposurePolicy.Schedule] at a time, once the stage's targets (the new
// version's set) are deployed: a weight sets the scope's split and reads
// it back; a hold waits for its time, or for a human ([ControlPromote]),
// with the alarms watched; a bake, judge or verify runs that gate at the
// current share, the same gate as the pipeline's step of that kind; a
// match, a mirror or a retirement asks the router's optional capability.
// The scope's share is accounted for over time ([traffic.Exposure]), and
// a rollback sets it back to 0 before it touches any target. After a
// restart the route is read back before the ramp goes on. A dry run says
// what it would do and touches nothing.
type exposureStep struct{}

func (exposureStep) applies(s *State, si int) bool {
	return s.Policy.Exposure.applies(s.Stages[si].Name)
}

func (exposureStep) enter(s *State, now time.Time, si int, out *Output) {
	st := &s.Stages[si]
	if st.Exposure == nil {
		st.Exposure = &ExposureState{Scope: st.Name, Stable: s.stableOf(si)}
		st.Exposure.Account.Set(now, 0)
	}
	st.Exposure.Pos = 0
	if !s.Policy.DryRun {
		s.stageEvent(out, now, si, Event{Kind: EventExposure, Reason: fmt.Sprintf("ramping scope %s from %s: %s", st.Exposure.Scope, st.Exposure.Stable, s.Policy.Exposure.Schedule)})
	}
	s.enterExposure(now, si, out)
}

// stableOf is the version stage si ran before: what its scope served,
// and what a rollback switches it back to.
func (s *State) stableOf(si int) string {
	for p := s.ix.stageLo[si]; p < s.ix.stageLo[si+1]; p++ {
		if prev := s.Targets[p].Previous; prev != "" && prev != s.Version {
			return prev
		}
	}
	return ""
}

func (exposureStep) activity(st *StageState) (Activity, bool) {
	x := st.Exposure
	switch {
	case x == nil:
		return ActivityDeploying, true
	case x.Gate != "":
		if k, ok := kinds[x.Gate]; ok {
			return k.activity(st)
		}
	case x.Kind == traffic.KindHold && x.Until != "":
		return ActivityApproval, true
	case x.Kind == traffic.KindHold:
		return ActivityBaking, true
	}
	return ActivityDeploying, true
}

func (exposureStep) resumed(s *State, now time.Time, si int) {
	if x := s.Stages[si].Exposure; x != nil && x.Gate != "" {
		kinds[x.Gate].resumed(s, now, si)
	}
}

// gateKinds maps a schedule's gate steps to the pipeline's step kinds.
var gateKinds = map[traffic.StepKind]StepKind{
	traffic.KindBake:   StepBake,
	traffic.KindJudge:  StepJudge,
	traffic.KindVerify: StepVerify,
}

// enterExposure begins the schedule step at the exposure's Pos, passing
// over gates that do not apply to the stage, or ends the exposure.
func (s *State) enterExposure(now time.Time, si int, out *Output) {
	st := &s.Stages[si]
	x := st.Exposure
	steps := s.Policy.Exposure.Schedule.Steps
	out.Persist = true
	for ; x.Pos < len(steps); x.Pos++ {
		step := steps[x.Pos]
		x.Kind, x.Until, x.Started, x.Promoted, x.Gate = step.Kind, step.Until, now, nil, ""
		st.Next = now
		if k, ok := gateKinds[step.Kind]; ok {
			if !kinds[k].applies(s, si) || s.Policy.DryRun {
				continue
			}
			x.Gate = k
			kinds[k].enter(s, now, si, out)
			return
		}
		if s.Policy.DryRun {
			continue
		}
		if step.Kind == traffic.KindHold && step.Until != "" {
			s.decide(now, st.Name, GateExposure, OutcomeWait, fmt.Sprintf("scope %s holds at %s until promoted", x.Scope, fmtPct(x.Account.Percent)))
			s.stageEvent(out, now, si, Event{Kind: EventAwaitingApproval, Reason: fmt.Sprintf("exposure hold at %s: promote to go on", fmtPct(x.Account.Percent))})
		}
		return
	}
	x.Kind, x.Until, x.Gate = "", "", ""
	s.next(now, si, out)
}

// exposureNext ends the gate of the schedule in progress, when there is
// one, and goes on with the schedule: the gates' steppers end with
// [State.next], which calls it first.
func (s *State) exposureNext(now time.Time, si int, out *Output) bool {
	st := &s.Stages[si]
	x := st.Exposure
	if st.Step != StepExposure || x == nil || x.Gate == "" {
		return false
	}
	x.Gate = ""
	x.Pos++
	s.enterExposure(now, si, out)
	return true
}

func (exposureStep) run(s *State, now time.Time, si int, out *Output) bool {
	st := &s.Stages[si]
	x := st.Exposure
	sched := s.Policy.Exposure.Schedule
	if s.Policy.DryRun {
		words := fmt.Sprintf("would ramp scope %s: %s", st.Name, sched)
		s.decide(now, st.Name, GateExposure, Outcome("would expose"), words)
		s.stageEvent(out, now, si, Event{Kind: EventDryRun, Reason: words})
		x.Pos = len(sched.Steps)
		s.next(now, si, out)
		return true
	}
	if o := s.inbox.take(ObsRoute); o != nil {
		return s.routeAnswer(now, si, o, out)
	}
	if x.Reread {
		x.Reread, x.Reading = false, true
		s.emitGates(out, s.routeAction(si, RouteChange{Op: RouteRead}))
		out.Persist = true
		return false
	}
	if x.Gate != "" {
		return kinds[x.Gate].run(s, now, si, out)
	}
	if x.Pos >= len(sched.Steps) {
		s.next(now, si, out)
		return true
	}
	step := sched.Steps[x.Pos]
	route := traffic.Route{Stable: x.Stable, Canary: s.Version}
	var rc RouteChange
	switch step.Kind {
	case traffic.KindWeight:
		route.Percent = step.Percent
		rc = RouteChange{Op: RouteSet, Route: route}
	case traffic.KindMatch:
		rc = RouteChange{Op: RouteMatch, Route: route, Match: step.Match}
	case traffic.KindMirror:
		rc = RouteChange{Op: RouteMirror, Route: route, Mirror: step.Percent}
	case traffic.KindRetire:
		rc = RouteChange{Op: RouteRetire, Route: route}
	case traffic.KindHold:
		if step.Until != "" {
			if x.Promoted == nil {
				return false // only a promotion (or an abort, an alarm) moves it on
			}
			s.decide(now, st.Name, GateExposure, OutcomeProceed, fmt.Sprintf("promoted by %s", x.Promoted.Actor))
			s.exposureDone(now, si, out)
			return true
		}
		if end := x.Started.Add(step.Duration.Std()); now.Before(end) {
			s.wake(out, end)
			return false
		}
		s.exposureDone(now, si, out)
		return true
	default: // Validate refuses others; never here
		s.raise(SignalExposure, fmt.Sprintf("stage %s: unknown exposure step %q", st.Name, step.Kind))
		return true
	}
	x.Asking = rc.Op
	s.emitGates(out, s.routeAction(si, rc))
	// The intent is saved first: after a crash the route is read back.
	out.Persist = true
	return false
}

// exposureDone ends the schedule step in progress and enters the next.
func (s *State) exposureDone(now time.Time, si int, out *Output) {
	s.Stages[si].Exposure.Pos++
	s.enterExposure(now, si, out)
}

// routeAnswer applies the router's answer for stage si.
func (s *State) routeAnswer(now time.Time, si int, o *Observation, out *Output) bool {
	st := &s.Stages[si]
	x := st.Exposure
	out.Persist = true
	got := traffic.Route{}
	if o.Route != nil {
		got = *o.Route
	}
	if x.Reading {
		x.Reading = false
		if o.Err != "" {
			s.raise(SignalExposure, fmt.Sprintf("stage %s: the route of scope %s could not be read back after a restart: %s", st.Name, x.Scope, o.Err))
			return true
		}
		was := x.Account.Percent
		x.Account.Set(now, got.Percent)
		share := got.Percent
		s.stageEvent(out, now, si, Event{Kind: EventExposure, Share: &share, Reason: fmt.Sprintf("scope %s read back after a restart: %s (last known %s)", x.Scope, fmtPct(got.Percent), fmtPct(was))})
		steps := s.Policy.Exposure.Schedule.Steps
		if x.Asking == RouteSet && x.Pos < len(steps) && math.Abs(steps[x.Pos].Percent-got.Percent) <= RouteTolerance {
			x.Asking = ""
			s.exposureDone(now, si, out) // the change took before the crash
			return true
		}
		x.Asking = "" // ask again: setting a route is idempotent
		return true
	}
	op := x.Asking
	x.Asking = ""
	if o.Err != "" {
		if op == RouteSet && !o.Permanent {
			// The split is unknown (the change may have half taken): a
			// rollback sets it to 0 whatever the account says. A
			// permanent error is a refusal: the split did not change.
			x.Asking = RouteSet
		}
		s.raise(SignalExposure, fmt.Sprintf("stage %s: scope %s: %s failed: %s", st.Name, x.Scope, op, o.Err))
		return true
	}
	switch op {
	case RouteSet:
		x.Account.Set(now, got.Percent)
		share := got.Percent
		b := x.Account.Blast(now)
		s.decide(now, st.Name, GateExposure, OutcomeProceed, fmt.Sprintf("scope %s at %s", x.Scope, fmtPct(share)))
		s.stageEvent(out, now, si, Event{Kind: EventExposure, Share: &share, Blast: &b, Reason: fmt.Sprintf("scope %s: %s to %s", x.Scope, fmtPct(share), s.Version)})
	case RouteRetire:
		x.Retired = true
		s.stageEvent(out, now, si, Event{Kind: EventExposure, Reason: fmt.Sprintf("scope %s: the %s set is retired; a rollback now redeploys", x.Scope, x.Stable)})
	default:
		s.stageEvent(out, now, si, Event{Kind: EventExposure, Reason: fmt.Sprintf("scope %s: %s", x.Scope, s.Policy.Exposure.Schedule.Steps[x.Pos])})
	}
	s.exposureDone(now, si, out)
	return true
}
