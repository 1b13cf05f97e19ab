package temporal

import (
	"context"
	"errors"
	"fmt"
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
	ActivityAuthorize    = "shepherd.Authorize"
	ActivityNotify       = "shepherd.Notify"
)

// Activities are the user's implementations the rollout workflow calls: the
// same [rollout.Deployer] and gates a [rollout.Runner] takes, run by a
// Temporal worker. Every field but Deployer is optional, with the Runner's
// meaning when nil: nothing blocks, no alarm is watched, evidence and canary
// reads fail (so a policy that needs them fails closed), every well-formed
// request is authorised, events are not delivered.
//
// The methods are the activities; register them with [Register]. They are
// safe for concurrent use when the implementations are.
type Activities struct {
	// Deployer deploys versions to targets and reads them back.
	Deployer rollout.Deployer
	// Blockers, Alarms, Evidence and Judge are the gates, as in
	// [rollout.Options].
	Blockers rollout.Blockers
	Alarms   rollout.Alarms
	Evidence rollout.Evidence
	Judge    rollout.Judge
	// Authorize decides whether a control request may be applied, as
	// [rollout.Options.Authorize] does for a Runner. A refused request is
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
}

// GateRequest is the input of the gate activities: the action and the
// workflow's time, which the gates are evaluated at (the same time the step
// function saw).
type GateRequest struct {
	Action rollout.Action `json:"action"`
	Now    time.Time      `json:"now"`
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

// ReadVersion is the activity for [rollout.ActionReadVersion].
func (a *Activities) ReadVersion(ctx context.Context, r TargetRequest) (rollout.Observation, error) {
	if a.Deployer == nil {
		return rollout.Observation{}, errNoDeployer
	}
	v, err := a.Deployer.Version(ctx, r.Action.Target)
	if err != nil && !final(ctx, r, err) {
		return rollout.Observation{}, err
	}
	return rollout.ObserveVersion(r.Action, v, err), nil
}

// Deploy is the activity for [rollout.ActionDeploy]: one attempt deploys,
// waits for health if the Deployer is a [rollout.HealthChecker], and reads
// the version back, heartbeating meanwhile. A transient failure before the
// last attempt fails the activity, which Temporal retries with the policy
// mapped from [rollout.DeployPolicy.Retry]; a permanent failure or the last
// attempt's failure is returned as the observation.
func (a *Activities) Deploy(ctx context.Context, r TargetRequest) (rollout.Observation, error) {
	if a.Deployer == nil {
		return rollout.Observation{}, errNoDeployer
	}
	act := r.Action
	err := a.heartbeating(ctx, func(ctx context.Context) error {
		if err := a.Deployer.Deploy(ctx, act.Target, act.Version); err != nil {
			return err
		}
		if hc, ok := a.Deployer.(rollout.HealthChecker); ok {
			if err := hc.Healthy(ctx, act.Target); err != nil {
				return fmt.Errorf("not healthy after the deploy: %w", err)
			}
		}
		return confirm(ctx, a.Deployer, act)
	})
	if err != nil && !final(ctx, r, err) {
		return rollout.Observation{}, err
	}
	return rollout.ObserveDeploy(act, act.Version, attempt(ctx), err), nil
}

// Rollback is the activity for [rollout.ActionRollback]: it reads the
// version first and does nothing when the target already runs it, then
// uses the Deployer's [rollout.FastRollbacker] if it has one, or Deploy.
func (a *Activities) Rollback(ctx context.Context, r TargetRequest) (rollout.Observation, error) {
	if a.Deployer == nil {
		return rollout.Observation{}, errNoDeployer
	}
	act := r.Action
	err := a.heartbeating(ctx, func(ctx context.Context) error {
		// Read first: a rollback that already happened (on a worker that
		// was lost before it reported) is not repeated.
		if v, err := a.Deployer.Version(ctx, act.Target); err == nil && v == act.Version {
			return nil
		}
		var err error
		if fr, ok := a.Deployer.(rollout.FastRollbacker); ok {
			err = fr.Rollback(ctx, act.Target, act.Version)
		} else {
			err = a.Deployer.Deploy(ctx, act.Target, act.Version)
		}
		if err != nil {
			return err
		}
		return confirm(ctx, a.Deployer, act)
	})
	if err != nil && !final(ctx, r, err) {
		return rollout.Observation{}, err
	}
	return rollout.ObserveRollback(act, act.Version, attempt(ctx), err), nil
}

// CheckBlockers is the activity for [rollout.ActionCheckBlockers].
func (a *Activities) CheckBlockers(ctx context.Context, r GateRequest) (rollout.Observation, error) {
	if a.Blockers == nil {
		return rollout.ObserveBlockers(r.Action, nil, time.Time{}, nil), nil
	}
	b, until, err := a.Blockers.Check(ctx, subject(r.Action), r.Now)
	return rollout.ObserveBlockers(r.Action, b, until, err), nil
}

// CheckAlarms is the activity for [rollout.ActionCheckAlarms].
func (a *Activities) CheckAlarms(ctx context.Context, r GateRequest) (rollout.Observation, error) {
	if a.Alarms == nil {
		return rollout.ObserveAlarms(r.Action, nil, nil), nil
	}
	res, err := a.Alarms.Alarms(ctx, subject(r.Action), r.Now)
	return rollout.ObserveAlarms(r.Action, res, err), nil
}

// ReadEvidence is the activity for [rollout.ActionReadEvidence].
func (a *Activities) ReadEvidence(ctx context.Context, r GateRequest) (rollout.Observation, error) {
	if a.Evidence == nil {
		return rollout.ObserveEvidence(r.Action, nil, errors.New("no evidence source is configured")), nil
	}
	ev, err := a.Evidence.Evidence(ctx, subject(r.Action), r.Action.Requirements, r.Action.Since, r.Now)
	return rollout.ObserveEvidence(r.Action, ev, err), nil
}

// JudgeCanary is the activity for [rollout.ActionJudgeCanary].
func (a *Activities) JudgeCanary(ctx context.Context, r GateRequest) (rollout.Observation, error) {
	if a.Judge == nil {
		return rollout.ObserveVerdict(r.Action, rollout.Verdict{}, errors.New("no canary judge is configured")), nil
	}
	v, err := a.Judge.Judge(ctx, subject(r.Action), r.Action.Since, r.Now)
	return rollout.ObserveVerdict(r.Action, v, err), nil
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

func subject(a rollout.Action) rollout.Subject {
	if a.Subject == nil {
		return rollout.Subject{Stage: a.Stage}
	}
	return *a.Subject
}

// attempt is the number of this call, from 1.
func attempt(ctx context.Context) int { return int(activity.GetInfo(ctx).Attempt) }

// final reports whether err ends the action: it is permanent, or this is
// the last attempt the retry policy allows.
func final(ctx context.Context, r TargetRequest, err error) bool {
	return rollout.IsPermanent(err) || r.MaxAttempts <= 0 || attempt(ctx) >= r.MaxAttempts
}

// confirm reads the version back after a deploy or rollback.
func confirm(ctx context.Context, d rollout.Deployer, a rollout.Action) error {
	v, err := d.Version(ctx, a.Target)
	if err != nil {
		return fmt.Errorf("reading the version back: %w", err)
	}
	if v != a.Version {
		return fmt.Errorf("target reports version %q after the %s of %q", v, a.Kind, a.Version)
	}
	return nil
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
