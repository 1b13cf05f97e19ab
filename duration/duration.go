// Package duration provides [Duration], a [time.Duration] that policies use so
// that their JSON form reads "1h30m" instead of a count of nanoseconds.
package duration

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Duration is a [time.Duration] that reads and writes JSON as a readable
// string ("1h30m"). It also accepts a number of nanoseconds when decoding.
type Duration time.Duration

// MarshalJSON encodes d as a string such as "12h0m0s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON decodes a duration string or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	switch x := v.(type) {
	case string:
		p, err := time.ParseDuration(x)
		if err != nil {
			return fmt.Errorf("duration: %w", err)
		}
		*d = Duration(p)
	case float64:
		if x != math.Trunc(x) || x < math.MinInt64 || x >= math.MaxInt64 {
			return fmt.Errorf("duration: %s nanoseconds is not a whole number in range", b)
		}
		*d = Duration(time.Duration(x))
	default:
		return fmt.Errorf("duration: want a string like \"1h30m\", got %s", b)
	}
	return nil
}

// String formats d like [time.Duration.String].
func (d Duration) String() string { return time.Duration(d).String() }

// Std returns d as a [time.Duration].
func (d Duration) Std() time.Duration { return time.Duration(d) }
