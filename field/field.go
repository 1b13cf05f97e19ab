// Package field is the one shape of a validation problem in shepherd: a
// field path, the problem in plain words, and the sentinel error of its
// kind.
//
// Every package that validates input (a plan policy, a bake policy, an
// alarm rule, a rollout policy, a policy file) reports each problem as an
// [*Error] and joins them with [errors.Join], so that a caller can
//
//   - print them all at once, one a line;
//   - test for a kind with [errors.Is] (errors.Is(err, wave.ErrInvalid));
//   - list them with [errors.As] or [All] and read each path.
//
// Errors from one package pass through another unchanged: a rollout that
// rejects a plan returns the plan's own problems, still wrapping
// wave's sentinels.
package field

import (
	"errors"
	"fmt"
	"strings"
)

// Error is one problem with one field.
type Error struct {
	// Path locates the field from the value validated, in the names a
	// reader of its Go struct or its JSON file knows, for example
	// "policy.Batch.MaxFraction" or "plan.Waves[0].Stages[1]".
	Path string
	// Problem says what is wrong, with the offending value.
	Problem string
	// Err is the sentinel error of the problem's kind (for example
	// wave.ErrInvalid). Its package prefix ("wave: ...") prefixes the
	// message.
	Err error
}

// Error formats the problem as "pkg: path: problem", where pkg is the
// sentinel's package prefix.
func (e *Error) Error() string {
	var b strings.Builder
	if p := prefix(e.Err); p != "" {
		b.WriteString(p)
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Problem)
	return b.String()
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

// prefix returns the package name a sentinel's message starts with
// ("wave" for "wave: invalid value"), or "".
func prefix(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	i := strings.Index(s, ": ")
	if i <= 0 || strings.ContainsAny(s[:i], " \t\n") {
		return ""
	}
	return s[:i]
}

// MaxProblems bounds how many problems a [List] keeps: a fleet of a million
// bad targets should not make a million-line error.
const MaxProblems = 100

// List collects the problems of one validation. Its zero value is ready to
// use.
type List struct {
	errs    []error
	omitted int
	last    error
}

// Add records a problem of kind sentinel at path.
func (l *List) Add(sentinel error, path, format string, args ...any) {
	if len(l.errs) >= MaxProblems {
		l.omitted++
		l.last = sentinel
		return
	}
	l.errs = append(l.errs, &Error{Path: path, Problem: fmt.Sprintf(format, args...), Err: sentinel})
}

// Merge records every problem of err, as it is: an error that is not a
// field error is kept whole. Merging nil does nothing.
func (l *List) Merge(err error) {
	if err == nil {
		return
	}
	for _, e := range Flatten(err) {
		if len(l.errs) >= MaxProblems {
			l.omitted++
			continue
		}
		l.errs = append(l.errs, e)
	}
}

// Len reports how many problems were recorded, omitted ones included.
func (l *List) Len() int { return len(l.errs) + l.omitted }

// Err returns the problems joined with [errors.Join], or nil when there are
// none. Problems past [MaxProblems] are counted in a last line.
func (l *List) Err() error {
	if l.Len() == 0 {
		return nil
	}
	errs := l.errs
	if l.omitted > 0 {
		errs = append(errs[:len(errs):len(errs)], &omitted{n: l.omitted, err: l.last})
	}
	return errors.Join(errs...)
}

type omitted struct {
	n   int
	err error
}

func (o *omitted) Error() string { return fmt.Sprintf("and %d more problems", o.n) }
func (o *omitted) Unwrap() error { return o.err }

// Flatten returns the leaves of a tree of joined errors, in order: each
// [*Error] (and each other error that joins nothing) once.
func Flatten(err error) []error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*Error); ok {
		return []error{err}
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// All returns every [*Error] in err's tree of joined errors, in order.
func All(err error) []*Error {
	var out []*Error
	for _, e := range Flatten(err) {
		var fe *Error
		if errors.As(e, &fe) {
			out = append(out, fe)
		}
	}
	return out
}

// Prefix returns err with every field path prefixed by p and a dot (or
// placed under p when a path starts with "["), so that a validator can
// report the problems of a part under the part's name. Non-field errors
// are kept as they are.
func Prefix(p string, err error) error {
	if err == nil || p == "" {
		return err
	}
	leaves := Flatten(err)
	out := make([]error, len(leaves))
	for i, e := range leaves {
		fe, ok := e.(*Error)
		if !ok {
			out[i] = e
			continue
		}
		c := *fe
		switch {
		case c.Path == "":
			c.Path = p
		case strings.HasPrefix(c.Path, "["):
			c.Path = p + c.Path
		default:
			c.Path = p + "." + c.Path
		}
		out[i] = &c
	}
	return errors.Join(out...)
}
