package wave

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors, one per kind of problem. Every problem is reported as a
// [*FieldError] that wraps one of them, so that errors.Is(err,
// ErrDuplicateID) works on the error returned by [Policy.Plan],
// [Policy.Validate] or [Plan.Validate].
var (
	// ErrInvalid is a policy value that is not allowed (a batch fraction
	// outside (0, 1], a growth factor below 1, an empty level name...).
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
	// ErrPlan is a plan that breaks one of the invariants [Plan.Validate]
	// checks.
	ErrPlan = errors.New("wave: invalid plan")
)

// FieldError is one problem with one field of a policy, a fleet or a plan.
type FieldError struct {
	// Subject is what holds the field: "policy", "fleet" or "plan".
	Subject string
	// Field is the path of the field inside the subject, for example
	// "Batch.MaxFraction" or "targets[3].Weight".
	Field string
	// Err is the sentinel error for the kind of problem.
	Err error
	// Detail says what is wrong, in plain words.
	Detail string
}

// Error formats the problem as "wave: subject: field: detail".
func (e *FieldError) Error() string {
	return "wave: " + e.Subject + ": " + e.Field + ": " + e.Detail
}

// Unwrap returns the sentinel error.
func (e *FieldError) Unwrap() error { return e.Err }

// maxProblems bounds how many problems one error lists: a million bad
// targets should not make a million-line error.
const maxProblems = 100

// ValidationError is every problem found in one validation, in the order
// they were found. Use errors.As to get it and list the problems; errors.Is
// matches the sentinel of any of them.
type ValidationError struct {
	// Problems are the problems found, at most 100 of them.
	Problems []*FieldError
	// Omitted counts the problems found beyond those listed.
	Omitted int
}

// Error lists the problems, one a line.
func (e *ValidationError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.Error())
	}
	if e.Omitted > 0 {
		fmt.Fprintf(&b, "\nwave: and %d more problems", e.Omitted)
	}
	return b.String()
}

// Unwrap returns the problems, so that errors.Is and errors.As see each.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}

// problems collects the problems of one validation.
type problems struct {
	subject string
	list    []*FieldError
	omitted int
}

func (ps *problems) add(err error, field, format string, args ...any) {
	if len(ps.list) >= maxProblems {
		ps.omitted++
		return
	}
	ps.list = append(ps.list, &FieldError{Subject: ps.subject, Field: field, Err: err, Detail: fmt.Sprintf(format, args...)})
}

// addFrom records a problem under another subject (a fleet check that is
// about a policy field).
func (ps *problems) addFrom(subject string, err error, field, format string, args ...any) {
	s := ps.subject
	ps.subject = subject
	ps.add(err, field, format, args...)
	ps.subject = s
}

func (ps *problems) count() int { return len(ps.list) + ps.omitted }

func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps.list, Omitted: ps.omitted}
}
