package rollout

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/traffic"
	"github.com/shepherd-go/shepherd/wave"
)

// ActionKind says what an [Action] asks the executor to do.
type ActionKind string

const (
	// ActionReadVersion: read the version Target runs ([Deployer.Version])
	// and answer with [ObserveVersion]. Issued before a deploy (to record
	// what a rollback restores) and, after a restart, for targets whose
	// deploy may or may not have happened.
	ActionReadVersion ActionKind = "read-version"
	// ActionDeploy: deploy Version to Target, retrying transient errors
	// per [Policy.Deploy]'s Retry and giving up at once on permanent ones,
	// by Deadline if set; then read the version back. Answer with
	// [ObserveDeploy].
	ActionDeploy ActionKind = "deploy"
	// ActionRollback: put Target back on Version (its previous version),
	// retrying per [Policy.Rollback]'s Retry. Read the version first and do
	// nothing if it is already Version. Answer with [ObserveRollback].
	ActionRollback ActionKind = "rollback"
	// ActionCheckBlockers: evaluate the blockers for Subject at the
	// current time. Answer with [ObserveBlockers].
	ActionCheckBlockers ActionKind = "check-blockers"
	// ActionCheckAlarms: evaluate the alarms watched for Subject. Answer
	// with [ObserveAlarms].
	ActionCheckAlarms ActionKind = "check-alarms"
	// ActionReadEvidence: count the evidence of each of Requirements for
	// Subject from Since (the bake's start) to now, one count per
	// requirement in order ([bake.Measure] does this over an
	// [alarm.Source]). Answer with [ObserveEvidence].
	ActionReadEvidence ActionKind = "read-evidence"
	// ActionJudgeCanary: judge Subject's targets (the canary) against the
	// baseline from Since to now. Final is set for the judgement that
	// decides the stage. Answer with [ObserveVerdict].
	ActionJudgeCanary ActionKind = "judge-canary"
	// ActionVerify: run the stage's verification ([Verifier]) against
	// Subject's targets, by Deadline if set. Answer with [ObserveVerify].
	ActionVerify ActionKind = "verify"
)

// Target reports whether the action is about one target (and so is
// subject to [Output.Concurrency] and retries).
func (k ActionKind) Target() bool {
	return k == ActionReadVersion || k == ActionDeploy || k == ActionRollback
}

// Action is one thing the executor must do. It is plain data.
type Action struct {
	// Kind says what to do.
	Kind ActionKind `json:"kind"`
	// Round numbers the output the action belongs to; its observation
	// carries it back.
	Round uint64 `json:"round"`
	// Stage is the name of the stage the action is for.
	Stage string `json:"stage"`
	// Batch is the batch index within the stage, for target actions.
	Batch int `json:"batch,omitempty"`
	// Target is the target of a target action.
	Target wave.Target `json:"target,omitzero"`
	// Version is the version to deploy, or to roll back to.
	Version string `json:"version,omitempty"`
	// Deadline, if set, is when a deploy must be done.
	Deadline time.Time `json:"deadline,omitzero"`
	// Subject describes the stage for gate actions.
	Subject *Subject `json:"subject,omitempty"`
	// Since starts the window of evidence and canary actions.
	Since time.Time `json:"since,omitzero"`
	// Requirements are the evidence to count, for evidence actions.
	Requirements []bake.Requirement `json:"requirements,omitempty"`
	// Final marks the deciding canary judgement.
	Final bool `json:"final,omitempty"`
	// Route is the router's request, for route actions.
	Route *RouteChange `json:"route,omitempty"`
}

// Subject is what a gate is asked about: one stage of one rollout.
type Subject struct {
	// Rollout is the rollout's ID.
	Rollout string `json:"rollout"`
	// Version is the version the rollout deploys.
	Version string `json:"version"`
	// Stage is the stage's name in the plan.
	Stage string `json:"stage"`
	// Kind is the stage's kind (one-box, zone, region).
	Kind wave.StageKind `json:"kind"`
	// Wave is the index of the stage's wave, from 0.
	Wave int `json:"wave"`
	// Regions are the regions the stage touches.
	Regions []string `json:"regions,omitempty"`
	// Zones are the zones the stage touches, if the fleet has zones.
	Zones []string `json:"zones,omitempty"`
	// Targets are the IDs of the stage's targets; set for canary
	// judgements (the canary is the stage's targets) and blockers.
	Targets []string `json:"targets,omitempty"`
}

// ObservationKind says what an [Observation] reports.
type ObservationKind string

const (
	ObsVersion  ObservationKind = "version"  // answers ActionReadVersion
	ObsDeploy   ObservationKind = "deploy"   // answers ActionDeploy
	ObsRollback ObservationKind = "rollback" // answers ActionRollback
	ObsBlockers ObservationKind = "blockers" // answers ActionCheckBlockers
	ObsAlarms   ObservationKind = "alarms"   // answers ActionCheckAlarms
	ObsEvidence ObservationKind = "evidence" // answers ActionReadEvidence
	ObsVerdict  ObservationKind = "verdict"  // answers ActionJudgeCanary
	ObsVerify   ObservationKind = "verify"   // answers ActionVerify
	// ObsControl carries a control request (see [Control]); it needs no
	// round.
	ObsControl ObservationKind = "control"
	// ObsRestarted tells the state that its executor started afresh and
	// lost every action in flight; the state re-issues them.
	ObsRestarted ObservationKind = "restarted"
)

// Observation is the plain-data result of an action, or a control request.
// Build them with the Observe functions.
type Observation struct {
	// Kind says what the observation reports.
	Kind ObservationKind `json:"kind"`
	// Round is the round of the action answered; control requests and
	// restarts have none.
	Round uint64 `json:"round,omitempty"`
	// Target is the target's ID, for target observations.
	Target string `json:"target,omitempty"`
	// Version is the version read (ObsVersion) or read back after a deploy
	// or rollback.
	Version string `json:"version,omitempty"`
	// Err is the error, in words; empty means success.
	Err string `json:"err,omitempty"`
	// Permanent is set when a deploy failed with a permanent error (see
	// [Permanent]).
	Permanent bool `json:"permanent,omitempty"`
	// Attempts is how many calls a deploy or rollback took.
	Attempts int `json:"attempts,omitempty"`

	// Blocked lists the blockers holding the stage (ObsBlockers); empty
	// means clear.
	Blocked []BlockReason `json:"blocked,omitempty"`
	// Until is when the blockers may clear, if known.
	Until time.Time `json:"until,omitzero"`
	// Alarms are the evaluated alarms (ObsAlarms).
	Alarms []alarm.Result `json:"alarms,omitempty"`
	// Evidence holds one count per requirement of the action
	// (ObsEvidence).
	Evidence []float64 `json:"evidence,omitempty"`
	// Verdict is the canary judge's answer (ObsVerdict).
	Verdict *Verdict `json:"verdict,omitempty"`
	// Verify is the verifier's answer (ObsVerify).
	Verify *VerifyResult `json:"verify,omitempty"`
	// Control is the request (ObsControl).
	Control *Control `json:"control,omitempty"`
	// Route is the route read back (ObsRoute), for Scope.
	Route *traffic.Route `json:"route,omitempty"`
	Scope string         `json:"scope,omitempty"`
}

// ControlKind names a control request.
type ControlKind string

// The control requests: pause and resume the rollout, abort it (roll
// back), approve a stage's manual gate, skip a stage's bake (an audited
// override).
const (
	ControlPause    ControlKind = "pause"
	ControlResume   ControlKind = "resume"
	ControlAbort    ControlKind = "abort"
	ControlApprove  ControlKind = "approve"
	ControlSkipBake ControlKind = "skip-bake"
)

// Control is a request from a human (or their tooling) to a running
// rollout. Every request is recorded in the audit log with its actor.
type Control struct {
	// Kind says what is asked.
	Kind ControlKind `json:"kind"`
	// Actor is who asks; required.
	Actor string `json:"actor"`
	// Stage names the stage an approval or a bake skip is for.
	Stage string `json:"stage,omitempty"`
	// Reason says why; required for abort and skip-bake.
	Reason string `json:"reason,omitempty"`
}

// Validate reports a malformed request.
func (c Control) Validate() error {
	var ps problems
	switch c.Kind {
	case ControlPause, ControlResume, ControlAbort, ControlApprove, ControlSkipBake, ControlPromote:
	default:
		ps.add("control.Kind", "unknown kind %q", c.Kind)
	}
	if c.Actor == "" {
		ps.add("control.Actor", "empty: every request names who asks")
	}
	if (c.Kind == ControlApprove || c.Kind == ControlSkipBake || c.Kind == ControlPromote) && c.Stage == "" {
		ps.add("control.Stage", "empty: %s names a stage", c.Kind)
	}
	if (c.Kind == ControlAbort || c.Kind == ControlSkipBake) && c.Reason == "" {
		ps.add("control.Reason", "empty: %s must say why", c.Kind)
	}
	return ps.err()
}

// Output is what one step decided.
type Output struct {
	// Actions are to be performed, after saving the state if Persist is
	// set. Their observations go to the next step.
	Actions []Action
	// Concurrency is the most target actions to run at once; zero means
	// all at once.
	Concurrency int
	// WakeAt is when to call Step again if no observation arrives first;
	// zero means only an observation (a control request) can move the
	// rollout on. While actions are in flight it is when the alarms are
	// due again: an executor that steps the state before a round's
	// actions all return (a watchdog) gets an alarm check then, in the
	// same round, and a signal it raises stops the rollout at once.
	WakeAt time.Time
	// Persist is set when the state changed in a way that must be saved
	// before any action is performed.
	Persist bool
	// Events report what happened, in order.
	Events []Event
	// Done is set when the rollout has reached a terminal phase.
	Done bool
	// Cancel is set when the rollout stopped (a rollback started) while
	// target actions of an earlier output are still in flight: cancel
	// them. Their observations are still expected, as errors if they were
	// cancelled; the rollback then reads back and restores every target
	// whose deploy may have happened.
	Cancel bool
}

// ObserveVersion answers an [ActionReadVersion].
func ObserveVersion(a Action, version string, err error) Observation {
	o := Observation{Kind: ObsVersion, Round: a.Round, Target: a.Target.ID, Version: version}
	if err == nil && version == "" {
		err = errors.New("target reports no version")
	}
	if err != nil {
		o.Err = err.Error()
	}
	return o
}

// ObserveDeploy answers an [ActionDeploy]: version is the version read back
// after the deploy, attempts the number of calls made.
func ObserveDeploy(a Action, version string, attempts int, err error) Observation {
	o := Observation{Kind: ObsDeploy, Round: a.Round, Target: a.Target.ID, Version: version, Attempts: attempts}
	if err != nil {
		o.Err = err.Error()
		o.Permanent = IsPermanent(err)
	}
	return o
}

// ObserveRollback answers an [ActionRollback].
func ObserveRollback(a Action, version string, attempts int, err error) Observation {
	o := Observation{Kind: ObsRollback, Round: a.Round, Target: a.Target.ID, Version: version, Attempts: attempts}
	if err != nil {
		o.Err = err.Error()
	}
	return o
}

// ObserveBlockers answers an [ActionCheckBlockers]: blocked lists what holds
// the stage (empty: clear), until when it may clear if known. An error
// blocks: a blocker that cannot be evaluated is not a clear blocker.
func ObserveBlockers(a Action, blocked []BlockReason, until time.Time, err error) Observation {
	o := Observation{Kind: ObsBlockers, Round: a.Round, Blocked: blocked, Until: until}
	if err != nil {
		o.Err = err.Error()
	}
	return o
}

// ObserveAlarms answers an [ActionCheckAlarms].
func ObserveAlarms(a Action, results []alarm.Result, err error) Observation {
	o := Observation{Kind: ObsAlarms, Round: a.Round, Alarms: results}
	if err != nil {
		o.Err = err.Error()
	}
	return o
}

// ObserveEvidence answers an [ActionReadEvidence].
func ObserveEvidence(a Action, counts []float64, err error) Observation {
	o := Observation{Kind: ObsEvidence, Round: a.Round, Evidence: counts}
	if err != nil {
		o.Err = err.Error()
	}
	return o
}

// ObserveVerdict answers an [ActionJudgeCanary].
func ObserveVerdict(a Action, v Verdict, err error) Observation {
	o := Observation{Kind: ObsVerdict, Round: a.Round, Verdict: &v}
	if err != nil {
		o.Err = err.Error()
	}
	return o
}

// ObserveVerify answers an [ActionVerify]. An error is a verification
// that could not run (outcome [VerifyError]): it is retried per
// [VerifyPolicy.Retry] and fails closed when the retries run out.
func ObserveVerify(a Action, r VerifyResult, err error) Observation {
	o := Observation{Kind: ObsVerify, Round: a.Round, Verify: &r}
	if err != nil {
		o.Err = err.Error()
		r.Outcome = VerifyError
		if r.Reason == "" {
			r.Reason = o.Err
		}
	}
	return o
}

// ObserveControl wraps a control request.
func ObserveControl(c Control) Observation {
	return Observation{Kind: ObsControl, Control: &c}
}

// Restarted is the observation an executor passes to its first step after
// loading a saved state.
func Restarted() Observation { return Observation{Kind: ObsRestarted} }

// EventKind names an [Event].
type EventKind string

// The events, in the order a rollout meets them. Target events carry
// Target and Batch; stage events Stage and StageKind; blocked and signal
// events a Reason in plain words; events that end something its Duration.
const (
	EventStarted          EventKind = "started"
	EventRestarted        EventKind = "restarted"
	EventStageStarted     EventKind = "stage-started"
	EventBlocked          EventKind = "blocked"
	EventUnblocked        EventKind = "unblocked"
	EventAwaitingApproval EventKind = "awaiting-approval"
	EventApproved         EventKind = "approved"
	EventBatchStarted     EventKind = "batch-started"
	EventTargetDeployed   EventKind = "target-deployed"
	EventTargetUnchanged  EventKind = "target-unchanged"
	EventTargetFailed     EventKind = "target-failed"
	EventBatchFinished    EventKind = "batch-finished"
	EventBakeStarted      EventKind = "bake-started"
	EventBakeProgress     EventKind = "bake-progress"
	EventBakeSkipped      EventKind = "bake-skipped"
	EventAlarm            EventKind = "alarm"
	EventCanaryVerdict    EventKind = "canary-verdict"
	EventVerifyStarted    EventKind = "verify-started"
	EventVerifyResult     EventKind = "verify-result" // Reason starts with the outcome
	EventStagePromoted    EventKind = "stage-promoted"
	EventPaused           EventKind = "paused"
	EventResumed          EventKind = "resumed"
	EventControl          EventKind = "control" // a request was recorded (or ignored)
	EventSignal           EventKind = "signal"  // a signal was raised
	EventRollbackStarted  EventKind = "rollback-started"
	EventTargetRolledBack EventKind = "target-rolled-back"
	EventRollbackError    EventKind = "target-rollback-failed"
	EventRollbackFinished EventKind = "rollback-finished"
	EventSucceeded        EventKind = "succeeded"
	EventDryRun           EventKind = "dry-run" // what a dry run would do
)

// Event is something that happened, for callbacks, logs, traces and
// metrics. It is plain data.
type Event struct {
	// Kind says what happened.
	Kind EventKind `json:"kind"`
	// Time is the step's time.
	Time time.Time `json:"time"`
	// Rollout is the rollout's ID.
	Rollout string `json:"rollout"`
	// Stage is the stage concerned ("final" for the final bake).
	Stage string `json:"stage,omitempty"`
	// StageKind is the kind of Stage.
	StageKind wave.StageKind `json:"stageKind,omitempty"`
	// Batch is the batch's index within its stage.
	Batch int `json:"batch,omitempty"`
	// Target is the target's ID.
	Target string `json:"target,omitempty"`
	// Version is the version a target runs after the event.
	Version string `json:"version,omitempty"`
	// Actor is who asked, for control events.
	Actor string `json:"actor,omitempty"`
	// Signal is the signal raised or acted on.
	Signal Signal `json:"signal,omitempty"`
	// Reason says why, in plain words.
	Reason string `json:"reason,omitempty"`
	// Duration is how long the thing that ended took (a stage, a block, a
	// bake, a rollback).
	Duration time.Duration `json:"duration,omitempty"`
	// Blockers is the time each blocker held the stage (EventUnblocked),
	// or the blockers holding it (EventBlocked, zero durations).
	Blockers map[string]time.Duration `json:"blockers,omitempty"`
	// Targets counts targets (of a batch, or rolled back).
	Targets int `json:"targets,omitempty"`
	// Phase is the rollout's final phase (EventSucceeded,
	// EventRollbackFinished).
	Phase Phase `json:"phase,omitempty"`
	// Verdict is the canary judge's answer (EventCanaryVerdict).
	Verdict *Verdict `json:"verdict,omitempty"`
	// Timings is the stage's time per activity (EventStagePromoted) or the
	// rollout's (final events).
	Timings *Timings `json:"timings,omitempty"`
	// Share is a scope's new share of traffic, in percent (EventExposure).
	Share *float64 `json:"share,omitempty"`
	// Blast is the new version's blast radius by share of requests so far:
	// a scope's (EventExposure) or every scope's (EventRollbackFinished,
	// EventSucceeded).
	Blast *traffic.Blast `json:"blast,omitempty"`
}

// eventAlias has Event's fields without its methods.
type eventAlias Event

// MarshalJSON writes the durations in readable form ("1h30m0s"), as the
// rest of the saved state does.
func (e Event) MarshalJSON() ([]byte, error) {
	j := struct {
		eventAlias
		Duration string            `json:"duration,omitempty"`
		Blockers map[string]string `json:"blockers,omitempty"`
	}{eventAlias: eventAlias(e)}
	if e.Duration != 0 {
		j.Duration = e.Duration.String()
	}
	if e.Blockers != nil {
		j.Blockers = make(map[string]string, len(e.Blockers))
		for k, v := range e.Blockers {
			j.Blockers[k] = v.String()
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads durations written either way: readable strings, or
// the integer nanoseconds of events written before they were readable.
func (e *Event) UnmarshalJSON(data []byte) error {
	var j struct {
		*eventAlias
		Duration json.RawMessage            `json:"duration,omitempty"`
		Blockers map[string]json.RawMessage `json:"blockers,omitempty"`
	}
	j.eventAlias = (*eventAlias)(e)
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	var err error
	if e.Duration, err = eventDuration(j.Duration); err != nil {
		return fmt.Errorf("rollout: event duration: %w", err)
	}
	e.Blockers = nil
	if j.Blockers != nil {
		e.Blockers = make(map[string]time.Duration, len(j.Blockers))
		for k, raw := range j.Blockers {
			if e.Blockers[k], err = eventDuration(raw); err != nil {
				return fmt.Errorf("rollout: event blockers[%q]: %w", k, err)
			}
		}
	}
	return nil
}

func eventDuration(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		return time.ParseDuration(s)
	}
	var n int64
	err := json.Unmarshal(raw, &n)
	return time.Duration(n), err
}
