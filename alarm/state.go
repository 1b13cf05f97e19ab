package alarm

import (
	"context"
	"fmt"
	"time"
)

// State is the state of an alarm, with CloudWatch's three values.
//
// The zero value is [InsufficientData]: an alarm that has not been evaluated
// has no evidence either way, and missing evidence is not good evidence.
type State int

const (
	// InsufficientData means the rule could not decide: too few datapoints,
	// too few samples behind them, or no evaluation yet.
	InsufficientData State = iota
	// OK means the rule was evaluated and is not breaching.
	OK
	// Alarm means the rule is breaching.
	Alarm
)

var stateNames = [...]string{
	InsufficientData: "INSUFFICIENT_DATA",
	OK:               "OK",
	Alarm:            "ALARM",
}

// String returns the CloudWatch name of the state: "OK", "ALARM" or
// "INSUFFICIENT_DATA".
func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("State(%d)", int(s))
	}
	return stateNames[s]
}

// MarshalText encodes the state as its name.
func (s State) MarshalText() ([]byte, error) {
	if s < 0 || int(s) >= len(stateNames) {
		return nil, fmt.Errorf("alarm: invalid state %d", int(s))
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText decodes a state name as written by [State.MarshalText].
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if string(b) == n {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("alarm: unknown state %q (want OK, ALARM or INSUFFICIENT_DATA)", b)
}

// Result is the outcome of evaluating an alarm at one instant.
type Result struct {
	// Name is the alarm's name; empty for a bare rule evaluation.
	Name string
	// State is the evaluated state.
	State State
	// Reason says in plain words why: which points, which values, which
	// threshold.
	Reason string
	// Time is the instant the result was evaluated for.
	Time time.Time
}

// String formats the result as "name: STATE (reason)".
func (r Result) String() string {
	if r.Name == "" {
		return fmt.Sprintf("%s (%s)", r.State, r.Reason)
	}
	return fmt.Sprintf("%s: %s (%s)", r.Name, r.State, r.Reason)
}

// Checker is an alarm bound to its metric source: anything that can say what
// state it is in at now. Bake trackers, blockers and the rollout driver watch
// alarms through this interface.
//
// An error means the alarm could not be evaluated (its source failed); callers
// fail closed and never read it as OK.
type Checker interface {
	Check(ctx context.Context, now time.Time) (Result, error)
}

// CheckerFunc adapts a function to the [Checker] interface.
type CheckerFunc func(ctx context.Context, now time.Time) (Result, error)

// Check calls f.
func (f CheckerFunc) Check(ctx context.Context, now time.Time) (Result, error) { return f(ctx, now) }
