package rollout

import (
	"fmt"
	"path"

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

func (p VerifyPolicy) validate(ps *problems, prefix string) {
	for i, pat := range p.Stages {
		if pat == "" {
			ps.add(fmt.Sprintf("%s.Stages[%d]", prefix, i), "empty pattern")
		} else if _, err := path.Match(pat, ""); err != nil {
			ps.add(fmt.Sprintf("%s.Stages[%d]", prefix, i), "bad pattern %q: %v", pat, err)
		}
	}
	if p.Timeout < 0 {
		ps.add(prefix+".Timeout", "%s is negative", p.Timeout)
	}
	p.Retry.validate(ps, prefix+".Retry")
}
