package wave

import (
	"errors"

	"github.com/shepherd-go/shepherd/field"
)

// Sentinel errors, one per kind of problem. Every problem is reported as a
// [*FieldError] that wraps one of them, and the problems of one call are
// joined with [errors.Join], so that errors.Is(err, ErrDuplicateID) works on
// the error returned by [Policy.Plan], [Policy.Validate] or [Plan.Validate],
// and [field.All] lists the problems with their paths.
var (
	// ErrInvalid is a policy value that is not allowed (a batch fraction
	// outside (0, 1], a growth factor below 1, an empty level name, a
	// negative bake...).
	ErrInvalid = errors.New("wave: invalid value")
	// ErrNoTargets is an empty fleet, or one the exclusions emptied.
	ErrNoTargets = errors.New("wave: no targets")
	// ErrDuplicateID is two targets with the same ID.
	ErrDuplicateID = errors.New("wave: duplicate target ID")
	// ErrLocation is a target location with fewer entries than the policy
	// has levels, or an empty entry.
	ErrLocation = errors.New("wave: bad location")
	// ErrWeight is a negative, NaN or infinite target weight.
	ErrWeight = errors.New("wave: bad weight")
	// ErrUnknownRegion is a pinned region with no target in the fleet.
	ErrUnknownRegion = errors.New("wave: unknown region")
	// ErrMinHealthy is a minimum of healthy targets that cannot be met: it
	// leaves no target to deploy in some zone, so the rollout could never
	// start there.
	ErrMinHealthy = errors.New("wave: minimum healthy cannot be met")
	// ErrNoOneBox is a region without a target light enough for a one-box
	// when the policy requires one ([OneBoxRule.Require]).
	ErrNoOneBox = errors.New("wave: no one-box")
	// ErrPlan is a plan that breaks one of the invariants [Plan.Validate]
	// checks.
	ErrPlan = errors.New("wave: invalid plan")
)

// FieldError is one problem with one field of a policy, a fleet or a plan:
// shepherd's one shape of a validation problem, [field.Error]. Its Path
// starts with what holds the field ("policy.Batch.MaxFraction",
// "targets[3].Weight", "plan.Waves[1].Stages[0].Name"), its Err is one of
// the sentinels above, and it formats as "wave: path: problem".
type FieldError = field.Error

// problems collects the problems of one validation, each under a path
// prefix ("policy", "plan"; "" for the fleet, whose paths start with
// "targets").
type problems struct {
	prefix string
	list   field.List
}

func (ps *problems) add(err error, path, format string, args ...any) {
	ps.list.Add(err, join(ps.prefix, path), format, args...)
}

func (ps *problems) count() int { return ps.list.Len() }

func (ps *problems) err() error { return ps.list.Err() }

// join joins a path prefix and a path: "policy" and "Batch" give
// "policy.Batch", "plan" and "[0]" give "plan[0]".
func join(prefix, path string) string {
	switch {
	case prefix == "":
		return path
	case path == "":
		return prefix
	case path[0] == '[':
		return prefix + path
	}
	return prefix + "." + path
}
