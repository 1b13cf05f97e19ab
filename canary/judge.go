package canary

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Judge is the sequential judge of one canary under a [Policy]: feed it
// each interval's data with [Judge.Observe] and ask [Judge.Decide] (a
// decision, without allocating) or [Judge.Verdict] (the decision with its
// explanation).
//
// Its state is plain data ([State]): a driver can persist it at every
// interval and resume with [ResumeJudge] after a crash. The state of each
// metric is a handful of sums (a fixed bucket array for quantiles), so an
// update costs nanoseconds however long the canary runs.
//
// A Judge is not safe for concurrent use.
type Judge struct {
	p     Policy
	plans []*plan
	st    State
	// last caches the results computed by the latest Decide.
	last []result
}

// State is the persistent state of a [Judge]: when it started, what it has
// decided, and each metric's sufficient statistics. It encodes to JSON.
type State struct {
	// Start is the start of the canary.
	Start time.Time `json:"start"`
	// Last is the time of the latest observation.
	Last time.Time `json:"last,omitzero"`
	// Decision is the final decision once there is one ([Continue] until
	// then); it never changes afterwards.
	Decision Decision `json:"decision"`
	// DecidedAt is when the final decision was made.
	DecidedAt time.Time `json:"decidedAt,omitzero"`
	// Metrics holds each metric's statistics, in policy order.
	Metrics []MetricState `json:"metrics"`
	// Traffic counts the requests behind the observations, for the
	// traffic guard.
	Traffic TrafficState `json:"traffic,omitzero"`
}

// MetricState is the sufficient statistics of one metric: exactly one of
// Count, Mean and Quantile is set, by the metric's [Kind].
type MetricState struct {
	// Name is the metric's name in the policy.
	Name string `json:"name"`
	// Count is the state of a Count metric.
	Count *CountState `json:"count,omitempty"`
	// Mean is the state of a Mean metric.
	Mean *MeanState `json:"mean,omitempty"`
	// Quantile is the state of a Quantile metric.
	Quantile *QuantileState `json:"quantile,omitempty"`
}

// QuantileState is the state of a Quantile metric: samples per bucket on
// each side (one more bucket than bounds, the last for values above the
// last bound) and their totals.
type QuantileState struct {
	// CanaryBuckets and BaselineBuckets count the samples per bucket.
	CanaryBuckets   []int64 `json:"canaryBuckets"`
	BaselineBuckets []int64 `json:"baselineBuckets"`
	// CanarySamples and BaselineSamples are the totals of the buckets.
	CanarySamples   int64 `json:"canarySamples"`
	BaselineSamples int64 `json:"baselineSamples"`
}

// Observation is one interval's data for one metric. Set the fields of the
// metric's kind and leave the others zero.
type Observation struct {
	// Metric is the metric's name in the policy.
	Metric string

	// CanaryEvents and BaselineEvents are a Count metric's events in the
	// interval on each side (required, not negative).
	CanaryEvents, BaselineEvents int64
	// CanaryRequests and BaselineRequests are, optionally, the requests
	// behind those events (zero when unknown). With them the count test
	// compares rates per request, the traffic guard checks the canary's
	// share of the traffic, and Metric.Slack applies.
	CanaryRequests, BaselineRequests int64

	// Mean metrics: the interval's value on each side. A NaN (no value),
	// or a value at or below zero when the metric compares ratios, marks
	// the interval missing for this metric; infinities are errors.
	CanaryValue, BaselineValue float64

	// CanarySamples and BaselineSamples are a Quantile metric's
	// per-request samples on each side: finite and not negative (a
	// negative latency is a broken clock or a broken query, and is
	// rejected rather than counted in the lowest bucket).
	CanarySamples, BaselineSamples []float64
	// CanaryBuckets and BaselineBuckets are a Quantile metric's bucket
	// counts in the metric's layout (len(Buckets)+1 counts, the last for
	// values above the last bound). Samples, buckets, or both may be given.
	CanaryBuckets, BaselineBuckets []int64
}

// Errors of the sequential judge.
var (
	// ErrDecided means the judge has made its final decision; it takes no
	// more data.
	ErrDecided = errors.New("canary: the judge has already decided")
	// ErrBadObservation means an observation is malformed: unknown metric,
	// negative counts or samples, infinite values, fields of another kind, a bucket
	// layout of the wrong length. The whole call is rejected.
	ErrBadObservation = errors.New("canary: bad observation")
	// ErrBadState means a state does not fit the policy it is resumed
	// with.
	ErrBadState = errors.New("canary: state does not fit the policy")
)

// NewJudge returns a judge for a canary that starts at start.
func NewJudge(p Policy, start time.Time) (*Judge, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	j := newJudge(p)
	j.st.Start = start
	j.st.Metrics = make([]MetricState, len(p.Metrics))
	for i, m := range p.Metrics {
		ms := &j.st.Metrics[i]
		ms.Name = m.Name
		switch m.Kind {
		case Count:
			ms.Count = &CountState{}
		case Mean:
			ms.Mean = &MeanState{}
		case Quantile:
			n := len(m.buckets()) + 1
			ms.Quantile = &QuantileState{CanaryBuckets: make([]int64, n), BaselineBuckets: make([]int64, n)}
		}
	}
	return j, nil
}

func newJudge(p Policy) *Judge {
	guarded := 0
	for _, m := range p.Metrics {
		if !m.Muted {
			guarded++
		}
	}
	alpha := p.alpha() / float64(guarded)
	j := &Judge{p: p, plans: make([]*plan, len(p.Metrics)), last: make([]result, len(p.Metrics))}
	for i, m := range p.Metrics {
		j.plans[i] = newPlan(p, m, alpha)
	}
	return j
}

// ResumeJudge returns a judge that continues from a persisted state. The
// policy must be the one the state was made with (the same metrics, in the
// same order, with the same bucket layouts).
func ResumeJudge(p Policy, s State) (*Judge, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	var errs []error
	if len(s.Metrics) != len(p.Metrics) {
		errs = append(errs, fmt.Errorf("canary: resume: %d metrics in the state, %d in the policy: %w", len(s.Metrics), len(p.Metrics), ErrBadState))
	} else {
		for i, m := range p.Metrics {
			ms := s.Metrics[i]
			if ms.Name != m.Name {
				errs = append(errs, fmt.Errorf("canary: resume: metric %d is %q in the state, %q in the policy: %w", i, ms.Name, m.Name, ErrBadState))
				continue
			}
			if err := checkMetricState(m, ms); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if s.Decision < Continue || s.Decision > Inconclusive {
		errs = append(errs, fmt.Errorf("canary: resume: unknown decision %d: %w", int(s.Decision), ErrBadState))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	j := newJudge(p)
	j.st = cloneState(s)
	return j, nil
}

// checkMetricState reports a metric state that does not fit its metric or
// could not have been produced by a judge.
func checkMetricState(m Metric, ms MetricState) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("canary: resume: %s metric %q: %s: %w", m.Kind, m.Name, fmt.Sprintf(format, a...), ErrBadState)
	}
	set := 0
	for _, b := range []bool{ms.Count != nil, ms.Mean != nil, ms.Quantile != nil} {
		if b {
			set++
		}
	}
	if set != 1 {
		return bad("%d kinds of state, want exactly one", set)
	}
	switch m.Kind {
	case Count:
		c := ms.Count
		if c == nil {
			return bad("no count state")
		}
		if c.CanaryEvents < 0 || c.BaselineEvents < 0 || c.CanaryRequests < 0 || c.BaselineRequests < 0 || c.Series.N < 0 {
			return bad("negative count")
		}
		if !c.Series.finite() || !(c.Binomial >= 0) || math.IsInf(c.Binomial, 0) || !c.CanarySide.finite() || !c.BaselineSide.finite() ||
			!(c.PoissonX >= 0) || !(c.PoissonY >= 0) || math.IsInf(c.PoissonX+c.PoissonY, 0) {
			return bad("non-finite sum")
		}
	case Mean:
		s := ms.Mean
		if s == nil {
			return bad("no mean state")
		}
		if !s.Series.finite() || s.Series.N < 0 || !s.Baseline.finite() || s.Baseline.N < 0 || math.IsNaN(s.BaselineFirst) || math.IsInf(s.BaselineFirst, 0) {
			return bad("non-finite sum")
		}
		if s.N < 0 || s.Missing < 0 || s.Pairs.N < 0 || s.Scored.N < 0 || s.Scored.N > s.Pairs.N || s.Pairs.N > float64(max(s.N-1, 0)) {
			return bad("inconsistent counts")
		}
		for _, v := range []float64{s.First, s.Last, s.Sum, s.SumSq, s.LogAR, s.LogIID,
			s.Pairs.X, s.Pairs.Y, s.Pairs.XX, s.Pairs.YY, s.Pairs.XY,
			s.Scored.X, s.Scored.Y, s.Scored.XX, s.Scored.YY, s.Scored.XY} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return bad("non-finite sum")
			}
		}
	case Quantile:
		q := ms.Quantile
		if q == nil {
			return bad("no quantile state")
		}
		n := len(m.buckets()) + 1
		if len(q.CanaryBuckets) != n || len(q.BaselineBuckets) != n {
			return bad("%d and %d buckets, want %d", len(q.CanaryBuckets), len(q.BaselineBuckets), n)
		}
		var sc, sb int64
		for k := range q.CanaryBuckets {
			if q.CanaryBuckets[k] < 0 || q.BaselineBuckets[k] < 0 {
				return bad("negative bucket count")
			}
			sc += q.CanaryBuckets[k]
			sb += q.BaselineBuckets[k]
		}
		if sc != q.CanarySamples || sb != q.BaselineSamples {
			return bad("sample totals do not match the buckets")
		}
	}
	return nil
}

func cloneState(s State) State {
	s.Metrics = slices.Clone(s.Metrics)
	for i := range s.Metrics {
		ms := &s.Metrics[i]
		if ms.Count != nil {
			c := *ms.Count
			ms.Count = &c
		}
		if ms.Mean != nil {
			m := *ms.Mean
			ms.Mean = &m
		}
		if ms.Quantile != nil {
			q := *ms.Quantile
			q.CanaryBuckets = slices.Clone(q.CanaryBuckets)
			q.BaselineBuckets = slices.Clone(q.BaselineBuckets)
			ms.Quantile = &q
		}
	}
	return s
}

// State returns a copy of the judge's state, for persisting.
func (j *Judge) State() State { return cloneState(j.st) }

// Policy returns the judge's policy.
func (j *Judge) Policy() Policy { return j.p }

func (j *Judge) index(name string) int {
	for i, m := range j.p.Metrics {
		if m.Name == name {
			return i
		}
	}
	return -1
}

// Observe adds one interval's observations, made at now. Either all of
// them are applied or, when any is malformed, none is (the error wraps
// [ErrBadObservation] and names each problem). Observations before the end
// of the warm-up are dropped. After the final decision it returns
// [ErrDecided] and applies nothing.
//
// Observe does not allocate.
func (j *Judge) Observe(now time.Time, obs ...Observation) error {
	if j.st.Decision != Continue {
		return ErrDecided
	}
	if now.Before(j.st.Last) {
		return fmt.Errorf("canary: observe: time %s is before the previous observation %s: %w",
			now.Format(time.RFC3339), j.st.Last.Format(time.RFC3339), ErrBadObservation)
	}
	for k := range obs {
		if err := j.check(&obs[k]); err != nil {
			return err
		}
	}
	if now.Before(j.st.Start.Add(j.p.Warmup.Std())) {
		return nil
	}
	for k := range obs {
		j.apply(&obs[k])
	}
	j.observeTraffic(obs)
	j.st.Last = now
	return nil
}

// check validates one observation. It allocates only to build an error.
func (j *Judge) check(o *Observation) error {
	i := j.index(o.Metric)
	if i < 0 {
		return fmt.Errorf("canary: observe: no metric %q in the policy: %w", o.Metric, ErrBadObservation)
	}
	m := j.p.Metrics[i]
	bad := func(format string, a ...any) error {
		return fmt.Errorf("canary: observe: %s metric %q: %s: %w", m.Kind, m.Name, fmt.Sprintf(format, a...), ErrBadObservation)
	}
	hasCount := o.CanaryEvents != 0 || o.BaselineEvents != 0 || o.CanaryRequests != 0 || o.BaselineRequests != 0
	hasMean := o.CanaryValue != 0 || o.BaselineValue != 0
	hasQuant := o.CanarySamples != nil || o.BaselineSamples != nil || o.CanaryBuckets != nil || o.BaselineBuckets != nil
	switch m.Kind {
	case Count:
		if hasMean || hasQuant {
			return bad("values or samples given; a count metric takes events")
		}
		if o.CanaryEvents < 0 || o.BaselineEvents < 0 || o.CanaryRequests < 0 || o.BaselineRequests < 0 {
			return bad("negative count")
		}
		if (o.CanaryRequests > 0 && o.CanaryEvents > o.CanaryRequests) || (o.BaselineRequests > 0 && o.BaselineEvents > o.BaselineRequests) {
			return bad("more events than requests")
		}
		if c := j.st.Metrics[i].Count; math.MaxInt64-c.CanaryEvents < o.CanaryEvents || math.MaxInt64-c.BaselineEvents < o.BaselineEvents ||
			math.MaxInt64-c.CanaryRequests < o.CanaryRequests || math.MaxInt64-c.BaselineRequests < o.BaselineRequests {
			return bad("event count overflows")
		}
	case Mean:
		if hasCount || hasQuant {
			return bad("events or samples given; a mean metric takes values")
		}
		for _, v := range [2]float64{o.CanaryValue, o.BaselineValue} {
			if math.IsInf(v, 0) || math.Abs(v) > 1e100 {
				return bad("value %v is infinite or too large", v)
			}
		}
	case Quantile:
		if hasCount || hasMean {
			return bad("events or values given; a quantile metric takes samples or buckets")
		}
		n := len(j.plans[i].bounds) + 1
		for _, b := range [2][]int64{o.CanaryBuckets, o.BaselineBuckets} {
			if b == nil {
				continue
			}
			if len(b) != n {
				return bad("%d bucket counts, want %d (one per bound and one overflow)", len(b), n)
			}
			for _, c := range b {
				if c < 0 {
					return bad("negative bucket count")
				}
			}
		}
		for _, s := range [2][]float64{o.CanarySamples, o.BaselineSamples} {
			for _, v := range s {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return bad("sample %v is not finite", v)
				}
				if v < 0 {
					return bad("sample %v is negative; quantile metrics take latencies, sizes or other values that cannot be", v)
				}
			}
		}
	}
	return nil
}

func (j *Judge) apply(o *Observation) {
	i := j.index(o.Metric)
	m, pl, s := &j.p.Metrics[i], j.plans[i], &j.st.Metrics[i]
	switch m.Kind {
	case Count:
		pl.addCount(s.Count, o)
	case Mean:
		c, b := o.CanaryValue, o.BaselineValue
		var d float64
		switch {
		case math.IsNaN(c) || math.IsNaN(b):
			s.Mean.Missing++
			return
		case m.Absolute:
			d = c - b
		case c <= 0 || b <= 0:
			s.Mean.Missing++
			return
		default:
			// Two logs, not the log of the ratio, which can underflow.
			d = math.Log(c) - math.Log(b)
		}
		if math.IsInf(d, 0) || math.IsNaN(d) {
			s.Mean.Missing++ // a difference of two huge values overflowed
			return
		}
		if pl.dir == Decrease {
			d = -d
		}
		s.Mean.add(d)
		if m.Absolute {
			s.Mean.addBaseline(b)
		} else {
			s.Mean.addBaseline(math.Log(b))
		}
	case Quantile:
		q := s.Quantile
		for _, v := range o.CanarySamples {
			q.CanaryBuckets[bucketOf(pl.bounds, v)]++
		}
		for _, v := range o.BaselineSamples {
			q.BaselineBuckets[bucketOf(pl.bounds, v)]++
		}
		q.CanarySamples += int64(len(o.CanarySamples))
		q.BaselineSamples += int64(len(o.BaselineSamples))
		for k, c := range o.CanaryBuckets {
			q.CanaryBuckets[k] += c
			q.CanarySamples += c
		}
		for k, c := range o.BaselineBuckets {
			q.BaselineBuckets[k] += c
			q.BaselineSamples += c
		}
	}
}

func (j *Judge) eval(i int, full bool) result {
	pl, s := j.plans[i], &j.st.Metrics[i]
	pl.frac = j.infoFraction()
	switch pl.m.Kind {
	case Count:
		return pl.evalCount(s, full)
	case Mean:
		return pl.evalMean(s, full)
	default:
		return pl.evalQuantile(s, full)
	}
}

// infoFraction is the share of the canary's judged time (from the end of
// the warm-up to MaxDuration) that the data cover: the time scale of the
// group-sequential pass boundaries.
func (j *Judge) infoFraction() float64 {
	from := j.st.Start.Add(j.p.Warmup.Std())
	total := j.p.maxDuration() - j.p.Warmup.Std()
	if j.st.Last.IsZero() || total <= 0 {
		return 0
	}
	return math.Max(0, math.Min(1, float64(j.st.Last.Sub(from))/float64(total)))
}

// Decide returns the judge's decision at now: [Fail] as soon as a guarded
// metric shows a regression, [Pass] once every guarded metric has ruled
// one out (after the minimum duration), [Inconclusive] at the deadline,
// [Continue] otherwise. A final decision is kept and returned from then on.
//
// Decide does not allocate.
func (j *Judge) Decide(now time.Time) Decision {
	if j.st.Decision != Continue {
		return j.st.Decision
	}
	allPass := true
	for i := range j.plans {
		r := j.eval(i, false)
		j.last[i] = r
		if j.p.Metrics[i].Muted {
			continue
		}
		if r.fail {
			return j.decide(Fail, now)
		}
		allPass = allPass && r.pass
	}
	tc := j.traffic()
	if tc.stop {
		return j.decide(Inconclusive, now)
	}
	elapsed := now.Sub(j.st.Start)
	if allPass && tc.ok && elapsed >= j.p.Warmup.Std()+j.p.minDuration() {
		return j.decide(Pass, now)
	}
	if elapsed >= j.p.maxDuration() {
		return j.decide(Inconclusive, now)
	}
	return Continue
}

func (j *Judge) decide(d Decision, now time.Time) Decision {
	j.st.Decision, j.st.DecidedAt = d, now
	return d
}

// Verdict is the sequential judge's decision with its explanation.
type Verdict struct {
	// Decision is the judge's decision.
	Decision Decision
	// Reason says why in one or two plain sentences.
	Reason string
	// Elapsed is the time since the start of the canary.
	Elapsed time.Duration
	// Metrics explains each metric, in policy order.
	Metrics []MetricVerdict
	// Traffic says how much the canary served against what its traffic
	// share leads to expect ("the canary served 41200 of about 45000
	// expected requests"); empty without a TrafficShare.
	Traffic string
}

// MetricVerdict explains one metric of a [Verdict].
type MetricVerdict struct {
	// Name and Kind are the metric's, from the policy.
	Name string
	Kind Kind
	// Decision is the metric's own conclusion: Fail (a regression beyond
	// its tolerance is shown), Pass (a regression beyond its margin is
	// ruled out), Continue (neither yet), or Inconclusive (no data at
	// all).
	Decision Decision
	// Muted metrics never decide the canary.
	Muted bool
	// Estimate is the canary relative to the baseline: the ratio of event
	// rates (Count), of typical values (Mean: the geometric mean ratio),
	// or of quantiles (Quantile); the difference for an absolute Mean. NaN
	// without data.
	Estimate float64
	// Lower and Upper bound the change with confidence Confidence, valid
	// at every moment of the canary (a confidence sequence), not only
	// now. They are infinite while the data cannot bound them.
	Lower, Upper float64
	// Confidence is 1 - PassAlpha.
	Confidence float64
	// Evidence is the e-value (likelihood ratio of the mixture) for a
	// regression beyond the tolerance: the metric fails when it reaches
	// Threshold = 1 / (Alpha / guarded metrics). Quantile metrics decide by
	// separating confidence sequences and report 0 here.
	Evidence, Threshold float64
	// Canary and Baseline are the data behind the decision: events
	// (Count), intervals (Mean), or samples (Quantile).
	Canary, Baseline int64
	// CanaryRequests and BaselineRequests are the requests behind a Count
	// metric's events, when observed.
	CanaryRequests, BaselineRequests int64
	// Sentence says all of this in one line, for example "error_rate 2.4x
	// baseline (95% CI 1.7x-3.3x) after 412 canary requests: fail".
	Sentence string
}

// Verdict decides at now (see [Judge.Decide]) and explains the decision
// and every metric.
func (j *Judge) Verdict(now time.Time) Verdict {
	d := j.Decide(now)
	v := Verdict{Decision: d, Elapsed: now.Sub(j.st.Start)}
	threshold := math.Exp(j.plans[0].logFail)
	var failed, undecided, noData []string
	for i, m := range j.p.Metrics {
		r := j.eval(i, true)
		s := &j.st.Metrics[i]
		mv := MetricVerdict{
			Name: m.Name, Kind: m.Kind, Muted: m.Muted,
			Estimate: r.estimate, Lower: r.lower, Upper: r.upper,
			Confidence: 1 - j.p.passAlpha(),
		}
		switch {
		case r.noData:
			mv.Decision = Inconclusive
		case r.fail:
			mv.Decision = Fail
		case r.pass:
			mv.Decision = Pass
		}
		if !math.IsNaN(r.logEvidence) {
			mv.Evidence, mv.Threshold = math.Exp(r.logEvidence), threshold
		}
		switch m.Kind {
		case Count:
			mv.Canary, mv.Baseline = s.Count.CanaryEvents, s.Count.BaselineEvents
			mv.CanaryRequests, mv.BaselineRequests = s.Count.CanaryRequests, s.Count.BaselineRequests
		case Mean:
			mv.Canary, mv.Baseline = s.Mean.N, s.Mean.N
		case Quantile:
			mv.Canary, mv.Baseline = s.Quantile.CanarySamples, s.Quantile.BaselineSamples
		}
		mv.Sentence = sentence(m, mv)
		if !m.Muted {
			switch mv.Decision {
			case Fail:
				failed = append(failed, mv.Sentence)
			case Inconclusive:
				noData = append(noData, m.Name)
			case Continue:
				undecided = append(undecided, m.Name)
			}
		}
		v.Metrics = append(v.Metrics, mv)
	}
	at := fmtDuration(v.Elapsed)
	tc := j.traffic()
	v.Traffic = tc.sentence()
	switch d {
	case Fail:
		v.Reason = fmt.Sprintf("fail after %s: %s", at, strings.Join(failed, "; "))
	case Pass:
		v.Reason = fmt.Sprintf("pass after %s: every guarded metric rules out a regression beyond its margin", at)
	case Inconclusive:
		if tc.stop {
			v.Reason = fmt.Sprintf("inconclusive after %s: %s, less than %g%% of its share; it cannot be judged (check the load balancer and the canary's health)",
				fmtDuration(j.st.DecidedAt.Sub(j.st.Start)), v.Traffic, 100*j.p.minTraffic())
			break
		}
		v.Reason = fmt.Sprintf("inconclusive at the %s deadline", fmtDuration(j.p.maxDuration()))
		if tc.active && !tc.ok {
			v.Reason += "; " + v.Traffic + ", not yet shown to be enough"
		}
		if len(noData) > 0 {
			v.Reason += fmt.Sprintf("; no data for %s", strings.Join(noData, ", "))
		}
		if len(undecided) > 0 {
			v.Reason += fmt.Sprintf("; not enough evidence either way for %s", strings.Join(undecided, ", "))
		}
	default:
		v.Reason = fmt.Sprintf("no decision after %s", at)
		if tc.active && !tc.ok {
			undecided = append(undecided, "evidence of traffic ("+v.Traffic+")")
		}
		if rest := j.p.Warmup.Std() + j.p.minDuration() - v.Elapsed; len(undecided)+len(noData) == 0 && rest > 0 {
			v.Reason += fmt.Sprintf(": every metric rules out a regression, passing after the minimum duration (%s more)", fmtDuration(rest))
		} else if len(undecided)+len(noData) > 0 {
			v.Reason += fmt.Sprintf(": waiting for %s", strings.Join(slices.Concat(undecided, noData), ", "))
		}
	}
	return v
}

func fmtDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return d.Round(time.Second).String()
}

// sentence writes the one-line explanation of a metric.
func sentence(m Metric, v MetricVerdict) string {
	var b strings.Builder
	b.WriteString(m.Name)
	if m.Kind == Quantile {
		fmt.Fprintf(&b, " p%s", strings.TrimPrefix(fmt.Sprintf("%g", 100*m.Quantile), "0"))
	}
	if math.IsNaN(v.Estimate) {
		b.WriteString(": no data yet")
	} else if m.Absolute {
		fmt.Fprintf(&b, " %s vs baseline (%g%% CI %s to %s)", signed(v.Estimate), 100*v.Confidence, signed(v.Lower), signed(v.Upper))
	} else {
		fmt.Fprintf(&b, " %s baseline (%g%% CI %s-%s)", fmtRatio(v.Estimate), 100*v.Confidence, fmtRatio(v.Lower), fmtRatio(v.Upper))
	}
	switch m.Kind {
	case Count:
		switch {
		case v.CanaryRequests > 0:
			fmt.Fprintf(&b, " after %d canary requests (%d errors vs %d in the baseline)", v.CanaryRequests, v.Canary, v.Baseline)
		default:
			fmt.Fprintf(&b, " after %d canary and %d baseline events", v.Canary, v.Baseline)
		}
	case Mean:
		fmt.Fprintf(&b, " after %d intervals", v.Canary)
	case Quantile:
		fmt.Fprintf(&b, " after %d canary requests", v.Canary)
	}
	b.WriteString(": ")
	switch v.Decision {
	case Fail:
		b.WriteString("fail")
	case Pass:
		b.WriteString("pass")
	case Inconclusive:
		b.WriteString("no data")
	default:
		b.WriteString("undecided")
	}
	if v.Muted {
		b.WriteString(" (muted)")
	}
	return b.String()
}

// fmtRatio formats a ratio with two significant digits and an x: "2.4x",
// "0.97x", "inf".
func fmtRatio(r float64) string {
	switch {
	case math.IsInf(r, 1):
		return "inf"
	case r == 0:
		return "0x"
	case r >= 9.95:
		return fmt.Sprintf("%.0fx", r)
	case r >= 0.995:
		return fmt.Sprintf("%.1fx", r)
	}
	return fmt.Sprintf("%.2gx", r)
}
