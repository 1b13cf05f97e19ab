// Package duration provides [Duration], a [time.Duration] that policies use so
// that their JSON form reads "1h30m" instead of a count of nanoseconds.
//
// A duration in a policy file always carries its unit. A bare number such as
// 30 is refused rather than read as 30 nanoseconds (a bake of 30 ns is
// never what the author meant), and so is a string without a unit ("30"),
// except "0".
//
// Some fields mean "nothing" by a duration: no bake after a stage, for
// example. They say so with the word "none" ([None] in Go), never with a
// negative number, so that a typo such as "-30m" is an error instead of a
// bake that silently disappears. A field accepts None only where its
// documentation says so; the validation of every other field rejects it
// like any negative duration.
package duration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Duration is a [time.Duration] that reads and writes JSON as a readable
// string ("1h30m", or "none" for [None]).
type Duration time.Duration

// None is the explicit "no duration" of fields that document it (for
// example wave.BakeSchedule: no bake after a stage). It reads and writes
// JSON as "none" and prints as "none". Its value is the most negative
// duration, so that a field that does not accept None and rejects negative
// durations rejects None too (fail closed), and no duration a person writes
// is None by accident.
const None = Duration(math.MinInt64)

// ErrSyntax is wrapped by every error of [Duration.UnmarshalJSON] and
// [Parse].
var ErrSyntax = errors.New("duration: invalid duration")

// IsNone reports whether d is [None].
func (d Duration) IsNone() bool { return d == None }

// Parse reads a duration as written in a policy: a Go duration string with
// its unit ("90m", "1h30m", "-2h", "0"), or "none" for [None]. Errors wrap
// [ErrSyntax] and say what to write instead.
func Parse(s string) (Duration, error) {
	if s == "none" {
		return None, nil
	}
	p, err := time.ParseDuration(s)
	if err != nil {
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			return 0, fmt.Errorf("%w: %q has no unit; write one, such as %q or %q (or \"none\" where a field allows it)",
				ErrSyntax, s, s+"s", s+"m")
		}
		return 0, fmt.Errorf("%w: %q is not a duration such as \"90s\", \"30m\" or \"1h30m\"", ErrSyntax, s)
	}
	if Duration(p) == None {
		// The one string that would otherwise alias None.
		return 0, fmt.Errorf("%w: %q is out of range", ErrSyntax, s)
	}
	return Duration(p), nil
}

// MarshalJSON encodes d as a string such as "12h0m0s", or "none".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.String())
}

// UnmarshalJSON decodes a duration string with its unit ("1h30m", "0") or
// "none" (see [Parse]). A bare number is an error: 30 would otherwise be
// 30 nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		// Like encoding/json for other types: null leaves d alone.
		return nil
	}
	if len(b) > 0 && b[0] != '"' {
		var n json.Number
		if err := json.Unmarshal(b, &n); err == nil {
			return fmt.Errorf("%w: the bare number %s has no unit; write a string such as \"%ss\" or \"%sm\"", ErrSyntax, b, n, n)
		}
		return fmt.Errorf("%w: want a string such as \"1h30m\", got %.40s", ErrSyntax, b)
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	p, err := Parse(s)
	if err != nil {
		return err
	}
	*d = p
	return nil
}

// String formats d like [time.Duration.String], and [None] as "none".
func (d Duration) String() string {
	if d == None {
		return "none"
	}
	return time.Duration(d).String()
}

// Std returns d as a [time.Duration]. None has no meaning as a
// time.Duration: check [Duration.IsNone] first where a field allows it.
func (d Duration) Std() time.Duration { return time.Duration(d) }
