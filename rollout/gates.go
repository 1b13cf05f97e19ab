package rollout

import (
	"context"
	"time"

	"github.com/shepherd-go/shepherd/blocker"
)

// BlockerSet adapts a [blocker.Set] to [Blockers]: the stage becomes a
// [blocker.Subject] (the rollout's ID is the change, so overrides granted
// for the change apply), every blocking result becomes a [BlockReason], and
// the stage sleeps until the verdict's Until when every blocker knows when
// it clears.
type BlockerSet struct {
	Set blocker.Set
	// Service names the service for switches scoped to it.
	Service string
	// Labels are passed to blockers written by users.
	Labels map[string]string
}

// Check implements [Blockers].
func (b BlockerSet) Check(ctx context.Context, s Subject, now time.Time) ([]BlockReason, time.Time, error) {
	v, err := b.Set.Check(ctx, blocker.Subject{
		Change:  s.Rollout,
		Service: b.Service,
		Stage:   s.Stage,
		Regions: s.Regions,
		Targets: s.Targets,
		Labels:  b.Labels,
	}, now)
	var out []BlockReason
	for _, r := range v.Results {
		if r.Blocking() {
			out = append(out, BlockReason{Blocker: r.Blocker, Reason: r.Reason, Until: r.Until})
		}
	}
	if err != nil {
		return out, time.Time{}, err
	}
	return out, v.Until, nil
}
