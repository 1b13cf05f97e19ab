package temporal

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/shepherd-go/shepherd/rollout"
)

// Activity names. The workflow calls its activities by these names, so a
// worker that registers [Activities] with [Register] serves every rollout
// workflow on its task queue.
const (
	ActivityReadVersion  = "shepherd.ReadVersion"
	ActivityDeploy       = "shepherd.Deploy"
	ActivityRollback     = "shepherd.Rollback"
	ActivityCheckBlocker = "shepherd.CheckBlockers"
	ActivityCheckAlarms  = "shepherd.CheckAlarms"
	ActivityReadEvidence = "shepherd.ReadEvidence"
	ActivityJudgeCanary  = "shepherd.JudgeCanary"
	ActivityVerify       = "shepherd.Verify"
	ActivityAuthorize    = "shepherd.Authorize"
	ActivityNotify       = "shepherd.Notify"
)

// Activities are the user's implementations the rollout workflow calls: the
// same [rollout.Deployer] and gates a [rollout.Runner] takes, run by a
// Temporal worker. Every field but Deployer is optional, with the Runner's
// meaning when nil: nothing blocks, no alarm is watched, evidence reads,
// canary judgements and verifications fail (so a policy that needs them
// fails closed), every well-formed request is authorised, events are not
// delivered.
//
// The methods are the activities; register them with [Register]. Each
// performs one attempt of its action through the same [rollout.Hands] the
// Runner and the simulator use (read-back, health check, the checks of
// [rollout.CheckObservation]), and leaves the retries to Temporal. They are
// safe for concurrent use when the implementations are.
type Activities struct {
	// Deployer deploys versions to targets and reads them back.
	Deployer rollout.Deployer
	// Blockers, Alarms, Evidence, Judge and Verifier are the gates, as in
	// [rollout.Config].
	Blockers rollout.Blockers
	Alarms   rollout.Alarms
	Evidence rollout.Evidence
	Judge    rollout.Judge
	Verifier rollout.Verifier
	// Authorize decides whether a control request may be applied, as
	// [rollout.Config.Authorize] does for a Runner. A refused request is
	// recorded with its actor and the refusal, and has no other effect.
	Authorize func(ctx context.Context, c rollout.Control) error
	// OnEvent receives the events of every step of a rollout whose
	// [Settings.Notify] is set, in order, once per step. An error is
	// retried; events are delivered at least once.
	OnEvent func(ctx context.Context, events []rollout.Event) error
	// Heartbeat is how often a long deploy or rollback call reports that
	// its worker is alive. Zero means 10 seconds. The workflow's
	// [Settings.HeartbeatTimeout] must be longer.
	Heartbeat time.Duration
}

// TargetRequest is the input of the target activities: the action and the
// retry budget, so that the last attempt reports its failure as an
// observation instead of failing the activity.
type TargetRequest struct {
	Action      rollout.Action `json:"action"`
	MaxAttempts int            `json:"maxAttempts"`
	// Now is the workflow's time when it scheduled the action: the
	// action's Deadline bounds each attempt by Deadline minus Now (the
	// activity's schedule-to-close timeout bounds them all). Zero, from a
	// workflow of an earlier release, means the worker's clock.
	Now time.Time `json:"now,omitzero"`
}

// GateRequest is the input of the gate activities: the action and the
// workflow's time, which the gates are evaluated at (the same time the step
// function saw).
type GateRequest struct {
	Action rollout.Action `json:"action"`
	Now    time.Time      `json:"now"`
	// MaxAttempts is the retry budget of a gate that retries (a
	// verification): its last attempt reports its failure as an
	// observation instead of failing the activity. Zero means one attempt.
	MaxAttempts int `json:"maxAttempts,omitzero"`
}

// AuthorizeRequest is the input of the authorise activity.
type AuthorizeRequest struct {
	Rollout string          `json:"rollout"`
	Control rollout.Control `json:"control"`
}

// AuthorizeResult is the authoriser's answer: Refused is empty when the
// request may be applied, otherwise the refusal in words.
type AuthorizeResult struct {
	Refused string `json:"refused,omitempty"`
}

// errNoDeployer is returned by target activities on a worker without a
// Deployer.
var errNoDeployer = errors.New("temporal: the worker's Activities has no Deployer")

// hands are the shared hands over the worker's implementations. Retries
// are Temporal's, so they need no policy.
func (a *Activities) hands() *rollout.Hands {
	return &rollout.Hands{
		Deployer: a.Deployer,
		Blockers: a.Blockers,
		Alarms:   a.Alarms,
		Evidence: a.Evidence,
		Judge:    a.Judge,
		Verifier: a.Verifier,
	}
}

// ReadVersion is the activity for [rollout.ActionReadVersion].
func (a *Activities) ReadVersion(ctx context.Context, r TargetRequest) (rollout.Observation, error) {
	return a.target(ctx, r, false)
}

// Deploy is the activity for [rollout.ActionDeploy]: one attempt deploys,
// waits for health if the Deployer is a [rollout.HealthChecker], and reads
// the version back, heartbeating meanwhile. A transient failure before the
// last attempt fails the activity, which Temporal retries with the policy
// mapped from [rollout.DeployPolicy.Retry]; a permanent failure or the last
// attempt's failure is returned as the observation.
func (a *Activities) Deploy(ctx context.Context, r TargetRequest) (rollout.Observation, error) {
	return a.target(ctx, r, true)
}

// Rollback is the activity for [rollout.ActionRollback]: it reads the
// version first and does nothing when the target already runs it, then
// uses the Deployer's [rollout.FastRollbacker] if it has one, or Deploy.
func (a *Activities) Rollback(ctx context.Context, r TargetRequest) (rollout.Observation, error) {
	return a.target(ctx, r, true)
}

// target makes one attempt at a target action.
func (a *Activities) target(ctx context.Context, r TargetRequest, heartbeat bool) (rollout.Observation, error) {
	if a.Deployer == nil {
		return rollout.Observation{}, errNoDeployer
	}
	now := r.Now
	if now.IsZero() {
		now = time.Now()
	}
	var o rollout.Observation
	var err error
	try := func(ctx context.Context) error {
		o, err = a.hands().Try(ctx, r.Action, now)
		return err
	}
	if heartbeat {
		a.heartbeating(ctx, try)
	} else {
		try(ctx)
	}
	if err != nil && !final(ctx, r.MaxAttempts, err) {
		return rollout.Observation{}, err
	}
	if k := r.Action.Kind; k == rollout.ActionDeploy || k == rollout.ActionRollback {
		o.Attempts = attempt(ctx)
	}
	return o, nil
}

// CheckBlockers is the activity for [rollout.ActionCheckBlockers].
func (a *Activities) CheckBlockers(ctx context.Context, r GateRequest) (rollout.Observation, error) {
	return a.gate(ctx, r)
}

// CheckAlarms is the activity for [rollout.ActionCheckAlarms].
func (a *Activities) CheckAlarms(ctx context.Context, r GateRequest) (rollout.Observation, error) {
	return a.gate(ctx, r)
}

// ReadEvidence is the activity for [rollout.ActionReadEvidence].
func (a *Activities) ReadEvidence(ctx context.Context, r GateRequest) (rollout.Observation, error) {
	return a.gate(ctx, r)
}

// JudgeCanary is the activity for [rollout.ActionJudgeCanary].
func (a *Activities) JudgeCanary(ctx context.Context, r GateRequest) (rollout.Observation, error) {
	return a.gate(ctx, r)
}

// Verify is the activity for [rollout.ActionVerify]: one run of the
// [rollout.Verifier]. A run that could not happen (an error, or
// [rollout.VerifyError]) before the last attempt fails the activity, which
// Temporal retries with the policy mapped from [rollout.VerifyPolicy.Retry];
// a pass, a fail, or the last attempt's error is the observation.
func (a *Activities) Verify(ctx context.Context, r GateRequest) (rollout.Observation, error) {
	return a.gate(ctx, r)
}

// gate evaluates a gate at the workflow's time. Only a verification
// retries; the others report their errors as observations, which the step
// function fails closed on.
func (a *Activities) gate(ctx context.Context, r GateRequest) (rollout.Observation, error) {
	o, err := a.hands().Try(ctx, r.Action, r.Now)
	if err != nil && !final(ctx, r.MaxAttempts, err) {
		return rollout.Observation{}, err
	}
	return o, nil
}

// AuthorizeControl is the authorise activity: it runs [Activities.Authorize]
// on a control request received by signal.
func (a *Activities) AuthorizeControl(ctx context.Context, r AuthorizeRequest) (AuthorizeResult, error) {
	if a.Authorize == nil {
		return AuthorizeResult{}, nil
	}
	if err := a.Authorize(ctx, r.Control); err != nil {
		return AuthorizeResult{Refused: err.Error()}, nil
	}
	return AuthorizeResult{}, nil
}

// Notify is the event delivery activity: it passes the events of one step
// to [Activities.OnEvent].
func (a *Activities) Notify(ctx context.Context, events []rollout.Event) error {
	if a.OnEvent == nil {
		return nil
	}
	return a.OnEvent(ctx, events)
}

// attempt is the number of this call, from 1.
func attempt(ctx context.Context) int { return int(activity.GetInfo(ctx).Attempt) }

// final reports whether err ends the action: it is permanent, or this is
// the last attempt the retry policy allows.
func final(ctx context.Context, maxAttempts int, err error) bool {
	return rollout.IsPermanent(err) || maxAttempts <= 0 || attempt(ctx) >= maxAttempts
}

// heartbeating runs op while recording a heartbeat every a.Heartbeat, so
// that the server notices a lost worker within the heartbeat timeout and
// retries the call elsewhere. op gets a context that is cancelled when the
// server cancels the activity (the rollout ended, or the workflow gave up
// on the call).
func (a *Activities) heartbeating(ctx context.Context, op func(context.Context) error) error {
	every := a.Heartbeat
	if every <= 0 {
		every = 10 * time.Second
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	err := op(ctx)
	close(done)
	<-stopped
	return err
}
