package traffic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/field"
)

// ErrInvalid is wrapped by every problem [Schedule.Validate] and the
// presets report, each a [field.Error] with the path of the step at fault.
var ErrInvalid = errors.New("traffic: invalid schedule")

// StepKind names what a [Step] does.
type StepKind string

// The kinds of step of an exposure schedule.
const (
	// KindWeight sets the new version's share of the scope's traffic to
	// Percent.
	KindWeight StepKind = "weight"
	// KindHold waits: for Duration (Argo Rollouts' pause with a duration,
	// CodeDeploy's interval), or until a human promotes (Until
	// "approval": Argo's pause{}). Alarms are watched while it waits, so
	// a timed hold is a bake of time alone.
	KindHold StepKind = "hold"
	// KindBake runs the driver's bake gate at the current share: a
	// minimum time AND the bake policy's evidence, alarms watched.
	// Duration, if set, is its minimum time; zero means the stage's bake
	// from the plan.
	KindBake StepKind = "bake"
	// KindJudge asks the canary judge for a verdict at the current share
	// (Argo Rollouts' inline analysis); only a pass goes on.
	KindJudge StepKind = "judge"
	// KindVerify runs the stage's verification at the current share
	// (Cloud Deploy's verify after each phase).
	KindVerify StepKind = "verify"
	// KindMatch routes the requests that carry one of Match's headers to
	// the new version whatever the share (Flagger's A/B iterations); an
	// empty Match removes the matches. It needs a [Matcher].
	KindMatch StepKind = "match"
	// KindMirror copies Percent of the scope's traffic to the new version
	// and discards its answers (shadow traffic); 0 stops mirroring. It
	// needs a [Mirrorer].
	KindMirror StepKind = "mirror"
	// KindRetire retires the previous version's set once the scope serves
	// the new one alone: the end of a blue/green rollback window. After
	// it, a rollback can no longer switch the traffic back (there is
	// nothing to switch to) and redeploys instead. It needs a [Retirer].
	KindRetire StepKind = "retire"
)

// UntilApproval is the [Step.Until] of a hold that waits for a human.
const UntilApproval = "approval"

// Step is one step of an exposure schedule. Only the fields of its kind
// are set; build steps with [Weight], [Hold], [HoldForApproval], [Bake],
// [Judge], [Verify], [MatchRequests], [Mirror] and [Retire].
type Step struct {
	// Kind says what the step does.
	Kind StepKind
	// Percent is the share, in [0, 100], of a weight or mirror step.
	Percent float64
	// Duration is how long a hold waits, or a bake's minimum time.
	Duration duration.Duration
	// Until is [UntilApproval] for a hold that waits for a human.
	Until string
	// Match lists the requests a match step routes to the new version.
	Match []Match
}

// Weight sets the new version's share to percent.
func Weight(percent float64) Step { return Step{Kind: KindWeight, Percent: percent} }

// Hold waits for d, alarms watched.
func Hold(d time.Duration) Step { return Step{Kind: KindHold, Duration: duration.Duration(d)} }

// HoldForApproval waits until a human promotes the rollout.
func HoldForApproval() Step { return Step{Kind: KindHold, Until: UntilApproval} }

// Bake runs the bake gate for the stage's bake time.
func Bake() Step { return Step{Kind: KindBake} }

// BakeFor runs the bake gate with a minimum time of d.
func BakeFor(d time.Duration) Step { return Step{Kind: KindBake, Duration: duration.Duration(d)} }

// Judge asks the canary judge for a verdict.
func Judge() Step { return Step{Kind: KindJudge} }

// Verify runs the stage's verification.
func Verify() Step { return Step{Kind: KindVerify} }

// MatchRequests routes the requests that match m to the new version; no
// argument removes the matches.
func MatchRequests(m ...Match) Step { return Step{Kind: KindMatch, Match: m} }

// Mirror copies percent of the traffic to the new version.
func Mirror(percent float64) Step { return Step{Kind: KindMirror, Percent: percent} }

// Retire retires the previous version's set.
func Retire() Step { return Step{Kind: KindRetire} }

// String formats the step as a schedule file's reader would say it:
// "weight 10%", "hold 5m0s", "hold until approval", "bake", "judge".
func (s Step) String() string {
	switch s.Kind {
	case KindWeight, KindMirror:
		return fmt.Sprintf("%s %s", s.Kind, pct(s.Percent))
	case KindHold:
		if s.Until != "" {
			return "hold until " + s.Until
		}
		return "hold " + s.Duration.String()
	case KindBake:
		if s.Duration != 0 {
			return "bake " + s.Duration.String()
		}
		return "bake"
	case KindMatch:
		if len(s.Match) == 0 {
			return "match none"
		}
		var parts []string
		for _, m := range s.Match {
			parts = append(parts, m.Header+"="+m.Value)
		}
		return "match " + strings.Join(parts, ",")
	}
	return string(s.Kind)
}

// pct formats a share without trailing zeros: "10%", "12.5%".
func pct(p float64) string { return fmt.Sprintf("%g%%", p) }

// stepJSON is a step's JSON form: the kind and the fields it uses, so that
// a schedule file reads {"kind":"weight","percent":0} but
// {"kind":"hold","duration":"5m0s"}.
type stepJSON struct {
	Kind     StepKind           `json:"kind"`
	Percent  *float64           `json:"percent,omitempty"`
	Duration *duration.Duration `json:"duration,omitempty"`
	Until    string             `json:"until,omitempty"`
	Match    []Match            `json:"match,omitempty"`
}

// MarshalJSON writes the step's kind and the fields its kind uses.
func (s Step) MarshalJSON() ([]byte, error) {
	j := stepJSON{Kind: s.Kind, Until: s.Until, Match: s.Match}
	if s.Percent != 0 || s.Kind == KindWeight || s.Kind == KindMirror {
		p := s.Percent
		j.Percent = &p
	}
	if s.Duration != 0 {
		d := s.Duration
		j.Duration = &d
	}
	if math.IsNaN(s.Percent) || math.IsInf(s.Percent, 0) {
		return nil, fmt.Errorf("%w: %s step: percent %v is not a number", ErrInvalid, s.Kind, s.Percent)
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads a step; an unknown field is an error (a typo such
// as "precent" must not silently mean 0%).
func (s *Step) UnmarshalJSON(b []byte) error {
	var j stepJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("traffic: step: %w", err)
	}
	*s = Step{Kind: j.Kind, Until: j.Until, Match: j.Match}
	if j.Percent != nil {
		s.Percent = *j.Percent
	}
	if j.Duration != nil {
		s.Duration = *j.Duration
	}
	return nil
}

// Schedule is an exposure schedule: the steps that take a scope's traffic
// from the previous version to the new one, with holds and gates between
// them. It is plain data with a JSON form ("5m0s" durations); its zero
// value is not a schedule ([Schedule.Validate] says so), because every
// schedule must end with the new version at 100%.
type Schedule struct {
	// Steps are run in order.
	Steps []Step `json:"steps"`
	// AllowDecrease accepts a weight lower than an earlier one (Argo
	// Rollouts allows any order). Without it a decrease is a mistake.
	AllowDecrease bool `json:"allowDecrease,omitempty"`
}

// Validate reports every problem of the schedule, each a [*field.Error]
// wrapping [ErrInvalid] with the path of the step at fault
// ("Steps[2].Percent"): an unknown kind, a share that is not in [0, 100],
// a weight lower than an earlier one when decreases are not allowed, a
// hold with no exit (neither a duration nor until approval) or with two,
// a negative duration, fields the step's kind does not use, a retire
// before the switch to 100%, and a schedule whose last weight is not
// 100% (it would promote a stage whose new version serves only part of
// the traffic).
func (s Schedule) Validate() error {
	var l field.List
	if len(s.Steps) == 0 {
		l.Add(ErrInvalid, "Steps", "empty: a schedule needs at least one weight step, the last one 100%%")
		return l.Err()
	}
	last, lastAt := math.NaN(), -1
	hi := 0.0
	for i, st := range s.Steps {
		p := fmt.Sprintf("Steps[%d]", i)
		unused := func(name string, set bool) {
			if set {
				l.Add(ErrInvalid, p+"."+name, "a %s step has no %s", st.Kind, strings.ToLower(name))
			}
		}
		share := func() {
			switch {
			case math.IsNaN(st.Percent) || math.IsInf(st.Percent, 0):
				l.Add(ErrInvalid, p+".Percent", "%v is not a number", st.Percent)
			case st.Percent < 0:
				l.Add(ErrInvalid, p+".Percent", "%s is negative", pct(st.Percent))
			case st.Percent > 100:
				l.Add(ErrInvalid, p+".Percent", "%s is over 100%%", pct(st.Percent))
			}
		}
		switch st.Kind {
		case KindWeight:
			share()
			unused("Duration", st.Duration != 0)
			unused("Until", st.Until != "")
			unused("Match", len(st.Match) > 0)
			if !s.AllowDecrease && st.Percent < hi {
				l.Add(ErrInvalid, p+".Percent", "%s is lower than the earlier %s (set AllowDecrease if the schedule means it)", pct(st.Percent), pct(hi))
			}
			hi = max(hi, st.Percent)
			last, lastAt = st.Percent, i
		case KindHold:
			unused("Percent", st.Percent != 0)
			unused("Match", len(st.Match) > 0)
			switch {
			case st.Until != "" && st.Until != UntilApproval:
				l.Add(ErrInvalid, p+".Until", "unknown %q (want %q, or a Duration)", st.Until, UntilApproval)
			case st.Until != "" && st.Duration != 0:
				l.Add(ErrInvalid, p, "a hold with two exits (Duration %s and until %s): choose one", st.Duration, st.Until)
			case st.Until == "" && st.Duration == 0:
				l.Add(ErrInvalid, p, "a hold with no exit: give it a Duration or Until %q", UntilApproval)
			case st.Duration < 0:
				l.Add(ErrInvalid, p+".Duration", "%s is negative", st.Duration)
			}
		case KindBake:
			unused("Percent", st.Percent != 0)
			unused("Until", st.Until != "")
			unused("Match", len(st.Match) > 0)
			if st.Duration < 0 {
				l.Add(ErrInvalid, p+".Duration", "%s is negative", st.Duration)
			}
		case KindJudge, KindVerify, KindRetire:
			unused("Percent", st.Percent != 0)
			unused("Duration", st.Duration != 0)
			unused("Until", st.Until != "")
			unused("Match", len(st.Match) > 0)
			if st.Kind == KindRetire && last != 100 {
				l.Add(ErrInvalid, p, "retire before the switch to 100%%: the previous version still serves traffic")
			}
		case KindMatch:
			unused("Percent", st.Percent != 0)
			unused("Duration", st.Duration != 0)
			unused("Until", st.Until != "")
			for j, m := range st.Match {
				if m.Header == "" {
					l.Add(ErrInvalid, fmt.Sprintf("%s.Match[%d].Header", p, j), "empty")
				}
			}
		case KindMirror:
			share()
			unused("Duration", st.Duration != 0)
			unused("Until", st.Until != "")
			unused("Match", len(st.Match) > 0)
		default:
			l.Add(ErrInvalid, p+".Kind", "unknown step kind %q (known: weight, hold, bake, judge, verify, match, mirror, retire)", st.Kind)
		}
	}
	switch {
	case lastAt < 0:
		l.Add(ErrInvalid, "Steps", "no weight step: the schedule never sends traffic to the new version")
	case last != 100 && !math.IsNaN(last):
		l.Add(ErrInvalid, fmt.Sprintf("Steps[%d].Percent", lastAt), "the schedule ends at %s: it must end with the new version at 100%%", pct(last))
	}
	return l.Err()
}

// Decode reads a schedule from its JSON form and validates it. Unknown
// fields are errors, so that a misspelt field is not silently a default.
func Decode(data []byte) (Schedule, error) {
	var s Schedule
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Schedule{}, fmt.Errorf("traffic: schedule: %w", err)
	}
	if dec.More() {
		return Schedule{}, errors.New("traffic: schedule: data after the schedule")
	}
	if err := s.Validate(); err != nil {
		return Schedule{}, err
	}
	return s, nil
}

// Final returns the last weight of the schedule: 100 for a valid one.
func (s Schedule) Final() float64 {
	for i := len(s.Steps) - 1; i >= 0; i-- {
		if s.Steps[i].Kind == KindWeight {
			return s.Steps[i].Percent
		}
	}
	return 0
}

// Weights returns the shares the schedule sets, in order.
func (s Schedule) Weights() []float64 {
	var out []float64
	for _, st := range s.Steps {
		if st.Kind == KindWeight {
			out = append(out, st.Percent)
		}
	}
	return out
}

// MinDuration is the least time the schedule takes: its timed holds and
// the bakes that give a duration (a bake with the stage's time, a judge, a
// verification and a hold for approval add what they add at run time).
func (s Schedule) MinDuration() time.Duration {
	var d time.Duration
	for _, st := range s.Steps {
		if (st.Kind == KindHold || st.Kind == KindBake) && st.Duration > 0 {
			d += st.Duration.Std()
		}
	}
	return d
}

// String lists the steps: "weight 10% > hold 5m0s > weight 100%".
func (s Schedule) String() string {
	parts := make([]string, len(s.Steps))
	for i, st := range s.Steps {
		parts[i] = st.String()
	}
	return strings.Join(parts, " > ")
}

// Explain describes the schedule as a ramp of shares over time, one line
// per share: when it is reached (counted from the start, timed holds
// only) and what happens at it. Steps whose time is not known in advance
// (a hold for approval, a bake of the stage's time, a judge) say so.
func (s Schedule) Explain() string {
	var b strings.Builder
	var at, since time.Duration
	share, open := 0.0, false
	var notes []string
	flush := func() {
		if !open {
			return
		}
		fmt.Fprintf(&b, "+%-6s %4s", human(since), pct(share))
		if len(notes) > 0 {
			b.WriteString("  " + strings.Join(notes, ", "))
		}
		b.WriteByte('\n')
		notes = nil
	}
	for _, st := range s.Steps {
		if st.Kind == KindWeight {
			flush()
			share, since, open = st.Percent, at, true
			continue
		}
		open = true // steps before the first weight happen at 0%
		notes = append(notes, st.String())
		if (st.Kind == KindHold || st.Kind == KindBake) && st.Duration > 0 {
			at += st.Duration.Std()
		}
	}
	flush()
	return b.String()
}

// human formats a duration without zero units: "5m", "1h30m", "30s".
func human(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
