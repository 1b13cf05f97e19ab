package alarm

import (
	"errors"

	"github.com/shepherd-go/shepherd/field"
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

// FieldError is one problem with one field of a rule or a set, named by
// its path from the value validated, for example "Threshold.Period" for a
// rule on its own or `rules["latency"].Threshold.Period` in [NewSet].
// Its Err is the sentinel: [ErrInvalid], [ErrUnknownAlarm], [ErrCycle], or
// a [*SyntaxError] (which wraps [ErrSyntax]). Validate methods and NewSet
// report every problem they find, joined with [errors.Join]. It is the one
// shape of a validation problem in shepherd, [field.Error].
type FieldError = field.Error

// problems collects field errors under a path: base (which rule of a set)
// and prefix (which part of the rule).
type problems struct {
	base   string
	prefix string
	list   field.List
}

func (p *problems) add(name, format string, args ...any) {
	p.addErr(name, ErrInvalid, format, args...)
}

func (p *problems) addErr(name string, sentinel error, format string, args ...any) {
	p.list.Add(sentinel, p.base+p.prefix+name, format, args...)
}

func (p *problems) err() error { return p.list.Err() }
