package temporal

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	sdktemporal "go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/wave"
)

// Names the workflow is registered and reached by.
const (
	// WorkflowName is the workflow type of a rollout.
	WorkflowName = "shepherd.Rollout"
	// SignalControl carries a [rollout.Control]: pause, resume, abort,
	// approve or skip a bake, with its actor and reason.
	SignalControl = "shepherd.control"
	// QueryStatus returns a [Status].
	QueryStatus = "shepherd.status"
	// QueryEvents takes a sequence number and returns the [Record]s after
	// it that the workflow still keeps.
	QueryEvents = "shepherd.events"
	// QueryState returns the rollout's whole state in the saved form of
	// [rollout.EncodeState] (decode it with [rollout.DecodeState]).
	QueryState = "shepherd.state"
)

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
)

// Settings is how the workflow runs its activities and keeps its history.
// It is plain data, given at start and kept across continue-as-new; its
// zero value is the documented default everywhere.
type Settings struct {
	// TaskQueue is where the activities run. Empty means the workflow's
	// own task queue.
	TaskQueue string `json:"taskQueue,omitempty"`
	// DeployTimeout bounds one deploy or rollback attempt (Temporal's
	// start-to-close timeout). Zero means 1 hour.
	DeployTimeout duration.Duration `json:"deployTimeout,omitzero"`
	// HeartbeatTimeout is how long a deploy or rollback may go without a
	// heartbeat before the server deems its worker lost and retries it on
	// another. It must be longer than [Activities.Heartbeat]. Zero means 1
	// minute.
	HeartbeatTimeout duration.Duration `json:"heartbeatTimeout,omitzero"`
	// GateTimeout bounds one version read or one gate evaluation
	// (blockers, alarms, evidence, canary, authorisation). Zero means 5
	// minutes.
	GateTimeout duration.Duration `json:"gateTimeout,omitzero"`
	// Notify delivers every step's events to [Activities.OnEvent]: an
	// activity per step that has events. Off, events are read with the
	// [QueryEvents] query (see [Client.Watch]).
	Notify bool `json:"notify,omitempty"`
	// KeepEvents is how many recent events the workflow keeps for
	// [QueryEvents]. Zero means 1000.
	KeepEvents int `json:"keepEvents,omitzero"`
	// MaxHistory is the history length after which the workflow continues
	// as new (carrying its state), at a point where no action is in
	// flight; it also does when the server suggests it. Zero means 10,000
	// events.
	MaxHistory int `json:"maxHistory,omitzero"`
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
	if s.KeepEvents < 0 {
		errs = append(errs, fmt.Errorf("temporal: settings.KeepEvents: %d is negative", s.KeepEvents))
	}
	if s.MaxHistory < 0 {
		errs = append(errs, fmt.Errorf("temporal: settings.MaxHistory: %d is negative", s.MaxHistory))
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
}

// Continued is what a rollout workflow carries into its next run when it
// continues as new: the state in its saved form, the refused requests and
// the events it keeps.
type Continued struct {
	State   []byte               `json:"state"`
	Refused []rollout.AuditEntry `json:"refused,omitempty"`
	Events  []Record             `json:"events,omitempty"`
	Seq     uint64               `json:"seq"`
}

// Record is an event with its sequence number in the rollout (from 1).
type Record struct {
	Seq   uint64        `json:"seq"`
	Event rollout.Event `json:"event"`
}

// Status is the answer to [QueryStatus].
type Status struct {
	Progress rollout.Progress `json:"progress"`
	// Audit lists every control request the workflow received, in order:
	// the state's audit (applied and ignored requests) and the requests
	// the authoriser refused, whose Ignored says so.
	Audit []rollout.AuditEntry `json:"audit,omitempty"`
	// LastEvent is the sequence number of the last event.
	LastEvent uint64 `json:"lastEvent"`
}

// Result is what a rollout workflow returns when the rollout has ended.
// A rollout that rolled back is a result, not a workflow failure: the
// workflow failed only when the state could not be advanced at all.
type Result struct {
	Phase rollout.Phase `json:"phase"`
	// Signal and Reason say why a rollback started; Failed names the
	// targets that could not be rolled back.
	Signal rollout.Signal `json:"signal,omitempty"`
	Reason string         `json:"reason,omitempty"`
	Failed []string       `json:"failed,omitempty"`
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
	in      Input
	set     Settings
	st      *rollout.State
	refused []rollout.AuditEntry
	events  []Record
	seq     uint64
}

// Workflow runs a rollout: it drives the same step function as
// [rollout.Runner] ([rollout.State.Step]) with the workflow's time, runs the
// actions it asks for as activities ([Activities]), sleeps on durable
// timers until the state's next wake-up or a control signal, and ends when
// the rollout does. Register it with [Register]; start it with
// [Client.Start].
func Workflow(ctx workflow.Context, in Input) (Result, error) {
	r, err := newRun(ctx, in)
	if err != nil {
		return Result{}, sdktemporal.NewNonRetryableApplicationError(err.Error(), "shepherd.Invalid", err)
	}
	if err := r.handleQueries(ctx); err != nil {
		return Result{}, err
	}
	signals := workflow.GetSignalChannel(ctx, SignalControl)
	var obs []rollout.Observation
	for {
		obs = append(obs, r.controls(ctx, signals)...)
		out, err := r.st.Step(workflow.Now(ctx), obs...)
		obs = nil
		if err != nil {
			return Result{}, sdktemporal.NewNonRetryableApplicationError(err.Error(), "shepherd.Step", err)
		}
		r.publish(ctx, out.Events)
		if out.Done {
			return r.result(), nil
		}
		if len(out.Actions) > 0 {
			obs = r.perform(ctx, out)
			continue
		}
		if r.mustContinue(ctx) && signals.Len() == 0 {
			next, err := r.continued()
			if err != nil {
				return Result{}, err
			}
			return Result{}, workflow.NewContinueAsNewError(ctx, WorkflowName, next)
		}
		r.wait(ctx, signals, out.WakeAt)
	}
}

func newRun(ctx workflow.Context, in Input) (*run, error) {
	if err := in.Settings.Validate(); err != nil {
		return nil, err
	}
	r := &run{in: in, set: in.Settings}
	if c := in.Continued; c != nil {
		st, err := rollout.DecodeState(c.State)
		if err != nil {
			return nil, err
		}
		if st.ID != in.ID {
			return nil, fmt.Errorf("temporal: continued state is rollout %q, the input %q", st.ID, in.ID)
		}
		r.st, r.refused, r.events, r.seq = st, c.Refused, c.Events, c.Seq
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
		return rollout.EncodeState(r.st)
	})
}

func (r *run) status() Status {
	audit := make([]rollout.AuditEntry, 0, len(r.st.Audit)+len(r.refused))
	audit = append(audit, r.st.Audit...)
	audit = append(audit, r.refused...)
	slices.SortStableFunc(audit, func(a, b rollout.AuditEntry) int { return a.Time.Compare(b.Time) })
	return Status{Progress: r.st.Progress(), Audit: audit, LastEvent: r.seq}
}

func (r *run) result() Result {
	res := Result{Phase: r.st.Phase, Status: r.status()}
	if rb := r.st.Rollback; rb != nil {
		res.Signal, res.Reason, res.Failed = rb.Signal, rb.Reason, slices.Clone(rb.Failed)
	}
	return res
}

// controls takes every control request waiting on the signal channel,
// has each authorised by the worker's authoriser, records the refused
// ones and returns the others as observations for the next step.
func (r *run) controls(ctx workflow.Context, ch workflow.ReceiveChannel) []rollout.Observation {
	var obs []rollout.Observation
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
	r.refused = append(r.refused, rollout.AuditEntry{
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

// publish keeps events for the events query and, if asked, delivers them
// to the worker's OnEvent.
func (r *run) publish(ctx workflow.Context, evs []rollout.Event) {
	if len(evs) == 0 {
		return
	}
	for _, e := range evs {
		r.seq++
		r.events = append(r.events, Record{Seq: r.seq, Event: e})
	}
	if keep := or(r.set.KeepEvents, DefaultKeepEvents); len(r.events) > keep {
		r.events = slices.Delete(r.events, 0, len(r.events)-keep)
	}
	if !r.set.Notify {
		return
	}
	o := r.gateOptions()
	o.RetryPolicy = &sdktemporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 10}
	actx := workflow.WithActivityOptions(ctx, o)
	if err := workflow.ExecuteActivity(actx, ActivityNotify, evs).Get(ctx, nil); err != nil {
		// Delivery is best effort beyond its retries: the rollout does
		// not stop because a listener is down; the events query still
		// has them.
		workflow.GetLogger(ctx).Warn("shepherd: events not delivered", "error", err, "events", len(evs))
	}
}

// perform runs the actions of one output as activities (at most
// out.Concurrency target actions at once; gates alongside) and returns their
// observations in the actions' order, as the Runner does.
func (r *run) perform(ctx workflow.Context, out rollout.Output) []rollout.Observation {
	acts := out.Actions
	obs := make([]rollout.Observation, len(acts))
	limit := out.Concurrency
	if limit <= 0 {
		limit = len(acts)
	}
	sel := workflow.NewSelector(ctx)
	now := workflow.Now(ctx)
	pending, running := 0, 0
	var queue []int
	start := func(i int) {
		a := acts[i]
		name, opts, req := r.activityFor(a, now)
		f := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), name, req)
		pending++
		if a.Kind.Target() {
			running++
		}
		sel.AddFuture(f, func(f workflow.Future) {
			var o rollout.Observation
			if err := f.Get(ctx, &o); err != nil {
				o = r.failed(a, err)
			}
			// The worker's hands checked it; a worker of another release
			// may not have.
			obs[i], _ = rollout.CheckObservation(a, o)
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
	for len(queue) > 0 || pending > 0 {
		for len(queue) > 0 && running < limit {
			start(queue[0])
			queue = queue[1:]
		}
		sel.Select(ctx)
	}
	return obs
}

// activityFor returns the activity that performs a, its options and its
// input.
func (r *run) activityFor(a rollout.Action, now time.Time) (string, workflow.ActivityOptions, any) {
	rp := r.st.Policy.Retries(a.Kind)
	switch a.Kind {
	case rollout.ActionReadVersion:
		o := r.gateOptions()
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

// gateOptions are the options of quick activities. Their retries cover a
// lost worker or a timeout only: the activity itself reports the gate's
// error as an observation (which the step function fails closed on).
func (r *run) gateOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue:           r.set.TaskQueue,
		StartToCloseTimeout: or(r.set.GateTimeout.Std(), DefaultGateTimeout),
		RetryPolicy:         &sdktemporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second, MaximumAttempts: 3},
	}
}

// retryPolicy maps a rollout retry (total attempts, initial interval
// doubling up to a maximum) to Temporal's retry policy. Temporal adds no
// jitter; permanent errors never reach it (the activity reports them as
// its result).
func retryPolicy(r rollout.Retry) *sdktemporal.RetryPolicy {
	return &sdktemporal.RetryPolicy{
		InitialInterval:    r.Initial.Std(),
		BackoffCoefficient: 2,
		MaximumInterval:    r.Max.Std(),
		MaximumAttempts:    int32(r.MaxAttempts),
	}
}

// failed turns an activity that failed beyond its retries (timeouts, a
// lost worker, a worker without a Deployer) into the observation of a
// failed action, so that the step function decides what it means.
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
// control request arrives, whichever is first.
func (r *run) wait(ctx workflow.Context, signals workflow.ReceiveChannel, wakeAt time.Time) {
	now := workflow.Now(ctx)
	if !wakeAt.IsZero() && !wakeAt.After(now) {
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
	sel.Select(ctx)
}

func (r *run) mustContinue(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() >= or(r.set.MaxHistory, DefaultMaxHistory)
}

func (r *run) continued() (Input, error) {
	data, err := rollout.EncodeState(r.st)
	if err != nil {
		return Input{}, err
	}
	return Input{ID: r.in.ID, Settings: r.in.Settings, Continued: &Continued{
		State: data, Refused: r.refused, Events: r.events, Seq: r.seq,
	}}, nil
}
