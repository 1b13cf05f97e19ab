package rollout

import (
	"github.com/shepherd-go/shepherd/duration"
)

// VerifyPolicy governs the verify step: a stage-level check run through
// the [Verifier] once the stage's targets are deployed (place
// [StepVerify] in [Policy.Steps] where it should run).
type VerifyPolicy struct {
	// Stages are patterns ([path.Match] syntax, as for
	// [Policy.Approvals]) of the names of the stages that verify. Empty
	// means every stage.
	Stages []string `json:"stages,omitempty"`
	// Timeout bounds one run of the check. Zero means
	// [DefaultVerifyTimeout].
	Timeout duration.Duration `json:"timeout,omitzero"`
	// Retry is how a check that could not run (an error, or
	// [VerifyError]) is tried again. Zero values: 3 attempts, 10s initial
	// interval, 1m maximum interval. A [VerifyFail] is never retried.
	Retry Retry `json:"retry,omitzero"`
}
