package temporal

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	sdktemporal "go.temporal.io/sdk/temporal"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/wave"
)

// Client starts, steers and watches rollout workflows. It is safe for
// concurrent use.
type Client struct {
	c     client.Client
	queue string
}

// NewClient returns a Client that starts rollouts on taskQueue through c.
func NewClient(c client.Client, taskQueue string) *Client {
	return &Client{c: c, queue: taskQueue}
}

// Start validates a rollout of version over plan (every problem, as
// [rollout.NewState] reports them, before anything is started) and starts
// its workflow, with ID [WorkflowID](id). The input travels compressed
// ([PackInput]); a plan too large for one payload even so is refused with
// [ErrTooLarge]. A rollout ID is used once: Start
// fails with [rollout.ErrExists] while the rollout runs and after it has
// ended, so that two workflows never run the same rollout.
func (c *Client) Start(ctx context.Context, id string, plan wave.Plan, version string, policy rollout.Policy, s Settings) error {
	if _, err := rollout.NewState(id, plan, version, policy, time.Now()); err != nil {
		return err
	}
	if err := s.Validate(); err != nil {
		return err
	}
	in, err := PackInput(Input{ID: id, Plan: plan, Version: version, Policy: policy, Settings: s}, s.MaxPayload)
	if err != nil {
		return err
	}
	_, err = c.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        WorkflowID(id),
		TaskQueue: c.queue,
		// Never a second run of one rollout: not while it runs (conflict
		// policy), not after it ended (reuse policy).
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, WorkflowName, in)
	if sdktemporal.IsWorkflowExecutionAlreadyStartedError(err) {
		return fmt.Errorf("%w: rollout %q", rollout.ErrExists, id)
	}
	if err != nil {
		return fmt.Errorf("temporal: start rollout %q: %w", id, err)
	}
	return nil
}

// Request validates a control request and sends it to the rollout as the
// [UpdateControl] update, which answers once the workflow has checked it:
// Request returns nil when the request was authorised (by the worker's
// [Activities.Authorize]) and queued for the next step, and fails as
// [rollout.Runner.Request] does: [rollout.ErrInvalid] for a malformed
// request or an unknown stage, [rollout.ErrNotAuthorised] when the
// authoriser refuses (the refusal is also in the audit), [rollout.ErrDone]
// once the rollout has ended, and [rollout.ErrNotFound] for an unknown
// rollout. It waits for a worker to take the request: bound it with ctx.
//
// The actor is the sender's word: the namespace's access control (who may
// send updates to the workflow) is the security boundary. To check real
// credentials, send them in a header with a context propagator
// (client.Options.ContextPropagators, the same on the worker) and verify
// them in Activities.Authorize, which gets the activity's context.
func (c *Client) Request(ctx context.Context, id string, ctl rollout.Control) error {
	if err := ctl.Validate(); err != nil {
		return err
	}
	h, err := c.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   WorkflowID(id),
		UpdateName:   UpdateControl,
		Args:         []any{ctl},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	var ae *sdktemporal.ApplicationError
	if errors.As(err, &ae) {
		switch ae.Type() {
		case ErrTypeInvalid:
			return fmt.Errorf("%w: %s", rollout.ErrInvalid, ae.Message())
		case ErrTypeNotAuthorised:
			return fmt.Errorf("%w: %s", rollout.ErrNotAuthorised, ae.Message())
		case ErrTypeDone:
			return fmt.Errorf("%w: %s", rollout.ErrDone, ae.Message())
		}
	}
	return c.mapErr(ctx, id, err)
}

// Signal sends a control request as the [SignalControl] signal, as
// earlier releases did: it returns before the workflow has checked the
// request, so a refusal is only in the audit. Prefer [Client.Request].
func (c *Client) Signal(ctx context.Context, id string, ctl rollout.Control) error {
	if err := ctl.Validate(); err != nil {
		return err
	}
	err := c.c.SignalWorkflow(ctx, WorkflowID(id), "", SignalControl, ctl)
	return c.mapErr(ctx, id, err)
}

// Pause holds the rollout after the actions in flight.
func (c *Client) Pause(ctx context.Context, id, actor, reason string) error {
	return c.Request(ctx, id, rollout.Control{Kind: rollout.ControlPause, Actor: actor, Reason: reason})
}

// Resume lifts a pause.
func (c *Client) Resume(ctx context.Context, id, actor string) error {
	return c.Request(ctx, id, rollout.Control{Kind: rollout.ControlResume, Actor: actor})
}

// Abort stops the rollout and rolls back every target it changed.
func (c *Client) Abort(ctx context.Context, id, actor, reason string) error {
	return c.Request(ctx, id, rollout.Control{Kind: rollout.ControlAbort, Actor: actor, Reason: reason})
}

// Approve approves the manual gate of a stage.
func (c *Client) Approve(ctx context.Context, id, stage, actor string) error {
	return c.Request(ctx, id, rollout.Control{Kind: rollout.ControlApprove, Stage: stage, Actor: actor})
}

// SkipBake ends a stage's bake early: an audited override.
func (c *Client) SkipBake(ctx context.Context, id, stage, actor, reason string) error {
	return c.Request(ctx, id, rollout.Control{Kind: rollout.ControlSkipBake, Stage: stage, Actor: actor, Reason: reason})
}

// Status returns the rollout's progress and audit.
func (c *Client) Status(ctx context.Context, id string) (Status, error) {
	var s Status
	err := c.query(ctx, id, QueryStatus, &s)
	return s, err
}

// Progress returns the rollout's progress.
func (c *Client) Progress(ctx context.Context, id string) (rollout.Progress, error) {
	s, err := c.Status(ctx, id)
	return s.Progress, err
}

// Events returns the events after sequence number after that the workflow
// still keeps ([Settings.KeepEvents]).
func (c *Client) Events(ctx context.Context, id string, after uint64) ([]Record, error) {
	var recs []Record
	err := c.query(ctx, id, QueryEvents, &recs, after)
	return recs, err
}

// State returns the rollout's whole state.
func (c *Client) State(ctx context.Context, id string) (*rollout.State, error) {
	var data []byte
	if err := c.query(ctx, id, QueryState, &data); err != nil {
		return nil, err
	}
	return DecodeState(data)
}

// Wait waits for the rollout to end and returns what [rollout.Runner.Run]
// would: nil when it succeeded, a [*rollout.HaltError] when it rolled back
// or could not roll every target back, or the error that stopped the
// workflow. The [Result] holds the final status; that of a cancelled
// workflow (which rolled back first) has Cancelled set.
func (c *Client) Wait(ctx context.Context, id string) (Result, error) {
	var res Result
	err := c.c.GetWorkflow(ctx, WorkflowID(id), "").Get(ctx, &res)
	return c.result(ctx, id, res, err)
}

// result turns a workflow's outcome into the rollout's.
func (c *Client) result(ctx context.Context, id string, res Result, err error) (Result, error) {
	var ce *sdktemporal.CanceledError
	if errors.As(err, &ce) && ce.HasDetails() {
		if derr := ce.Details(&res); derr == nil && res.Phase != "" {
			return res, res.Err()
		}
	}
	if err != nil {
		return res, c.mapErr(ctx, id, err)
	}
	return res, res.Err()
}

// Watch calls fn with every event of the rollout, in order, polling every
// interval (zero means 1 second), until the rollout ends; then it returns
// what [Client.Wait] returns. Events that the workflow no longer keeps when
// a poll comes (more than [Settings.KeepEvents] since the last poll) are
// skipped. fn runs on the caller's goroutine.
func (c *Client) Watch(ctx context.Context, id string, every time.Duration, fn func(rollout.Event)) (Result, error) {
	if every <= 0 {
		every = time.Second
	}
	run := c.c.GetWorkflow(ctx, WorkflowID(id), "")
	done := make(chan struct{})
	var res Result
	var werr error
	go func() {
		defer close(done)
		werr = run.Get(ctx, &res)
	}()
	var last uint64
	poll := func() {
		recs, err := c.Events(ctx, id, last)
		if err != nil {
			return
		}
		for _, r := range recs {
			fn(r.Event)
			last = r.Seq
		}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-done:
			// The final events come with the result: the workflow is
			// closed, but its events query still answers from history.
			poll()
			return c.result(ctx, id, res, werr)
		case <-t.C:
			poll()
		}
	}
}

func (c *Client) query(ctx context.Context, id, name string, into any, args ...any) error {
	v, err := c.c.QueryWorkflow(ctx, WorkflowID(id), "", name, args...)
	if err != nil {
		return c.mapErr(ctx, id, err)
	}
	return v.Get(into)
}

// mapErr turns Temporal's answers about a missing or closed workflow into
// the rollout package's errors.
func (c *Client) mapErr(ctx context.Context, id string, err error) error {
	if err == nil {
		return nil
	}
	var nf *serviceerror.NotFound
	if !errors.As(err, &nf) {
		return fmt.Errorf("temporal: rollout %q: %w", id, err)
	}
	if _, derr := c.c.DescribeWorkflowExecution(ctx, WorkflowID(id), ""); derr == nil {
		return fmt.Errorf("%w: rollout %q", rollout.ErrDone, id)
	}
	return fmt.Errorf("%w: rollout %q", rollout.ErrNotFound, id)
}
