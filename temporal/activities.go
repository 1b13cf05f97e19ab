package temporal

import (
	"cmp"
	"context"
	"errors"
	"strconv"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/traffic"
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
	ActivityRoute        = "shepherd.Route"
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
	// Router sets and reads the scopes' shares of traffic for the
	// exposure steps ([rollout.StepExposure]), as [rollout.Config.Router]
	// does for a Runner. Nil fails every route action (closed).
	Router traffic.Router
	// Authorize decides whether a control request may be applied, as
	// [rollout.Config.Authorize] does for a Runner. A refused request is
	// recorded with its actor and the refusal, and has no other effect.
	Authorize func(ctx context.Context, c rollout.Control) error
	// OnEvent receives the events of every step of a rollout whose
	// [Settings.Notify] is set, in order, once per step. An error is
	// retried; events are delivered at least once.
	OnEvent func(ctx context.Context, events []rollout.Event) error
	// Heartbeat is how often a long deploy or rollback call reports that
	// its worker is alive. Zero, or a value that is not under a half of
	// the activity's heartbeat timeout ([Settings.HeartbeatTimeout]),
	// means a third of that timeout: the two settings live in different
	// processes, and a worker that heartbeats too seldom would have every
	// deploy deemed lost.
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
		Router:   a.Router,
	}
}

// ReadVersion is the activity for [rollout.ActionReadVersion].
func (a *Activities) ReadVersion(ctx context.Context, r TargetRequest) (rollout.Observation, error) {
	return a.target(ctx, r, false)
}

// Deploy is the activity for [rollout.ActionDeploy]: one attempt deploys,
// waits for health if the Deployer is a [rollout.HealthChecker], and reads
// the version back, heartbeating meanwhile. A retry (attempt 2 on) reads
// the version first, and does not deploy again when the target already
// runs it (its worker was lost after the deploy and before it reported):
// it only waits for health. The Deployer also finds the action's
// [IdempotencyKey] in its context. A transient failure before the
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
	ctx = context.WithValue(ctx, keyCtx{}, idempotencyKey(ctx, r.Action))
	var o rollout.Observation
	var err error
	try := func(ctx context.Context) error {
		if r.Action.Kind == rollout.ActionDeploy && attempt(ctx) > 1 {
			if done, ok := a.deployed(ctx, r.Action, now); ok {
				o, err = done, nil
				return nil
			}
		}
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

// deployed reports whether the deploy of action d already happened: the
// target runs its version and, if the Deployer checks health, is healthy.
// Then the observation is the deploy's success, checked as the hands
// check theirs.
func (a *Activities) deployed(ctx context.Context, d rollout.Action, now time.Time) (rollout.Observation, bool) {
	read := d
	read.Kind = rollout.ActionReadVersion
	o, err := a.hands().Try(ctx, read, now)
	if err != nil || o.Err != "" || o.Version != d.Version {
		return rollout.Observation{}, false
	}
	if hc, ok := a.Deployer.(rollout.HealthChecker); ok {
		if hc.Healthy(ctx, d.Target) != nil {
			return rollout.Observation{}, false
		}
	}
	obs, bad := rollout.CheckObservation(d, rollout.ObserveDeploy(d, d.Version, 1, nil))
	return obs, bad == nil
}

type keyCtx struct{}

// idempotencyKey names one target action of one rollout: the same for
// every attempt of it, on any worker.
func idempotencyKey(ctx context.Context, a rollout.Action) string {
	wf := ""
	if activity.IsActivity(ctx) {
		wf = activity.GetInfo(ctx).WorkflowExecution.ID
	}
	return wf + "/" + string(a.Kind) + "/" + strconv.FormatUint(a.Round, 10) + "/" + a.Target.ID
}

// IdempotencyKey returns the key of the target action whose Deployer call
// ctx belongs to: the workflow ID, the action's kind, its round and the
// target. It is the same for every attempt of the action (Temporal's
// retries, a worker lost mid-call), so that a deploy system that takes
// such keys can refuse a second deploy itself. ok is false outside a
// target activity.
func IdempotencyKey(ctx context.Context) (key string, ok bool) {
	key, ok = ctx.Value(keyCtx{}).(string)
	return key, ok
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

// Route is the activity for [rollout.ActionRoute]: one attempt at a route
// change (set and read back, read, match, mirror or retire). A change that
// failed before the last attempt fails the activity, which Temporal
// retries with the policy mapped from the rollback's retries (a route back
// to 0% is the fastest way back); the last attempt's error is the
// observation.
func (a *Activities) Route(ctx context.Context, r GateRequest) (rollout.Observation, error) {
	return a.gate(ctx, r)
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

// heartbeatEvery is how often to heartbeat given the worker's setting and
// the activity's heartbeat timeout: the setting when it is set and under
// half the timeout, a third of the timeout otherwise (10 seconds when the
// activity has no timeout).
func heartbeatEvery(set, timeout time.Duration) time.Duration {
	if timeout <= 0 {
		return cmp.Or(max(set, 0), 10*time.Second)
	}
	if set > 0 && set < timeout/2 {
		return set
	}
	return max(timeout/3, time.Millisecond)
}

// heartbeating runs op while recording a heartbeat every a.Heartbeat, so
// that the server notices a lost worker within the heartbeat timeout and
// retries the call elsewhere. op gets a context that is cancelled when the
// server cancels the activity (the rollout ended, or the workflow gave up
// on the call).
func (a *Activities) heartbeating(ctx context.Context, op func(context.Context) error) error {
	every := heartbeatEvery(a.Heartbeat, activity.GetInfo(ctx).HeartbeatTimeout)
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
