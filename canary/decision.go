package canary

import (
	"fmt"
)

// Decision is what a judge concludes about a canary, or about one metric.
//
// The zero value is [Continue]: no conclusion yet. A judge never reports
// [Pass] by default; missing evidence is not good evidence.
type Decision int

const (
	// Continue means the evidence does not decide yet: keep the canary
	// running and look again.
	Continue Decision = iota
	// Pass means no regression beyond the allowed margins: promote.
	Pass
	// Fail means a regression: roll back.
	Fail
	// Inconclusive means the judge stopped without a decision: the deadline
	// came first, or there was too little data to judge. Callers decide what
	// that means for them; it is never a pass.
	Inconclusive
)

var decisionNames = [...]string{Continue: "continue", Pass: "pass", Fail: "fail", Inconclusive: "inconclusive"}

// String returns the decision in lower case: "continue", "pass", "fail" or
// "inconclusive".
func (d Decision) String() string {
	if d < 0 || int(d) >= len(decisionNames) {
		return fmt.Sprintf("Decision(%d)", int(d))
	}
	return decisionNames[d]
}

// MarshalText encodes the decision as its name.
func (d Decision) MarshalText() ([]byte, error) {
	if d < 0 || int(d) >= len(decisionNames) {
		return nil, fmt.Errorf("canary: invalid decision %d", int(d))
	}
	return []byte(decisionNames[d]), nil
}

// UnmarshalText decodes a decision name as written by
// [Decision.MarshalText].
func (d *Decision) UnmarshalText(b []byte) error {
	for i, n := range decisionNames {
		if string(b) == n {
			*d = Decision(i)
			return nil
		}
	}
	return fmt.Errorf("canary: unknown decision %q (want continue, pass, fail or inconclusive)", b)
}

// Direction says which change of a metric is a regression.
//
// The zero value means the judge's default: [Either] for a
// [KayentaMetric] (as in Kayenta), [Increase] for a sequential [Metric]
// (errors and latency get worse by going up).
type Direction int

const (
	// DefaultDirection selects the judge's default direction.
	DefaultDirection Direction = iota
	// Increase: the canary is worse when the metric goes up (errors,
	// latency).
	Increase
	// Decrease: the canary is worse when the metric goes down (throughput,
	// success rate).
	Decrease
	// Either: a change either way counts (Kayenta's default). Only the
	// Kayenta judge accepts it.
	Either
)

var directionNames = [...]string{DefaultDirection: "", Increase: "increase", Decrease: "decrease", Either: "either"}

// String returns "increase", "decrease", "either", or "" for the default.
func (d Direction) String() string {
	if d < 0 || int(d) >= len(directionNames) {
		return fmt.Sprintf("Direction(%d)", int(d))
	}
	return directionNames[d]
}

// MarshalText encodes the direction as its name ("" for the default).
func (d Direction) MarshalText() ([]byte, error) {
	if d < 0 || int(d) >= len(directionNames) {
		return nil, fmt.Errorf("canary: invalid direction %d", int(d))
	}
	return []byte(directionNames[d]), nil
}

// UnmarshalText decodes a direction name.
func (d *Direction) UnmarshalText(b []byte) error {
	for i, n := range directionNames {
		if string(b) == n {
			*d = Direction(i)
			return nil
		}
	}
	return fmt.Errorf("canary: unknown direction %q (want increase, decrease or either)", b)
}
