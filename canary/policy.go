package canary

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/field"
)

// Policy configures the sequential judge, shepherd's default: anytime-valid
// tests that look at the evidence after every interval, stop as soon as it
// is strong, and keep the chance of a false Fail under Alpha however often
// they look. The zero values of its fields are documented defaults; only
// Metrics (and TrafficShare, for count metrics) must be set.
//
// The decision rule ([Judge.Decide]):
//
//   - Fail as soon as any guarded (unmuted) metric shows a regression
//     beyond its Tolerance at level Alpha/G, where G is the number of
//     guarded metrics (Bonferroni): evidence (an e-value) of at least
//     1/(Alpha/G), or, for Count and Mean metrics, half of that budget
//     in each of an e-value and a boundary on a t statistic (see [Count]
//     and [Mean]). For a
//     canary with no regression, the chance of ever failing is at most
//     Alpha (exactly for the e-values under their models, approximately
//     for the estimated variances; the evaluation measures it).
//   - Pass once at least MinDuration of data (after the warm-up) is in and
//     every guarded metric rules out a regression beyond its Margin at
//     level PassAlpha: with a group-sequential boundary of O'Brien-Fleming
//     shape over the time from the warm-up to MaxDuration (Count, and
//     Mean as one of two routes), or with confidence sequences
//     (Quantile, and Mean's other route). For a metric that did regress
//     beyond its margin, the chance of passing is about PassAlpha.
//   - Inconclusive at MaxDuration if neither happened: too little data, or
//     a change between the tolerance and the margin.
//
// The guarantees assume what each test states: for counts, that each event
// lands in the canary with probability TrafficShare when there is no
// regression (however the total rate varies); for means, that the
// per-interval noise is close to a stationary autoregressive process; for
// quantiles, that requests are independent draws. The evaluation harness
// (canary/internal/cmd/canaryeval) measures how well they hold on
// correlated, drifting, noisy data; docs/benchmarks.md has the figures.
type Policy struct {
	// Alpha bounds the probability of a false Fail over the whole canary.
	// Zero: 0.01.
	Alpha float64 `json:"alpha,omitempty"`
	// PassAlpha bounds, per metric, the probability of a Pass when the
	// metric regressed beyond its Margin. It is also the level of the
	// intervals in verdicts (1 - PassAlpha). Zero: 0.05.
	PassAlpha float64 `json:"passAlpha,omitempty"`
	// TrafficShare is the canary's share of the requests, in (0, 1), as
	// configured in the load balancer (for example 0.05 for one host of
	// twenty). The traffic guard compares the canary's observed share with
	// it (see MinTraffic), and Count metrics observed without request
	// counts compare the canary's share of the events with it. Required
	// when a metric is a Count.
	TrafficShare float64 `json:"trafficShare,omitempty"`
	// Warmup is ignored data at the start: observations before start +
	// Warmup are dropped (caches fill, connections open). Zero: none.
	Warmup duration.Duration `json:"warmup,omitempty"`
	// MinDuration is the least amount of data, after the warm-up, before a
	// Pass. Zero: 5 minutes.
	MinDuration duration.Duration `json:"minDuration,omitempty"`
	// MaxDuration is the deadline from start: a canary still undecided then
	// is Inconclusive. Zero: 1 hour.
	MaxDuration duration.Duration `json:"maxDuration,omitempty"`
	// MinTraffic is the traffic guard's threshold: the least fraction of
	// its expected requests (TrafficShare of all) the canary must serve.
	// When TrafficShare is set, a canary shown to serve less is stopped at
	// once as Inconclusive ("the canary served 0 of about 45000 expected
	// requests"), and a Pass needs evidence that it serves more. Zero:
	// 0.5.
	MinTraffic float64 `json:"minTraffic,omitempty"`
	// Metrics are the metrics to judge; at least one must be guarded (not
	// muted).
	Metrics []Metric `json:"metrics"`
}

// Kind is what a sequential [Metric] measures, and so which test judges it.
type Kind int

const (
	kindUnset Kind = iota
	// Count metrics are events: errors, failed requests, crashes. Each
	// interval brings the number of events on each side and, preferably,
	// the number of requests behind them. The test compares the canary's
	// events with the baseline's scaled by the traffic, interval by
	// interval, with a long-run variance estimated from the data (error
	// rates that vary from minute to minute and stay high for a while),
	// never below the binomial variance; see the package documentation.
	// The effect is the ratio of the canary's event rate to the
	// baseline's.
	Count
	// Mean metrics are one value per interval and side: mean latency, CPU
	// per request. The test works on the per-interval log ratio (or
	// difference, see Metric.Absolute), canary against baseline in the
	// same interval, so that noise common to both cancels. A Fail needs,
	// at half the metric's alpha each, either universal-inference
	// evidence whose null hypothesis is every stationary Gaussian AR(1)
	// process (|phi| <= 0.9, any variance) with a mean at the tolerance
	// (exact; it stops early on large shifts), or a t statistic whose
	// variance is an upper bound for AR(1) noise with a coefficient up to
	// the estimated one taken 3.5 standard errors high (capped at 0.9),
	// its scale read from the differences of consecutive intervals,
	// crossing a constant boundary over the canary's looks (approximate;
	// it has the power on small shifts). It passes on the same
	// universal-inference evidence or on a t statistic with an AR(1)
	// long-run variance (phi estimated two standard errors high) crossing
	// a group-sequential boundary. The effect is the ratio of the
	// canary's typical value to the baseline's.
	//
	// Plug-in variances read from the sample variance and autocorrelation
	// alone were measured for the fail and rejected: with one-minute
	// intervals and phi = 0.9 they failed 2-10% of healthy canaries (the
	// sample variance of a short, slowly wandering series misses most of
	// its wandering). See docs/benchmarks.md.
	Mean
	// Quantile metrics are per-request samples (latencies), or histogram
	// bucket counts of them. The test keeps a time-uniform confidence
	// sequence for the chosen quantile of each side and fails when they
	// separate. The effect is the ratio of the quantiles.
	Quantile
)

var kindNames = []string{kindUnset: "", Count: "count", Mean: "mean", Quantile: "quantile"}

// String returns "count", "mean" or "quantile".
func (k Kind) String() string { return enumString(kindNames, int(k), "Kind") }

// MarshalText encodes the kind as its name.
func (k Kind) MarshalText() ([]byte, error) { return enumMarshal(kindNames, int(k), "kind") }

// UnmarshalText decodes "count", "mean" or "quantile".
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := enumUnmarshal(kindNames, b, "kind")
	*k = Kind(v)
	return err
}

// Metric is one metric of a sequential [Policy].
type Metric struct {
	// Name identifies the metric in observations and verdicts.
	Name string `json:"name"`
	// Kind selects the test. Required.
	Kind Kind `json:"kind"`
	// Direction is the change that is a regression: Increase (the default)
	// or Decrease.
	Direction Direction `json:"direction,omitempty"`
	// Quantile is the quantile a Quantile metric watches, in (0, 1), for
	// example 0.99. Required for Quantile metrics.
	Quantile float64 `json:"quantile,omitempty"`
	// Tolerance is the relative change that is not yet a regression: Fail
	// needs evidence of a change beyond it (a ratio beyond 1 + Tolerance,
	// or below 1/(1 + Tolerance) for Decrease). Zero: 0.1 for Count, 0 for
	// Mean, 0.05 for Quantile (for none at all, use a tiny positive
	// value). Count and Quantile tests see every request, so with enough
	// traffic they detect any real difference between the canary's hosts
	// and the baseline's, including the few percent by which healthy hosts
	// differ; the tolerance keeps such differences from failing a canary.
	// The Mean test's intervals already carry that noise.
	Tolerance float64 `json:"tolerance,omitempty"`
	// Margin is the relative change a Pass must rule out, larger than
	// Tolerance. Zero: 0.5 for Count (rule out a 1.5x error rate), 0.1 for
	// Mean, 0.2 for Quantile.
	Margin float64 `json:"margin,omitempty"`
	// Slack is a Count metric's absolute allowance on its rate per
	// request: a Pass needs the canary's rate to be ruled out above
	// max(Margin x the baseline's rate, the baseline's rate + Slack), "not
	// worse by more than the relative margin or the absolute slack,
	// whichever is larger". It lets a canary of a service with few or no
	// errors pass (with no errors on either side, no relative margin can
	// ever be ruled out). It applies to Increase metrics whose
	// observations carry request counts. Which allowance is the larger
	// depends on the baseline's rate (above Slack / Margin the relative
	// one): once the baseline's confidence sequence settles it, only
	// that test runs, with all of PassAlpha; until then the two share it.
	// Zero: 0.0003 (three errors per 10,000 requests); for none, use a
	// tiny positive value such as 1e-12.
	Slack float64 `json:"slack,omitempty"`
	// Absolute makes a Mean metric compare differences (canary - baseline)
	// instead of ratios; Tolerance and Margin are then in the metric's own
	// units and the margin must be set. For metrics that can be zero or
	// negative.
	Absolute bool `json:"absolute,omitempty"`
	// Buckets are the upper bounds of the histogram buckets of a Quantile
	// metric, ascending and positive; values above the last bound fall in
	// an overflow bucket. Samples are counted into them, and bucket counts
	// given to [Judge.Observe] must follow the same layout (one more count
	// than bounds). The quantile is resolved to bucket bounds, always
	// widening the interval, never narrowing it. Nil: geometric buckets 5%
	// apart from 1e-4 to 1e6 (see [DefaultBuckets]), which suits latencies
	// in seconds or milliseconds.
	Buckets []float64 `json:"buckets,omitempty"`
	// Muted metrics are tested and reported but never decide, and take no
	// share of Alpha.
	Muted bool `json:"muted,omitempty"`
}

// Defaults of the sequential policy.
const (
	defaultAlpha       = 0.01
	defaultPassAlpha   = 0.05
	defaultMinDuration = 5 * time.Minute
	defaultMaxDuration = time.Hour
	defaultMinTraffic  = 0.5
	defaultSlack       = 0.0003
)

// DefaultBuckets returns the default bucket layout of Quantile metrics:
// upper bounds 5% apart from 1e-4 to 1e6 (472 bounds).
func DefaultBuckets() []float64 {
	return slices.Clone(defaultBuckets)
}

var defaultBuckets = func() []float64 {
	var b []float64
	for x := 1e-4; x <= 1e6*1.0000001; x *= 1.05 {
		b = append(b, x)
	}
	return b
}()

func (p Policy) alpha() float64      { return orDefault(p.Alpha, defaultAlpha) }
func (p Policy) passAlpha() float64  { return orDefault(p.PassAlpha, defaultPassAlpha) }
func (p Policy) minTraffic() float64 { return orDefault(p.MinTraffic, defaultMinTraffic) }
func (p Policy) minDuration() time.Duration {
	if p.MinDuration == 0 {
		return defaultMinDuration
	}
	return p.MinDuration.Std()
}
func (p Policy) maxDuration() time.Duration {
	if p.MaxDuration == 0 {
		return defaultMaxDuration
	}
	return p.MaxDuration.Std()
}

func (m Metric) direction() Direction {
	if m.Direction == DefaultDirection {
		return Increase
	}
	return m.Direction
}

func (m Metric) tolerance() float64 {
	if m.Tolerance != 0 {
		return m.Tolerance
	}
	switch m.Kind {
	case Count:
		return 0.1
	case Quantile:
		return 0.05
	}
	return 0
}

func (m Metric) margin() float64 {
	if m.Margin != 0 {
		return m.Margin
	}
	switch m.Kind {
	case Count:
		return 0.5
	case Quantile:
		return 0.2
	}
	return 0.1
}

func (m Metric) slack() float64 {
	if m.Kind != Count {
		return 0
	}
	return orDefault(m.Slack, defaultSlack)
}

func (m Metric) buckets() []float64 {
	if m.Buckets == nil {
		return defaultBuckets
	}
	return m.Buckets
}

// ErrInvalid is wrapped by every problem [Policy.Validate] and
// [KayentaPolicy.Validate] report: each is a [*field.Error] with the
// field's path (for example "Metrics[2].Quantile"), joined with
// [errors.Join].
var ErrInvalid = errors.New("canary: invalid policy")

// Validate reports every problem with the policy, each a [*field.Error]
// with its field path, wrapping [ErrInvalid].
func (p Policy) Validate() error {
	var l field.List
	bad := func(path string, format string, a ...any) { l.Add(ErrInvalid, path, format, a...) }
	if a := p.Alpha; a != 0 && !(a > 0 && a < 1) {
		bad("Alpha", "%v is outside (0, 1)", a)
	}
	if a := p.PassAlpha; a != 0 && !(a > 0 && a < 1) {
		bad("PassAlpha", "%v is outside (0, 1)", a)
	}
	if t := p.MinTraffic; t != 0 && !(t > 0 && t <= 1) {
		bad("MinTraffic", "%v is outside (0, 1]", t)
	}
	hasCount := slices.ContainsFunc(p.Metrics, func(m Metric) bool { return m.Kind == Count })
	switch s := p.TrafficShare; {
	case s == 0 && hasCount:
		bad("TrafficShare", "required by count metrics: the canary's share of the requests, in (0, 1)")
	case s != 0 && !(s > 0 && s < 1):
		bad("TrafficShare", "%v is outside (0, 1)", s)
	case s != 0 && !hasCount && !slices.ContainsFunc(p.Metrics, func(m Metric) bool { return m.Kind == Quantile }):
		bad("TrafficShare", "set, but no count or quantile metric counts the traffic, so the traffic guard could never let the canary pass")
	}
	for _, d := range []struct {
		name string
		v    duration.Duration
	}{{"Warmup", p.Warmup}, {"MinDuration", p.MinDuration}, {"MaxDuration", p.MaxDuration}} {
		if d.v < 0 {
			bad(d.name, "%s is negative", d.v)
		}
	}
	if p.Warmup >= 0 && p.MinDuration >= 0 && p.MaxDuration >= 0 &&
		p.Warmup.Std()+p.minDuration() > p.maxDuration() {
		bad("MaxDuration", "%s leaves no time to pass after the warm-up %s and minimum duration %s",
			p.maxDuration(), p.Warmup, p.minDuration())
	}
	if len(p.Metrics) == 0 {
		bad("Metrics", "no metrics")
	}
	names := map[string]int{}
	guarded := 0
	for i, m := range p.Metrics {
		path := fmt.Sprintf("Metrics[%d]", i)
		switch j, dup := names[m.Name]; {
		case m.Name == "":
			bad(path+".Name", "empty")
		case dup:
			bad(path+".Name", "%q is also the name of Metrics[%d]", m.Name, j)
		default:
			names[m.Name] = i
		}
		if !m.Muted {
			guarded++
		}
		switch m.Kind {
		case Count, Mean, Quantile:
		case kindUnset:
			bad(path+".Kind", "not set (count, mean or quantile)")
		default:
			bad(path+".Kind", "unknown value %d", int(m.Kind))
		}
		switch m.Direction {
		case DefaultDirection, Increase, Decrease:
		case Either:
			bad(path+".Direction", "either is not supported by the sequential judge; use two metrics, one per direction")
		default:
			bad(path+".Direction", "unknown value %d", int(m.Direction))
		}
		if q := m.Quantile; m.Kind == Quantile && !(q > 0 && q < 1) {
			bad(path+".Quantile", "%v is outside (0, 1)", q)
		} else if m.Kind != Quantile && q != 0 {
			bad(path+".Quantile", "set on a %s metric", m.Kind)
		}
		if t := m.Tolerance; !(t >= 0) || math.IsInf(t, 0) {
			bad(path+".Tolerance", "%v is not a finite non-negative number", t)
		}
		if g := m.Margin; !(g >= 0) || math.IsInf(g, 0) {
			bad(path+".Margin", "%v is not a finite non-negative number", g)
		} else if m.Tolerance >= 0 && m.margin() <= m.tolerance() {
			bad(path+".Margin", "%v is not above the tolerance %v", m.margin(), m.tolerance())
		}
		if sl := m.Slack; !(sl >= 0 && sl < 1) {
			bad(path+".Slack", "%v is outside [0, 1): it is a rate per request", sl)
		} else if sl != 0 && m.Kind != Count {
			bad(path+".Slack", "set on a %s metric; only count metrics have rates", m.Kind)
		}
		if m.Absolute && m.Kind != Mean {
			bad(path+".Absolute", "only mean metrics compare differences")
		}
		if m.Absolute && m.Margin == 0 {
			bad(path+".Margin", "required with Absolute: the largest acceptable difference, in the metric's units")
		}
		if m.Buckets != nil {
			if m.Kind != Quantile {
				bad(path+".Buckets", "set on a %s metric", m.Kind)
			}
			if len(m.Buckets) == 0 {
				bad(path+".Buckets", "empty")
			}
			for k, b := range m.Buckets {
				if !(b > 0) || math.IsInf(b, 0) {
					bad(fmt.Sprintf("%s.Buckets[%d]", path, k), "%v is not a finite positive bound", b)
					break
				}
				if k > 0 && !(b > m.Buckets[k-1]) {
					bad(fmt.Sprintf("%s.Buckets[%d]", path, k), "%v is not above the previous bound %v", b, m.Buckets[k-1])
					break
				}
			}
		}
	}
	if len(p.Metrics) > 0 && guarded == 0 {
		bad("Metrics", "every metric is muted; nothing could fail or pass")
	}
	return l.Err()
}
