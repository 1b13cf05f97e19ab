package fleetwide

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The group's side of drain tests (see [Trial]): which suspect to test,
// the actions that drain and restore it, and what its outcome means for
// the incident.

func holdTrial(sc Scope) string { return "trial " + sc.Alarm }

// scope returns the record of scope sc.
func (s *State) scope(sc Scope) *ScopeState {
	for i := range s.Health.Scopes {
		if s.Health.Scopes[i].Scope == sc {
			return &s.Health.Scopes[i]
		}
	}
	return nil
}

// testable returns the likeliest suspect that can be drained and has not
// been: the likeliest first, since draining the culprit also ends the harm
// it does.
func (s *State) testable(inc *Incident, ranked []Suspect) *Suspect {
	for i := range ranked {
		x := &ranked[i]
		if x.Weight == 0 {
			break
		}
		m := s.member(x.Member)
		if m.Member.Drain && m.Stopped == "" && (m.Status == MemberRunning || m.Status == MemberSucceeded) &&
			!slices.Contains(inc.Drained, x.Member) && !slices.Contains(inc.Untestable, x.Member) {
			return x
		}
	}
	return nil
}

func (s *State) startTrial(now time.Time, inc *Incident, sc *ScopeState, x *Suspect, ranked []Suspect, noise float64, out *Output) {
	sc.Trial = &Trial{Member: x.Member, Phase: TrialDraining, Since: now}
	sc.sent = false
	s.member(x.Member).hold(holdTrial(inc.Scope), true)
	s.pauseIn(now, inc, "", out)
	inc.Waiting = true
	inc.Reason = fmt.Sprintf("%s fired in %s; testing %s, the likeliest suspect that can be drained (%.0f%%): its traffic there is drained to see whether the alarm clears (%s; noise %.0f%%)",
		inc.Scope.Alarm, inc.Scope, x.Member, 100*x.Score, explain(ranked), 100*noise/total(ranked, noise))
	s.event(out, now, Event{Kind: EventTrial, Member: x.Member, Scope: inc.Scope.String(), Reason: inc.Reason, Suspects: ranked})
}

// last returns the latest incident of scope sc, or nil.
func (s *State) last(sc Scope) *Incident {
	for i := len(s.Incidents) - 1; i >= 0; i-- {
		if inc := &s.Incidents[i]; inc.Scope == sc {
			return inc
		}
	}
	return nil
}

// open returns the incident of scope sc that has not cleared, or nil.
func (s *State) open(sc Scope) *Incident {
	for i := len(s.Incidents) - 1; i >= 0; i-- {
		if inc := &s.Incidents[i]; inc.Scope == sc && inc.Cleared.IsZero() {
			return inc
		}
	}
	return nil
}

// convict stops the member a drain test found to be the culprit.
func (s *State) convict(now time.Time, inc *Incident, t *Trial, ranked []Suspect, out *Output) {
	m := s.member(t.Member)
	where := inc.Scope.String()
	inc.Decided, inc.Culprit, inc.Waiting = now, t.Member, false
	var b strings.Builder
	fmt.Fprintf(&b, "%s cleared in %s %v after %s %s's traffic there was drained, fired again %v after it was restored, and cleared %v after it was drained again",
		inc.Scope.Alarm, where, t.Cleared.Sub(t.Drained).Round(time.Second), t.Member, m.Member.Rollout.Version, t.Refired.Sub(t.Restored).Round(time.Second), now.Sub(t.Since).Round(time.Second))
	for _, x := range ranked {
		if x.Member != t.Member {
			b.WriteString("; " + x.Reason)
		}
	}
	if len(inc.Drained) > 0 {
		fmt.Fprintf(&b, "; draining %s changed nothing", strings.Join(inc.Drained, ", "))
	}
	if m.Status == MemberSucceeded {
		fmt.Fprintf(&b, "; %s has already succeeded, so the group cannot roll it back: a human must", t.Member)
	}
	inc.Reason = b.String()
	s.event(out, now, Event{Kind: EventCulprit, Member: t.Member, Scope: where, Reason: inc.Reason, Suspects: ranked})
	s.stopCulprit(now, inc, m, fmt.Sprintf("culprit of %s in %s: the alarm cleared when its traffic there was drained, came back when it was restored, and cleared when it was drained again", inc.Scope.Alarm, where), out)
}

func (s *State) endTrial(sc *ScopeState) {
	if sc.Trial == nil {
		return
	}
	if m := s.member(sc.Trial.Member); m != nil {
		m.hold(holdTrial(sc.Scope), false)
	}
	sc.Trial, sc.sent = nil, false
}

// watchTrial moves a scope's drain test on after a health check.
func (s *State) watchTrial(now time.Time, sc *ScopeState, out *Output) {
	t := sc.Trial
	if t == nil || t.Outcome != TrialPending {
		return
	}
	was := t.Phase
	if _, ask := t.Watch(now, sc.Firing, s.Policy.Health); ask {
		sc.sent = false
	}
	where := sc.Scope.String()
	switch {
	case was == TrialDrained && t.Phase == TrialRestoring:
		// The incident cleared with this check; say why.
		for i := len(s.Incidents) - 1; i >= 0; i-- {
			if inc := &s.Incidents[i]; inc.Scope == sc.Scope {
				inc.Reason = fmt.Sprintf("%s cleared %v after %s's traffic in %s was drained; restoring it to see whether the alarm comes back", sc.Scope.Alarm, now.Sub(t.Drained), t.Member, where)
				break
			}
		}
		s.event(out, now, Event{Kind: EventTrial, Member: t.Member, Scope: where,
			Reason: fmt.Sprintf("%s cleared %v after %s's traffic in %s was drained; restoring it", sc.Scope.Alarm, now.Sub(t.Drained), t.Member, where)})
		t.Cleared = now
	case t.Outcome == TrialInnocent:
		if inc := s.open(sc.Scope); inc != nil {
			inc.Drained = append(inc.Drained, t.Member)
			s.member(t.Member).hold(holdTrial(sc.Scope), false)
		}
		s.event(out, now, Event{Kind: EventTrial, Member: t.Member, Scope: where,
			Reason: fmt.Sprintf("%s kept firing %v after %s's traffic in %s was drained: %s is not the culprit; restoring its traffic", sc.Scope.Alarm, now.Sub(t.Drained), t.Member, where, t.Member)})
	case was == TrialRestored && t.Phase == TrialRedraining:
		t.Refired = now
		s.event(out, now, Event{Kind: EventTrial, Member: t.Member, Scope: where,
			Reason: fmt.Sprintf("%s fired again %v after %s's traffic in %s was restored; draining it again", sc.Scope.Alarm, now.Sub(t.Restored), t.Member, where)})
	case t.Outcome == TrialCulprit:
		// The latest incident of the scope, which the restore brought
		// back and the second drain cleared, is the culprit's.
		for i := len(s.Incidents) - 1; i >= 0; i-- {
			if inc := &s.Incidents[i]; inc.Scope == sc.Scope {
				s.convict(now, inc, t, inc.Suspects, out)
				break
			}
		}
		s.endTrial(sc)
	case t.Outcome == TrialInconclusive:
		if inc := s.open(sc.Scope); inc != nil {
			inc.Untestable = append(inc.Untestable, t.Member)
		}
		s.member(t.Member).hold(holdTrial(sc.Scope), false)
		s.event(out, now, Event{Kind: EventTrial, Member: t.Member, Scope: where,
			Reason: fmt.Sprintf("%s did not follow the drains and the restore of %s's traffic in %s as a culprit's alarm would (it moved sooner than it can, or not at all): inconclusive (noise that flaps?); %s is judged by timing", sc.Scope.Alarm, t.Member, where, t.Member)})
		if t.Phase != TrialUndraining {
			s.endTrial(sc)
		}
	case t.Outcome == TrialNoise:
		s.event(out, now, Event{Kind: EventTrial, Member: t.Member, Scope: where,
			Reason: fmt.Sprintf("%s cleared by itself during the test of %s in %s (sooner than a drain can clear it, or for good once restored): the alarm was not its change's", sc.Scope.Alarm, t.Member, where)})
		if t.Phase != TrialUndraining {
			s.endTrial(sc)
		}
	}
	out.Persist = true
}

// drainDone applies the answer to a drain action.
func (s *State) drainDone(now time.Time, o Observation, out *Output) {
	sc := s.scope(o.Scope)
	if sc == nil || sc.Trial == nil || sc.Trial.Member != o.Member || !sc.sent {
		return
	}
	t := sc.Trial
	want := t.Phase == TrialDraining || t.Phase == TrialRedraining
	if o.Drain != want || (t.Phase != TrialDraining && t.Phase != TrialRestoring && t.Phase != TrialRedraining && t.Phase != TrialUndraining) {
		return
	}
	sc.sent = false
	out.Persist = true
	where := sc.Scope.String()
	var err error
	if o.Err != "" {
		err = fmt.Errorf("%s", o.Err)
	}
	if t.Phase == TrialUndraining {
		if err != nil {
			s.event(out, now, Event{Kind: EventTrial, Member: t.Member, Scope: where, Reason: fmt.Sprintf("restoring %s's traffic in %s failed (%v): a human must restore it", t.Member, where, err)})
		}
		s.endTrial(sc)
		return
	}
	t.Done(now, err)
	if t.Outcome == TrialFailed {
		if inc := s.open(sc.Scope); inc != nil {
			inc.Untestable = append(inc.Untestable, t.Member)
		}
		why := "draining"
		if !o.Drain {
			why = "restoring"
		}
		s.event(out, now, Event{Kind: EventTrial, Member: t.Member, Scope: where, Reason: fmt.Sprintf("%s %s's traffic in %s failed (%v): it is judged by timing alone", why, t.Member, where, err)})
		s.endTrial(sc)
		return
	}
	if t.Phase == TrialDrained {
		s.event(out, now, Event{Kind: EventTrial, Member: t.Member, Scope: where, Reason: fmt.Sprintf("%s's traffic in %s is drained; watching %s for %v", t.Member, where, sc.Scope.Alarm, s.Policy.Health.settle())})
	}
}

// trialActions asks for the drains and restores that trials wait for.
func (s *State) trialActions(out *Output) {
	for i := range s.Health.Scopes {
		sc := &s.Health.Scopes[i]
		t := sc.Trial
		if t == nil || sc.sent {
			continue
		}
		switch t.Phase {
		case TrialDraining, TrialRestoring, TrialRedraining, TrialUndraining:
			sc.sent = true
			out.Actions = append(out.Actions, Action{Kind: ActionDrain, Member: t.Member, Scopes: []Scope{sc.Scope}, Drain: t.Phase == TrialDraining || t.Phase == TrialRedraining})
		}
	}
}
