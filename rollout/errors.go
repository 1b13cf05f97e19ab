package rollout

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrInvalid is wrapped by every [FieldError] of this package and by
	// every validation error it returns, including those that pass on
	// another package's problems (a plan's, which wrap wave's sentinels):
	// a plan, a policy, a version or a request is malformed. Nothing was
	// touched.
	ErrInvalid = errors.New("rollout: invalid input")
	// ErrLocked means another driver holds the lease on the rollout.
	ErrLocked = errors.New("rollout: locked by another driver")
	// ErrFenced means a save carried a fencing token that is no longer the
	// lease holder's: another driver took the rollout over.
	ErrFenced = errors.New("rollout: fencing token is stale")
	// ErrNotFound means the store holds no state for the rollout.
	ErrNotFound = errors.New("rollout: not found")
	// ErrExists means the store already holds a state for a rollout being
	// created; resume it instead.
	ErrExists = errors.New("rollout: already exists")
	// ErrCorrupt means a saved state failed its checksum or could not be
	// decoded.
	ErrCorrupt = errors.New("rollout: saved state is corrupt")
	// ErrSchema means a saved state has a schema this package does not
	// know (written by a newer version). See [*SchemaError].
	ErrSchema = errors.New("rollout: unsupported schema version")
	// ErrDone means the rollout has ended; it accepts no more requests.
	ErrDone = errors.New("rollout: rollout has ended")
	// ErrNotAuthorised is returned when the authoriser refuses a request
	// (it wraps the authoriser's error).
	ErrNotAuthorised = errors.New("rollout: not authorised")
	// ErrRolledBack is wrapped by the [*HaltError] a run that rolled back
	// returns.
	ErrRolledBack = errors.New("rollout: rolled back")
	// ErrRollbackFailed is wrapped by the [*HaltError] of a run that could
	// not roll every target back.
	ErrRollbackFailed = errors.New("rollout: rollback failed")
)

// SchemaError reports a saved state written with an unknown schema version.
type SchemaError struct {
	// Got is the saved state's schema version, Want this package's.
	Got, Want int
}

// Error says which versions.
func (e *SchemaError) Error() string {
	return fmt.Sprintf("rollout: saved state has schema version %d; this driver reads version %d (upgrade the driver)", e.Got, e.Want)
}

// Unwrap returns [ErrSchema].
func (e *SchemaError) Unwrap() error { return ErrSchema }

// HaltError is the outcome of a rollout that did not succeed: it rolled back
// ([ErrRolledBack]) or could not roll every target back
// ([ErrRollbackFailed]).
type HaltError struct {
	// Phase is [RolledBack] or [RollbackFailed].
	Phase Phase
	// Signal says why the rollout stopped.
	Signal Signal
	// Reason says it in plain words.
	Reason string
	// Failed names the targets that could not be rolled back, in the order
	// they were tried.
	Failed []string
}

// Error says how the rollout ended and why, naming the targets left on the
// new version.
func (e *HaltError) Error() string {
	if e.Phase == RollbackFailed {
		return fmt.Sprintf("rollout: rollback failed: %d target(s) not rolled back (%s); stopped on %s: %s",
			len(e.Failed), strings.Join(e.Failed, ", "), e.Signal, e.Reason)
	}
	return fmt.Sprintf("rollout: rolled back on %s: %s", e.Signal, e.Reason)
}

// Unwrap returns [ErrRolledBack] or [ErrRollbackFailed].
func (e *HaltError) Unwrap() error {
	if e.Phase == RollbackFailed {
		return ErrRollbackFailed
	}
	return ErrRolledBack
}
