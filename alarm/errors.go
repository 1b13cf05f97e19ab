package alarm

import (
	"errors"
	"fmt"
)

// Sentinel errors. Validation and parse errors wrap one of them, so that
// callers can test the kind of problem with [errors.Is] and read the detail
// with [errors.As] (a [*FieldError] or a [*SyntaxError]).
var (
	// ErrInvalid is wrapped by every [FieldError] about a malformed field.
	ErrInvalid = errors.New("alarm: invalid rule")
	// ErrUnknownAlarm means a composite expression or a lookup names an
	// alarm that the set does not hold.
	ErrUnknownAlarm = errors.New("alarm: unknown alarm")
	// ErrCycle means composite alarms refer to each other in a loop.
	ErrCycle = errors.New("alarm: composite cycle")
	// ErrSyntax is wrapped by every [SyntaxError].
	ErrSyntax = errors.New("alarm: syntax error")
)

// FieldError is one problem with one field of a rule, named by its path from
// the value being validated, for example "Threshold.DatapointsToAlarm".
// Validate methods report every problem they find, joined with
// [errors.Join].
type FieldError struct {
	// Rule is the name of the rule the field belongs to, when known.
	Rule string
	// Field is the field's path, in Go field names.
	Field string
	// Problem says what is wrong, with the offending value.
	Problem string
	// Err is the sentinel the error wraps: [ErrInvalid], [ErrUnknownAlarm],
	// [ErrCycle] or [ErrSyntax].
	Err error
}

// Error formats the error as `alarm: rule "name": Field: problem`.
func (e *FieldError) Error() string {
	if e.Rule != "" {
		return fmt.Sprintf("alarm: rule %q: %s: %s", e.Rule, e.Field, e.Problem)
	}
	return fmt.Sprintf("alarm: %s: %s", e.Field, e.Problem)
}

// Unwrap returns the sentinel error (ErrInvalid when none was set).
func (e *FieldError) Unwrap() error {
	if e.Err == nil {
		return ErrInvalid
	}
	return e.Err
}

// problems collects field errors under a path prefix.
type problems struct {
	rule   string
	prefix string
	errs   []error
}

func (p *problems) add(field, format string, args ...any) {
	p.addErr(field, ErrInvalid, format, args...)
}

func (p *problems) addErr(field string, sentinel error, format string, args ...any) {
	p.errs = append(p.errs, &FieldError{
		Rule:    p.rule,
		Field:   p.prefix + field,
		Problem: fmt.Sprintf(format, args...),
		Err:     sentinel,
	})
}

func (p *problems) err() error { return errors.Join(p.errs...) }
