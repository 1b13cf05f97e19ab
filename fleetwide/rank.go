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
	// Drained is set when the change's traffic in the onset's scope was
	// drained and the alarm kept firing (see [Trial]): it is then
	// unlikely, though not impossible, to be the culprit (a fault whose
	// harm outlives the traffic: a poisoned cache, a corrupted record).
	Drained bool `json:"drained,omitempty"`
}

// Suspect is a candidate ranked against an onset.
type Suspect struct {
	// Member and Version name the change.
	Member  string `json:"member"`
	Version string `json:"version"`
	// Weight is the unnormalised likelihood that the change caused the
	// onset; zero clears the member. Score is its share of all the
	// weights, the noise's included, in [0, 1].
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
	// Quiet names the watched scopes the change reached that have not
	// fired.
	Quiet []string `json:"quiet,omitempty"`
	// Reason says it all in plain words.
	Reason string `json:"reason"`
}

// The model behind [Rank], in numbers. A fault shows after a lag: an
// alarm needs [HealthPolicy.Detection] to fire at all; most faults then
// show soon (exponentially, with mean Recency), and a share at any time
// within the window (a leak, a cache that expires, a daily peak). A bad
// version often hurts wherever it goes. And an alarm that belongs to no
// change (regional noise, someone else's change) is always possible, but
// noise tends to clear by itself, so an alarm that keeps firing while the
// suspects are held is ever less likely to be noise.
const (
	// fastShare is the share of faults that show within minutes.
	fastShare = 0.6
	// everywhere is the chance that a fault is the version's, and shows
	// in every place the version went, rather than in one place alone.
	everywhere = 0.5
	// sticky is the chance that a culprit's alarm keeps firing when its
	// traffic is drained.
	sticky = 0.05
	// leak is the chance that a version's fault shows in a given place
	// it went: not quite 1 (a zone with little traffic may not breach).
	leak = 0.9
	// noiseLife is how fast the noise hypothesis fades while the alarm
	// keeps firing.
	noiseLife = 20 * time.Minute
)

// jitter is the spread, from one place to the next, of the lag between a
// bad version landing and its alarm firing: the delay of a fault is the
// version's, but an alarm's evaluation periods and checks add minutes.
const jitter = 2 * time.Minute

type lagObs struct {
	lag     time.Duration
	reached bool
}

// likelihood is the chance of what was seen if the change were the
// culprit: its fault has one delay d wherever the version went (most
// faults show soon after Detection, some at any time in the window), each
// alarm fires about d after the version reached its scope, an alarm where
// the version never went is noise, and a scope it reached more than d ago
// that stayed quiet is one where the fault did not show. It integrates
// over d, minute by minute, across the window.
func likelihood(first time.Duration, others []lagObs, quiet []time.Duration, fade float64, p HealthPolicy) float64 {
	nu := noiseDensity(p)
	tau := p.recency().Minutes()
	w := p.window().Minutes()
	det := p.detection().Minutes()
	sigma := jitter.Minutes()
	gauss := func(x float64) float64 {
		return math.Exp(-x*x/(2*sigma*sigma)) / (sigma * math.Sqrt(2*math.Pi))
	}
	// One point a minute, at most 720 points: a window of days is
	// integrated in coarser steps rather than in millions of them.
	step := math.Max(1, w/720)
	sum := 0.0
	for d := 0.0; d <= w; d += step {
		prior := (1 - fastShare) / w
		if d >= det {
			prior += fastShare / tau * math.Exp(-(d-det)/tau)
		}
		l := gauss(first.Minutes()-d) + nu*fade
		// Wherever the version went, or here alone: a mixture, since
		// a fault is either the version's (it shows in every place the
		// version reached, about d after) or the place's (a bad
		// config for one zone): other alarms are then noise, and
		// quiet places say nothing.
		all, local := everywhere, 1-everywhere
		for _, o := range others {
			if o.reached {
				all *= gauss(o.lag.Minutes()-d) + nu
			} else {
				all *= nu
			}
			local *= nu
		}
		for _, q := range quiet {
			// The chance the fault would have shown there by now.
			shown := 0.5 * math.Erfc(-(q.Minutes()-d)/(sigma*math.Sqrt2))
			all *= 1 - leak*shown
		}
		l *= all + local
		sum += prior * l * step
	}
	return sum
}

// noiseDensity is the density, per minute, of an onset no change explains.
func noiseDensity(p HealthPolicy) float64 {
	return p.noise() * (1 - fastShare) / p.window().Minutes()
}

// Evidence is what [Rank] weighs: the onset to explain, the other alarms
// that fired, which scopes are watched, and the time of the ranking.
type Evidence struct {
	// Fired is the onset to explain.
	Fired Onset
	// Others are the other shared alarms that fired within the window.
	Others []Onset
	// Watched are the scopes watched: a change that reached one of them
	// long enough ago, which has not fired, is less likely to be bad.
	Watched []Scope
	// Now is the time of the ranking.
	Now time.Time
}

// Rank ranks the candidates for the onset e.Fired, most likely culprit
// first, and weighs the hypothesis that the alarm is no change's.
//
// A change is suspected only if it reached the onset's scope (a target in
// its zone, or in its region for a regional alarm) before the onset and
// within [HealthPolicy.Window]. Its weight is the likelihood of what was
// seen if it were the culprit. Its fault would have one delay wherever the
// version went: most faults show soon (an alarm needs
// [HealthPolicy.Detection] to fire, and most faults then show within
// minutes, exponentially with mean [HealthPolicy.Recency]), some at any
// time within the window. Every alarm in a place the change had reached
// should then fire about that delay after the change got there (give or
// take a couple of minutes of alarm evaluation); an alarm where it had not
// been is only as likely as noise; and a watched scope it reached longer
// ago than the delay, which stayed quiet, is one where the fault did not
// show, which happens (a fault confined to one zone) but counts against
// it. The weight integrates all this over the delay. So a change whose
// landings were each followed by an alarm after the same delay stands out,
// while one that merely shared a zone with it does not.
//
// The returned noise weight is the likelihood that no change of the group
// caused any of the onsets; it fades while the alarm keeps firing, since
// noise tends to clear by itself. Scores are the shares of all the
// weights, the noise's included. Ties rank by member name, so that Rank is
// deterministic.
func Rank(e Evidence, cands []Candidate, p HealthPolicy) (ranked []Suspect, noise float64) {
	onset := e.Fired
	nu := noiseDensity(p)
	fade := math.Exp(-float64(e.Now.Sub(onset.Time)) / float64(noiseLife))
	noise = nu * fade
	fired := map[Scope]bool{onset.Scope: true}
	for _, o := range e.Others {
		if o.Scope != onset.Scope {
			fired[o.Scope] = true
			noise *= nu
		}
	}
	total := noise
	var out []Suspect
	for _, c := range cands {
		s := Suspect{Member: c.Member, Version: c.Version}
		who := c.Member + " " + c.Version
		reached, ok := reach(c.Touches, onset.Scope, onset.Time)
		switch {
		case !ok && touched(c.Touches, onset.Scope):
			s.Reason = fmt.Sprintf("%s reached %s only after the alarm fired", who, onset.Scope)
		case !ok:
			s.Reason = fmt.Sprintf("%s touched no target in %s", who, onset.Scope)
		case onset.Time.Sub(reached) > p.window():
			s.Reason = fmt.Sprintf("%s reached %s %v before the alarm fired, longer ago than the %v window", who, onset.Scope, onset.Time.Sub(reached), p.window())
		default:
			lag := onset.Time.Sub(reached)
			s.Reached, s.Lag = reached, duration.Duration(lag)
			var lags []lagObs
			for _, o := range e.Others {
				if o.Scope == onset.Scope {
					continue
				}
				if r, ok := reach(c.Touches, o.Scope, o.Time); ok && o.Time.Sub(r) <= p.window() {
					lags = append(lags, lagObs{lag: o.Time.Sub(r), reached: true})
					s.Corroborated = append(s.Corroborated, fmt.Sprintf("%s (%v after)", o.Scope, o.Time.Sub(r).Round(time.Second)))
				} else {
					lags = append(lags, lagObs{})
					s.Unexplained = append(s.Unexplained, o.Scope.String())
				}
			}
			var quiet []time.Duration
			for _, w := range e.Watched {
				if fired[w] || (w.Zone == "" && w.Region == onset.Scope.Region) {
					continue
				}
				if r, ok := reach(c.Touches, w, e.Now); ok {
					quiet = append(quiet, e.Now.Sub(r))
					s.Quiet = append(s.Quiet, w.String())
				}
			}
			s.Weight = likelihood(lag, lags, quiet, fade, p)
			var b strings.Builder
			fmt.Fprintf(&b, "%s reached %s %v before the alarm fired", who, onset.Scope, lag.Round(time.Second))
			if len(s.Corroborated) > 0 {
				fmt.Fprintf(&b, "; it had also reached %s, which fired too", strings.Join(s.Corroborated, ", "))
			}
			if len(s.Unexplained) > 0 {
				fmt.Fprintf(&b, "; it never reached %s, which fired as well", strings.Join(s.Unexplained, ", "))
			}
			if len(s.Quiet) > 0 {
				fmt.Fprintf(&b, "; %s, where it went too, stayed quiet", strings.Join(s.Quiet, ", "))
			}
			if c.Drained {
				s.Weight *= sticky
				fmt.Fprintf(&b, "; the alarm kept firing while its traffic there was drained")
			}
			s.Reason = b.String()
		}
		total += s.Weight
		out = append(out, s)
	}
	for i := range out {
		out[i].Score = out[i].Weight / total
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
	return out, noise
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

// Verdict is what a ranking lets the group do now.
type Verdict int

const (
	// VerdictNone: no change of the group is a likelier cause than noise
	// (or none reached the scope in time); the alarm is someone else's.
	VerdictNone Verdict = iota
	// VerdictStop: the top suspect is the culprit.
	VerdictStop
	// VerdictWait: the top suspects are too close to call; wait for more
	// evidence (other scopes firing, others staying quiet).
	VerdictWait
)

// String names the verdict.
func (v Verdict) String() string {
	switch v {
	case VerdictNone:
		return "none"
	case VerdictStop:
		return "stop"
	case VerdictWait:
		return "wait"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Judge decides on a ranking made waited after the onset, with noise the
// weight of "no change of the group": stop the top suspect when it is
// [HealthPolicy.Margin] times as likely as both the runner-up and noise;
// otherwise wait for more evidence, and once the patience has run out stop
// it as soon as it is Margin times as likely as noise. With no suspect at
// all, the alarm is nobody's.
//
// While the group waits it holds the top suspect alone: held suspects make
// no new evidence, and those that go on do, away from the firing scope
// (whose new stages wait): a culprit's next landings raise alarms after
// its fault's delay, an innocent's stay quiet. On the attribution workload
// of docs/benchmarks.md, judged by timing alone, holding every suspect for
// 20 minutes and then stopping the top one stopped the culprit in 71.6% of
// stops; holding the top one alone for 2 hours, in 83.9%, with the median
// time from a fault to its culprit's stop going from 24 to 37 minutes.
func Judge(ranked []Suspect, noise float64, waited time.Duration, p HealthPolicy) Verdict {
	if len(ranked) == 0 || ranked[0].Weight == 0 {
		return VerdictNone
	}
	next := noise
	if len(ranked) > 1 {
		next = math.Max(next, ranked[1].Weight)
	}
	top := ranked[0].Weight
	switch {
	case top >= p.margin()*next:
		return VerdictStop
	case waited >= p.patience() && top >= p.margin()*noise:
		return VerdictStop
	}
	return VerdictWait
}

// A drain test asks the suspect itself. A member whose traffic in a
// scope can be sent back to the version it replaces ([Member.Drain], by
// its [Drainer]) is tested rather than guessed at: its traffic there is
// drained; if the alarm clears, restored; if the alarm comes back,
// drained again. A culprit's alarm follows each move within a detection
// period, an innocent's drain changes nothing, and noise that clears by
// itself during the drain seldom comes back on cue and clears again on
// cue. The restore costs one more detection period of the fault; it is
// what tells a culprit from noise, since an alarm that clears while the
// suspects are held is what noise does.

// TrialPhase is where a drain test is.
type TrialPhase string

const (
	// TrialDraining: the drain was asked for; the test waits for it to be
	// done.
	TrialDraining TrialPhase = "draining"
	// TrialDrained: the suspect's traffic in the scope is drained since
	// Since; the test watches the alarm.
	TrialDrained TrialPhase = "drained"
	// TrialRestoring: the alarm cleared while drained; the restore was
	// asked for.
	TrialRestoring TrialPhase = "restoring"
	// TrialRestored: the traffic is back since Since; the test watches
	// for the alarm to come back.
	TrialRestored TrialPhase = "restored"
	// TrialRedraining: the alarm came back; the second drain was asked
	// for.
	TrialRedraining TrialPhase = "redraining"
	// TrialRedrained: drained again since Since; the test watches the
	// alarm clear a second time.
	TrialRedrained TrialPhase = "redrained"
	// TrialUndraining: the alarm did not clear: the suspect is cleared,
	// and its traffic is being given back.
	TrialUndraining TrialPhase = "undraining"
)

// TrialOutcome is what a drain test found.
type TrialOutcome string

const (
	// TrialPending: not yet known.
	TrialPending TrialOutcome = ""
	// TrialCulprit: the alarm cleared when the suspect was drained, came
	// back when it was restored, and cleared again when it was drained
	// again. The suspect is left drained.
	TrialCulprit TrialOutcome = "culprit"
	// TrialInconclusive: the alarm followed the first drain and the
	// restore but not the second drain (noise that flaps, say): nothing
	// is concluded about the suspect.
	TrialInconclusive TrialOutcome = "inconclusive"
	// TrialInnocent: the alarm kept firing while the suspect was drained.
	TrialInnocent TrialOutcome = "innocent"
	// TrialNoise: the alarm cleared during the drain but did not come
	// back: it was no change's, or the fault has ended.
	TrialNoise TrialOutcome = "noise"
	// TrialFailed: the drain or the restore could not be done; nothing is
	// concluded about the suspect.
	TrialFailed TrialOutcome = "failed"
)

// Trial is a drain test of one suspect in one scope: plain data, advanced
// by [Trial.Done] and [Trial.Watch].
type Trial struct {
	Member string     `json:"member"`
	Phase  TrialPhase `json:"phase"`
	// Since is when the current phase began.
	Since time.Time `json:"since"`
	// Drained is when the suspect's traffic was drained; Cleared when
	// the alarm was seen OK while it was.
	Drained time.Time `json:"drained,omitzero"`
	Cleared time.Time `json:"cleared,omitzero"`
	// Restored is when its traffic was restored, Refired when the alarm
	// was seen firing again.
	Restored time.Time `json:"restored,omitzero"`
	Refired  time.Time `json:"refired,omitzero"`
	// Outcome is set once the test has an answer.
	Outcome TrialOutcome `json:"outcome,omitempty"`
}

// settle is how long a drain or a restore is given to show in the alarm:
// the alarm's detection period and a few checks.
func (p HealthPolicy) settle() time.Duration { return p.detection() + 3*p.interval() }

// Done records that the drain or the restore the trial asked for was done
// at now (err nil) or failed.
func (t *Trial) Done(now time.Time, err error) {
	if err != nil {
		t.Outcome = TrialFailed
		return
	}
	switch t.Phase {
	case TrialDraining:
		t.Phase, t.Since, t.Drained = TrialDrained, now, now
	case TrialRestoring:
		t.Phase, t.Since, t.Restored = TrialRestored, now, now
	case TrialRedraining:
		t.Phase, t.Since = TrialRedrained, now
	}
}

// Watch advances the trial with the alarm's state at now, and returns
// the drain to ask for next: on is true to drain, false to restore; ok is
// false when nothing is to be asked. The outcome is set once known.
func (t *Trial) Watch(now time.Time, firing bool, p HealthPolicy) (on, ok bool) {
	// An alarm needs about its detection period to follow a change of
	// its errors: one that moves much sooner moved by itself.
	early := now.Sub(t.Since) < p.detection()-p.interval()
	late := now.Sub(t.Since) >= p.settle()
	switch t.Phase {
	case TrialDrained:
		switch {
		case !firing && early:
			t.Phase, t.Since, t.Outcome = TrialUndraining, now, TrialNoise
			return false, true
		case !firing:
			t.Phase, t.Since, t.Cleared = TrialRestoring, now, now
			return false, true
		case late:
			t.Phase, t.Since, t.Outcome = TrialUndraining, now, TrialInnocent
			return false, true
		}
	case TrialRestored:
		switch {
		case firing && early:
			t.Outcome = TrialInconclusive
		case firing:
			t.Phase, t.Since = TrialRedraining, now
			return true, true
		case late:
			t.Outcome = TrialNoise
		}
	case TrialRedrained:
		switch {
		case !firing && !early:
			t.Outcome = TrialCulprit
		case !firing, late:
			t.Phase, t.Since, t.Outcome = TrialUndraining, now, TrialInconclusive
			return false, true
		}
	}
	return false, false
}
