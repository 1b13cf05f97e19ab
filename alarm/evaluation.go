package alarm

import (
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/shepherd-go/shepherd/duration"
)

// Statistic says how the raw points that fall in one period become that
// period's datapoint.
//
// The zero value, [AsReported], takes the series as already holding one
// value per period, as a source does when asked for a [Range] whose step is
// the period (a PromQL query with rate(...[1m]) at a one-minute step, for
// example). The other statistics aggregate raw points, as CloudWatch does
// with raw metric data: each raw point is one sample, or Point.Samples
// samples when that is known.
type Statistic string

const (
	// AsReported uses the series' values as the per-period datapoints. When
	// more than one point falls in a period, the most recent one with a
	// value is used.
	AsReported Statistic = ""
	// Average is the mean of the values in the period.
	Average Statistic = "Average"
	// Sum is the sum of the values in the period.
	Sum Statistic = "Sum"
	// Minimum is the smallest value in the period.
	Minimum Statistic = "Minimum"
	// Maximum is the largest value in the period.
	Maximum Statistic = "Maximum"
	// SampleCount is the number of samples in the period.
	SampleCount Statistic = "SampleCount"
)

// Percentile returns the statistic for the p-th percentile of the values in
// a period, written like CloudWatch's: Percentile(99) is "p99" and
// Percentile(99.9) is "p99.9". p must lie in (0, 100).
//
// A percentile statistic uses the nearest-rank method: the smallest value
// that at least p percent of the period's values do not exceed. Percentiles
// over few samples are noise; see [PercentileMinSamples].
func Percentile(p float64) Statistic {
	return Statistic("p" + strconv.FormatFloat(p, 'f', -1, 64))
}

// PercentileMinSamples returns the smallest number of samples behind a
// p-th percentile for it to mean something, by CloudWatch's rule: 10/(1-q)
// samples for q = p/100 of at least 0.5, and 10/q below that. That is 1,000
// samples for p99, 10,000 for p99.9, 100 for p90 and 20 for p50. Use it as
// [Evaluation.MinSamples] so that a percentile alarm does not judge a
// handful of requests: periods with fewer samples count as missing.
//
// It returns 0 when p is outside (0, 100).
func PercentileMinSamples(p float64) int64 {
	if !(p > 0 && p < 100) {
		return 0
	}
	var x float64
	if p >= 50 {
		x = 1000 / (100 - p)
	} else {
		x = 1000 / p
	}
	// Decimal percentiles are not exact in binary (100-99.9 is a hair under
	// 0.1), so round away the last few bits before taking the ceiling.
	return int64(math.Ceil(x * (1 - 1e-12)))
}

type statKind uint8

const (
	statReported statKind = iota
	statAverage
	statSum
	statMinimum
	statMaximum
	statSampleCount
	statPercentile
)

// parse resolves the statistic without allocating.
func (s Statistic) parse() (statKind, float64, bool) {
	switch s {
	case AsReported:
		return statReported, 0, true
	case Average:
		return statAverage, 0, true
	case Sum:
		return statSum, 0, true
	case Minimum:
		return statMinimum, 0, true
	case Maximum:
		return statMaximum, 0, true
	case SampleCount:
		return statSampleCount, 0, true
	}
	if len(s) > 1 && s[0] == 'p' {
		p, err := strconv.ParseFloat(string(s[1:]), 64)
		if err == nil && p > 0 && p < 100 {
			return statPercentile, p, true
		}
	}
	return 0, 0, false
}

// Comparison says when a datapoint breaches the threshold. Its JSON form is
// CloudWatch's operator name ("GreaterThanThreshold"); the symbols ">",
// ">=", "<" and "<=" are accepted too, in JSON and in Go.
type Comparison string

const (
	// GreaterThan breaches when the datapoint is above the threshold.
	GreaterThan Comparison = "GreaterThanThreshold"
	// GreaterThanOrEqual breaches when the datapoint is at or above the
	// threshold.
	GreaterThanOrEqual Comparison = "GreaterThanOrEqualToThreshold"
	// LessThan breaches when the datapoint is below the threshold.
	LessThan Comparison = "LessThanThreshold"
	// LessThanOrEqual breaches when the datapoint is at or below the
	// threshold.
	LessThanOrEqual Comparison = "LessThanOrEqualToThreshold"
)

type cmpOp uint8

const (
	opGT cmpOp = iota + 1
	opGE
	opLT
	opLE
)

func (c Comparison) op() (cmpOp, bool) {
	switch c {
	case GreaterThan, ">":
		return opGT, true
	case GreaterThanOrEqual, ">=":
		return opGE, true
	case LessThan, "<":
		return opLT, true
	case LessThanOrEqual, "<=":
		return opLE, true
	}
	return 0, false
}

// Symbol returns the comparison as an operator (">", ">=", "<", "<="), or
// the comparison itself when it is unknown.
func (c Comparison) Symbol() string {
	op, _ := c.op()
	return op.symbol(string(c))
}

func (o cmpOp) symbol(unknown string) string {
	switch o {
	case opGT:
		return ">"
	case opGE:
		return ">="
	case opLT:
		return "<"
	case opLE:
		return "<="
	}
	return unknown
}

func (o cmpOp) breaches(v, threshold float64) bool {
	switch o {
	case opGT:
		return v > threshold
	case opGE:
		return v >= threshold
	case opLT:
		return v < threshold
	case opLE:
		return v <= threshold
	}
	return false
}

// Treatment says how missing datapoints count when a rule has fewer than N
// real datapoints in its evaluation range. The names and meanings are
// CloudWatch's TreatMissingData; the zero value means [Missing].
type Treatment string

const (
	// Missing (the default) lets the real datapoints decide on their own;
	// with none, the state is INSUFFICIENT_DATA.
	Missing Treatment = "missing"
	// NotBreaching fills missing datapoints as within the threshold: for
	// metrics that report only when something goes wrong.
	NotBreaching Treatment = "notBreaching"
	// Breaching fills missing datapoints as breaching: for metrics that
	// report continuously, such as a rollback alarm's, where silence is
	// itself a symptom.
	Breaching Treatment = "breaching"
	// Ignore keeps the previous state when the real datapoints cannot
	// decide; see [Threshold.EvaluateFrom].
	Ignore Treatment = "ignore"
)

type treatKind uint8

const (
	treatMissing treatKind = iota
	treatNotBreaching
	treatBreaching
	treatIgnore
)

func (t Treatment) parse() (treatKind, bool) {
	switch t {
	case "", Missing:
		return treatMissing, true
	case NotBreaching:
		return treatNotBreaching, true
	case Breaching:
		return treatBreaching, true
	case Ignore:
		return treatIgnore, true
	}
	return 0, false
}

func (t Treatment) name() Treatment {
	if t == "" {
		return Missing
	}
	return t
}

// Evaluation is the part of a rule that turns a series into a state: how
// datapoints are formed per period, how many periods are evaluated, how many
// of them must breach, and what missing data means. [Threshold] and
// [Relative] embed it, so its fields appear at the top level of their JSON.
type Evaluation struct {
	// Period is the length of one datapoint's period. Required.
	Period duration.Duration `json:"period"`
	// EvaluationPeriods is N, the number of most recent datapoints that
	// decide the state. Required, at least 1.
	EvaluationPeriods int `json:"evaluationPeriods"`
	// DatapointsToAlarm is M, the number of those N datapoints that must
	// breach for ALARM; they need not be consecutive. Zero means N.
	DatapointsToAlarm int `json:"datapointsToAlarm,omitempty"`
	// TreatMissingData says how missing datapoints count; zero means
	// [Missing].
	TreatMissingData Treatment `json:"treatMissingData,omitempty"`
	// Statistic turns the raw points of a period into its datapoint; zero
	// means [AsReported].
	Statistic Statistic `json:"statistic,omitempty"`
	// MinSamples is the number of samples a datapoint needs to count; a
	// datapoint with fewer counts as missing. Zero means no minimum. With
	// AsReported, a point's samples are Point.Samples, and a point whose
	// source does not know them (0) counts as missing when a minimum is
	// set: a rule that asks for evidence fails closed. See
	// [PercentileMinSamples].
	MinSamples int64 `json:"minSamples,omitempty"`
	// EvaluationRange is how many periods back from now the rule looks for
	// real datapoints (CloudWatch's evaluation range, which it does not
	// publish). Zero means EvaluationPeriods+2, which is what the
	// CloudWatch documentation's tables use for N = 3. It must be at least
	// EvaluationPeriods.
	EvaluationRange int `json:"evaluationRange,omitempty"`
}

// datapointsToAlarm returns M with its default applied.
func (e *Evaluation) datapointsToAlarm() int {
	if e.DatapointsToAlarm == 0 {
		return e.EvaluationPeriods
	}
	return e.DatapointsToAlarm
}

// evaluationRange returns the range with its default applied.
func (e *Evaluation) evaluationRange() int {
	if e.EvaluationRange == 0 {
		return e.EvaluationPeriods + 2
	}
	return e.EvaluationRange
}

// Window returns the range a source must be asked for so that the rule can
// be evaluated at now: the evaluation range's periods, ending at now, at a
// step of one period. With [AsReported] the range starts at the end of the
// oldest period, so that a source that samples at each step (Prometheus)
// returns exactly one point per period; otherwise it starts at the beginning
// of the oldest period, so that all raw points are fetched.
func (e Evaluation) Window(now time.Time) Range {
	p := e.Period.Std()
	n := e.evaluationRange()
	back := n - 1
	if e.Statistic != AsReported {
		back = n
	}
	return Range{Start: now.Add(-time.Duration(back) * p), End: now, Step: p}
}

// validate appends every problem with the evaluation's fields.
func (e *Evaluation) validate(p *problems) {
	if e.Period <= 0 {
		p.add("Period", "must be positive, got %s", e.Period)
	}
	n := e.EvaluationPeriods
	if n < 1 {
		p.add("EvaluationPeriods", "must be at least 1, got %d", n)
	}
	if m := e.DatapointsToAlarm; m < 0 || (n >= 1 && m > n) {
		p.add("DatapointsToAlarm", "%d is outside [1, EvaluationPeriods=%d] (0 means EvaluationPeriods)", m, n)
	}
	if _, ok := e.TreatMissingData.parse(); !ok {
		p.add("TreatMissingData", "unknown treatment %q (want missing, notBreaching, breaching or ignore)", e.TreatMissingData)
	}
	if _, _, ok := e.Statistic.parse(); !ok {
		p.add("Statistic", "unknown statistic %q (want Average, Sum, Minimum, Maximum, SampleCount, pNN with 0 < NN < 100, or empty for as reported)", e.Statistic)
	}
	if e.MinSamples < 0 {
		p.add("MinSamples", "must not be negative, got %d", e.MinSamples)
	}
	if r := e.EvaluationRange; r < 0 || (r > 0 && n >= 1 && r < n) {
		p.add("EvaluationRange", "%d is less than EvaluationPeriods=%d (0 means EvaluationPeriods+2)", r, n)
	}
	if e.Period > 0 && n >= 1 && e.evaluationRange() > 0 &&
		int64(e.evaluationRange()) > math.MaxInt64/int64(e.Period) {
		p.add("EvaluationRange", "%d periods of %s overflow a time.Duration", e.evaluationRange(), e.Period)
	}
}

// params is the evaluation resolved once per evaluation, without
// allocating. ok is false when the evaluation is invalid.
type params struct {
	n, m, rng  int
	period     time.Duration
	stat       statKind
	pct        float64
	treat      treatKind
	minSamples int64
}

func (e *Evaluation) params() (params, bool) {
	p := params{
		n:          e.EvaluationPeriods,
		m:          e.datapointsToAlarm(),
		rng:        e.evaluationRange(),
		period:     e.Period.Std(),
		minSamples: e.MinSamples,
	}
	var ok1, ok2 bool
	p.stat, p.pct, ok1 = e.Statistic.parse()
	p.treat, ok2 = e.TreatMissingData.parse()
	ok := ok1 && ok2 && p.period > 0 && p.n >= 1 && p.m >= 1 && p.m <= p.n &&
		p.rng >= p.n && p.minSamples >= 0 && int64(p.rng) <= math.MaxInt64/int64(p.period)
	return p, ok
}

// walker visits the periods of an evaluation range that hold a datapoint,
// newest first, without allocating (except for percentiles over more than
// 64 raw points in one period).
type walker struct {
	pts       []Point
	i         int // next point to look at, walking down
	now       time.Time
	nowSec    int64 // now as Unix seconds and nanoseconds
	nowNsec   int
	maxSec    int64 // seconds beyond which a time is outside the range
	par       params
	lastAge   int
	unordered bool
	cachedI   int // index whose age is cachedAge, so each point's age is computed once
	cachedAge int
}

func (w *walker) init(pts []Point, now time.Time, par *params) {
	// par is copied: a pointer kept in the walker would move it to the heap.
	w.pts, w.now, w.par = pts, now, *par
	w.nowSec, w.nowNsec = now.Unix(), now.Nanosecond()
	w.maxSec = int64(par.rng)*(int64(par.period)/1e9+1) + 1
	// Binary search for the last point at or before now; points after now
	// belong to no period of this evaluation.
	lo, hi := 0, len(pts)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if !pts[mid].Time.After(now) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	w.i = lo - 1
	w.cachedI = -1
}

// ageAt returns the age of point i, computing it once.
func (w *walker) ageAt(i int) int {
	if i != w.cachedI {
		w.cachedI, w.cachedAge = i, w.age(w.pts[i].Time)
	}
	return w.cachedAge
}

// age returns the period a time falls in: 1 for (now-P, now], 2 for
// (now-2P, now-P], and so on; 0 for a time after now. It works on Unix
// seconds and nanoseconds rather than [time.Time.Sub], which is several
// times slower, and saturates for times far outside the range.
func (w *walker) age(t time.Time) int {
	ds := w.nowSec - t.Unix()
	switch {
	case ds < -1:
		return 0
	case ds > w.maxSec:
		return w.par.rng + 1
	}
	d := ds*1e9 + int64(w.nowNsec-t.Nanosecond())
	if d < 0 {
		return 0
	}
	return int(d/int64(w.par.period)) + 1
}

// next returns the next period that holds a usable datapoint: its age, its
// value, and the point it came from (the newest point of the period).
func (w *walker) next() (age int, v float64, from Point, ok bool) {
	for w.i >= 0 {
		a := w.ageAt(w.i)
		if a == 0 || a < w.lastAge {
			// A point after now or newer than a period already visited: the
			// series is not in time order.
			w.unordered = true
			w.i = -1
			return 0, 0, Point{}, false
		}
		if a > w.par.rng {
			w.i = -1
			return 0, 0, Point{}, false
		}
		w.lastAge = a + 1 // the next period must be older
		newest := w.pts[w.i]
		if w.par.stat == statReported {
			var pick Point
			found := false
			for w.i >= 0 && w.ageAt(w.i) == a {
				if !found && !math.IsNaN(w.pts[w.i].Value) {
					pick, found = w.pts[w.i], true
				}
				w.i--
			}
			if !found || pick.Samples < w.par.minSamples {
				continue
			}
			return a, pick.Value, pick, true
		}
		var (
			count   int
			samples int64
			sum     float64
			lo, hi  = math.Inf(1), math.Inf(-1)
			vals    []float64
		)
		if w.par.stat == statPercentile {
			// A stack buffer for the common case; append moves to the heap
			// only for periods with more raw points.
			var buf [64]float64
			vals = buf[:0]
		}
		for w.i >= 0 && w.ageAt(w.i) == a {
			p := w.pts[w.i]
			w.i--
			if math.IsNaN(p.Value) {
				continue
			}
			count++
			if p.Samples > 0 {
				samples += p.Samples
			} else {
				samples++
			}
			sum += p.Value
			lo = min(lo, p.Value)
			hi = max(hi, p.Value)
			if w.par.stat == statPercentile {
				vals = append(vals, p.Value)
			}
		}
		if count == 0 || samples < w.par.minSamples {
			continue
		}
		switch w.par.stat {
		case statAverage:
			v = sum / float64(count)
		case statSum:
			v = sum
		case statMinimum:
			v = lo
		case statMaximum:
			v = hi
		case statSampleCount:
			v = float64(samples)
		case statPercentile:
			slices.Sort(vals)
			k := int(math.Ceil(w.par.pct/100*float64(len(vals)))) - 1
			v = vals[max(0, min(k, len(vals)-1))]
		}
		newest.Value, newest.Samples = v, samples
		return a, v, newest, true
	}
	return 0, 0, Point{}, false
}

// tally counts the real datapoints of an evaluation range, newest first.
type tally struct {
	real, breaching         int
	recent, recentBreaching int // among the N most recent real datapoints
	oldestBreach            int // age of the oldest breaching datapoint
	oldestRecent            int // age of the oldest of the N most recent
}

func (t *tally) add(n, age int, breach bool) {
	t.real++
	if breach {
		t.breaching++
		t.oldestBreach = age
	}
	if t.recent < n {
		t.recent++
		t.oldestRecent = age
		if breach {
			t.recentBreaching++
		}
	}
}

// basis says what an assessment rests on; it selects the reason's wording.
type basis uint8

const (
	basisInvalid   basis = iota // the rule is invalid
	basisUnordered              // the series is not in time order
	basisRecent                 // the N most recent real datapoints
	basisFilled                 // fewer than N real, filled per treatment
	basisPartial                // missing/ignore: the real datapoints decided
	basisAged                   // missing: a breaching datapoint aged past M
	basisUndecided              // missing: too few, all breaching
	basisNoData                 // no real datapoint, filled or INSUFFICIENT_DATA
	basisKept                   // ignore: previous state kept
)

// Assessment is the outcome of evaluating a rule, as plain numbers: the
// state and the evidence behind it. Computing it never allocates; the
// rule's Evaluate method turns it into a [Result] with a reason in words.
type Assessment struct {
	// State is the decided state.
	State State
	// Range is the evaluation range, in periods.
	Range int
	// Real is the number of periods in the range that hold a usable
	// datapoint.
	Real int
	// Considered is the number of datapoints the decision counted: N when
	// the range holds N real datapoints or missing ones were filled, fewer
	// when the real datapoints decided on their own.
	Considered int
	// Breaching is the number of considered datapoints that breach,
	// including filled ones.
	Breaching int
	// Filled is the number of missing datapoints filled in per the
	// treatment.
	Filled int
	// Latest is the newest real datapoint (its period's statistic, stamped
	// with the newest raw point's time), valid when Real > 0.
	Latest Point
	// Baseline is the baseline's datapoint in the same period as Latest,
	// for relative rules.
	Baseline Point

	basis  basis
	oldest int // age of the oldest breaching datapoint, for basisAged
}

// decide applies CloudWatch's rules to a tally (see the package
// documentation).
func (par *params) decide(t *tally, prev State) Assessment {
	a := Assessment{Range: par.rng, Real: t.real, oldest: t.oldestBreach}
	n, m := par.n, par.m
	verdict := func(breaching int) State {
		if breaching >= m {
			return Alarm
		}
		return OK
	}
	switch {
	case t.real >= n:
		a.basis, a.Considered, a.Breaching = basisRecent, n, t.recentBreaching
		a.State = verdict(a.Breaching)
	case par.treat == treatBreaching:
		a.Filled = n - t.real
		a.basis, a.Considered, a.Breaching = basisFilled, n, t.breaching+a.Filled
		if t.real == 0 {
			a.basis = basisNoData
		}
		a.State = verdict(a.Breaching)
	case par.treat == treatNotBreaching:
		a.Filled = n - t.real
		a.basis, a.Considered, a.Breaching = basisFilled, n, t.breaching
		if t.real == 0 {
			a.basis = basisNoData
		}
		a.State = verdict(a.Breaching)
	case t.real == 0:
		// missing or ignore, nothing at all.
		if par.treat == treatIgnore {
			a.basis, a.State = basisKept, prev
		} else {
			a.basis, a.State = basisNoData, InsufficientData
		}
	default:
		// missing or ignore with some real datapoints: they decide when
		// they can.
		a.Considered, a.Breaching = t.real, t.breaching
		switch {
		case t.breaching >= m:
			a.basis, a.State = basisPartial, Alarm
		case t.breaching < t.real:
			a.basis, a.State = basisPartial, OK
		case par.treat == treatIgnore:
			a.basis, a.State = basisKept, prev
		case t.oldestBreach >= m:
			a.basis, a.State = basisAged, Alarm
		default:
			a.basis, a.State = basisUndecided, InsufficientData
		}
	}
	return a
}
