package bake

import (
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/field"
	"github.com/shepherd-go/shepherd/wave"
)

// Defaults used where a [Policy] or [Requirement] leaves a field zero.
const (
	// DefaultMinDuration is the minimum bake of a policy that names none:
	// the published minimum after a one-box stage
	// ([wave.DefaultOneBoxBake]), the shortest bake the brief recommends
	// anywhere.
	DefaultMinDuration = wave.DefaultOneBoxBake
	// DefaultPollInterval is how often [Wait] reads evidence and alarms.
	// One minute matches the period of standard request metrics and of
	// continuous canaries.
	DefaultPollInterval = time.Minute
	// DefaultMaxReadErrors is how many consecutive failed reads of evidence
	// or alarms fail the bake. See [Policy.MaxReadErrors] for why it is 3.
	DefaultMaxReadErrors = 3
	// DefaultStep is the query step of a [Requirement] that names none.
	DefaultStep = time.Minute
	// MaxBake bounds every duration of a policy. A bake longer than a year
	// is a mistake in a config file, and the bound keeps time arithmetic far
	// from overflow.
	MaxBake = 365 * 24 * time.Hour
)

// Consequence is what a bake's outcome means for the change: what a driver
// does next. [Status.Consequence] reports it for every finished bake. Its
// words are the rollout driver's (rollout.Reaction): "rollback", "pause".
type Consequence string

const (
	// RollBack rolls the change back. It is the consequence of a failed
	// bake and, by default, of an inconclusive one: a stage that never
	// gathered its evidence has not shown that the change is safe.
	RollBack Consequence = "rollback"
	// Pass promotes the change to the next stage. It is the consequence of
	// a bake that is done, and may be configured for an inconclusive one
	// where low traffic is expected and accepted.
	Pass Consequence = "pass"
	// Pause stops the rollout where it is, neither promoting nor rolling
	// back, until a human decides (rollout.Pause).
	Pause Consequence = "pause"
	// Hold is the former name of [Pause].
	//
	// Deprecated: use [Pause]; "hold" in JSON still decodes as Pause.
	Hold = Pause
)

// UnmarshalText decodes a consequence, accepting the former spellings
// "roll-back" (for [RollBack]) and "hold" (for [Pause]) so that policies
// and saved bakes written before the words were unified keep their
// meaning. Any other word is kept as it is, for Validate to report.
func (c *Consequence) UnmarshalText(b []byte) error {
	switch w := Consequence(b); w {
	case "roll-back":
		*c = RollBack
	case "hold":
		*c = Pause
	default:
		*c = w
	}
	return nil
}

// words says what the consequence does in plain words.
func (c Consequence) words() string {
	switch c {
	case RollBack:
		return "roll back"
	case Pass:
		return "pass"
	case Pause:
		return "pause for a human"
	}
	return string(c)
}

// DataTreatment says how a bake treats a watched alarm in
// INSUFFICIENT_DATA, the state of an alarm that cannot decide (too few
// datapoints or samples).
type DataTreatment string

const (
	// WaitForData (the default) keeps baking while any watched alarm is in
	// INSUFFICIENT_DATA: the bake cannot end done until every watched alarm
	// reports OK, and ends inconclusive at the maximum duration if one
	// never does. Missing evidence is not good evidence, but it is not
	// evidence of harm either.
	WaitForData DataTreatment = "wait"
	// FailWithoutData fails the bake as soon as a watched alarm is in
	// INSUFFICIENT_DATA, as config-deployment services do during a bake.
	FailWithoutData DataTreatment = "fail"
	// IgnoreMissingData treats INSUFFICIENT_DATA as OK. Use it only for
	// alarms that are expected to be silent, such as error-log alarms on a
	// quiet stage.
	IgnoreMissingData DataTreatment = "ignore"
)

// Counting says how a [Requirement] turns a query's series into an amount
// of evidence.
type Counting string

const (
	// CountValues (the default) sums the values of the points: the query
	// must return per-step increments that do not overlap, such as PromQL
	// sum(increase(http_requests_total{api="Create"}[1m])) with a 1m step.
	CountValues Counting = "values"
	// CountSamples sums the points' sample counts ([alarm.Point.Samples]):
	// for a query whose values are statistics (a latency percentile) and
	// whose source reports how many requests stand behind each point.
	CountSamples Counting = "samples"
)

// Requirement is one kind of evidence a bake waits for, such as "at least
// 100 requests to the Create API".
//
// Evidence is counted over the whole bake so far, [Tracker.Started] to now
// (time paused included, because the change kept serving traffic while the
// bake clock was stopped): the query is run over that range with the given
// step and the points are summed as [Requirement.Count] says. The first
// point may cover up to one step before the bake started; choose a step that
// is short against the bake.
type Requirement struct {
	// Name identifies the requirement in statuses and reasons. Empty means
	// the query itself.
	Name string `json:"name,omitempty"`
	// Query is the source's query (PromQL for a Prometheus source, a key
	// for [alarm.Memory]). Required.
	Query string `json:"query"`
	// Min is the amount of evidence needed; it must be positive.
	Min float64 `json:"min"`
	// Count says how points are counted. Empty means [CountValues].
	Count Counting `json:"count,omitempty"`
	// Step is the resolution of the query. Zero means [DefaultStep] (one
	// minute). Keep MaxDuration/Step under the source's point limit
	// (11,000 for Prometheus).
	Step duration.Duration `json:"step,omitzero"`
}

// Sum counts the evidence in s as r.Count says. Points with a NaN or
// infinite value (no value) and negative sample counts are skipped; a
// negative total counts as none, so evidence is never below zero.
func (r Requirement) Sum(s alarm.Series) float64 {
	var sum float64
	for _, p := range s.Points {
		switch r.Count {
		case CountSamples:
			if p.Samples > 0 {
				sum += float64(p.Samples)
			}
		default:
			if !math.IsNaN(p.Value) && !math.IsInf(p.Value, 0) {
				sum += p.Value
			}
		}
	}
	if !(sum > 0) || math.IsInf(sum, 0) {
		if math.IsInf(sum, 1) {
			return math.MaxFloat64
		}
		return 0
	}
	return sum
}

// Policy says how long a stage bakes, on what evidence, and what watches it.
// The zero value is a valid policy: bake one hour ([DefaultMinDuration]),
// give up after two, roll back if inconclusive.
//
// A bake is done when it has baked at least MinDuration (time paused not
// counted), every evidence requirement is met and every watched alarm
// reports OK. It fails at once when any alarm is in ALARM. It ends
// inconclusive when MaxDuration has been baked without being done.
type Policy struct {
	// MinDuration is the least time the stage bakes. Zero means
	// [DefaultMinDuration] (1 hour). There is no way to ask for no bake;
	// skip the bake instead.
	MinDuration duration.Duration `json:"minDuration,omitzero"`
	// MaxDuration is the time after which a bake that is not done ends
	// [Inconclusive]. Zero means twice the minimum (at most [MaxBake]). It
	// must not be less
	// than MinDuration; equal means "end at MinDuration, one way or the
	// other".
	MaxDuration duration.Duration `json:"maxDuration,omitzero"`
	// Evidence are the requirements that must all be met. Empty means the
	// bake is on time (and alarms) alone.
	Evidence []Requirement `json:"evidence,omitempty"`
	// Alarms name the alarms watched during the bake. The policy holds
	// names only: the checkers that evaluate them are wiring, passed to
	// [Wait] (or polled by a driver) by name. A bake cannot end done until
	// each named alarm has reported in the same update.
	Alarms []string `json:"alarms,omitempty"`
	// OnInconclusive is the consequence of an inconclusive bake. Empty
	// means [RollBack]: fail closed.
	OnInconclusive Consequence `json:"onInconclusive,omitempty"`
	// OnInsufficientData is how a watched alarm in INSUFFICIENT_DATA is
	// treated. Empty means [WaitForData].
	OnInsufficientData DataTreatment `json:"onInsufficientData,omitempty"`
	// PollInterval is how often evidence and alarms are read. Zero means
	// [DefaultPollInterval] (1 minute). [Wait] also looks at the exact
	// instants the bake can end, so the interval does not delay the end.
	PollInterval duration.Duration `json:"pollInterval,omitzero"`
	// MaxReadErrors is the number of consecutive failed reads (a source or
	// checker error) after which the bake fails. Zero means
	// [DefaultMaxReadErrors] (3).
	//
	// Three, not one, because a single failed query (a timeout, a restart
	// of the metrics server) is common and failing a 12-hour bake for it
	// rolls back a good change and costs the bake again; three in a row at
	// the default interval is minutes without sight of the alarms, which is
	// no longer a blip. While reads fail the bake cannot end done or
	// inconclusive, only fail: it stays closed. Set 1 to fail at the first
	// error, as deployment services that "stop if alarm status can't be
	// read" do.
	MaxReadErrors int `json:"maxReadErrors,omitzero"`
}

// WithDefaults returns a copy of p with every zero field replaced by its
// documented default, including each requirement's Name, Count and Step.
// The copy shares no slices with p. [Start] stores the policy this way, so
// that a persisted bake keeps its meaning even if a later version of this
// package changes a default.
func (p Policy) WithDefaults() Policy {
	if p.MinDuration == 0 {
		p.MinDuration = duration.Duration(DefaultMinDuration)
	}
	if p.MaxDuration == 0 {
		p.MaxDuration = duration.Duration(defaultMax(p.MinDuration.Std()))
	}
	if p.OnInconclusive == "" {
		p.OnInconclusive = RollBack
	}
	if p.OnInsufficientData == "" {
		p.OnInsufficientData = WaitForData
	}
	if p.PollInterval == 0 {
		p.PollInterval = duration.Duration(DefaultPollInterval)
	}
	if p.MaxReadErrors == 0 {
		p.MaxReadErrors = DefaultMaxReadErrors
	}
	if p.Evidence != nil {
		ev := make([]Requirement, len(p.Evidence))
		for i, r := range p.Evidence {
			if r.Name == "" {
				r.Name = r.Query
			}
			if r.Count == "" {
				r.Count = CountValues
			}
			if r.Step == 0 {
				r.Step = duration.Duration(DefaultStep)
			}
			ev[i] = r
		}
		p.Evidence = ev
	}
	if p.Alarms != nil {
		p.Alarms = append([]string(nil), p.Alarms...)
	}
	return p
}

// defaultMax is the maximum duration of a policy with the minimum min and
// no maximum: twice the minimum, within [MaxBake] unless the minimum itself
// is beyond it.
func defaultMax(min time.Duration) time.Duration {
	if min > MaxBake/2 {
		return max(min, MaxBake)
	}
	return 2 * min
}

// ErrInvalid is wrapped by every [FieldError]: a policy, a schedule or a
// tracker's state is malformed.
var ErrInvalid = errors.New("bake: invalid")

// FieldError is one problem with one field of a policy, a schedule or a
// tracker's state, with its path from the value validated (for example
// "Evidence[0].Query", or "FirstWave.MaxDuration" in a schedule); its Err
// is [ErrInvalid]. Validate methods return every problem they find, joined
// with [errors.Join]; use [errors.As] to get the first, or
// [field.All] to list them. It is the one shape of a validation problem in
// shepherd, [field.Error].
type FieldError = field.Error

// problems collects the problems of one validation.
type problems struct{ list field.List }

func (ps *problems) add(path, format string, args ...any) {
	ps.list.Add(ErrInvalid, path, format, args...)
}

func (ps *problems) err() error { return ps.list.Err() }

// join builds a field path from a prefix and a field name.
func join(prefix, field string) string {
	if prefix == "" {
		return field
	}
	return prefix + "." + field
}

// Validate reports every problem with p, each as a [*FieldError] naming its
// field, for example "bake: MaxDuration: 1h0m0s is less than MinDuration
// 12h0m0s". Defaults are applied before the durations are compared, so a
// MaxDuration below the default minimum is reported too.
func (p Policy) Validate() error {
	var ps problems
	p.fields(&ps, "")
	p.bounds(&ps, "", "")
	return ps.err()
}

// fields checks every field of p on its own.
func (p Policy) fields(ps *problems, prefix string) {
	checkDuration(ps, join(prefix, "MinDuration"), p.MinDuration)
	checkDuration(ps, join(prefix, "MaxDuration"), p.MaxDuration)
	checkDuration(ps, join(prefix, "PollInterval"), p.PollInterval)
	if p.MaxReadErrors < 0 {
		ps.add(join(prefix, "MaxReadErrors"), "%d is negative", p.MaxReadErrors)
	}
	switch p.OnInconclusive {
	case "", RollBack, Pass, Pause:
	default:
		ps.add(join(prefix, "OnInconclusive"), "%q is not one of %q, %q or %q", p.OnInconclusive, RollBack, Pass, Pause)
	}
	switch p.OnInsufficientData {
	case "", WaitForData, FailWithoutData, IgnoreMissingData:
	default:
		ps.add(join(prefix, "OnInsufficientData"), "%q is not one of %q, %q or %q",
			p.OnInsufficientData, WaitForData, FailWithoutData, IgnoreMissingData)
	}
	names := make(map[string]int, len(p.Evidence))
	for i, r := range p.Evidence {
		at := join(prefix, "Evidence["+strconv.Itoa(i)+"]")
		if r.Query == "" {
			ps.add(at+".Query", "empty; a requirement needs a query to count its evidence")
		}
		switch {
		case math.IsNaN(r.Min) || math.IsInf(r.Min, 0):
			ps.add(at+".Min", "%v is not a finite number", r.Min)
		case r.Min <= 0:
			ps.add(at+".Min", "%v must be positive", r.Min)
		}
		switch r.Count {
		case "", CountValues, CountSamples:
		default:
			ps.add(at+".Count", "%q is not one of %q or %q", r.Count, CountValues, CountSamples)
		}
		checkDuration(ps, at+".Step", r.Step)
		name := r.Name
		if name == "" {
			name = r.Query
		}
		if name == "" {
			continue
		}
		if j, ok := names[name]; ok {
			ps.add(at+".Name", "%q is already the name of Evidence[%d]", name, j)
		} else {
			names[name] = i
		}
	}
	seen := make(map[string]int, len(p.Alarms))
	for i, a := range p.Alarms {
		at := join(prefix, "Alarms["+strconv.Itoa(i)+"]")
		if a == "" {
			ps.add(at, "empty alarm name")
			continue
		}
		if j, ok := seen[a]; ok {
			ps.add(at, "%q is already Alarms[%d]", a, j)
		} else {
			seen[a] = i
		}
	}
}

// bounds checks that MaxDuration is not below MinDuration once defaults
// are applied; note is appended to the problem to say where the value is in
// effect.
func (p Policy) bounds(ps *problems, prefix, note string) {
	if p.MinDuration < 0 || p.MaxDuration < 0 || p.MaxDuration == 0 {
		return // reported by fields, or defaulted to twice the minimum
	}
	minimum := p.MinDuration
	if minimum == 0 {
		minimum = duration.Duration(DefaultMinDuration)
		note += " (the default)"
	}
	if p.MaxDuration < minimum {
		ps.add(join(prefix, "MaxDuration"), "%s is less than MinDuration %s%s", p.MaxDuration, minimum, note)
	}
}

func checkDuration(ps *problems, field string, d duration.Duration) {
	switch {
	case d < 0:
		ps.add(field, "%s is negative", d)
	case d.Std() > MaxBake:
		ps.add(field, "%s is longer than a year (%s)", d, MaxBake)
	}
}
