package temporal

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	sdktemporal "go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/traffic"
	"github.com/shepherd-go/shepherd/wave"
)

// Names the workflow is registered and reached by.
const (
	// WorkflowName is the workflow type of a rollout.
	WorkflowName = "shepherd.Rollout"
	// UpdateControl is the update that carries a [rollout.Control] (pause,
	// resume, abort, approve or skip a bake, with its actor and reason)
	// and answers once the request is authorised and queued, or refused:
	// [Client.Request] sends it.
	UpdateControl = "shepherd.request"
	// SignalControl carries a [rollout.Control] as a signal, which
	// returns before the request is checked: a refusal is only in the
	// audit. It is kept for senders of earlier releases; prefer
	// [UpdateControl].
	SignalControl = "shepherd.control"
	// QueryStatus returns a [Status].
	QueryStatus = "shepherd.status"
	// QueryEvents takes a sequence number and returns the [Record]s after
	// it that the workflow still keeps.
	QueryEvents = "shepherd.events"
	// QueryState returns the rollout's whole state in the saved form of
	// [rollout.EncodeState], gzip-compressed so that a large rollout's
	// state fits in a query answer; decode it with [DecodeState].
	QueryState = "shepherd.state"
)

// The error types of the refusals [UpdateControl] answers with (the
// Type of a [sdktemporal.ApplicationError]); [Client.Request] turns them
// into the rollout package's errors.
const (
	ErrTypeInvalid       = "shepherd.Invalid"       // [rollout.ErrInvalid]
	ErrTypeNotAuthorised = "shepherd.NotAuthorised" // [rollout.ErrNotAuthorised]
	ErrTypeDone          = "shepherd.Done"          // [rollout.ErrDone]
)

// CancelActor is the actor of the abort a cancelled workflow applies to
// its rollout (see [Workflow]).
const CancelActor = "temporal"

// LogicVersion is the version of the workflow's decision logic that this
// release starts rollouts with (see [Input.Logic]).
const LogicVersion = 1

// WorkflowIDPrefix starts every rollout's workflow ID.
const WorkflowIDPrefix = "shepherd-rollout-"

// WorkflowID returns the workflow ID of the rollout id. One rollout is one
// workflow ID, started with a policy that refuses a second start (see
// [Client.Start]), so that two workflows never run the same rollout.
func WorkflowID(id string) string { return WorkflowIDPrefix + id }

// Defaults used when a [Settings] field is zero.
const (
	DefaultDeployTimeout    = time.Hour
	DefaultHeartbeatTimeout = time.Minute
	DefaultGateTimeout      = 5 * time.Minute
	DefaultKeepEvents       = 1000
	DefaultMaxHistory       = 10000
	// DefaultMaxInFlight is a quarter of the server's default limit of
	// 2,000 pending activities per workflow
	// (limit.numPendingActivities.error): gates, the authoriser and the
	// notifier run beside the target actions, and a limit met fails every
	// workflow task until the activities drain.
	DefaultMaxInFlight = 500
	// DefaultKeepRefused is how many refused requests the workflow keeps
	// for the audit of [Status]; older ones are counted, not kept.
	DefaultKeepRefused = 100
	// MaxStatusList bounds each list of a [Status] (the audit, the failed
	// and the unrolled targets), so that the status query of any rollout
	// fits in a query answer; the totals are in the Status.
	MaxStatusList = 100
)

// Settings is how the workflow runs its activities and keeps its history.
// It is plain data, given at start and kept across continue-as-new; its
// zero value is the documented default everywhere.
type Settings struct {
	// TaskQueue is where the target activities (version reads, deploys,
	// rollbacks) run. Empty means the workflow's own task queue.
	TaskQueue string `json:"taskQueue,omitempty"`
	// GateTaskQueue is where the gates (blockers, alarms, evidence,
	// canary, verification), the authoriser and the event notifier run,
	// so that a queue full of long deploys cannot delay an alarm check.
	// Run a worker with the same [Activities] on it. Empty means
	// TaskQueue.
	GateTaskQueue string `json:"gateTaskQueue,omitempty"`
	// DeployTimeout bounds one deploy or rollback attempt (Temporal's
	// start-to-close timeout). Zero means 1 hour.
	DeployTimeout duration.Duration `json:"deployTimeout,omitzero"`
	// HeartbeatTimeout is how long a deploy or rollback may go without a
	// heartbeat before the server deems its worker lost and retries it on
	// another. The activities heartbeat at a third of it (unless
	// [Activities.Heartbeat] is set and shorter). Zero means 1 minute.
	HeartbeatTimeout duration.Duration `json:"heartbeatTimeout,omitzero"`
	// GateTimeout bounds one version read or one gate evaluation
	// (blockers, alarms, evidence, canary, authorisation). Zero means 5
	// minutes.
	GateTimeout duration.Duration `json:"gateTimeout,omitzero"`
	// Notify delivers the rollout's events to [Activities.OnEvent], in
	// order, in batches, beside the rollout: a slow or failing listener
	// never delays a step (a rollback included). Off, events are read
	// with the [QueryEvents] query (see [Client.Watch]).
	Notify bool `json:"notify,omitempty"`
	// KeepEvents is how many recent events the workflow keeps for
	// [QueryEvents] (and for a notifier that lags). Zero means 1000.
	KeepEvents int `json:"keepEvents,omitzero"`
	// MaxHistory is the history length after which the workflow continues
	// as new (carrying its state); it also does when the server suggests
	// it. It is checked before every target action is started, so that a
	// stage of thousands of targets continues as new in its middle. Zero
	// means 10,000 events.
	MaxHistory int `json:"maxHistory,omitzero"`
	// MaxInFlight is the most activities a rollout runs at once: a round
	// of more target actions than this (a batch with no concurrency
	// limit, a rollback group) runs in waves of at most MaxInFlight. It
	// only slows a round; it never changes a decision. Keep it well under
	// the server's limit of pending activities (2,000 by default). Zero
	// means 500.
	MaxInFlight int `json:"maxInFlight,omitzero"`
	// MaxPayload is the largest compressed input, in bytes, the rollout
	// may have at start and at every continue-as-new: a plan over it is
	// refused at start ([ErrTooLarge]). Keep it under the server's blob
	// limit (2 MiB by default). Zero means 1.5 MiB.
	MaxPayload int `json:"maxPayload,omitzero"`
	// SearchAttributes keeps the rollout's search attributes ([AttrPhase],
	// [AttrStage], [AttrAwaitingApproval], [AttrPaused]) up to date, so
	// that an operator can list the rollouts that need a human. Register
	// them on the namespace first ([RegisterSearchAttributes]): the server
	// refuses unknown ones.
	SearchAttributes bool `json:"searchAttributes,omitempty"`
}

// Validate reports every problem of the settings, each with its field path.
func (s Settings) Validate() error {
	var errs []error
	neg := func(field string, d duration.Duration) {
		if d < 0 {
			errs = append(errs, fmt.Errorf("temporal: settings.%s: %s is negative", field, d))
		}
	}
	neg("DeployTimeout", s.DeployTimeout)
	neg("HeartbeatTimeout", s.HeartbeatTimeout)
	neg("GateTimeout", s.GateTimeout)
	for _, f := range []struct {
		name string
		n    int
	}{{"KeepEvents", s.KeepEvents}, {"MaxHistory", s.MaxHistory}, {"MaxInFlight", s.MaxInFlight}, {"MaxPayload", s.MaxPayload}} {
		if f.n < 0 {
			errs = append(errs, fmt.Errorf("temporal: settings.%s: %d is negative", f.name, f.n))
		}
	}
	return errors.Join(errs...)
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Input starts a rollout workflow: the same rollout ID, plan, version and
// policy as [rollout.Create], and the workflow's settings.
type Input struct {
	ID       string         `json:"id"`
	Plan     wave.Plan      `json:"plan,omitzero"`
	Version  string         `json:"version,omitempty"`
	Policy   rollout.Policy `json:"policy,omitzero"`
	Settings Settings       `json:"settings,omitzero"`
	// Continued is set by the workflow itself when it continues as new;
	// leave it nil.
	Continued *Continued `json:"continued,omitempty"`
	// Logic is the version of the workflow's decision logic the rollout
	// started with, set by the workflow at its first run ([LogicVersion])
	// and kept across continue-as-new: a later release that changes how
	// the workflow decides branches on it, so that a rollout in flight
	// goes on deciding as it started (workflow.GetVersion markers do not
	// survive continue-as-new). Leave it zero.
	Logic int `json:"logic,omitempty"`
	// Packed, if set, holds every field but ID and Settings as
	// gzip-compressed JSON: the form [PackInput] makes, which
	// [Client.Start] sends and the workflow continues as new with, a
	// tenth of the plain JSON for a large fleet.
	Packed []byte `json:"packed,omitempty"`
}

// Continued is what a rollout workflow carries into its next run when it
// continues as new: the state in its saved form, the refused requests and
// the events it keeps. It travels inside [Input.Packed].
type Continued struct {
	// State is the saved form of [rollout.EncodeState]. Earlier releases
	// carried it as a JSON string (base64); both are read.
	State json.RawMessage `json:"state"`
	// Refused are the last [DefaultKeepRefused] refused requests;
	// RefusedTotal counts them all.
	Refused      []rollout.AuditEntry `json:"refused,omitempty"`
	RefusedTotal int                  `json:"refusedTotal,omitempty"`
	Events       []Record             `json:"events,omitempty"`
	Seq          uint64               `json:"seq"`
	// Delivered is the sequence number of the last event delivered to
	// [Activities.OnEvent].
	Delivered uint64 `json:"delivered,omitempty"`
	// Round is set when the run continued as new in the middle of a
	// round: the next run performs the actions not yet started and steps
	// with every observation of the round, as if nothing had happened in
	// between.
	Round *Round `json:"round,omitempty"`
	// Cancelled is set when the workflow was cancelled and is rolling
	// back: the last run ends cancelled.
	Cancelled bool `json:"cancelled,omitempty"`
}

// Round is the rest of a round of actions carried across continue-as-new:
// the actions not yet performed, the round's concurrency, and the
// observations already made (and control requests already taken), for
// the step that ends the round.
type Round struct {
	Actions     []rollout.Action      `json:"actions"`
	Concurrency int                   `json:"concurrency,omitempty"`
	Observed    []rollout.Observation `json:"observed,omitempty"`
	// Wake is when the state wants to be stepped in the middle of the
	// round (the alarms are due), zero for never: the round's last
	// [rollout.Output.WakeAt].
	Wake time.Time `json:"wake,omitzero"`
}

func (c *Continued) state() (*rollout.State, error) {
	data := []byte(c.State)
	if len(data) > 0 && data[0] == '"' {
		if err := json.Unmarshal(c.State, &data); err != nil {
			return nil, err
		}
	}
	return rollout.DecodeState(data)
}

// Record is an event with its sequence number in the rollout (from 1).
type Record struct {
	Seq   uint64        `json:"seq"`
	Event rollout.Event `json:"event"`
}

// Status is the answer to [QueryStatus]. Its lists are bounded
// ([MaxStatusList] entries each), so that it fits in a query answer
// however large the rollout; the totals say how many there are.
type Status struct {
	// Progress is the rollout's progress; its Failed and Unrolled lists
	// hold at most [MaxStatusList] targets each.
	Progress rollout.Progress `json:"progress"`
	// Failed and Unrolled count the targets of Progress.Failed and
	// Progress.Unrolled, kept or not.
	Failed   int `json:"failed,omitempty"`
	Unrolled int `json:"unrolled,omitempty"`
	// Audit lists the last [MaxStatusList] control requests the workflow
	// received, in order: the state's audit (applied and ignored requests)
	// and the requests the authoriser refused, whose Ignored says so.
	// AuditTotal counts them all.
	Audit      []rollout.AuditEntry `json:"audit,omitempty"`
	AuditTotal int                  `json:"auditTotal,omitempty"`
	// LastEvent is the sequence number of the last event.
	LastEvent uint64 `json:"lastEvent"`
}

// Result is what a rollout workflow returns when the rollout has ended.
// A rollout that rolled back is a result, not a workflow failure: the
// workflow failed only when the state could not be advanced at all. A
// cancelled workflow ends cancelled with the Result as its details (see
// [Client.Wait]).
type Result struct {
	Phase rollout.Phase `json:"phase"`
	// Signal and Reason say why a rollback started; Failed names the
	// targets that could not be rolled back.
	Signal rollout.Signal `json:"signal,omitempty"`
	Reason string         `json:"reason,omitempty"`
	Failed []string       `json:"failed,omitempty"`
	// Cancelled is set when the workflow was cancelled: the rollout was
	// aborted, and rolled back as Phase says.
	Cancelled bool `json:"cancelled,omitempty"`
	// Status is the final status.
	Status Status `json:"status"`
}

// Err returns what [rollout.Runner.Run] returns for the same outcome: nil
// when the rollout succeeded, a [*rollout.HaltError] otherwise.
func (r Result) Err() error {
	if r.Phase == rollout.Succeeded {
		return nil
	}
	return &rollout.HaltError{Phase: r.Phase, Signal: r.Signal, Reason: r.Reason, Failed: slices.Clone(r.Failed)}
}

// run is one workflow run's executor state.
type run struct {
	in           Input
	set          Settings
	st           *rollout.State
	refused      []rollout.AuditEntry
	refusedTotal int
	events       []Record
	seq          uint64
	delivered    uint64
	round        *Round
	cancelled    bool
	// inbox holds the requests accepted by update, for the next step.
	inbox []rollout.Control
	// wake is poked by an accepted update, to end a wait.
	wake workflow.Channel
	// started counts the target actions this run started: a run
	// continues as new only after it made progress.
	started int
	// search is what the search attributes show now.
	search *searchState
	// tooLarge is set when the state no longer fits in a payload: the run
	// stops trying to continue as new.
	tooLarge bool
	// watchRounds is set when perform watches while a round runs (see
	// changeWatchRounds).
	watchRounds bool
}

// changeWatchRounds is the workflow.GetVersion change ID of watching
// while a round's actions run (version 1): stepping the state at its
// alarm interval, at requests and at a cancellation, and cancelling the
// deploys in flight when it stops the rollout. Runs recorded by earlier
// releases (DefaultVersion) replay as they ran: nothing watched, and a
// cancellation cancels the round's activities.
const changeWatchRounds = "shepherd.watch-rounds"

// Workflow runs a rollout: it drives the same step function as
// [rollout.Runner] ([rollout.State.Step]) with the workflow's time, runs the
// actions it asks for as activities ([Activities]), sleeps on durable
// timers until the state's next wake-up or a control request, and ends
// when the rollout does. Register it with [Register]; start it with
// [Client.Start].
//
// Cancelling the workflow aborts the rollout: the abort (by [CancelActor])
// rolls back every target the rollout changed, on a context the
// cancellation does not reach, and then the workflow ends cancelled, with
// the [Result] as its details.
func Workflow(ctx workflow.Context, in Input) (Result, error) {
	r, err := newRun(ctx, in)
	if err != nil {
		return Result{}, sdktemporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalid, err)
	}
	if err := r.handleQueries(ctx); err != nil {
		return Result{}, err
	}
	if err := r.handleUpdates(ctx); err != nil {
		return Result{}, err
	}
	signals := workflow.GetSignalChannel(ctx, SignalControl)
	// The notifier outlives a cancellation: the rollback's events are
	// delivered too.
	nctx, _ := workflow.NewDisconnectedContext(ctx)
	r.notifier(nctx)
	if r.cancelled {
		ctx, _ = workflow.NewDisconnectedContext(ctx)
	}
	// Histories recorded before rounds were watched replay without it.
	r.watchRounds = workflow.GetVersion(ctx, changeWatchRounds, workflow.DefaultVersion, 1) >= 1
	var obs []rollout.Observation
	for {
		if r.round == nil {
			if ctx.Err() != nil {
				// Cancellation is an abort (unless a round took it
				// already): the rollback runs on a context the
				// cancellation does not reach. The namespace's access
				// control authorised whoever cancelled.
				if !r.cancelled {
					obs = append(obs, r.cancelAbort())
				}
				ctx, _ = workflow.NewDisconnectedContext(ctx)
			}
			obs = append(obs, r.controls(ctx, signals)...)
			out, err := r.step(ctx, obs)
			obs = nil
			if err != nil {
				return Result{}, err
			}
			if out.Done {
				return r.finish(ctx)
			}
			if len(out.Actions) == 0 {
				if r.mustContinue(ctx, 0) {
					if can, err := r.continueAsNew(ctx, signals, false); can || err != nil {
						return Result{}, err
					}
					continue
				}
				r.wait(ctx, signals, out.WakeAt)
				continue
			}
			r.round = &Round{Actions: out.Actions, Concurrency: out.Concurrency, Wake: out.WakeAt}
		}
		got, rest, err := r.perform(ctx, signals, r.round)
		if err != nil {
			return Result{}, err
		}
		obs = append(r.round.Observed, got...)
		if len(rest) == 0 {
			r.round = nil
			continue
		}
		// The history is long: carry the rest of the round into a new
		// run, which performs it and then steps.
		r.round.Actions, r.round.Observed = rest, obs
		obs = nil
		if can, err := r.continueAsNew(ctx, signals, true); can || err != nil {
			return Result{}, err
		}
	}
}

// cancellation returns a future that is ready if the workflow is
// cancelled before the round ends (ctx is the workflow's context, ended by
// the round's end), so that a round can take the cancellation at once: a
// selector cannot wait on a closed channel more than once. The coroutine
// that waits for it lives as long as the round: a rollout parked between
// rounds costs none.
func (r *run) cancellation(ctx workflow.Context) workflow.Future {
	f, set := workflow.NewFuture(ctx)
	workflow.Go(ctx, func(c workflow.Context) {
		c.Done().Receive(c, nil)
		set.Set(nil, nil)
	})
	return f
}

// cancelAbort records that the workflow was cancelled and returns the
// abort that the cancellation is.
func (r *run) cancelAbort() rollout.Observation {
	r.cancelled = true
	return rollout.ObserveControl(rollout.Control{
		Kind: rollout.ControlAbort, Actor: CancelActor, Reason: "the workflow was cancelled",
	})
}

// step steps the state and keeps its events.
func (r *run) step(ctx workflow.Context, obs []rollout.Observation) (rollout.Output, error) {
	out, err := r.st.Step(workflow.Now(ctx), obs...)
	if err != nil {
		return out, sdktemporal.NewNonRetryableApplicationError(err.Error(), "shepherd.Step", err)
	}
	r.publish(ctx, out.Events)
	r.upsertSearch(ctx)
	return out, nil
}

func newRun(ctx workflow.Context, in Input) (*run, error) {
	in, err := unpackInput(in)
	if err != nil {
		return nil, err
	}
	if err := in.Settings.Validate(); err != nil {
		return nil, err
	}
	r := &run{in: in, set: in.Settings, wake: workflow.NewBufferedChannel(ctx, 1)}
	if r.in.Logic == 0 {
		r.in.Logic = LogicVersion
	}
	if r.in.Logic > LogicVersion {
		// A panic fails the workflow task, not the workflow: a worker of
		// a newer release picks the rollout up.
		panic(fmt.Sprintf("temporal: the rollout decides with logic version %d; this worker knows up to %d: route it to a newer worker", r.in.Logic, LogicVersion))
	}
	if c := in.Continued; c != nil {
		st, err := c.state()
		if err != nil {
			return nil, err
		}
		if st.ID != in.ID {
			return nil, fmt.Errorf("temporal: continued state is rollout %q, the input %q", st.ID, in.ID)
		}
		r.st, r.refused, r.events, r.seq = st, c.Refused, c.Events, c.Seq
		r.refusedTotal = max(c.RefusedTotal, len(c.Refused))
		r.delivered, r.round, r.cancelled = c.Delivered, c.Round, c.Cancelled
		if r.delivered == 0 && r.set.Notify {
			// From an earlier release, which delivered every step's
			// events before going on.
			r.delivered = r.seq
		}
		return r, nil
	}
	st, err := rollout.NewState(in.ID, in.Plan, in.Version, in.Policy, workflow.Now(ctx))
	if err != nil {
		return nil, err
	}
	r.st = st
	return r, nil
}

func (r *run) handleQueries(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (Status, error) {
		return r.status(), nil
	}); err != nil {
		return err
	}
	if err := workflow.SetQueryHandler(ctx, QueryEvents, func(after uint64) ([]Record, error) {
		i, _ := slices.BinarySearchFunc(r.events, after+1, func(e Record, seq uint64) int {
			return cmp.Compare(e.Seq, seq)
		})
		return slices.Clone(r.events[i:]), nil
	}); err != nil {
		return err
	}
	return workflow.SetQueryHandler(ctx, QueryState, func() ([]byte, error) {
		data, err := rollout.EncodeState(r.st)
		if err != nil {
			return nil, err
		}
		return compress(data)
	})
}

// handleUpdates serves [UpdateControl]: the validator refuses what the
// Runner's Request refuses before anything is recorded (a malformed
// request, an unknown stage, an ended rollout); the handler has the
// request authorised and queues it for the next step, or records the
// refusal and returns it.
func (r *run) handleUpdates(ctx workflow.Context) error {
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateControl,
		func(ctx workflow.Context, c rollout.Control) error {
			if r.st.Phase.Terminal() {
				return sdktemporal.NewNonRetryableApplicationError("rollout "+r.st.ID+" has ended", ErrTypeDone, nil)
			}
			if why := r.authorize(ctx, c); why != "" {
				r.refuse(ctx, c, why)
				return sdktemporal.NewNonRetryableApplicationError(fmt.Sprintf("%s by %s: %s", c.Kind, c.Actor, why), ErrTypeNotAuthorised, nil)
			}
			r.inbox = append(r.inbox, c)
			r.wake.SendAsync(struct{}{})
			return nil
		},
		workflow.UpdateHandlerOptions{Validator: func(c rollout.Control) error {
			if err := c.Validate(); err != nil {
				return sdktemporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalid, nil)
			}
			if c.Stage != "" && !slices.ContainsFunc(r.st.Stages, func(s rollout.StageState) bool { return s.Name == c.Stage }) {
				return sdktemporal.NewNonRetryableApplicationError(fmt.Sprintf("control.Stage: no stage %q in the plan", c.Stage), ErrTypeInvalid, nil)
			}
			if r.st.Phase.Terminal() {
				return sdktemporal.NewNonRetryableApplicationError("rollout "+r.st.ID+" has ended", ErrTypeDone, nil)
			}
			return nil
		}})
}

func (r *run) status() Status {
	audit := make([]rollout.AuditEntry, 0, len(r.st.Audit)+len(r.refused))
	audit = append(audit, r.st.Audit...)
	audit = append(audit, r.refused...)
	slices.SortStableFunc(audit, func(a, b rollout.AuditEntry) int { return a.Time.Compare(b.Time) })
	s := Status{Progress: r.st.Progress(), LastEvent: r.seq}
	s.AuditTotal = len(r.st.Audit) + r.refusedTotal
	s.Audit = slices.Clip(audit[max(0, len(audit)-MaxStatusList):])
	s.Failed, s.Unrolled = len(s.Progress.Failed), len(s.Progress.Unrolled)
	s.Progress.Failed = slices.Clip(s.Progress.Failed[:min(len(s.Progress.Failed), MaxStatusList)])
	s.Progress.Unrolled = slices.Clip(s.Progress.Unrolled[:min(len(s.Progress.Unrolled), MaxStatusList)])
	return s
}

// finish waits (boundedly) for the notifier and the update handlers, and
// returns the rollout's result: as the workflow's result, or as the
// details of its cancellation.
func (r *run) finish(ctx workflow.Context) (Result, error) {
	if r.set.Notify {
		// Bounded: a listener that is down does not keep a finished
		// rollout open for long; the events query still has the events.
		workflow.AwaitWithTimeout(ctx, 10*time.Minute, func() bool { return r.delivered >= r.seq })
	}
	workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	res := Result{Phase: r.st.Phase, Status: r.status(), Cancelled: r.cancelled}
	if rb := r.st.Rollback; rb != nil {
		res.Signal, res.Reason, res.Failed = rb.Signal, rb.Reason, slices.Clone(rb.Failed)
	}
	if r.cancelled {
		return Result{}, sdktemporal.NewCanceledError(res)
	}
	return res, nil
}

// controls takes every control request waiting on the signal channel and
// in the update inbox, has each signalled one authorised by the worker's
// authoriser (updates were, before they were accepted), records the
// refused ones and returns the others as observations for the next step.
func (r *run) controls(ctx workflow.Context, ch workflow.ReceiveChannel) []rollout.Observation {
	var obs []rollout.Observation
	for _, c := range r.inbox {
		obs = append(obs, rollout.ObserveControl(c))
	}
	r.inbox = nil
	for {
		var c rollout.Control
		if !ch.ReceiveAsync(&c) {
			return obs
		}
		if c.Validate() != nil {
			// Malformed: the step records it as ignored, with why.
			obs = append(obs, rollout.ObserveControl(c))
			continue
		}
		if why := r.authorize(ctx, c); why != "" {
			r.refuse(ctx, c, why)
			continue
		}
		obs = append(obs, rollout.ObserveControl(c))
	}
}

func (r *run) authorize(ctx workflow.Context, c rollout.Control) string {
	actx := workflow.WithActivityOptions(ctx, r.gateOptions())
	var res AuthorizeResult
	if err := workflow.ExecuteActivity(actx, ActivityAuthorize, AuthorizeRequest{Rollout: r.st.ID, Control: c}).Get(ctx, &res); err != nil {
		// Fail closed: an authoriser that cannot answer refuses.
		return "the authoriser could not be reached: " + err.Error()
	}
	return res.Refused
}

func (r *run) refuse(ctx workflow.Context, c rollout.Control, why string) {
	now := workflow.Now(ctx)
	ignored := "not authorised: " + why
	r.addRefused(rollout.AuditEntry{
		Time: now, Kind: c.Kind, Actor: c.Actor, Stage: c.Stage, Reason: c.Reason, Ignored: ignored,
	})
	reason := string(c.Kind)
	if c.Reason != "" {
		reason += ": " + c.Reason
	}
	r.publish(ctx, []rollout.Event{{
		Kind: rollout.EventControl, Time: now, Rollout: r.st.ID, Actor: c.Actor, Stage: c.Stage,
		Reason: reason + " (ignored: " + ignored + ")",
	}})
}

// addRefused records a refused request. A flood of them must not grow
// what is carried across continue-as-new: the last DefaultKeepRefused are
// kept and the rest counted (the events keep them for a while).
func (r *run) addRefused(e rollout.AuditEntry) {
	r.refusedTotal++
	r.refused = append(r.refused, e)
	if len(r.refused) > DefaultKeepRefused {
		r.refused = slices.Delete(r.refused, 0, len(r.refused)-DefaultKeepRefused)
	}
}

// publish keeps events for the events query and for the notifier.
func (r *run) publish(_ workflow.Context, evs []rollout.Event) {
	for _, e := range evs {
		r.seq++
		r.events = append(r.events, Record{Seq: r.seq, Event: e})
	}
	if keep := or(r.set.KeepEvents, DefaultKeepEvents); len(r.events) > keep {
		r.events = slices.Delete(r.events, 0, len(r.events)-keep)
	}
}

// maxNotifyBatch bounds the events of one notification.
const maxNotifyBatch = 500

// notifier delivers the kept events to the worker's OnEvent, in order and
// in batches, in a coroutine of its own: the rollout never waits for a
// listener. Delivery is best effort beyond the activity's retries: a
// batch that cannot be delivered is logged and skipped, and events that
// the workflow stopped keeping (a listener more than KeepEvents behind)
// are lost to it; the events query has what is kept.
func (r *run) notifier(ctx workflow.Context) {
	if !r.set.Notify {
		return
	}
	o := r.gateOptions()
	o.RetryPolicy = &sdktemporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 10}
	actx := workflow.WithActivityOptions(ctx, o)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			if err := workflow.Await(ctx, func() bool { return r.seq > r.delivered }); err != nil {
				return
			}
			i, _ := slices.BinarySearchFunc(r.events, r.delivered+1, func(e Record, seq uint64) int {
				return cmp.Compare(e.Seq, seq)
			})
			batch := r.events[i:min(len(r.events), i+maxNotifyBatch)]
			if len(batch) == 0 {
				r.delivered = r.seq
				continue
			}
			if lost := batch[0].Seq - r.delivered - 1; lost > 0 {
				workflow.GetLogger(ctx).Warn("shepherd: events dropped before delivery", "events", lost)
			}
			evs := make([]rollout.Event, len(batch))
			for j, rec := range batch {
				evs[j] = rec.Event
			}
			last := batch[len(batch)-1].Seq
			if err := workflow.ExecuteActivity(actx, ActivityNotify, evs).Get(ctx, nil); err != nil {
				workflow.GetLogger(ctx).Warn("shepherd: events not delivered", "error", err, "events", len(evs))
			}
			r.delivered = last
		}
	})
}

// perform runs the actions of a round as activities and returns their
// observations in the actions' order, as the Runner does. At most the
// round's concurrency target actions run at once (zero: all), and never
// more than MaxInFlight; gates run alongside.
//
// It watches while they run, as the Runner does: at the state's wake-up
// time (when the alarms are due), at every control request and at the
// workflow's cancellation (an abort) it steps the state with what it has,
// runs the alarm checks the state asks for and steps with their answers
// as they come; when the state stops the rollout ([rollout.Output.Cancel])
// it cancels the target actions in flight, which answer once they have
// stopped, and answers those not started as such. An alarm in the middle
// of a long batch so starts the rollback within one alarm interval, not
// after the batch. Every activity runs on a context the workflow's
// cancellation does not reach: the state decides what a cancellation
// stops (a rollback in flight goes on).
//
// Before it starts each target action it looks at the history: when the
// workflow must continue as new, it starts no more, waits for the
// activities running and returns the observations and the actions it did
// not start.
func (r *run) perform(ctx workflow.Context, signals workflow.ReceiveChannel, round *Round) (obs []rollout.Observation, rest []rollout.Action, err error) {
	acts := round.Actions
	res := make([]rollout.Observation, len(acts))
	answered := make([]bool, len(acts))
	limit := round.Concurrency
	if limit <= 0 {
		limit = len(acts)
	}
	limit = min(limit, or(r.set.MaxInFlight, DefaultMaxInFlight))
	live := ctx
	if r.watchRounds {
		live, _ = workflow.NewDisconnectedContext(ctx)
	}
	tctx, cancelTargets := workflow.WithCancel(live)
	defer cancelTargets()
	sel := workflow.NewSelector(live)
	pending, running := 0, 0
	stopped := false // the state stopped the rollout: start no more targets
	var queue []int
	var stepErr error

	// The timer of the next mid-round step; gen tells a stale timer
	// (re-armed or cancelled) from the current one.
	var (
		armed       time.Time
		cancelTimer workflow.CancelFunc = func() {}
		gen         int
	)
	var watch func(in []rollout.Observation)
	arm := func() {
		if round.Wake.Equal(armed) {
			return
		}
		cancelTimer()
		gen++
		armed = round.Wake
		if armed.IsZero() {
			return
		}
		tc, cancel := workflow.WithCancel(live)
		cancelTimer = cancel
		mine := gen
		sel.AddFuture(workflow.NewTimer(tc, max(armed.Sub(workflow.Now(live)), time.Millisecond)), func(workflow.Future) {
			if mine != gen {
				return
			}
			armed = time.Time{}
			watch(nil)
		})
	}
	defer func() { cancelTimer() }()
	watchCheck := func(a rollout.Action) {
		name, opts, req := r.activityFor(a, workflow.Now(live))
		f := workflow.ExecuteActivity(workflow.WithActivityOptions(live, opts), name, req)
		pending++
		sel.AddFuture(f, func(f workflow.Future) {
			pending--
			var o rollout.Observation
			if err := f.Get(live, &o); err != nil {
				o = r.failed(a, err)
			}
			o, _ = rollout.CheckObservation(a, o)
			watch([]rollout.Observation{o})
		})
	}
	watch = func(in []rollout.Observation) {
		if stepErr != nil {
			return
		}
		mid, err := r.step(live, in)
		if err != nil {
			stepErr = err
			return
		}
		if mid.Cancel && !stopped {
			stopped = true
			cancelTargets()
		}
		for _, a := range mid.Actions {
			// A state asks for no target action in the middle of a
			// round, only for alarm checks.
			if !a.Kind.Target() {
				watchCheck(a)
			}
		}
		round.Wake = mid.WakeAt
		arm()
	}

	start := func(i int) {
		a := acts[i]
		// Each action's deadline counts from when it starts, not from
		// when its round did.
		name, opts, req := r.activityFor(a, workflow.Now(live))
		actx := live
		if a.Kind.Target() {
			actx = tctx
			running++
			r.started++
		}
		f := workflow.ExecuteActivity(workflow.WithActivityOptions(actx, opts), name, req)
		pending++
		sel.AddFuture(f, func(f workflow.Future) {
			var o rollout.Observation
			if err := f.Get(live, &o); err != nil {
				o = r.failed(a, err)
			}
			// The worker's hands checked it; a worker of another release
			// may not have.
			res[i], _ = rollout.CheckObservation(a, o)
			answered[i] = true
			pending--
			if a.Kind.Target() {
				running--
			}
		})
	}
	for i, a := range acts {
		if a.Kind.Target() {
			queue = append(queue, i)
			continue
		}
		// Gates are few and quick: they run outside the limit.
		start(i)
	}
	if len(queue) > 0 && r.watchRounds {
		// Requests wake the watch; the request stays on the channel
		// for controls to take.
		sel.AddReceive(signals, func(workflow.ReceiveChannel, bool) { watch(r.controls(live, signals)) })
		sel.AddReceive(r.wake, func(c workflow.ReceiveChannel, _ bool) {
			c.ReceiveAsync(nil)
			watch(r.controls(live, signals))
		})
		if !r.cancelled {
			rctx, endRound := workflow.WithCancel(ctx)
			defer endRound()
			sel.AddFuture(r.cancellation(rctx), func(workflow.Future) {
				if ctx.Err() != nil && !r.cancelled {
					watch([]rollout.Observation{r.cancelAbort()})
				}
			})
		}
		arm()
	}
	cut := false
	for len(queue) > 0 || pending > 0 {
		if stepErr != nil {
			break
		}
		if stopped {
			// Not started: the rollout stopped before their turn.
			for _, i := range queue {
				res[i], answered[i] = notStarted(acts[i]), true
			}
			queue = nil
		}
		for len(queue) > 0 && running < limit && !cut {
			if err := live.Err(); err != nil {
				// Unwatched rounds (see changeWatchRounds) end at a
				// cancellation.
				for _, i := range queue {
					res[i], answered[i] = r.failed(acts[i], err), true
				}
				queue = nil
				break
			}
			if r.started > 0 && r.mustContinue(live, pending+1) {
				cut = true
				break
			}
			start(queue[0])
			queue = queue[1:]
		}
		if pending == 0 {
			break
		}
		sel.Select(live)
	}
	if stepErr != nil {
		return nil, nil, stepErr
	}
	for i := range acts {
		if answered[i] {
			obs = append(obs, res[i])
		} else {
			rest = append(rest, acts[i])
		}
	}
	return obs, rest, nil
}

// notStarted answers a target action the rollout stopped before its turn,
// as the Runner does: permanently, so that the state knows it never ran.
func notStarted(a rollout.Action) rollout.Observation {
	err := rollout.Permanent(errors.New("not started: the rollout stopped before its turn"))
	switch a.Kind {
	case rollout.ActionReadVersion:
		return rollout.ObserveVersion(a, "", err)
	case rollout.ActionRollback:
		return rollout.ObserveRollback(a, a.Version, 0, err)
	}
	return rollout.ObserveDeploy(a, a.Version, 0, err)
}

// activityFor returns the activity that performs a, its options and its
// input.
func (r *run) activityFor(a rollout.Action, now time.Time) (string, workflow.ActivityOptions, any) {
	rp := r.st.Policy.Retries(a.Kind)
	switch a.Kind {
	case rollout.ActionReadVersion:
		o := r.gateOptions()
		o.TaskQueue = r.set.TaskQueue
		o.RetryPolicy = retryPolicy(rp)
		return ActivityReadVersion, o, TargetRequest{Action: a, MaxAttempts: rp.MaxAttempts, Now: now}
	case rollout.ActionDeploy, rollout.ActionRollback:
		name := ActivityDeploy
		if a.Kind == rollout.ActionRollback {
			name = ActivityRollback
		}
		o := workflow.ActivityOptions{
			TaskQueue:           r.set.TaskQueue,
			StartToCloseTimeout: or(r.set.DeployTimeout.Std(), DefaultDeployTimeout),
			HeartbeatTimeout:    or(r.set.HeartbeatTimeout.Std(), DefaultHeartbeatTimeout),
			RetryPolicy:         retryPolicy(rp),
			// A cancelled deploy answers once it has stopped, so that a
			// rollback never races it on the same target.
			WaitForCancellation: true,
		}
		deadline(&o, a, now)
		return name, o, TargetRequest{Action: a, MaxAttempts: rp.MaxAttempts, Now: now}
	case rollout.ActionVerify:
		o := r.gateOptions()
		if t := r.st.Policy.Verify.Timeout; t > 0 {
			o.StartToCloseTimeout = t.Std() // one run of the check
		}
		o.RetryPolicy = retryPolicy(rp)
		deadline(&o, a, now)
		return ActivityVerify, o, GateRequest{Action: a, Now: now, MaxAttempts: rp.MaxAttempts}
	case rollout.ActionRoute:
		o := r.gateOptions()
		o.RetryPolicy = retryPolicy(rp)
		return ActivityRoute, o, GateRequest{Action: a, Now: now, MaxAttempts: rp.MaxAttempts}
	}
	o := r.gateOptions()
	names := map[rollout.ActionKind]string{
		rollout.ActionCheckBlockers: ActivityCheckBlocker,
		rollout.ActionCheckAlarms:   ActivityCheckAlarms,
		rollout.ActionReadEvidence:  ActivityReadEvidence,
		rollout.ActionJudgeCanary:   ActivityJudgeCanary,
	}
	return names[a.Kind], o, GateRequest{Action: a, Now: now}
}

// deadline bounds an action with its retries by its deadline.
func deadline(o *workflow.ActivityOptions, a rollout.Action, now time.Time) {
	if a.Deadline.IsZero() {
		return
	}
	if d := a.Deadline.Sub(now); d > 0 {
		o.ScheduleToCloseTimeout = d
	} else {
		o.ScheduleToCloseTimeout = time.Millisecond
	}
}

// gateOptions are the options of quick activities, on the gate task
// queue. Their retries cover a lost worker or a timeout only: the
// activity itself reports the gate's error as an observation (which the
// step function fails closed on).
func (r *run) gateOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue:           cmp.Or(r.set.GateTaskQueue, r.set.TaskQueue),
		StartToCloseTimeout: or(r.set.GateTimeout.Std(), DefaultGateTimeout),
		RetryPolicy:         &sdktemporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second, MaximumAttempts: 3},
	}
}

// retryPolicy maps a rollout retry (total attempts, initial interval
// doubling up to a maximum) to a Temporal retry policy the server accepts
// for any retry the core accepts: the core caps every wait at Max, even
// the first, so an Initial over Max waits Max, and so does Temporal's
// (whose server rejects an initial interval over the maximum, on every
// schedule, for ever). Temporal adds no jitter; permanent errors never
// reach it (the activity reports them as its result).
func retryPolicy(r rollout.Retry) *sdktemporal.RetryPolicy {
	initial, limit := r.Initial.Std(), r.Max.Std()
	if initial <= 0 {
		initial = rollout.DefaultRetryInitial
	}
	if limit <= 0 {
		limit = max(initial, rollout.DefaultRetryMax)
	}
	initial = min(initial, limit)
	attempts := int32(min(max(r.MaxAttempts, 1), math.MaxInt32))
	return &sdktemporal.RetryPolicy{
		InitialInterval:    initial,
		BackoffCoefficient: 2,
		MaximumInterval:    limit,
		MaximumAttempts:    attempts,
	}
}

// failed turns an activity that failed beyond its retries (timeouts, a
// lost worker, a worker without a Deployer, a cancellation) into the
// observation of a failed action, so that the step function decides what
// it means.
func (r *run) failed(a rollout.Action, err error) rollout.Observation {
	err = fmt.Errorf("activity failed: %w", err)
	n := r.st.Policy.Retries(a.Kind).MaxAttempts
	switch a.Kind {
	case rollout.ActionReadVersion:
		return rollout.ObserveVersion(a, "", err)
	case rollout.ActionDeploy:
		return rollout.ObserveDeploy(a, a.Version, n, err)
	case rollout.ActionRollback:
		return rollout.ObserveRollback(a, a.Version, n, err)
	case rollout.ActionVerify:
		return rollout.ObserveVerify(a, rollout.VerifyResult{Outcome: rollout.VerifyError, Reason: err.Error()}, err)
	case rollout.ActionRoute:
		return rollout.ObserveRoute(a, traffic.Route{}, err)
	case rollout.ActionCheckBlockers:
		return rollout.ObserveBlockers(a, nil, time.Time{}, err)
	case rollout.ActionCheckAlarms:
		return rollout.ObserveAlarms(a, nil, err)
	case rollout.ActionReadEvidence:
		return rollout.ObserveEvidence(a, nil, err)
	default:
		return rollout.ObserveVerdict(a, rollout.Verdict{}, err)
	}
}

// wait sleeps on a durable timer until wakeAt (forever when zero) or until a
// control request or a cancellation arrives, whichever is first.
func (r *run) wait(ctx workflow.Context, signals workflow.ReceiveChannel, wakeAt time.Time) {
	now := workflow.Now(ctx)
	if !wakeAt.IsZero() && !wakeAt.After(now) {
		return
	}
	if len(r.inbox) > 0 {
		return
	}
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	sel := workflow.NewSelector(ctx)
	if !wakeAt.IsZero() {
		sel.AddFuture(workflow.NewTimer(tctx, wakeAt.Sub(now)), func(workflow.Future) {})
	}
	// The request is left on the channel: controls takes it at the next
	// step.
	sel.AddReceive(signals, func(workflow.ReceiveChannel, bool) {})
	sel.AddReceive(r.wake, func(c workflow.ReceiveChannel, _ bool) { c.ReceiveAsync(nil) })
	if !r.cancelled {
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
	}
	sel.Select(ctx)
}

// eventsPerAction is what one activity may add to the history at most:
// its scheduled, started and completed events, and the workflow task
// (scheduled, started, completed) its completion may cause.
const eventsPerAction = 6

// mustContinue reports whether the run should continue as new before it
// starts more work, with inflight activities about to be running: the
// server suggests it, or the history with what they will add reaches
// MaxHistory.
func (r *run) mustContinue(ctx workflow.Context, inflight int) bool {
	if r.tooLarge {
		return false
	}
	info := workflow.GetInfo(ctx)
	return info.GetContinueAsNewSuggested() ||
		info.GetCurrentHistoryLength()+eventsPerAction*inflight >= or(r.set.MaxHistory, DefaultMaxHistory)
}

// continueAsNew returns the continue-as-new error that carries the
// rollout into a new run, once the update handlers have finished. Between
// steps, can is false (and the run goes on) when a request waits: the
// next step takes it. In the middle of a round, the requests waiting join
// the round's observations (as they would at the step that ends it). Can
// is also false when the state no longer fits in a payload: the run goes
// on, and the server's history limit is the bound.
func (r *run) continueAsNew(ctx workflow.Context, signals workflow.ReceiveChannel, midRound bool) (can bool, err error) {
	workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	if midRound {
		r.round.Observed = append(r.round.Observed, r.controls(ctx, signals)...)
		workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
		r.round.Observed = append(r.round.Observed, r.controls(ctx, signals)...)
	}
	if signals.Len() > 0 || len(r.inbox) > 0 {
		return false, nil
	}
	next, err := r.continued()
	if err != nil {
		workflow.GetLogger(ctx).Error("shepherd: cannot continue as new", "error", err)
		r.tooLarge = true
		return false, nil
	}
	return true, workflow.NewContinueAsNewError(ctx, WorkflowName, next)
}

func (r *run) continued() (Input, error) {
	data, err := rollout.EncodeState(r.st)
	if err != nil {
		return Input{}, err
	}
	in := Input{ID: r.in.ID, Settings: r.in.Settings, Logic: r.in.Logic, Continued: &Continued{
		State: data, Refused: r.refused, RefusedTotal: r.refusedTotal, Events: r.events, Seq: r.seq,
		Delivered: r.delivered, Round: r.round, Cancelled: r.cancelled,
	}}
	return PackInput(in, r.set.MaxPayload)
}
