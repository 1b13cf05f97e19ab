package rollout

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/traffic"
)

// ErrObservation is wrapped by the error [CheckObservation] returns for an
// observation that cannot be trusted (a count that is not a number, a
// verdict nobody knows): the observation is replaced by an error that fails
// closed.
var ErrObservation = errors.New("rollout: bad observation")

// Hands turns an [Action] into an [Observation]: it calls the team's
// [Deployer] and gates, retries what the policy says to retry, reads a
// target's version back after every deploy and rollback, waits for the
// target's health check, and checks the answer with [CheckObservation]
// before anyone steps on it. It is the one place where the driver touches
// the outside world, shared by every executor: [Runner] calls [Hands.Do],
// which retries in the process; rollouttest.Simulate calls Do with a
// [Hands.Wait] that advances its simulated clock instead of sleeping; and
// the Temporal activities call [Hands.Try], one attempt per activity, and
// leave the retries to Temporal. So a fault (an error, a NaN, a panic)
// means the same thing whichever executor meets it.
//
// A custom executor fills in the fields it has and calls Do for every
// action of an [Output]:
//
//	h := rollout.Hands{Deployer: d, Alarms: a, Policy: st.Policy, Rollout: st.ID}
//	for _, a := range out.Actions {
//		obs = append(obs, h.Do(ctx, a, time.Now()))
//	}
//
// Every field but Deployer is optional, and a missing gate means what it
// means for a [Runner]: nothing blocks, no alarm is watched, an evidence
// read, a canary judgement or a verification fails (so a policy that needs
// one fails closed). Hands is plain data; its methods are safe for
// concurrent use when the implementations are.
type Hands struct {
	// Deployer deploys, rolls back and reads versions. It may also be a
	// [HealthChecker] (waited for after each deploy) and a
	// [FastRollbacker] (used for rollbacks).
	Deployer Deployer
	// Blockers, Alarms, Evidence, Judge and Verifier answer the gate
	// actions.
	Blockers Blockers
	Alarms   Alarms
	Evidence Evidence
	Judge    Judge
	Verifier Verifier
	// Router sets and reads the scopes' routes ([ActionRoute]); nil fails
	// every route action (closed).
	Router traffic.Router
	// Policy is the rollout's policy: Do retries per [Policy.Retries],
	// and bounds each verification by its Verify.Timeout.
	Policy Policy
	// Rollout is the rollout's ID. With the target it seeds the jitter of
	// the retries ([Retry.Wait]), so that a rollout retries at the same
	// instants however it is executed.
	Rollout string
	// Wait waits d before the next attempt and returns the time it woke
	// at, or an error if ctx ended first. Nil means a timer that honours
	// ctx, and the clock. A simulator passes a function that moves its
	// simulated clock on and returns at once.
	Wait func(ctx context.Context, d time.Duration) (time.Time, error)
	// OnRetry, if set, is told of each failed attempt that will be tried
	// again, with the error and the wait before the next one.
	OnRetry func(a Action, attempt int, err error, wait time.Duration)
	// OnPanic, if set, is told of a panic in the team's code, with the
	// goroutine's stack; the action fails closed either way.
	OnPanic func(a Action, value any, stack []byte)
	// OnAbandon, if set, is told of a call abandoned past its deadline
	// and grace ([CallPolicy]).
	OnAbandon func(a Action, err error)
	// Calls counts and waits for abandoned calls. Nil means they are not
	// counted.
	Calls *Calls
	// Sync makes every call on the caller's goroutine, with its deadline
	// as a context deadline only: a call that ignores its context is
	// waited for, unless the executor abandons it itself (the [Runner]
	// does, from the deadlines OnCall gives it; a simulator ends a hung
	// call at its deadline).
	Sync bool
	// OnCall, if set, is told when each attempt starts, with its deadline
	// in the executor's time (now plus the [CallPolicy] timeout), and when
	// it ends, with a zero deadline.
	OnCall func(ctx context.Context, a Action, deadline time.Time)

	shared *deadlines // the Runner's: calls that start together share a deadline
}

// Do performs a, which the state asked for at now, and returns its
// checked observation. Target actions and verifications are retried per
// [Policy.Retries]: a transient error waits [Retry.Wait] and tries again, a
// permanent one ([Permanent]) gives up at once, and the last error is the
// observation's. The other gates are asked once: the state paces them.
// A's Deadline, if set, bounds the whole action (every attempt and every
// wait): it is applied as a timeout of Deadline minus now, so that a
// simulated now gets a deadline in its own time. Do never fails; the
// outside world's failures are in the observation.
func (h *Hands) Do(ctx context.Context, a Action, now time.Time) Observation {
	var o Observation
	h.do(ctx, &a, now, &o)
	return o
}

// do is Do writing its answer to o. It and the functions it calls pass
// the action and its answer by pointer: they run on a goroutine per action
// in the Runner, whose stack must not have to grow.
func (h *Hands) do(ctx context.Context, a *Action, now time.Time, o *Observation) {
	ctx, cancel := withDeadline(ctx, a.Deadline, now)
	defer cancel()
	p := retries(&h.Policy, a.Kind)
	for n := 1; ; n++ {
		err := h.try(ctx, a, now, o)
		if a.Kind == ActionDeploy || a.Kind == ActionRollback {
			o.Attempts = n
		}
		if err == nil || n >= p.MaxAttempts || ctx.Err() != nil {
			return
		}
		var werr error
		if now, werr = h.backOff(ctx, a, &p, n, err); werr != nil {
			// Out of time: the last attempt's error says more than the
			// deadline does.
			return
		}
	}
}

// backOff waits before attempt n+1 and returns the time it woke at.
//
//go:noinline
func (h *Hands) backOff(ctx context.Context, a *Action, p *Retry, n int, err error) (time.Time, error) {
	key := a.Target.ID
	if key == "" {
		key = a.Stage // a verification retries per stage
	}
	d := p.Wait(h.Rollout, key, n+1)
	if h.OnRetry != nil {
		h.OnRetry(*a, n, err, d)
	}
	return h.wait(ctx, d)
}

// Try makes one attempt at a, which the state asked for at now, and
// returns its checked observation, as Do does for its last attempt. The
// error is not nil when the attempt failed in a way another attempt may
// fix (a transient error of a target action, a verification that could not
// run): the caller decides whether to try again, as Do does with the
// policy's retries and a Temporal activity does by failing, so that
// Temporal retries it. A's Deadline, if set, bounds the attempt. A panic in
// the team's code fails the action closed, with a permanent error that
// names the panic.
func (h *Hands) Try(ctx context.Context, a Action, now time.Time) (o Observation, retry error) {
	ctx, cancel := withDeadline(ctx, a.Deadline, now)
	defer cancel()
	retry = h.try(ctx, &a, now, &o)
	return o, retry
}

// try is Try within the action's deadline, writing its answer to o.
func (h *Hands) try(ctx context.Context, a *Action, now time.Time, o *Observation) error {
	err := h.guarded(ctx, a, now, o)
	if bad := checkInPlace(a, o); bad != nil || err == nil || IsPermanent(err) {
		return nil
	}
	return err
}

// checkInPlace replaces o by its checked form ([CheckObservation]) and
// returns the problem, if any. Not inlined: its frame is large, and the
// frames of a call's path add up on the goroutine's stack.
//
//go:noinline
func checkInPlace(a *Action, o *Observation) error {
	c, err := CheckObservation(*a, *o)
	if err != nil {
		*o = c
	}
	return err
}

// attempt makes one attempt, writing its answer to o; its error is the
// attempt's failure, which the answer already carries.
func (h *Hands) attempt(ctx context.Context, a *Action, now time.Time, o *Observation) error {
	if a.Kind.Target() {
		return h.targetAttempt(ctx, a, o)
	}
	return h.gateAttempt(ctx, a, now, o)
}

func (h *Hands) targetAttempt(ctx context.Context, a *Action, o *Observation) error {
	if h.Deployer == nil {
		return noDeployer(a, o)
	}
	switch a.Kind {
	case ActionReadVersion:
		return h.readAttempt(ctx, a, o)
	case ActionDeploy:
		return h.deployAttempt(ctx, a, o)
	}
	return h.rollbackAttempt(ctx, a, o)
}

// The attempts of the three target actions are functions of their own,
// not inlined, so that the goroutine that runs one carries one frame's
// temporaries, not all three's.

//go:noinline
func noDeployer(a *Action, o *Observation) error {
	err := Permanent(errors.New("no deployer is configured"))
	*o = failed(*a, err)
	return err
}

//go:noinline
func (h *Hands) readAttempt(ctx context.Context, a *Action, o *Observation) error {
	v, err := h.Deployer.Version(ctx, a.Target)
	*o = ObserveVersion(*a, v, err)
	return err
}

//go:noinline
func (h *Hands) deployAttempt(ctx context.Context, a *Action, o *Observation) error {
	err := h.deploy(ctx, a)
	*o = ObserveDeploy(*a, a.Version, 1, err)
	return err
}

//go:noinline
func (h *Hands) rollbackAttempt(ctx context.Context, a *Action, o *Observation) error {
	err := h.rollback(ctx, a)
	*o = ObserveRollback(*a, a.Version, 1, err)
	return err
}

func (h *Hands) gateAttempt(ctx context.Context, a *Action, now time.Time, o *Observation) error {
	switch a.Kind {
	case ActionCheckBlockers:
		if h.Blockers == nil {
			*o = ObserveBlockers(*a, nil, time.Time{}, nil)
			return nil
		}
		b, until, err := h.Blockers.Check(ctx, subjectOf(*a), now)
		*o = ObserveBlockers(*a, b, until, err)
		return nil
	case ActionCheckAlarms:
		if h.Alarms == nil {
			*o = ObserveAlarms(*a, nil, nil)
			return nil
		}
		res, err := h.Alarms.Alarms(ctx, subjectOf(*a), now)
		*o = ObserveAlarms(*a, res, err)
		return nil
	case ActionReadEvidence:
		if h.Evidence == nil {
			*o = ObserveEvidence(*a, nil, errors.New("no evidence source is configured"))
			return nil
		}
		ev, err := h.Evidence.Evidence(ctx, subjectOf(*a), a.Requirements, a.Since, now)
		*o = ObserveEvidence(*a, ev, err)
		return nil
	case ActionJudgeCanary:
		if h.Judge == nil {
			*o = ObserveVerdict(*a, Verdict{}, errors.New("no canary judge is configured"))
			return nil
		}
		v, err := h.Judge.Judge(ctx, subjectOf(*a), a.Since, now)
		*o = ObserveVerdict(*a, v, err)
		return nil
	case ActionVerify:
		var err error
		*o, err = h.verify(ctx, a, now)
		return err
	case ActionRoute:
		return h.route(ctx, a, o)
	}
	err := Permanent(fmt.Errorf("unknown action kind %q", a.Kind))
	*o = failed(*a, err)
	return err
}

func (h *Hands) deploy(ctx context.Context, a *Action) error {
	if err := h.Deployer.Deploy(ctx, a.Target, a.Version); err != nil {
		return err
	}
	if hc, ok := h.Deployer.(HealthChecker); ok {
		if err := hc.Healthy(ctx, a.Target); err != nil {
			return fmt.Errorf("not healthy after the deploy: %w", err)
		}
	}
	return h.confirm(ctx, a)
}

func (h *Hands) rollback(ctx context.Context, a *Action) error {
	// Read first: a rollback that already happened (before a crash, or on
	// a worker lost before it reported) is not repeated. An unreadable
	// version is no reason not to roll back.
	if v, err := h.Deployer.Version(ctx, a.Target); err == nil && v == a.Version {
		return nil
	}
	var err error
	if fr, ok := h.Deployer.(FastRollbacker); ok {
		err = fr.Rollback(ctx, a.Target, a.Version)
	} else {
		err = h.Deployer.Deploy(ctx, a.Target, a.Version)
	}
	if err != nil {
		return err
	}
	return h.confirm(ctx, a)
}

// confirm reads the version back after a deploy or rollback: a call that
// returned nil is not proof that the target runs the version.
func (h *Hands) confirm(ctx context.Context, a *Action) error {
	v, err := h.Deployer.Version(ctx, a.Target)
	if err != nil {
		return fmt.Errorf("reading the version back: %w", err)
	}
	if v != a.Version {
		return fmt.Errorf("target reports version %q after the %s of %q", v, a.Kind, a.Version)
	}
	return nil
}

// verify runs the verifier once, bounded by the policy's timeout. An
// error, or a result that says the check could not run, is an observation
// with outcome [VerifyError] and an error, and worth another attempt.
func (h *Hands) verify(ctx context.Context, a *Action, now time.Time) (Observation, error) {
	if h.Verifier == nil {
		err := Permanent(errors.New("no verifier is configured"))
		return ObserveVerify(*a, VerifyResult{Outcome: VerifyError, Reason: err.Error()}, err), err
	}
	if t := h.Policy.Verify.Timeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.Std())
		defer cancel()
	}
	r, err := h.Verifier.Verify(ctx, subjectOf(*a), now)
	switch {
	case err != nil:
		r = VerifyResult{Outcome: VerifyError, Reason: err.Error()}
	case r.Outcome == VerifyError:
		err = errors.New("the check could not run")
		if r.Reason != "" {
			err = fmt.Errorf("the check could not run: %s", r.Reason)
		}
	}
	return ObserveVerify(*a, r, err), err
}

func (h *Hands) wait(ctx context.Context, d time.Duration) (time.Time, error) {
	if h.Wait != nil {
		return h.Wait(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return time.Now(), context.Cause(ctx)
	case <-t.C:
		return time.Now(), nil
	}
}

// withDeadline bounds ctx by deadline, counted from now: a timeout rather
// than a wall-clock deadline, so that an executor whose now is not the
// clock's (a simulation, a workflow's time) gets the time it was given.
func withDeadline(ctx context.Context, deadline, now time.Time) (context.Context, context.CancelFunc) {
	if deadline.IsZero() {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, deadline.Sub(now))
}

func subjectOf(a Action) Subject {
	if a.Subject == nil {
		return Subject{Stage: a.Stage}
	}
	return *a.Subject
}

// Retries returns the retry policy of actions of kind k, with its
// defaults: a version read and a deploy retry per Deploy.Retry (5 attempts
// by default), a rollback per Rollback.Retry (10). Gates, verifications
// included, are asked once per action (one attempt): the state asks again
// at its own pace (a verification per [VerifyPolicy.Retry], counted and
// saved in the state) and decides what a run of failures means.
func (p Policy) Retries(k ActionKind) Retry { return retries(&p, k) }

// retries is Retries without copying the policy.
func retries(p *Policy, k ActionKind) Retry {
	switch k {
	case ActionReadVersion, ActionDeploy:
		return p.Deploy.Retry.WithDefaults(DefaultDeployAttempts)
	case ActionRollback, ActionRoute:
		return p.Rollback.Retry.WithDefaults(DefaultRollbackAttempts)
	}
	return Retry{MaxAttempts: 1}.WithDefaults(1)
}

// answers maps an action kind to the kind of its observation.
var answers = map[ActionKind]ObservationKind{
	ActionReadVersion:   ObsVersion,
	ActionDeploy:        ObsDeploy,
	ActionRollback:      ObsRollback,
	ActionCheckBlockers: ObsBlockers,
	ActionCheckAlarms:   ObsAlarms,
	ActionReadEvidence:  ObsEvidence,
	ActionJudgeCanary:   ObsVerdict,
	ActionVerify:        ObsVerify,
	ActionRoute:         ObsRoute,
}

// CheckObservation checks o as the answer to a, at the boundary between
// the outside world and the state, and returns the observation to step
// on. A trustworthy observation is returned as it is, with a nil error.
// Otherwise the error (wrapping [ErrObservation]) names every problem in
// plain words, and the observation returned is an error answer to a
// carrying them, which fails closed like any gate or call that errs: an
// evidence count that is NaN, infinite or negative, or one count too many
// or too few; a verdict score that is NaN or infinite, or an outcome that
// is not a [VerdictOutcome] the state knows; a verification outcome that
// is not pass, fail or error; an alarm state that is not OK, ALARM or
// INSUFFICIENT_DATA; a time JSON cannot encode; an answer of the wrong
// kind, round or target. The error answer carries none of the bad data, so
// that no observation can make the state (or a workflow's history)
// unencodable.
//
// [Hands] checks every observation it makes; an executor that makes its
// own should pass them through CheckObservation too.
func CheckObservation(a Action, o Observation) (Observation, error) {
	var ps []string
	bad := func(format string, args ...any) { ps = append(ps, fmt.Sprintf(format, args...)) }
	if want, ok := answers[a.Kind]; !ok {
		bad("unknown action kind %q", a.Kind)
	} else if o.Kind != want {
		bad("a %s action answered with a %q observation", a.Kind, o.Kind)
	}
	if o.Round != a.Round {
		bad("the answer is for round %d, the action of round %d", o.Round, a.Round)
	}
	if a.Kind.Target() && o.Target != a.Target.ID {
		bad("the answer is for target %q, the action for %q", o.Target, a.Target.ID)
	}
	checkTime(bad, "until", o.Until)
	switch o.Kind {
	case ObsVersion:
		if o.Err == "" && o.Version == "" {
			bad("the target reports no version")
		}
	case ObsBlockers:
		for _, b := range o.Blocked {
			checkTime(bad, fmt.Sprintf("blocker %q until", b.Blocker), b.Until)
		}
	case ObsAlarms:
		for _, r := range o.Alarms {
			if _, err := r.State.MarshalText(); err != nil {
				bad("alarm %q is in state %d, not OK, ALARM or INSUFFICIENT_DATA", r.Name, int(r.State))
			}
			checkTime(bad, fmt.Sprintf("alarm %q time", r.Name), r.Time)
		}
	case ObsEvidence:
		if o.Err == "" && len(o.Evidence) != len(a.Requirements) {
			bad("%d evidence counts for %d requirements", len(o.Evidence), len(a.Requirements))
		}
		for i, v := range o.Evidence {
			name := fmt.Sprintf("count %d", i+1)
			if i < len(a.Requirements) {
				r := a.Requirements[i]
				name = fmt.Sprintf("%q", cmp.Or(r.Name, r.Query))
			}
			switch {
			case math.IsNaN(v):
				bad("evidence %s is NaN, not a count", name)
			case math.IsInf(v, 0):
				bad("evidence %s is %v, not a count", name, v)
			case v < 0:
				bad("evidence %s is %v: a count is never negative", name, v)
			}
		}
	case ObsVerdict:
		v := o.Verdict
		if v == nil {
			if o.Err == "" {
				bad("no verdict and no error")
			}
			break
		}
		if math.IsNaN(v.Score) || math.IsInf(v.Score, 0) {
			bad("the verdict's score is %v, not a number", v.Score)
		}
		switch v.Outcome {
		case VerdictPass, VerdictMarginal, VerdictFail, VerdictInconclusive:
		default:
			if o.Err == "" {
				bad("unknown verdict outcome %q (want pass, marginal, fail or inconclusive)", v.Outcome)
			}
		}
		checkTime(bad, "the verdict's time", v.Time)
	case ObsRoute:
		checkRoute(bad, o)
	case ObsVerify:
		r := o.Verify
		if r == nil {
			if o.Err == "" {
				bad("no verification result and no error")
			}
			break
		}
		switch r.Outcome {
		case VerifyPass, VerifyFail, VerifyError:
		default:
			if o.Err == "" {
				bad("unknown verification outcome %q (want pass, fail or error)", r.Outcome)
			}
		}
	}
	if len(ps) == 0 {
		return o, nil
	}
	err := fmt.Errorf("%w: %s", ErrObservation, strings.Join(ps, "; "))
	why := strings.Join(ps, "; ")
	if o.Err != "" {
		why = o.Err + "; and " + why
	}
	f := failed(a, errors.New(why))
	f.Attempts = o.Attempts
	return f, err
}

// checkTime reports a time that JSON cannot encode (a year outside 0 to
// 9999), which would make the state unsavable.
func checkTime(bad func(string, ...any), what string, t time.Time) {
	if y := t.Year(); y < 0 || y > 9999 {
		bad("%s is in the year %d", what, y)
	}
}

// failed is the observation of an action that failed with err: the answer
// of a's kind that carries nothing but the error.
func failed(a Action, err error) Observation {
	o := Observation{Kind: answers[a.Kind], Round: a.Round, Err: err.Error()}
	// An action of a kind nobody knows has no answer: the empty kind makes
	// the step fail loudly, as an executor older than its state should.
	if a.Kind.Target() {
		o.Target = a.Target.ID
	}
	switch a.Kind {
	case ActionDeploy:
		o.Version = a.Version
		o.Permanent = IsPermanent(err)
	case ActionRollback:
		o.Version = a.Version
	case ActionVerify:
		o.Verify = &VerifyResult{Outcome: VerifyError, Reason: o.Err}
	case ActionRoute:
		if a.Route != nil {
			o.Scope = a.Route.Scope
		}
	}
	return o
}
