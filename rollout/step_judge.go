package rollout

import (
	"fmt"
	"time"
)

// judgeStep asks the canary judge ([ActionJudgeCanary], Final set) for the
// verdict that decides the stage, over its whole bake; only a pass
// promotes. It applies to the stage kinds [CanaryPolicy.Judged] names. A
// dry run asks too, and reports what the verdict would do.
type judgeStep struct{}

func (judgeStep) applies(s *State, si int) bool {
	return s.Policy.Canary.Judged(s.Stages[si].Kind)
}
func (judgeStep) enter(*State, time.Time, int, *Output) {}
func (judgeStep) activity(*StageState) (Activity, bool) { return ActivityJudging, true }
func (judgeStep) resumed(*State, time.Time, int)        {}

func (judgeStep) run(s *State, now time.Time, si int, out *Output) bool {
	st := &s.Stages[si]
	o := s.inbox.take(ObsVerdict)
	if o == nil {
		a := s.gateAction(ActionJudgeCanary, si)
		a.Since = st.Baking
		a.Final = true
		s.emitGates(out, a)
		return false
	}
	v := verdictOf(o, now)
	st.Verdict = &v
	s.stageEvent(out, now, si, Event{Kind: EventCanaryVerdict, Verdict: &v, Reason: v.Reason})
	out.Persist = true
	if s.Policy.DryRun {
		s.decide(now, st.Name, GateCanary, Outcome("would "+string(v.Outcome)), v.Reason)
		s.next(now, si, out)
		return true
	}
	if v.Outcome != VerdictPass {
		s.raise(SignalCanary, fmt.Sprintf("canary verdict %s: %s", v.Outcome, v.Reason))
		return true
	}
	s.decide(now, st.Name, GateCanary, OutcomePass, v.Reason)
	s.next(now, si, out)
	return true
}

// verdictOf reads a verdict observation; a judge that failed, or answered
// what no judge may answer, is inconclusive, which never promotes.
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
	if badFloat(v.Score) {
		v.Reason = fmt.Sprintf("the judge's score is %v: %s", v.Score, v.Reason)
		v.Outcome, v.Score = VerdictInconclusive, 0
	}
	return v
}
