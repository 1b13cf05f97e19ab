// Package gates adapts the blocker package to the driver's gate interface
// for the examples. It is the glue a team writes once.
package gates

import (
	"context"
	"time"

	"github.com/shepherd-go/shepherd/blocker"
	"github.com/shepherd-go/shepherd/rollout"
)

// Blockers makes a blocker set the driver's [rollout.Blockers]: each stage
// is judged as a [blocker.Subject] of the given service, every blocking
// result becomes a [rollout.BlockReason], and the set's clear time (when
// every blocker knows its own) becomes the time the driver sleeps until.
func Blockers(set blocker.Set, service string) rollout.Blockers {
	return rollout.BlockersFunc(func(ctx context.Context, s rollout.Subject, now time.Time) ([]rollout.BlockReason, time.Time, error) {
		v, err := set.Check(ctx, blocker.Subject{
			Change:  s.Rollout,
			Service: service,
			Stage:   s.Stage,
			Regions: s.Regions,
			Targets: s.Targets,
		}, now)
		if err != nil {
			return nil, time.Time{}, err
		}
		var out []rollout.BlockReason
		for _, r := range v.Results {
			if r.Blocking() {
				out = append(out, rollout.BlockReason{Blocker: r.Blocker, Reason: r.Reason, Until: r.Until})
			}
		}
		until := v.Until
		if until.IsZero() {
			until = v.Earliest
		}
		return out, until, nil
	})
}
