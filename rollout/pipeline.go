package rollout

// StepKind names a kind of step of a stage's pipeline ([Policy.Steps]).
type StepKind string

// The step kinds. Each is one small type in a file of its own (step_*.go)
// registered in the kinds table.
const (
	// StepBlockers waits until no blocker holds the stage.
	StepBlockers StepKind = "blockers"
	// StepApproval waits for a manual approval when the stage needs one
	// ([Policy.Approvals]).
	StepApproval StepKind = "approval"
	// StepDeploy deploys the stage's batches.
	StepDeploy StepKind = "deploy"
	// StepVerify runs the stage's verification ([Verifier],
	// [VerifyPolicy]).
	StepVerify StepKind = "verify"
	// StepBake bakes the stage: a minimum time AND a minimum amount of
	// evidence, alarms watched.
	StepBake StepKind = "bake"
	// StepJudge asks the canary judge for the deciding verdict
	// ([CanaryPolicy]).
	StepJudge StepKind = "judge"
)

// DefaultSteps is the pipeline of a stage when [Policy.Steps] is empty.
var DefaultSteps = []StepKind{StepBlockers, StepApproval, StepDeploy, StepBake, StepJudge}
