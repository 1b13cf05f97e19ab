package fleetwide

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/rollout"
)

// Step advances the group: it applies the observations (members' answers,
// health checks, requests, a restart), decides what the group does about
// them (start members, hold or release stages, rank the suspects of a
// shared alarm and stop the culprit, roll the group back), steps every
// member that has something to step on, and returns every member's actions
// with the group's own.
//
// Step is deterministic and does no I/O, like [rollout.State.Step], whose
// executor contract it follows: save when Output.Persist is set, perform
// the actions (a member's through that member's [rollout.Hands]), answer
// them with [ObserveMember] and [ObserveHealth], wait until WakeAt, and
// pass [Restarted] first after loading a saved state.
func (s *State) Step(now time.Time, obs ...Observation) (Output, error) {
	if s.Schema != SchemaVersion {
		return Output{}, fmt.Errorf("%w: schema %d, this package steps %d", ErrCorrupt, s.Schema, SchemaVersion)
	}
	for i, o := range obs {
		switch o.Kind {
		case ObsMember:
			if s.Member(o.Member) == nil {
				return Output{}, fmt.Errorf("%w: observation %d: no member %q", ErrInvalid, i, o.Member)
			}
		case ObsDrain:
			if s.Member(o.Member) == nil {
				return Output{}, fmt.Errorf("%w: observation %d: no member %q", ErrInvalid, i, o.Member)
			}
		case ObsHealth, ObsRestarted:
		case ObsControl:
			if o.Control == nil {
				return Output{}, fmt.Errorf("%w: observation %d: control without a request", ErrInvalid, i)
			}
		default:
			return Output{}, fmt.Errorf("%w: observation %d: unknown kind %q", ErrInvalid, i, o.Kind)
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
	s.Updated = now
	for i := range s.Members {
		s.Members[i].inbox = s.Members[i].inbox[:0]
		s.Members[i].due = false
	}
	for _, o := range obs {
		s.observe(now, o, &out)
	}
	for pass := 0; pass < 8; pass++ {
		changed := s.startMembers(now, &out)
		s.follow(now, &out)
		s.judgeIncidents(now, &out)
		s.holdAll(now, &out)
		if s.stepMembers(now, &out) {
			changed = true
		}
		if !changed {
			break
		}
	}
	s.trialActions(&out)
	s.scheduleHealth(now, &out)
	s.finish(now, &out)
	return out, nil
}

func (s *State) event(out *Output, now time.Time, e Event) {
	e.Time, e.Group = now, s.ID
	out.Events = append(out.Events, e)
}

func (s *State) observe(now time.Time, o Observation, out *Output) {
	switch o.Kind {
	case ObsRestarted:
		if s.Health.Pending {
			// The check in flight was lost: check again now rather than
			// an interval later, so that a crash does not delay an onset.
			s.Health.Next = now
		}
		s.Health.Pending = false
		for i := range s.Health.Scopes {
			s.Health.Scopes[i].sent = false
		}
		for i := range s.Members {
			if m := &s.Members[i]; m.Status == MemberRunning {
				m.inbox = append(m.inbox, rollout.Restarted())
			}
		}
		s.event(out, now, Event{Kind: EventRestarted})
		out.Persist = true
	case ObsControl:
		s.control(now, *o.Control, out)
	case ObsMember:
		m := s.Member(o.Member)
		if m.Status != MemberRunning {
			return
		}
		ro := o.Rollout
		if ro.Kind == rollout.ObsBlockers {
			ro = s.mergeBlocks(now, m, ro)
		}
		m.inbox = append(m.inbox, ro)
	case ObsDrain:
		s.drainDone(now, o, out)
	case ObsHealth:
		if !s.Health.Pending || o.Round != s.Health.Round {
			return
		}
		s.Health.Pending = false
		s.health(now, o, out)
	}
}

// ---- requests

func (s *State) control(now time.Time, c Control, out *Output) {
	e := rollout.AuditEntry{Time: now, Kind: rollout.ControlKind(c.Kind), Actor: c.Actor, Stage: c.Stage, Reason: c.Reason}
	ignore := func(why string) { e.Ignored = why }
	var m *MemberState
	if c.Member != "" {
		if m = s.Member(c.Member); m == nil {
			ignore("no member " + c.Member)
		}
	}
	if err := c.Validate(); err != nil {
		ignore(err.Error())
	}
	if e.Ignored == "" {
		switch c.Kind {
		case ControlStop:
			if s.Line != nil {
				ignore("the line is already stopped")
				break
			}
			s.Line = &Stop{Actor: c.Actor, Reason: c.Reason, Since: now}
			s.event(out, now, Event{Kind: EventLineStopped, Reason: c.Actor + ": " + c.Reason})
		case ControlRelease:
			if s.Line == nil {
				ignore("the line is not stopped")
				break
			}
			s.Line = nil
			s.event(out, now, Event{Kind: EventLineReleased, Reason: c.Actor})
		case ControlAbort:
			if m == nil {
				s.rollBackGroup(now, fmt.Sprintf("%s aborted the group: %s", c.Actor, c.Reason), out)
				break
			}
			s.stopMember(now, m, fmt.Sprintf("%s aborted it: %s", c.Actor, c.Reason), out)
		default:
			if m.Status != MemberRunning {
				ignore("the member is " + string(m.Status))
				break
			}
			m.inbox = append(m.inbox, rollout.ObserveControl(rollout.Control{Kind: rollout.ControlKind(c.Kind), Actor: c.Actor, Stage: c.Stage, Reason: c.Reason}))
		}
	}
	ev := Event{Kind: EventControl, Member: c.Member, Reason: fmt.Sprintf("%s by %s", c.Kind, c.Actor)}
	if e.Ignored != "" {
		ev.Reason += " (ignored: " + e.Ignored + ")"
	}
	s.Audit = append(s.Audit, e)
	s.event(out, now, ev)
	out.Persist = true
}

// ---- members

func (s *State) member(name string) *MemberState { return s.Member(name) }

// startMembers starts the waiting members whose time has come, and cancels
// those that can no longer start.
func (s *State) startMembers(now time.Time, out *Output) bool {
	changed := false
	for i := range s.Members {
		m := &s.Members[i]
		if m.Status != MemberWaiting {
			continue
		}
		if why := s.doomed(m); why != "" {
			s.cancel(now, m, why, out)
			changed = true
			continue
		}
		if s.Line != nil || s.Rollback != nil || now.Before(m.Member.Start) || !s.depsMet(m, 0, AfterSuccess) {
			continue
		}
		spec := m.Member.Rollout
		st, err := rollout.NewState(spec.ID, spec.Plan, spec.Version, spec.Policy, now)
		if err != nil {
			// NewState validated this spec when the group was made: only a
			// state from another version of rollout gets here.
			s.cancel(now, m, "its rollout cannot start: "+err.Error(), out)
			changed = true
			continue
		}
		m.Rollout, m.Status, m.Started, m.due = st, MemberRunning, now, true
		s.event(out, now, Event{Kind: EventStarted, Member: m.Member.Name, Reason: spec.Version})
		out.Persist, changed = true, true
	}
	return changed
}

// doomed says why a member can never go on: something it depends on
// failed.
func (s *State) doomed(m *MemberState) string {
	for _, d := range m.Member.After {
		o := s.member(d.Member)
		switch o.Status {
		case MemberRolledBack, MemberRollbackFailed, MemberCancelled:
			return fmt.Sprintf("it depends on %s, which %s", d.Member, words(o.Status))
		}
		if o.Rollout != nil && o.Rollout.Phase == rollout.RollingBack {
			return fmt.Sprintf("it depends on %s, which is rolling back", d.Member)
		}
	}
	return ""
}

func words(st MemberStatus) string {
	switch st {
	case MemberRolledBack:
		return "rolled back"
	case MemberRollbackFailed:
		return "failed to roll back"
	case MemberCancelled:
		return "was cancelled"
	}
	return string(st)
}

func (s *State) cancel(now time.Time, m *MemberState, why string, out *Output) {
	m.Status, m.Stopped, m.Ended = MemberCancelled, why, now
	s.event(out, now, Event{Kind: EventCancelled, Member: m.Member.Name, Reason: why})
	out.Persist = true
}

// depsMet reports whether m's dependencies of kind k let its wave w start.
// An AfterWave dependency holds wave w until the other finished wave w; an
// AfterSuccess one holds every wave until the other succeeded.
func (s *State) depsMet(m *MemberState, w int, k DependencyKind) bool {
	for _, d := range m.Member.After {
		kind := d.Kind
		if kind == "" {
			kind = AfterSuccess
		}
		if kind != k {
			continue
		}
		o := s.member(d.Member)
		if kind == AfterSuccess && o.Status != MemberSucceeded {
			return false
		}
		if kind == AfterWave && !finishedWave(o, w) {
			return false
		}
	}
	return true
}

// finishedWave reports whether m has promoted every stage of waves up to w.
func finishedWave(m *MemberState, w int) bool {
	if m.Status == MemberSucceeded {
		return true
	}
	if m.Rollout == nil {
		return false
	}
	for _, st := range m.Rollout.Stages {
		if st.Name != rollout.FinalStage && st.Wave <= w && st.Step != rollout.StepPromoted {
			return false
		}
	}
	return true
}

// stopMember rolls a running member back (a waiting one is cancelled).
func (s *State) stopMember(now time.Time, m *MemberState, why string, out *Output) {
	switch {
	case m.Status == MemberWaiting:
		s.cancel(now, m, why, out)
	case m.Status != MemberRunning || m.Stopped != "" || m.Rollout.Phase != rollout.Running:
	default:
		m.Stopped = why
		m.inbox = append(m.inbox, rollout.ObserveControl(rollout.Control{Kind: rollout.ControlAbort, Actor: Actor, Reason: why}))
		s.event(out, now, Event{Kind: EventAborted, Member: m.Member.Name, Reason: why})
		out.Persist = true
	}
}

// follow stops the members that depend on a failed one, and starts or
// carries on the group's rollback.
func (s *State) follow(now time.Time, out *Output) {
	for i := range s.Members {
		m := &s.Members[i]
		if m.Status == MemberRunning && m.Stopped == "" {
			if why := s.doomed(m); why != "" {
				s.stopMember(now, m, why, out)
			}
		}
	}
	if s.Policy.Rollback == RollbackAtomic && s.Rollback == nil {
		for i := range s.Members {
			m := &s.Members[i]
			failed := m.Status == MemberRolledBack || m.Status == MemberRollbackFailed ||
				(m.Rollout != nil && m.Rollout.Phase == rollout.RollingBack)
			if failed {
				s.rollBackGroup(now, fmt.Sprintf("%s did not succeed, and the group is atomic", m.Member.Name), out)
				break
			}
		}
	}
	if s.Rollback == nil {
		return
	}
	// Dependents first: a member is rolled back only once every member
	// after it in the order has ended.
	for _, name := range s.Rollback.Order {
		m := s.member(name)
		if m.Status == MemberWaiting {
			s.cancel(now, m, s.Rollback.Reason, out)
			continue
		}
		if m.Status == MemberRunning {
			s.stopMember(now, m, s.Rollback.Reason, out)
			return
		}
	}
}

func (s *State) rollBackGroup(now time.Time, why string, out *Output) {
	if s.Rollback != nil {
		return
	}
	idx, _ := order(s.Spec().Members)
	r := &GroupRollback{Reason: why, Started: now}
	for i := len(idx) - 1; i >= 0; i-- {
		r.Order = append(r.Order, s.Members[idx[i]].Member.Name)
	}
	s.Rollback = r
	s.event(out, now, Event{Kind: EventGroupRollback, Reason: fmt.Sprintf("%s; rolling back in the order %s", why, strings.Join(r.Order, ", "))})
	out.Persist = true
}

// ---- holds

// mergeBlocks adds the group's reasons to hold a member's stage to the
// member's own blockers.
func (s *State) mergeBlocks(now time.Time, m *MemberState, o rollout.Observation) rollout.Observation {
	st := m.Rollout
	if st == nil || st.Stage >= len(st.Stages) {
		return o
	}
	cur := st.Stages[st.Stage]
	regions, zones := stagePlaces(st, cur.Name)
	var why []rollout.BlockReason
	add := func(b, r string) { why = append(why, rollout.BlockReason{Blocker: "fleetwide/" + b, Reason: r}) }
	if s.Line != nil {
		add("line", fmt.Sprintf("the line is stopped by %s: %s", s.Line.Actor, s.Line.Reason))
	}
	if s.Rollback != nil {
		add("rollback", "the group is rolling back: "+s.Rollback.Reason)
	}
	for _, d := range m.Member.After {
		if d.Kind == AfterWave && !finishedWave(s.member(d.Member), cur.Wave) {
			add("after/"+d.Member, fmt.Sprintf("waits for %s to finish wave %d", d.Member, cur.Wave+1))
		}
	}
	if s.Policy.Lockstep && cur.Wave > 0 {
		for i := range s.Members {
			o := &s.Members[i]
			if o != m && (o.Status == MemberRunning) && !finishedWave(o, cur.Wave-1) {
				add("lockstep", fmt.Sprintf("the group promotes together: waits for %s to finish wave %d", o.Member.Name, cur.Wave))
			}
		}
	}
	for _, sc := range s.Health.Scopes {
		if !overlaps(sc.Scope, regions, zones) {
			continue
		}
		if sc.Firing {
			add("health/"+sc.Scope.Alarm, fmt.Sprintf("shared alarm %s fires in %s since %s", sc.Scope.Alarm, sc.Scope, sc.Since.Format(time.RFC3339)))
		} else if sc.Unreadable >= s.Policy.Health.maxUnreadable() {
			add("health/"+sc.Scope.Alarm, fmt.Sprintf("shared alarm %s in %s could not be read %d times in a row", sc.Scope.Alarm, sc.Scope, sc.Unreadable))
		}
	}
	if len(why) == 0 {
		return o
	}
	// Recheck soon: the group knows no time at which its reasons clear,
	// but checks its own health every interval.
	next := now.Add(s.Policy.Health.interval())
	if len(o.Blocked) == 0 || (!o.Until.IsZero() && o.Until.After(next)) {
		o.Until = next
	}
	o.Blocked = append(slices.Clone(o.Blocked), why...)
	return o
}

func overlaps(sc Scope, regions, zones []string) bool {
	if sc.Zone != "" {
		return slices.Contains(zones, sc.Zone)
	}
	return slices.Contains(regions, sc.Region)
}

// stagePlaces returns the regions and zones of the plan stage named name.
func stagePlaces(st *rollout.State, name string) (regions, zones []string) {
	for _, w := range st.Plan.Waves {
		for _, ps := range w.Stages {
			if ps.Name == name {
				return ps.Regions, ps.Zones
			}
		}
	}
	if name == rollout.FinalStage {
		// The final bake watches the whole fleet; it deploys nothing.
		return nil, nil
	}
	return nil, nil
}

const (
	holdLine   = "line"
	holdAtomic = "atomic"
)

func holdAlarm(sc Scope) string { return "alarm " + sc.Alarm }

func (m *MemberState) hold(key string, on bool) {
	has := slices.Contains(m.Holds, key)
	switch {
	case on && !has:
		m.Holds = append(m.Holds, key)
	case !on && has:
		m.Holds = slices.DeleteFunc(m.Holds, func(h string) bool { return h == key })
		if len(m.Holds) == 0 {
			m.Holds = nil
		}
	}
}

// holdAll sets the holds of the stopped line and of an atomic group, then
// pauses the members held and resumes those no longer held.
func (s *State) holdAll(now time.Time, out *Output) {
	atomicReady := true
	if s.Policy.Rollback == RollbackAtomic {
		for i := range s.Members {
			m := &s.Members[i]
			if m.Status == MemberWaiting || (m.Status == MemberRunning && !lastBake(m.Rollout)) {
				atomicReady = false
			}
		}
	}
	for i := range s.Members {
		m := &s.Members[i]
		if m.Status != MemberRunning {
			continue
		}
		m.hold(holdLine, s.Line != nil)
		m.hold(holdAtomic, s.Policy.Rollback == RollbackAtomic && s.Rollback == nil && !atomicReady && lastBake(m.Rollout))
		st := m.Rollout
		ours := st.Hold != nil && st.Hold.Actor == Actor
		pending := slices.ContainsFunc(m.inbox, func(o rollout.Observation) bool {
			return o.Kind == rollout.ObsControl && o.Control.Actor == Actor && (o.Control.Kind == rollout.ControlPause || o.Control.Kind == rollout.ControlResume)
		})
		switch {
		case pending || st.Phase != rollout.Running || m.Stopped != "":
		case len(m.Holds) > 0 && st.Hold == nil:
			why := "held by the group: " + strings.Join(m.Holds, ", ")
			m.inbox = append(m.inbox, rollout.ObserveControl(rollout.Control{Kind: rollout.ControlPause, Actor: Actor, Reason: why}))
			s.event(out, now, Event{Kind: EventPaused, Member: m.Member.Name, Reason: why})
			out.Persist = true
		case len(m.Holds) == 0 && ours:
			m.inbox = append(m.inbox, rollout.ObserveControl(rollout.Control{Kind: rollout.ControlResume, Actor: Actor}))
			s.event(out, now, Event{Kind: EventResumed, Member: m.Member.Name})
			out.Persist = true
		}
	}
}

// lastBake reports whether the rollout is baking its last stage (or
// beyond), where an atomic group holds it until every member gets there.
func lastBake(st *rollout.State) bool {
	if st == nil || st.Phase != rollout.Running || st.Stage != len(st.Stages)-1 {
		return false
	}
	switch st.Stages[st.Stage].Step {
	case rollout.StepBake, rollout.StepJudge:
		return true
	}
	return false
}

// ---- stepping members

func (s *State) stepMembers(now time.Time, out *Output) bool {
	changed := false
	for i := range s.Members {
		m := &s.Members[i]
		if m.Status != MemberRunning {
			continue
		}
		if len(m.inbox) == 0 && !m.due && (m.Wake.IsZero() || now.Before(m.Wake)) {
			continue
		}
		inbox := m.inbox
		m.inbox, m.due = nil, false
		ro, err := m.Rollout.Step(now, inbox...)
		if err != nil {
			// A member state that cannot be stepped is broken beyond what
			// the group can mend: stop it where it is (a human must act).
			m.Status, m.Stopped, m.Ended = MemberRollbackFailed, "its rollout cannot be stepped: "+err.Error(), now
			s.event(out, now, Event{Kind: EventEnded, Member: m.Member.Name, Reason: m.Stopped})
			out.Persist, changed = true, true
			continue
		}
		m.Wake = ro.WakeAt
		out.Persist = out.Persist || ro.Persist
		if ro.Cancel {
			out.Cancel = append(out.Cancel, m.Member.Name)
		}
		for _, a := range ro.Actions {
			out.Actions = append(out.Actions, Action{Kind: ActionMember, Member: m.Member.Name, Rollout: a, Concurrency: ro.Concurrency})
		}
		for j := range ro.Events {
			e := ro.Events[j]
			if e.Kind == rollout.EventTargetDeployed {
				m.touch(e.Target, e.Time)
			}
			s.event(out, now, Event{Kind: EventMember, Member: m.Member.Name, Rollout: &e})
		}
		if ro.Done || m.Rollout.Phase.Terminal() {
			switch m.Rollout.Phase {
			case rollout.Succeeded:
				m.Status = MemberSucceeded
			case rollout.RolledBack:
				m.Status = MemberRolledBack
			default:
				m.Status = MemberRollbackFailed
			}
			m.Ended, m.Holds = now, nil
			s.event(out, now, Event{Kind: EventEnded, Member: m.Member.Name, Reason: string(m.Rollout.Phase)})
			out.Persist, changed = true, true
		} else if m.Rollout.Phase == rollout.RollingBack {
			changed = changed || s.Policy.Rollback == RollbackAtomic && s.Rollback == nil || s.hasDependents(m)
		}
		if len(m.inbox) > 0 {
			changed = true
		}
	}
	return changed
}

func (s *State) hasDependents(m *MemberState) bool {
	for _, o := range s.Members {
		if o.Status.Ended() {
			continue
		}
		for _, d := range o.Member.After {
			if d.Member == m.Member.Name {
				return o.Stopped == ""
			}
		}
	}
	return false
}

// touch records that the member's change reached target id at t.
func (m *MemberState) touch(id string, t time.Time) {
	if m.loc == nil {
		m.loc = map[string][2]string{}
		for _, w := range m.Rollout.Plan.Waves {
			for _, st := range w.Stages {
				for _, b := range st.Batches {
					for _, x := range b.Targets {
						var l [2]string
						copy(l[:], x.Location)
						m.loc[x.ID] = l
					}
				}
			}
		}
	}
	l, ok := m.loc[id]
	if !ok {
		return
	}
	for i := range m.Touches {
		if tc := &m.Touches[i]; tc.Region == l[0] && tc.Zone == l[1] {
			tc.Last = t
			tc.Targets++
			return
		}
	}
	m.Touches = append(m.Touches, Touch{Region: l[0], Zone: l[1], First: t, Last: t, Targets: 1})
}

// ---- shared health

func (s *State) scheduleHealth(now time.Time, out *Output) {
	if len(s.Health.Scopes) == 0 || s.Health.Pending || now.Before(s.Health.Next) || s.idle() {
		return
	}
	s.Health.Round++
	s.Health.Pending = true
	s.Health.Next = now.Add(s.Policy.Health.interval())
	a := Action{Kind: ActionCheckHealth, Round: s.Health.Round}
	for _, sc := range s.Health.Scopes {
		a.Scopes = append(a.Scopes, sc.Scope)
	}
	out.Actions = append(out.Actions, a)
}

// idle reports whether no member runs: the shared alarms need no watching.
func (s *State) idle() bool {
	for _, m := range s.Members {
		if m.Status == MemberRunning {
			return false
		}
	}
	return true
}

func (s *State) health(now time.Time, o Observation, out *Output) {
	byName := map[string]alarm.Result{}
	for _, r := range o.Health {
		byName[r.Name] = r
	}
	for i := range s.Health.Scopes {
		sc := &s.Health.Scopes[i]
		r, ok := byName[sc.Scope.Alarm]
		if o.Err != "" || !ok || r.State == alarm.InsufficientData {
			sc.Unreadable++
			if sc.Unreadable == s.Policy.Health.maxUnreadable() {
				why := o.Err
				if why == "" && ok {
					why = r.Reason
				}
				if why == "" {
					why = "no result"
				}
				s.event(out, now, Event{Kind: EventUnreadable, Scope: sc.Scope.String(), Reason: fmt.Sprintf("%s could not be read %d times in a row (%s): new stages in %s wait", sc.Scope.Alarm, sc.Unreadable, why, sc.Scope)})
				out.Persist = true
			}
			continue
		}
		sc.Unreadable = 0
		sc.Reason = r.Reason
		switch {
		case r.State == alarm.Alarm && !sc.Firing:
			sc.Firing, sc.Since = true, now
			inc := Incident{Scope: sc.Scope, Onset: now, Alarm: r.Reason}
			if prev := s.last(sc.Scope); prev != nil {
				// What a drain test showed in this scope still holds: a
				// member's version does not change within the group, so
				// a suspect whose drain changed nothing here, or whose
				// test was inconclusive, is not drained here again (an
				// alarm that flaps would have it tested without end).
				inc.Drained = slices.Clone(prev.Drained)
				inc.Untestable = slices.Clone(prev.Untestable)
			}
			s.Incidents = append(s.Incidents, inc)
			s.event(out, now, Event{Kind: EventAlarm, Scope: sc.Scope.String(), Reason: fmt.Sprintf("%s fired: %s", sc.Scope.Alarm, r.Reason)})
			out.Persist = true
		case r.State == alarm.OK && sc.Firing:
			sc.Firing = false
			for j := range s.Incidents {
				inc := &s.Incidents[j]
				if inc.Scope == sc.Scope && inc.Cleared.IsZero() {
					inc.Cleared, inc.Waiting = now, false
					for k := range s.Members {
						s.Members[k].hold(holdAlarm(sc.Scope), false)
					}
				}
			}
			s.event(out, now, Event{Kind: EventCleared, Scope: sc.Scope.String(), Reason: fmt.Sprintf("%s is OK again after %v", sc.Scope.Alarm, now.Sub(sc.Since))})
			out.Persist = true
		}
		s.watchTrial(now, sc, out)
	}
}

// judgeIncidents ranks the suspects of every undecided incident, and acts.
func (s *State) judgeIncidents(now time.Time, out *Output) {
	p := s.Policy.Health
	for i := range s.Incidents {
		inc := &s.Incidents[i]
		if inc.Culprit != "" && inc.Cleared.IsZero() {
			// A culprit whose rollback ended a while ago without
			// clearing the alarm was the wrong one: judge again.
			if m := s.member(inc.Culprit); m.Status == MemberRolledBack && now.Sub(m.Ended) >= p.detection()+2*p.interval() {
				inc.Exonerated = append(inc.Exonerated, inc.Culprit)
				inc.Culprit, inc.Decided = "", time.Time{}
				s.event(out, now, Event{Kind: EventAlarm, Scope: inc.Scope.String(), Member: m.Member.Name,
					Reason: fmt.Sprintf("%s still fires %v after %s was rolled back: it was not the culprit; judging again", inc.Scope.Alarm, now.Sub(m.Ended), m.Member.Name)})
			}
		}
		if !inc.Decided.IsZero() || !inc.Cleared.IsZero() {
			continue
		}
		var others []Onset
		for _, o := range s.Incidents {
			if o.Scope != inc.Scope && o.Onset.Sub(inc.Onset).Abs() <= p.window() {
				others = append(others, Onset{Scope: o.Scope, Time: o.Onset})
			}
		}
		var cands []Candidate
		for _, m := range s.Members {
			if (m.Status == MemberRunning || m.Status == MemberSucceeded) && !slices.Contains(inc.Exonerated, m.Member.Name) {
				cands = append(cands, Candidate{Member: m.Member.Name, Version: m.Member.Rollout.Version, Touches: m.Touches, Drained: slices.Contains(inc.Drained, m.Member.Name)})
			}
		}
		ev := Evidence{Fired: Onset{Scope: inc.Scope, Time: inc.Onset}, Others: others, Now: now}
		for _, sc := range s.Health.Scopes {
			ev.Watched = append(ev.Watched, sc.Scope)
		}
		ranked, noise := Rank(ev, cands, p)
		prevTop := ""
		if len(inc.Suspects) > 0 {
			prevTop = inc.Suspects[0].Member
		}
		inc.Suspects = ranked
		where := inc.Scope.String()
		out.Persist = true
		sc := s.scope(inc.Scope)
		if sc.Trial != nil {
			// A drain test is under way: every suspect waits for it.
			s.pauseIn(now, inc, "", out)
			inc.Waiting = true
			continue
		}
		verdict := Judge(ranked, noise, now.Sub(inc.Onset), p)
		if verdict != VerdictNone {
			if x := s.testable(inc, ranked); x != nil {
				s.startTrial(now, inc, sc, x, ranked, noise, out)
				continue
			}
		}
		switch verdict {
		case VerdictNone:
			inc.Decided, inc.Waiting = now, false
			var b strings.Builder
			fmt.Fprintf(&b, "%s fired in %s, and no change of the group reached it in time", inc.Scope.Alarm, where)
			for _, x := range ranked {
				b.WriteString("; " + x.Reason)
			}
			b.WriteString("; new stages there wait until it clears")
			inc.Reason = b.String()
			s.pauseIn(now, inc, "", out)
			s.event(out, now, Event{Kind: EventNoSuspect, Scope: where, Reason: inc.Reason, Suspects: ranked})
		case VerdictWait:
			top := ranked[0].Member
			s.holdTop(inc, top)
			if !inc.Waiting || top != prevTop {
				inc.Waiting = true
				inc.Reason = fmt.Sprintf("%s fired in %s; no suspect stands out (%s; noise %.0f%%); %s, the likeliest, is paused, and the others go on outside %s (whose new stages wait) while the evidence grows",
					inc.Scope.Alarm, where, explain(ranked), 100*noise/total(ranked, noise), top, where)
				s.event(out, now, Event{Kind: EventSuspects, Scope: where, Reason: inc.Reason, Suspects: ranked})
			}
		case VerdictStop:
			top := ranked[0]
			inc.Decided, inc.Culprit, inc.Waiting = now, top.Member, false
			var b strings.Builder
			fmt.Fprintf(&b, "%s rose in %s %v after %s %s reached it", inc.Scope.Alarm, where, top.Lag, top.Member, top.Version)
			if len(top.Corroborated) > 0 {
				fmt.Fprintf(&b, " (it had also reached %s, which fired too)", strings.Join(top.Corroborated, ", "))
			}
			fmt.Fprintf(&b, "; %.0f%% likely", 100*top.Score)
			for _, x := range ranked[1:] {
				b.WriteString("; " + x.Reason)
			}
			m := s.member(top.Member)
			if m.Status == MemberSucceeded {
				b.WriteString(fmt.Sprintf("; %s has already succeeded, so the group cannot roll it back: a human must", top.Member))
			}
			inc.Reason = b.String()
			s.event(out, now, Event{Kind: EventCulprit, Member: top.Member, Scope: where, Reason: inc.Reason, Suspects: ranked})
			s.stopCulprit(now, inc, m, fmt.Sprintf("culprit of %s in %s (%.0f%% likely; the evidence is in the culprit event)", inc.Scope.Alarm, where, 100*top.Score), out)
		}
	}
}

// stopCulprit stops the culprit of an incident (and, with RollbackTeam,
// its team's other members in the region), and holds the other suspects.
func (s *State) stopCulprit(now time.Time, inc *Incident, m *MemberState, why string, out *Output) {
	s.stopMember(now, m, why, out)
	if s.Policy.Rollback == RollbackTeam && m.Member.Team != "" {
		for j := range s.Members {
			o := &s.Members[j]
			if o != m && o.Member.Team == m.Member.Team && touched(o.Touches, Scope{Region: inc.Scope.Region}) {
				s.stopMember(now, o, fmt.Sprintf("its team %s changed %s, where %s fired; %s was the culprit", o.Member.Team, inc.Scope.Region, inc.Scope.Alarm, m.Member.Name), out)
			}
		}
	}
	s.pauseIn(now, inc, m.Member.Name, out)
}

// pauseIn holds every running member (but the culprit) whose change is a
// suspect of the incident (it reached the scope within the window before
// the onset) until the alarm clears.
func (s *State) pauseIn(now time.Time, inc *Incident, culprit string, out *Output) {
	if !inc.Cleared.IsZero() {
		// A drain test convicts its culprit as the alarm clears: nobody
		// else is to be held for it.
		return
	}
	for _, x := range inc.Suspects {
		m := s.member(x.Member)
		if x.Weight > 0 && m.Status == MemberRunning && x.Member != culprit && m.Stopped == "" {
			m.hold(holdAlarm(inc.Scope), true)
		}
	}
}

// holdTop holds the likeliest suspect of an incident too close to call,
// and lets the others go on. Suspects held make no new evidence; those
// that go on do, away from the firing scope (its new stages wait): a
// culprit's next landings raise alarms after its fault's delay, an
// innocent's stay quiet, and [Rank] weighs both.
func (s *State) holdTop(inc *Incident, top string) {
	for _, x := range inc.Suspects {
		m := s.member(x.Member)
		on := x.Member == top && x.Weight > 0 && m.Status == MemberRunning && m.Stopped == ""
		m.hold(holdAlarm(inc.Scope), on)
	}
}

func total(ranked []Suspect, noise float64) float64 {
	t := noise
	for _, x := range ranked {
		t += x.Weight
	}
	return t
}

func explain(ranked []Suspect) string {
	var parts []string
	for _, x := range ranked {
		if x.Weight > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f%%: %s", x.Member, 100*x.Score, x.Reason))
		}
	}
	return strings.Join(parts, "; ")
}

// ---- the end

func (s *State) finish(now time.Time, out *Output) {
	wake := time.Time{}
	early := func(t time.Time) {
		if !t.IsZero() && (wake.IsZero() || t.Before(wake)) {
			wake = t
		}
	}
	all, ok := true, true
	for _, m := range s.Members {
		switch m.Status {
		case MemberRunning:
			all = false
			early(m.Wake)
		case MemberWaiting:
			all = false
			if m.Member.Start.After(now) {
				early(m.Member.Start)
			}
		case MemberSucceeded:
		default:
			ok = false
		}
	}
	if all {
		s.Phase, s.Ended = Succeeded, now
		if !ok {
			s.Phase = Failed
		}
		s.event(out, now, Event{Kind: EventDone, Reason: string(s.Phase)})
		out.Done, out.Persist = true, true
		return
	}
	if len(s.Health.Scopes) > 0 && !s.Health.Pending && !s.idle() {
		early(s.Health.Next)
	}
	for _, inc := range s.Incidents {
		// Patience ends once per incident: a time already past would
		// wake the executor at once, again and again.
		if !inc.Waiting || !inc.Cleared.IsZero() {
			continue
		}
		if end := inc.Onset.Add(s.Policy.Health.patience()); end.After(now) {
			early(end)
		}
	}
	out.WakeAt = wake
}
