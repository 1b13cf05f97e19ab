package rollout

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/bake"
)

// bakeStep bakes the stage: it waits for the plan's bake time AND the
// bake policy's evidence, with the alarms watched at every look
// ([bake.Tracker] decides); a canary judged at intervals
// ([CanaryPolicy.Interval]) can fail it early. A failed bake raises
// [SignalAlarm], an inconclusive one [SignalBakeInconclusive] (or passes,
// or holds, as the bake policy says). An audited [ControlSkipBake] ends
// it. A dry run looks once at the alarms and the evidence over the last
// bake period.
type bakeStep struct{}

func (bakeStep) applies(*State, int) bool              { return true }
func (bakeStep) activity(*StageState) (Activity, bool) { return ActivityBaking, true }

func (bakeStep) enter(s *State, now time.Time, si int, out *Output) {
	st := &s.Stages[si]
	d := durationOf(s.bakeTime(si))
	st.Baking = now
	st.Next = now
	if bp, ok := s.Policy.stageBake(st.Wave, st.Kind, d); ok && !s.Policy.DryRun {
		tr, err := bake.Start(bp, now)
		if err != nil {
			// NewState validated every stage's policy; a time outside the
			// bake's range is all that is left.
			s.raise(SignalBakeInconclusive, fmt.Sprintf("stage %s cannot bake: %v", st.Name, err))
			return
		}
		st.Bake = &tr
		s.Watch.Next = now // the bake's first look
	}
	if s.Policy.Canary.Interval > 0 {
		st.NextJudge = now.Add(s.Policy.Canary.Interval.Std())
	}
	ev := Event{Kind: EventBakeStarted, Duration: d.Std()}
	if st.Kind == KindFinal {
		ev.Reason = "the change is everywhere; still watched"
	}
	s.stageEvent(out, now, si, ev)
}

func (bakeStep) resumed(s *State, now time.Time, si int) {
	st := &s.Stages[si]
	if st.Bake != nil && st.Bake.Phase == bake.Baking {
		st.Bake.Resume(now)
		st.Next = now
	}
}

func (bakeStep) run(s *State, now time.Time, si int, out *Output) bool {
	st := &s.Stages[si]
	if st.SkipBake != nil {
		s.decide(now, st.Name, GateBake, OutcomeSkipped, fmt.Sprintf("override by %s: %s", st.SkipBake.Actor, st.SkipBake.Reason))
		s.stageEvent(out, now, si, Event{Kind: EventBakeSkipped, Actor: st.SkipBake.Actor, Reason: st.SkipBake.Reason, Duration: now.Sub(st.Baking)})
		s.next(now, si, out)
		return true
	}
	if s.Policy.DryRun {
		return s.dryBake(now, si, out)
	}
	if o := s.inbox.take(ObsVerdict); o != nil {
		v := verdictOf(o, now)
		st.Verdict = &v
		s.stageEvent(out, now, si, Event{Kind: EventCanaryVerdict, Verdict: &v, Reason: v.Reason})
		if v.Outcome == VerdictFail {
			s.raise(SignalCanary, "canary failed during the bake: "+v.Reason)
			return true
		}
	}
	tr := st.Bake
	if tr == nil {
		s.decide(now, st.Name, GateBake, OutcomeDone, "the plan gives the stage no bake")
		s.next(now, si, out)
		return true
	}
	if tr.Phase == bake.Baking {
		var status bake.Status
		var err error
		updated := true
		readErrors := tr.ReadErrors
		evidence := s.inbox.take(ObsEvidence)
		switch a := s.inbox.take(ObsAlarms); {
		case evidence != nil && evidence.Err != "":
			status, err = tr.ReadFailed(now, errors.New(evidence.Err))
		case a != nil && a.Err != "":
			status, err = tr.ReadFailed(now, errors.New("alarms: "+a.Err))
		case a != nil && (evidence != nil || len(tr.Policy.Evidence) == 0):
			var counts []float64
			if evidence != nil {
				counts = evidence.Evidence
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
			if note := status.Reason; note != st.BakeNote || !slices.Equal(counts(evidence), st.Evidence) {
				st.BakeNote = note
				s.stageEvent(out, now, si, Event{Kind: EventBakeProgress, Duration: status.Baked, Reason: status.String()})
			}
			if tr.ReadErrors != readErrors {
				out.Persist = true
			}
		}
		if tr.Phase != bake.Baking {
			out.Persist = true
		}
		if evidence != nil && evidence.Err == "" {
			st.Evidence = evidence.Evidence
		}
	}
	switch tr.Phase {
	case bake.Done:
		s.decide(now, st.Name, GateBake, OutcomeDone, tr.Reason)
		s.next(now, si, out)
		return true
	case bake.Failed:
		s.raise(SignalAlarm, fmt.Sprintf("stage %s: bake failed: %s", st.Name, tr.Reason))
		return true
	case bake.Inconclusive:
		reason := fmt.Sprintf("stage %s: bake inconclusive: %s", st.Name, tr.Reason)
		switch tr.Policy.OnInconclusive {
		case bake.Pass:
			s.decide(now, st.Name, GateBake, OutcomePass, reason+" (the policy passes inconclusive bakes)")
			s.next(now, si, out)
		case bake.Pause:
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
func (s *State) dryBake(now time.Time, si int, out *Output) bool {
	st := &s.Stages[si]
	d := s.ix.stages[si].Bake
	bp, bakes := s.Policy.stageBake(st.Wave, st.Kind, d)
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
	if o := s.inbox.take(ObsAlarms); o != nil && o.Err == "" {
		if f := alarmWords(o.Alarms); len(f) > 0 {
			words += "; alarms not OK now: " + strings.Join(f, "; ")
		} else {
			words += "; alarms OK now"
		}
	} else {
		words += "; alarms could not be read now"
	}
	if o := s.inbox.take(ObsEvidence); o != nil {
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
	s.decide(now, st.Name, GateBake, OutcomeWouldBake, words)
	s.stageEvent(out, now, si, Event{Kind: EventDryRun, Reason: words, Duration: d.Std()})
	s.next(now, si, out)
	return true
}

func counts(o *Observation) []float64 {
	if o == nil || o.Err != "" {
		return nil
	}
	return o.Evidence
}
