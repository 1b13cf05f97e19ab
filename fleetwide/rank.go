package fleetwide

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/duration"
)

// Touch records a member's change reaching a place: the first and the last
// target it deployed there, and how many.
type Touch struct {
	// Region and Zone are the place ("" zone for targets with no zone).
	Region string `json:"region"`
	Zone   string `json:"zone,omitempty"`
	// First and Last are when the first and the last target there got
	// the change.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// Targets counts the targets that got it.
	Targets int `json:"targets"`
}

// in reports whether the touch lies in scope s.
func (t Touch) in(s Scope) bool {
	return t.Region == s.Region && (s.Zone == "" || t.Zone == s.Zone)
}

// Onset is a shared alarm that started firing.
type Onset struct {
	Scope Scope     `json:"scope"`
	Time  time.Time `json:"time"`
}

// Candidate is a change that may have caused an onset: a member's version
// and where it went.
type Candidate struct {
	Member  string  `json:"member"`
	Version string  `json:"version"`
	Touches []Touch `json:"touches,omitempty"`
}

// Suspect is a candidate ranked against an onset.
type Suspect struct {
	// Member and Version name the change.
	Member  string `json:"member"`
	Version string `json:"version"`
	// Weight is the unnormalised likelihood that the change caused the
	// onset; zero clears the member. Score is its share of the weights
	// of all candidates, in [0, 1].
	Weight float64 `json:"weight"`
	Score  float64 `json:"score"`
	// Reached is when the change first reached the scope, Lag the time
	// from then to the onset; both zero when it did not reach it in time.
	Reached time.Time         `json:"reached,omitzero"`
	Lag     duration.Duration `json:"lag,omitzero"`
	// Corroborated names the other firing scopes that the change had
	// reached before they fired, Unexplained those it had not.
	Corroborated []string `json:"corroborated,omitempty"`
	Unexplained  []string `json:"unexplained,omitempty"`
	// Reason says it all in plain words.
	Reason string `json:"reason"`
}

// Weights of corroboration: each other firing scope that a change had
// reached before it fired multiplies its likelihood; each it had not
// reached divides it. A fault that follows a version fires wherever the
// version went, and only there; regional noise fires anywhere.
const (
	corroborates = 4.0
	unexplained  = 0.5
)

// Rank ranks the candidates for the onset fired, most likely culprit first.
//
// A change is suspected only if it reached the onset's scope (a target in
// its zone, or in its region for a regional alarm) before the onset and
// within [HealthPolicy.Window]. Its weight fades with the lag between the
// two, exp(-lag/Recency): faults mostly show soon after a change lands,
// and a change that landed just before the onset is more likely than one
// that has run quietly for hours. Every other onset of others (alarms that
// fired within the window, before or after this one) then weighs in:
// times 4 for each scope the change had reached before that alarm fired
// (a bad version hurts wherever it goes), times 1/2 for each it had not.
// Scores are the weights' shares. Ties rank by member name, so that Rank is
// deterministic.
func Rank(fired Onset, others []Onset, cands []Candidate, p HealthPolicy) []Suspect {
	var out []Suspect
	total := 0.0
	for _, c := range cands {
		s := Suspect{Member: c.Member, Version: c.Version}
		who := c.Member + " " + c.Version
		reached, ok := reach(c.Touches, fired.Scope, fired.Time)
		switch {
		case !ok && touched(c.Touches, fired.Scope):
			s.Reason = fmt.Sprintf("%s reached %s only after the alarm fired", who, fired.Scope)
		case !ok:
			s.Reason = fmt.Sprintf("%s touched no target in %s", who, fired.Scope)
		case fired.Time.Sub(reached) > p.window():
			s.Reason = fmt.Sprintf("%s reached %s %v before the alarm fired, longer ago than the %v window", who, fired.Scope, fired.Time.Sub(reached), p.window())
		default:
			lag := fired.Time.Sub(reached)
			s.Reached, s.Lag = reached, duration.Duration(lag)
			s.Weight = math.Exp(-float64(lag) / float64(p.recency()))
			for _, o := range others {
				if o.Scope == fired.Scope {
					continue
				}
				if r, ok := reach(c.Touches, o.Scope, o.Time); ok && o.Time.Sub(r) <= p.window() {
					s.Weight *= corroborates
					s.Corroborated = append(s.Corroborated, o.Scope.String())
				} else {
					s.Weight *= unexplained
					s.Unexplained = append(s.Unexplained, o.Scope.String())
				}
			}
			var b strings.Builder
			fmt.Fprintf(&b, "%s reached %s %v before the alarm fired", who, fired.Scope, lag.Round(time.Second))
			if len(s.Corroborated) > 0 {
				fmt.Fprintf(&b, "; it had also reached %s, which fired too", strings.Join(s.Corroborated, ", "))
			}
			if len(s.Unexplained) > 0 {
				fmt.Fprintf(&b, "; it never reached %s, which fired as well", strings.Join(s.Unexplained, ", "))
			}
			s.Reason = b.String()
		}
		total += s.Weight
		out = append(out, s)
	}
	for i := range out {
		if total > 0 {
			out[i].Score = out[i].Weight / total
		}
	}
	slices.SortStableFunc(out, func(a, b Suspect) int {
		switch {
		case a.Weight > b.Weight:
			return -1
		case a.Weight < b.Weight:
			return 1
		}
		return strings.Compare(a.Member, b.Member)
	})
	return out
}

// reach returns when the change first reached scope s, at or before t.
func reach(ts []Touch, s Scope, t time.Time) (time.Time, bool) {
	var first time.Time
	ok := false
	for _, x := range ts {
		if x.in(s) && !x.First.After(t) && (!ok || x.First.Before(first)) {
			first, ok = x.First, true
		}
	}
	return first, ok
}

func touched(ts []Touch, s Scope) bool {
	for _, x := range ts {
		if x.in(s) {
			return true
		}
	}
	return false
}

// Verdict is what the ranking lets the group do now.
type Verdict int

const (
	// VerdictNone: no change of the group reached the scope in time; the
	// alarm is someone else's (regional noise, another team's change).
	VerdictNone Verdict = iota
	// VerdictStop: the top suspect is the culprit.
	VerdictStop
	// VerdictWait: the top suspects are too close to call; wait for more
	// evidence (other scopes firing) until the patience runs out.
	VerdictWait
)

// Judge decides on a ranking made waited after the onset: stop the top
// suspect when it is alone, Margin times as likely as the runner-up, or
// the patience has run out; otherwise wait.
func Judge(ranked []Suspect, waited time.Duration, p HealthPolicy) Verdict {
	if len(ranked) == 0 || ranked[0].Weight == 0 {
		return VerdictNone
	}
	if len(ranked) == 1 || ranked[1].Weight == 0 || ranked[0].Weight >= p.margin()*ranked[1].Weight || waited >= p.patience() {
		return VerdictStop
	}
	return VerdictWait
}
