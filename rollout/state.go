package rollout

import (
	"fmt"
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/traffic"
	"github.com/shepherd-go/shepherd/wave"
)

// SchemaVersion is the version of the [State] layout this package writes.
// A state with a higher version is refused with a [*SchemaError]; one
// with a lower version is migrated when decoded ([DecodeState]).
//
// Version 2 made the final bake a trailing stage ([FinalStage]) instead of
// a field of its own, named steps by their kinds ("deploy", "bake",
// "judge" instead of "deploying", "baking", "judging") with their position
// in the pipeline, and added the verify step.
const SchemaVersion = 2

// Phase is where a rollout is in its life.
type Phase string

const (
	// Running: the rollout is moving forward (or paused; see [State.Hold]).
	Running Phase = "running"
	// RollingBack: the rollout stopped and is rolling its targets back.
	RollingBack Phase = "rolling-back"
	// Succeeded: every stage was deployed, baked and promoted (or, in a
	// dry run, every gate was evaluated).
	Succeeded Phase = "succeeded"
	// RolledBack: the rollout stopped and every target it changed runs its
	// previous version again.
	RolledBack Phase = "rolled-back"
	// RollbackFailed: the rollout stopped and some targets could not be
	// rolled back; [RollbackState.Failed] names them. A human must act.
	RollbackFailed Phase = "rollback-failed"
)

// Terminal reports whether the phase is final.
func (p Phase) Terminal() bool { return p == Succeeded || p == RolledBack || p == RollbackFailed }

// StageStep is what a stage is doing: the kind of the step in progress,
// or [StepPending] before its first step and [StepPromoted] after its last.
type StageStep = StepKind

const (
	StepPending  StepKind = "pending"  // not started
	StepPromoted StepKind = "promoted" // done; the next stage may start

	StepDeploying = StepDeploy // Deprecated: use StepDeploy.
	StepBaking    = StepBake   // Deprecated: use StepBake.
	StepJudging   = StepJudge  // Deprecated: use StepJudge.
)

// TargetStatus is where one target is.
type TargetStatus string

const (
	// TargetPending: not touched yet.
	TargetPending TargetStatus = "pending"
	// TargetReading: its version is being read before its deploy.
	TargetReading TargetStatus = "reading"
	// TargetReady: its previous version is recorded; not deployed yet.
	TargetReady TargetStatus = "ready"
	// TargetDeploying: a deploy was issued (the intent is saved) and has
	// not been confirmed.
	TargetDeploying TargetStatus = "deploying"
	// TargetDeployed: it runs the new version.
	TargetDeployed TargetStatus = "deployed"
	// TargetUnchanged: it already ran the new version before the rollout
	// reached it; the rollout did not deploy it and will not roll it back.
	TargetUnchanged TargetStatus = "unchanged"
	// TargetFailed: its version could not be read, or its deploy failed
	// after retries. It counts against the stage's failure budget.
	TargetFailed TargetStatus = "failed"
	// TargetRollingBack: a rollback was issued and not confirmed.
	TargetRollingBack TargetStatus = "rolling-back"
	// TargetRolledBack: it runs its previous version again.
	TargetRolledBack TargetStatus = "rolled-back"
	// TargetRollbackFailed: its rollback failed after retries.
	TargetRollbackFailed TargetStatus = "rollback-failed"
)

// State is a rollout's whole persisted state: plain data, JSON-serialisable,
// versioned by [SchemaVersion]. Create it with [NewState]; advance it only
// with [State.Step]. Fields are exported so that the state can be saved,
// inspected and diffed; an executor must not change them.
type State struct {
	// Schema is the layout's version, [SchemaVersion] when written.
	Schema int `json:"schema"`
	// ID names the rollout; Version is the version it deploys.
	ID      string `json:"id"`
	Version string `json:"version"`
	// Plan is the plan, as given; it never changes.
	Plan wave.Plan `json:"plan"`
	// Policy is the policy, as given; it never changes.
	Policy Policy `json:"policy"`

	// Phase is where the rollout is in its life.
	Phase Phase `json:"phase"`
	// Created is when the rollout was created.
	Created time.Time `json:"created"`
	// Updated is the time of the last step; time spent since is charged to
	// the activity in progress at the next step.
	Updated time.Time `json:"updated"`
	// Ended is when the rollout reached its final phase.
	Ended time.Time `json:"ended,omitzero"`
	// Round numbers the actions of one output; observations carry it back
	// and stale ones are ignored.
	Round uint64 `json:"round"`

	// Stage is the index in Stages of the stage in progress; len(Stages)
	// once every stage is promoted.
	Stage int `json:"stage"`
	// Hold is set while the rollout is paused.
	Hold *Hold `json:"hold,omitempty"`
	// Abort is set when an abort was requested and the rollback has not
	// started yet.
	Abort *AuditEntry `json:"abort,omitempty"`

	// Stages holds every stage of the plan, in order, then the
	// [FinalStage] when the plan has a final bake.
	Stages []StageState `json:"stages"`
	// Targets holds every target of the plan, in plan order (wave, stage,
	// batch, then the batch's order).
	Targets []TargetState `json:"targets"`

	// Watch is the alarm watch.
	Watch Watch `json:"watch"`
	// Rollback is set once a rollback has started.
	Rollback *RollbackState `json:"rollback,omitempty"`
	// Pending lists the gate actions of the current round not yet
	// answered.
	Pending []ActionKind `json:"pending,omitempty"`
	// Timings is the time spent per activity over the whole rollout.
	Timings Timings `json:"timings"`
	// Decisions records every gate decision with its reason, in order.
	Decisions []Decision `json:"decisions,omitempty"`
	// Audit records every control request (pause, resume, abort, approve,
	// skip a bake) with its actor.
	Audit []AuditEntry `json:"audit,omitempty"`

	ix    *index    // derived from Plan; rebuilt after decoding
	inbox inbox     // observations of the step in progress
	sig   *pending  // signal raised during the step in progress
	enc   *encCache // parts of the last encoding
	// pendingPos and readyPos are the deploy step's scratch.
	pendingPos, readyPos []int
}

// TargetState is one target's record.
type TargetState struct {
	// ID is the target's ID in the plan.
	ID string `json:"id"`
	// Status is where the target is.
	Status TargetStatus `json:"status"`
	// Previous is the version the target ran before the rollout deployed
	// it: what a rollback restores.
	Previous string `json:"previous,omitempty"`
	// Current is the version last read back from the target.
	Current string `json:"current,omitempty"`
	// Attempted is set once a deploy was issued to the target.
	Attempted bool `json:"attempted,omitempty"`
	// Attempts counts the deploy calls the executor made, and
	// RollbackAttempts the rollback calls.
	Attempts int `json:"attempts,omitempty"`
	// RollbackAttempts counts the rollback calls.
	RollbackAttempts int `json:"rollbackAttempts,omitempty"`
	// Error is the last error, in words.
	Error string `json:"error,omitempty"`
}

// StageState is one stage's record.
type StageState struct {
	// Name, Kind and Wave are the plan stage's.
	Name string         `json:"name"`
	Kind wave.StageKind `json:"kind"`
	Wave int            `json:"wave"`
	// Step is what the stage is doing: the kind of the step in progress,
	// or [StepPending] or [StepPromoted]. Pos is its position in the
	// stage's pipeline ([Policy.Steps]).
	Step StageStep `json:"step"`
	Pos  int       `json:"pos,omitempty"`
	// Batch is the batch being deployed while Step is deploying.
	Batch int `json:"batch"`

	// Started is when the stage began (blockers first), Deployed when its
	// deploys began, Baking when its bake began, Finished when it was
	// promoted.
	Started  time.Time `json:"started,omitzero"`
	Deployed time.Time `json:"deployed,omitzero"`
	Baking   time.Time `json:"baking,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	// Deadline is when deploying must be done, or zero.
	Deadline time.Time `json:"deadline,omitzero"`
	// Next is when the stage's gate (blockers while blocked, evidence
	// while baking) is read next.
	Next time.Time `json:"next,omitzero"`

	// Blocked is the current blockers while the stage is blocked.
	Blocked []BlockReason `json:"blocked,omitempty"`
	// BlockedSince is when the current block began, BlockedCheck when the
	// blockers were last evaluated.
	BlockedSince time.Time `json:"blockedSince,omitzero"`
	BlockedCheck time.Time `json:"blockedCheck,omitzero"`
	// BlockedBy is the time each blocker held the stage.
	BlockedBy map[string]duration.Duration `json:"blockedBy,omitempty"`

	Approval *AuditEntry `json:"approval,omitempty"`
	AskedAt  time.Time   `json:"askedAt,omitzero"` // when approval was first awaited
	SkipBake *AuditEntry `json:"skipBake,omitempty"`
	// Bake is the stage's bake, from the end of its last batch; nil when
	// the plan gives the stage no bake.
	Bake *bake.Tracker `json:"bake,omitempty"`
	// Evidence is the evidence last counted, one count per requirement
	// of the bake's policy.
	Evidence []float64 `json:"evidence,omitempty"`
	// BakeNote is what the bake last said it waits for.
	BakeNote string `json:"bakeNote,omitempty"`
	// Polled marks the single look of a dry run's bake.
	Polled    bool      `json:"polled,omitempty"`
	NextJudge time.Time `json:"nextJudge,omitzero"`
	Verdict   *Verdict  `json:"verdict,omitempty"`
	// Verify is the verify step's record, once begun.
	Verify *VerifyState `json:"verify,omitempty"`
	// Exposure is the exposure step's record, once begun.
	Exposure *ExposureState `json:"exposure,omitempty"`

	Timings Timings `json:"timings"`
}

// Hold is a pause.
type Hold struct {
	// Actor is who paused ("shepherd" for a pause on a signal), Reason
	// why, Since when.
	Actor  string    `json:"actor"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
	// Signal is set when the driver paused itself on a signal (a
	// [Pause] reaction) rather than on a request.
	Signal Signal `json:"signal,omitempty"`
}

// Watch is the alarm-watching record.
type Watch struct {
	// Active is set from the first deployed target on.
	Active bool `json:"active,omitempty"`
	// Next is when the alarms are checked next; Last is the last check
	// that found them readable and not firing.
	Next time.Time `json:"next,omitzero"`
	Last time.Time `json:"last,omitzero"`
	// Unreadable counts consecutive checks that could not be read.
	Unreadable int `json:"unreadable,omitempty"`
	// Firing is the last non-OK results, in words.
	Firing []string `json:"firing,omitempty"`
}

// RollbackState is the rollback's record.
type RollbackState struct {
	// Signal is why the rollback started, Reason in plain words, Started
	// when.
	Signal  Signal    `json:"signal"`
	Reason  string    `json:"reason"`
	Started time.Time `json:"started"`
	// Cursor is the plan position below which targets remain to be
	// considered; targets are rolled back from the end of the plan to its
	// start.
	Cursor int `json:"cursor"`
	// Done counts targets rolled back.
	Done int `json:"done"`
	// Failed names the targets that could not be rolled back, and the
	// scopes whose share could not be set back to 0 ("route:" and the
	// scope).
	Failed []string `json:"failed,omitempty"`
	// Blast is the version's exposure by share of requests, over every
	// scope, when the rollout ramped traffic.
	Blast *traffic.Blast `json:"blast,omitempty"`
}

// BlockReason is one blocker holding a stage.
type BlockReason struct {
	// Blocker names the blocker, Reason says why in plain words, Until
	// is when it may clear (zero when unknown).
	Blocker string    `json:"blocker"`
	Reason  string    `json:"reason"`
	Until   time.Time `json:"until,omitzero"`
	// Never is true when the blocker knows it does not clear within the
	// horizon it searches (a [blocker.Calendar] that never opens; see
	// [blocker.ErrNeverOpen]). The stage then gives up at once rather
	// than wait for [BlockerPolicy.MaxWait], as it does when Until lies
	// beyond that wait.
	Never bool `json:"never,omitempty"`
}

// String formats the reason as "blocker: reason (until T)", or
// "blocker: reason (never within the horizon)". The time is left out when
// the reason already states it (a calendar's freeze "until T"), so that it
// is said once.
func (b BlockReason) String() string {
	switch {
	case b.Never:
		return fmt.Sprintf("%s: %s (never within the horizon)", b.Blocker, b.Reason)
	case b.Until.IsZero() || mentions(b.Reason, b.Until):
		return fmt.Sprintf("%s: %s", b.Blocker, b.Reason)
	}
	return fmt.Sprintf("%s: %s (until %s)", b.Blocker, b.Reason, b.Until.Format(time.RFC3339))
}

// mentions reports whether s states t in RFC 3339, in t's location or UTC.
func mentions(s string, t time.Time) bool {
	return strings.Contains(s, t.Format(time.RFC3339)) || strings.Contains(s, t.UTC().Format(time.RFC3339))
}

// Verdict is a canary judge's answer.
type Verdict struct {
	// Outcome is the judge's decision.
	Outcome VerdictOutcome `json:"outcome"`
	// Score is the judge's score (0-100 for Kayenta-style judges), if any.
	Score float64 `json:"score,omitzero"`
	// Reason explains the verdict; Time is when it was given.
	Reason string    `json:"reason"`
	Time   time.Time `json:"time,omitzero"`
}

// VerdictOutcome is a canary judge's outcome. Only a pass promotes.
type VerdictOutcome string

// The outcomes of a canary judgement.
const (
	VerdictPass         VerdictOutcome = "pass"
	VerdictMarginal     VerdictOutcome = "marginal"
	VerdictFail         VerdictOutcome = "fail"
	VerdictInconclusive VerdictOutcome = "inconclusive"
)

// Decision is a gate decision with its reason.
type Decision struct {
	// Time is the step's time; Stage the stage decided about, if any.
	Time  time.Time `json:"time"`
	Stage string    `json:"stage,omitempty"`
	// Gate is what decided: a step's gate, or the [Signal] acted on.
	Gate Gate `json:"gate"`
	// Outcome is what it decided.
	Outcome Outcome `json:"outcome"`
	// Reason says why, in plain words.
	Reason string `json:"reason"`
}

// Gate names what made a [Decision]: one of the constants, or a [Signal]
// (Gate(SignalAlarm)) when the decision is the reaction to it.
type Gate string

// The gates.
const (
	GateBlockers Gate = "blockers"
	GateApproval Gate = "approval"
	GateBake     Gate = "bake"
	GateCanary   Gate = "canary"
	GateVerify   Gate = "verify"
	GateDryRun   Gate = "dry-run"
	GateRollout  Gate = "rollout"
	GateRollback Gate = "rollback"
)

// Outcome is what a gate decided: one of the constants; a dry run's
// outcomes start with "would"; a reaction is the [Reaction]'s name; a
// rollback's end is the [Phase].
type Outcome string

// The outcomes.
const (
	OutcomeClear       Outcome = "clear"
	OutcomeBlocked     Outcome = "blocked"
	OutcomeWait        Outcome = "wait"
	OutcomeProceed     Outcome = "proceed"
	OutcomeDone        Outcome = "done"
	OutcomeSkipped     Outcome = "skipped"
	OutcomePass        Outcome = "pass"
	OutcomeFail        Outcome = "fail"
	OutcomeSucceeded   Outcome = "succeeded"
	OutcomeWouldWait   Outcome = "would wait"
	OutcomeWouldDeploy Outcome = "would deploy"
	OutcomeWouldBake   Outcome = "would bake"
	OutcomeWouldVerify Outcome = "would verify"
)

// AuditEntry records a control request.
type AuditEntry struct {
	// Time is when the request was applied; Kind, Actor, Stage and Reason
	// are the request's.
	Time   time.Time   `json:"time"`
	Kind   ControlKind `json:"kind"`
	Actor  string      `json:"actor"`
	Stage  string      `json:"stage,omitempty"`
	Reason string      `json:"reason,omitempty"`
	// Ignored says why a request had no effect, if it had none.
	Ignored string `json:"ignored,omitempty"`
}

// Activity is what the rollout spends time on.
type Activity string

// The activities timed: waiting for blockers, for an approval, deploying,
// baking, waiting for the canary judge, paused, rolling back.
const (
	ActivityBlocked     Activity = "blocked"
	ActivityApproval    Activity = "approval"
	ActivityDeploying   Activity = "deploying"
	ActivityBaking      Activity = "baking"
	ActivityJudging     Activity = "judging"
	ActivityVerifying   Activity = "verifying"
	ActivityPaused      Activity = "paused"
	ActivityRollingBack Activity = "rolling-back"
)

// Timings is time per activity, so that a team sees where its lead time
// goes.
type Timings struct {
	// Each field is the time spent on the activity of its name.
	Blocked     duration.Duration `json:"blocked,omitzero"`
	Approval    duration.Duration `json:"approval,omitzero"`
	Deploying   duration.Duration `json:"deploying,omitzero"`
	Baking      duration.Duration `json:"baking,omitzero"`
	Judging     duration.Duration `json:"judging,omitzero"`
	Verifying   duration.Duration `json:"verifying,omitzero"`
	Paused      duration.Duration `json:"paused,omitzero"`
	RollingBack duration.Duration `json:"rollingBack,omitzero"`
}

func (t *Timings) add(a Activity, d time.Duration) {
	dd := duration.Duration(d)
	switch a {
	case ActivityBlocked:
		t.Blocked += dd
	case ActivityApproval:
		t.Approval += dd
	case ActivityDeploying:
		t.Deploying += dd
	case ActivityBaking:
		t.Baking += dd
	case ActivityJudging:
		t.Judging += dd
	case ActivityVerifying:
		t.Verifying += dd
	case ActivityPaused:
		t.Paused += dd
	case ActivityRollingBack:
		t.RollingBack += dd
	}
}

// Get returns the time spent on a.
func (t Timings) Get(a Activity) time.Duration {
	switch a {
	case ActivityBlocked:
		return t.Blocked.Std()
	case ActivityApproval:
		return t.Approval.Std()
	case ActivityDeploying:
		return t.Deploying.Std()
	case ActivityBaking:
		return t.Baking.Std()
	case ActivityJudging:
		return t.Judging.Std()
	case ActivityVerifying:
		return t.Verifying.Std()
	case ActivityPaused:
		return t.Paused.Std()
	case ActivityRollingBack:
		return t.RollingBack.Std()
	}
	return 0
}

// Activities lists every activity, in the order a stage goes through them.
var Activities = []Activity{ActivityBlocked, ActivityApproval, ActivityDeploying, ActivityVerifying, ActivityBaking, ActivityJudging, ActivityPaused, ActivityRollingBack}

// inbox holds the gate observations of the step in progress until the
// step kind that asked for them takes them.
type inbox []*Observation

func (in *inbox) put(o *Observation) { *in = append(*in, o) }

// answers reports whether the inbox holds a step's answer (anything but
// the alarms a bake reads).
func (in inbox) answers() bool {
	for _, o := range in {
		if o.Kind != ObsAlarms {
			return true
		}
	}
	return false
}

// take removes and returns the observation of kind k, or nil.
func (in *inbox) take(k ObservationKind) *Observation {
	for i, o := range *in {
		if o.Kind == k {
			*in = append((*in)[:i], (*in)[i+1:]...)
			return o
		}
	}
	return nil
}

type pending struct {
	signal Signal
	reason string
	// hold forces a pause whatever the reaction (a bake whose policy says
	// an inconclusive end holds for a human).
	hold bool
}

// alarmWords formats non-OK alarm results.
func alarmWords(rs []alarm.Result) []string {
	var out []string
	for _, r := range rs {
		if r.State != alarm.OK {
			out = append(out, r.String())
		}
	}
	return out
}
