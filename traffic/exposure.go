package traffic

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/shepherd-go/shepherd/duration"
)

// Exposure keeps account of the share of a scope's traffic a version has
// had over time: the share now, the highest, how long it had any, and the
// integral of the share over time. It is plain data, saved with a
// rollout's state; its zero value is a version never exposed. Move it
// with [Exposure.Set] at the time each share takes effect.
type Exposure struct {
	// Percent is the share now, Since when it took effect (the account is
	// kept up to Since).
	Percent float64   `json:"percent"`
	Since   time.Time `json:"since,omitzero"`
	// Peak is the highest share so far.
	Peak float64 `json:"peak,omitempty"`
	// First is when the share first rose above 0.
	First time.Time `json:"first,omitzero"`
	// Exposed is the time with a share above 0, up to Since.
	Exposed duration.Duration `json:"exposed,omitzero"`
	// Full is the share integrated over time, up to Since, in time at
	// 100%: 10% for ten minutes is one minute of all the traffic.
	Full duration.Duration `json:"full,omitzero"`
}

// Set records that the share became percent at now. A time before Since
// counts as Since: an account never runs backwards.
func (e *Exposure) Set(now time.Time, percent float64) {
	e.accrue(now)
	e.Percent = percent
	if percent > 0 && e.First.IsZero() {
		e.First = e.Since
	}
	e.Peak = max(e.Peak, percent)
}

func (e *Exposure) accrue(now time.Time) {
	if e.Since.IsZero() || now.Before(e.Since) {
		if e.Since.IsZero() {
			e.Since = now
		}
		return
	}
	d := now.Sub(e.Since)
	if e.Percent > 0 {
		e.Exposed += duration.Duration(d)
		e.Full += duration.Duration(float64(d) * e.Percent / 100)
	}
	e.Since = now
}

// Blast returns the account up to now.
func (e Exposure) Blast(now time.Time) Blast {
	e.accrue(now)
	return Blast{Peak: e.Peak, Exposed: e.Exposed.Std(), Full: e.Full.Std()}
}

// Blast is the blast radius of a version by share of requests: the
// highest share it had, for how long it had any, and how much traffic it
// served in all, as time at 100% ("percent x duration").
type Blast struct {
	// Peak is the highest share, in percent.
	Peak float64 `json:"peak"`
	// Exposed is the time with a share above 0.
	Exposed time.Duration `json:"exposed"`
	// Full is the share integrated over time, in time at 100%.
	Full time.Duration `json:"full"`
}

type blastJSON struct {
	Peak    float64           `json:"peak"`
	Exposed duration.Duration `json:"exposed"`
	Full    duration.Duration `json:"full"`
}

// MarshalJSON writes the durations readably ("7m0s").
func (b Blast) MarshalJSON() ([]byte, error) {
	return json.Marshal(blastJSON{b.Peak, duration.Duration(b.Exposed), duration.Duration(b.Full)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (b *Blast) UnmarshalJSON(data []byte) error {
	var j blastJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return fmt.Errorf("traffic: blast: %w", err)
	}
	*b = Blast{Peak: j.Peak, Exposed: j.Exposed.Std(), Full: j.Full.Std()}
	return nil
}

// Add returns the account of two scopes together: the highest peak, the
// longer exposure, the sum of the traffic. (Scopes that differ in size
// add as if equal; weigh them yourself when they do not.)
func (b Blast) Add(o Blast) Blast {
	return Blast{Peak: max(b.Peak, o.Peak), Exposed: max(b.Exposed, o.Exposed), Full: b.Full + o.Full}
}

// String says it in words: "peak 10% of requests, exposed 5m0s, as much
// as 30s of all requests".
func (b Blast) String() string {
	if b.Peak == 0 {
		return "never exposed"
	}
	return fmt.Sprintf("peak %s of requests, exposed %s, as much as %s of all requests", pct(b.Peak), b.Exposed.Round(time.Millisecond), b.Full.Round(time.Millisecond))
}

// Retirer is an optional capability of a [Router]: retire the set that
// serves version in a scope (scale it down, release it) once the scope no
// longer routes to it: the end of a blue/green rollback window
// ([KindRetire]). It must be idempotent.
type Retirer interface {
	Retire(ctx context.Context, scope string, version string) error
}
