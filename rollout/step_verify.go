package rollout

import (
	"fmt"
	"time"
)

// Defaults of [VerifyPolicy].
const (
	// DefaultVerifyTimeout bounds one run of a stage's verification.
	DefaultVerifyTimeout = 5 * time.Minute
	// DefaultVerifyAttempts is how many times a verification that could
	// not run is tried.
	DefaultVerifyAttempts = 3
	// DefaultVerifyRetryInitial is the wait before the first retry of a
	// verification that could not run.
	DefaultVerifyRetryInitial = 10 * time.Second
)

// VerifyState is a stage's record of its verify step.
type VerifyState struct {
	// Started is when the step began.
	Started time.Time `json:"started"`
	// Attempts counts the runs of the check that could not run (an error
	// or [VerifyError]); a pass or a fail ends the step.
	Attempts int `json:"attempts,omitempty"`
	// Result is the last answer.
	Result *VerifyResult `json:"result,omitempty"`
}

// verifyStep runs the stage's verification ([ActionVerify], through the
// [Verifier]) once the stage is deployed: a pass goes on, a fail stops the
// rollout with [SignalVerify], and a check that could not run is retried
// per [VerifyPolicy.Retry] and fails closed when the attempts run out.
// Every run has a deadline ([VerifyPolicy.Timeout]). A dry run says it
// would verify and calls nothing: the stage's targets do not run the new
// version.
type verifyStep struct{}

func (verifyStep) applies(s *State, si int) bool {
	p := s.Policy.Verify.Stages
	return len(p) == 0 || matches(p, s.Stages[si].Name)
}

func (verifyStep) enter(s *State, now time.Time, si int, out *Output) {
	s.Stages[si].Verify = &VerifyState{Started: now}
	if !s.Policy.DryRun {
		s.stageEvent(out, now, si, Event{Kind: EventVerifyStarted, Targets: s.ix.size(si)})
	}
}

func (verifyStep) activity(*StageState) (Activity, bool) { return ActivityVerifying, true }
func (verifyStep) resumed(*State, time.Time, int)        {}

func (p VerifyPolicy) timeout() time.Duration { return orDefault(p.Timeout, DefaultVerifyTimeout) }

func (p VerifyPolicy) retry() Retry {
	r := p.Retry
	if r.Initial == 0 {
		r.Initial = durationOf(DefaultVerifyRetryInitial)
	}
	return r.WithDefaults(DefaultVerifyAttempts)
}

func (verifyStep) run(s *State, now time.Time, si int, out *Output) bool {
	st := &s.Stages[si]
	vs := st.Verify
	pol := s.Policy.Verify
	if s.Policy.DryRun {
		words := fmt.Sprintf("would verify %d target(s) (timeout %s, %d attempt(s))", s.ix.size(si), pol.timeout(), pol.retry().MaxAttempts)
		s.decide(now, st.Name, GateVerify, OutcomeWouldVerify, words)
		s.stageEvent(out, now, si, Event{Kind: EventDryRun, Reason: words})
		s.next(now, si, out)
		return true
	}
	o := s.inbox.take(ObsVerify)
	if o == nil {
		if now.Before(st.Next) {
			s.wake(out, st.Next)
			return false
		}
		a := s.gateAction(ActionVerify, si)
		a.Since = vs.Started
		a.Deadline = now.Add(pol.timeout())
		s.emitGates(out, a)
		return false
	}
	r := verifyOf(o)
	vs.Result = &r
	out.Persist = true
	ev := Event{Kind: EventVerifyResult, Reason: string(r.Outcome) + ": " + r.Reason, Duration: now.Sub(vs.Started)}
	switch r.Outcome {
	case VerifyPass:
		s.stageEvent(out, now, si, ev)
		s.decide(now, st.Name, GateVerify, OutcomePass, r.Reason)
		s.next(now, si, out)
		return true
	case VerifyFail:
		s.stageEvent(out, now, si, ev)
		s.decide(now, st.Name, GateVerify, OutcomeFail, r.Reason)
		s.raise(SignalVerify, fmt.Sprintf("stage %s: verification failed: %s", st.Name, r.Reason))
		return true
	}
	vs.Attempts++
	retry := pol.retry()
	ev.Reason = fmt.Sprintf("could not run (attempt %d of %d): %s", vs.Attempts, retry.MaxAttempts, r.Reason)
	s.stageEvent(out, now, si, ev)
	if vs.Attempts >= retry.MaxAttempts {
		s.decide(now, st.Name, GateVerify, OutcomeFail, ev.Reason)
		s.raise(SignalVerify, fmt.Sprintf("stage %s: fail closed: the verification could not run in %d attempt(s): %s", st.Name, vs.Attempts, r.Reason))
		return true
	}
	st.Next = now.Add(retry.Wait(s.ID, st.Name, vs.Attempts+1))
	s.wake(out, st.Next)
	return false
}

// verifyOf reads a verify observation: an error, an empty or unknown
// outcome is a check that could not run.
func verifyOf(o *Observation) VerifyResult {
	var r VerifyResult
	if o.Verify != nil {
		r = *o.Verify
	}
	switch {
	case o.Err != "":
		return VerifyResult{Outcome: VerifyError, Reason: o.Err}
	case r.Outcome == VerifyPass, r.Outcome == VerifyFail, r.Outcome == VerifyError:
		return r
	}
	return VerifyResult{Outcome: VerifyError, Reason: fmt.Sprintf("unknown outcome %q: %s", r.Outcome, r.Reason)}
}
