package canary

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shepherd-go/shepherd/duration"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func minute(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }

func poissonDraw(r *rand.Rand, lambda float64) int64 {
	if lambda > 50 {
		return max(0, int64(math.Round(lambda+math.Sqrt(lambda)*r.NormFloat64())))
	}
	l, k, p := math.Exp(-lambda), int64(0), r.Float64()
	for p > l {
		k++
		p *= r.Float64()
	}
	return k
}

func binomialDraw(r *rand.Rand, n int64, p float64) int64 {
	var k int64
	for i := int64(0); i < n; i++ {
		if r.Float64() < p {
			k++
		}
	}
	return k
}

func TestPolicyValidate(t *testing.T) {
	p := Policy{
		Alpha: 2, PassAlpha: -0.1, TrafficShare: 1.5,
		Warmup: duration.Duration(-time.Minute), MaxDuration: duration.Duration(3 * time.Minute),
		Metrics: []Metric{
			{Name: "errors", Kind: Count, Direction: Either},
			{Name: "errors", Kind: Mean, Quantile: 0.5, Buckets: []float64{1, 2}},
			{Name: "", Kind: 9, Direction: 8},
			{Name: "p99", Kind: Quantile, Quantile: 1.2, Tolerance: -1, Margin: math.Inf(1), Absolute: true, Buckets: []float64{1, 3, 2}},
			{Name: "p50", Kind: Quantile, Quantile: 0.5, Tolerance: 0.3, Margin: 0.2, Buckets: []float64{0, 1}},
			{Name: "cpu", Kind: Mean, Absolute: true},
			{Name: "x"},
		},
	}
	err := p.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		"canary: Alpha: 2 is outside (0, 1)",
		"canary: PassAlpha: -0.1 is outside (0, 1)",
		"canary: TrafficShare: 1.5 is outside (0, 1)",
		"canary: Warmup: -1m0s is negative",
		"canary: Metrics[0].Direction: either is not supported by the sequential judge; use two metrics, one per direction",
		"canary: Metrics[1].Name: \"errors\" is also the name of Metrics[0]",
		"canary: Metrics[1].Quantile: set on a mean metric",
		"canary: Metrics[1].Buckets: set on a mean metric",
		"canary: Metrics[2].Name: empty",
		"canary: Metrics[2].Kind: unknown value 9",
		"canary: Metrics[2].Direction: unknown value 8",
		"canary: Metrics[3].Quantile: 1.2 is outside (0, 1)",
		"canary: Metrics[3].Tolerance: -1 is not a finite non-negative number",
		"canary: Metrics[3].Margin: +Inf is not a finite non-negative number",
		"canary: Metrics[3].Absolute: only mean metrics compare differences",
		"canary: Metrics[3].Buckets[2]: 2 is not above the previous bound 3",
		"canary: Metrics[4].Margin: 0.2 is not above the tolerance 0.3",
		"canary: Metrics[4].Buckets[0]: 0 is not a finite positive bound",
		"canary: Metrics[5].Margin: required with Absolute: the largest acceptable difference, in the metric's units",
		"canary: Metrics[6].Kind: not set (count, mean or quantile)",
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		name string
		p    Policy
		want string
	}{
		{"no metrics", Policy{}, "canary: Metrics: no metrics"},
		{"count without share", Policy{Metrics: []Metric{{Name: "e", Kind: Count}}},
			"canary: TrafficShare: required by count metrics: the canary's share of the requests, in (0, 1)"},
		{"all muted", Policy{Metrics: []Metric{{Name: "l", Kind: Mean, Muted: true}}},
			"canary: Metrics: every metric is muted; nothing could fail or pass"},
		{"no time to pass", Policy{MinDuration: duration.Duration(time.Hour), Warmup: duration.Duration(time.Minute),
			MaxDuration: duration.Duration(time.Hour), Metrics: []Metric{{Name: "l", Kind: Mean}}},
			"canary: MaxDuration: 1h0m0s leaves no time to pass after the warm-up 1m0s and minimum duration 1h0m0s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.p.Validate(); err == nil || err.Error() != tt.want {
				t.Errorf("got %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestPolicyJSON(t *testing.T) {
	in := `{"alpha":0.005,"trafficShare":0.1,"warmup":"2m","minDuration":"10m","maxDuration":"2h",
	 "metrics":[{"name":"5xx","kind":"count"},{"name":"latency","kind":"mean","margin":0.05},
	 {"name":"latency_p99","kind":"quantile","quantile":0.99,"tolerance":0.1},{"name":"rps","kind":"mean","direction":"decrease","muted":true}]}`
	var p Policy
	if err := json.Unmarshal([]byte(in), &p); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Policy{Alpha: 0.005, TrafficShare: 0.1, Warmup: duration.Duration(2 * time.Minute),
		MinDuration: duration.Duration(10 * time.Minute), MaxDuration: duration.Duration(2 * time.Hour),
		Metrics: []Metric{{Name: "5xx", Kind: Count}, {Name: "latency", Kind: Mean, Margin: 0.05},
			{Name: "latency_p99", Kind: Quantile, Quantile: 0.99, Tolerance: 0.1},
			{Name: "rps", Kind: Mean, Direction: Decrease, Muted: true}}}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Policy
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	for _, bad := range []string{`{"metrics":[{"name":"a","kind":"gauge"}]}`, `{"metrics":[{"name":"a","kind":"mean","direction":"up"}]}`} {
		if err := json.Unmarshal([]byte(bad), &p); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// The next three tests check the error guarantee of each test by
// simulation under its null hypothesis, looking after every step, with a
// large alpha so that a violation would show in a few thousand runs.

func TestCountTestFalseFailRate(t *testing.T) {
	const alpha, runs, steps = 0.05, 2000, 60
	for _, rho := range []float64{0.05, 0.5} {
		p := Policy{TrafficShare: rho, Metrics: []Metric{{Name: "e", Kind: Count, Tolerance: 1e-9}}}
		pl := newPlan(p, p.Metrics[0], alpha)
		r := rand.New(rand.NewPCG(1, uint64(rho*100)))
		fails := 0
		for run := 0; run < runs; run++ {
			s := MetricState{Count: &CountState{}}
			for step := 0; step < steps; step++ {
				n := poissonDraw(r, 10)
				c := binomialDraw(r, n, rho)
				pl.addCount(s.Count, &Observation{CanaryEvents: c, BaselineEvents: n - c})
				if pl.evalCount(&s, false).fail {
					fails++
					break
				}
			}
		}
		if rate := float64(fails) / runs; rate > alpha {
			t.Errorf("share %v: false fail rate %.4f above alpha %v", rho, rate, alpha)
		}
	}
}

func TestMeanTestFalseFailRateAR1(t *testing.T) {
	const alpha, runs, steps = 0.05, 1500, 60
	for _, phi := range []float64{0, 0.5, 0.8} {
		p := Policy{Metrics: []Metric{{Name: "m", Kind: Mean, Absolute: true, Margin: 1}}}
		pl := newPlan(p, p.Metrics[0], alpha)
		r := rand.New(rand.NewPCG(2, uint64(phi*10)))
		fails := 0
		for run := 0; run < runs; run++ {
			s := MetricState{Mean: &MeanState{}}
			a := r.NormFloat64()
			for step := 0; step < steps; step++ {
				a = phi*a + math.Sqrt(1-phi*phi)*r.NormFloat64()
				s.Mean.add(a)
				if pl.evalMean(&s, false).fail {
					fails++
					break
				}
			}
		}
		if rate := float64(fails) / runs; rate > alpha {
			t.Errorf("phi %v: false fail rate %.4f above alpha %v", phi, rate, alpha)
		}
	}
}

func TestQuantileTestFalseFailRate(t *testing.T) {
	const alpha, runs, steps = 0.05, 200, 20
	p := Policy{Metrics: []Metric{{Name: "q", Kind: Quantile, Quantile: 0.9, Tolerance: 1e-9}}}
	pl := newPlan(p, p.Metrics[0], alpha)
	r := rand.New(rand.NewPCG(3, 4))
	fails := 0
	for run := 0; run < runs; run++ {
		n := len(pl.bounds) + 1
		s := MetricState{Quantile: &QuantileState{CanaryBuckets: make([]int64, n), BaselineBuckets: make([]int64, n)}}
		for step := 0; step < steps; step++ {
			for i := 0; i < 20; i++ {
				s.Quantile.CanaryBuckets[bucketOf(pl.bounds, math.Exp(r.NormFloat64()))]++
			}
			for i := 0; i < 200; i++ {
				s.Quantile.BaselineBuckets[bucketOf(pl.bounds, math.Exp(r.NormFloat64()))]++
			}
			s.Quantile.CanarySamples += 20
			s.Quantile.BaselineSamples += 200
			if pl.evalQuantile(&s, false).fail {
				fails++
				break
			}
		}
	}
	if rate := float64(fails) / runs; rate > alpha {
		t.Errorf("false fail rate %.4f above alpha %v", rate, alpha)
	}
}

// TestCountIntervalCoverage checks that the rate ratio interval of a count
// metric covers the true ratio at least 1 - PassAlpha of the time, at a
// random moment.
func TestCountIntervalCoverage(t *testing.T) {
	const runs = 600
	rho, ratio := 0.2, 1.7
	p := Policy{TrafficShare: rho, Metrics: []Metric{{Name: "e", Kind: Count}}}
	pl := newPlan(p, p.Metrics[0], 0.01)
	share := shareAt(rho, ratio)
	r := rand.New(rand.NewPCG(5, 6))
	miss := 0
	for run := 0; run < runs; run++ {
		s := MetricState{Count: &CountState{}}
		for range 10 + r.IntN(50) {
			n := int64(2 + r.IntN(40))
			c := binomialDraw(r, n, share)
			pl.addCount(s.Count, &Observation{CanaryEvents: c, BaselineEvents: n - c})
		}
		res := pl.evalCount(&s, true)
		if !(res.lower <= ratio && ratio <= res.upper) || !(res.lower <= res.estimate && res.estimate <= res.upper) {
			miss++
		}
	}
	if rate := float64(miss) / runs; rate > 0.05 {
		t.Errorf("interval missed the ratio in %.3f of runs", rate)
	}
}

// simulate feeds a judge with a canary whose error rate is errRatio times
// the baseline's and whose latency is latRatio times, for up to minutes
// intervals, and returns the minute of the decision (0: none).
func simulate(t *testing.T, j *Judge, seed uint64, minutes int, errRatio, latRatio float64) (Decision, int) {
	return simulateFrom(t, j, seed, 1, minutes, errRatio, latRatio)
}

func simulateFrom(t *testing.T, j *Judge, seed uint64, from, to int, errRatio, latRatio float64) (Decision, int) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	share := j.Policy().TrafficShare
	for m := from; m <= to; m++ {
		nc, nb := poissonDraw(r, 2000*share), poissonDraw(r, 2000*(1-share))
		cs, bs := make([]float64, 200), make([]float64, 1000)
		for i := range cs {
			cs[i] = 100 * latRatio * math.Exp(0.5*r.NormFloat64())
		}
		for i := range bs {
			bs[i] = 100 * math.Exp(0.5*r.NormFloat64())
		}
		err := j.Observe(minute(m),
			Observation{Metric: "errors", CanaryEvents: poissonDraw(r, float64(nc)*0.01*errRatio), BaselineEvents: poissonDraw(r, float64(nb)*0.01),
				CanaryRequests: nc, BaselineRequests: nb},
			Observation{Metric: "latency", CanaryValue: mean(cs), BaselineValue: mean(bs)},
			Observation{Metric: "latency_p99", CanarySamples: cs, BaselineSamples: bs})
		if err != nil {
			t.Fatal(err)
		}
		if d := j.Decide(minute(m)); d != Continue {
			return d, m
		}
	}
	return Continue, 0
}

func testPolicy() Policy {
	return Policy{
		TrafficShare: 0.1,
		Metrics: []Metric{
			{Name: "errors", Kind: Count},
			{Name: "latency", Kind: Mean},
			{Name: "latency_p99", Kind: Quantile, Quantile: 0.99},
		},
	}
}

func TestJudgeDetectsRegressions(t *testing.T) {
	tests := []struct {
		name         string
		err, latency float64
		want         Decision
		failing      string
	}{
		{"healthy canary passes", 1, 1, Pass, ""},
		{"errors x4", 4, 1, Fail, "errors"},
		{"latency +60%", 1, 1.6, Fail, "latency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := NewJudge(testPolicy(), t0)
			if err != nil {
				t.Fatal(err)
			}
			d, at := simulate(t, j, 11, 60, tt.err, tt.latency)
			if d != tt.want {
				t.Fatalf("decision %v at minute %d, want %v: %s", d, at, tt.want, j.Verdict(minute(at)).Reason)
			}
			v := j.Verdict(minute(at))
			if d == Pass && at < 5 {
				t.Errorf("passed at minute %d, before the minimum duration", at)
			}
			if d == Fail {
				if at > 15 {
					t.Errorf("failed only at minute %d", at)
				}
				if !strings.Contains(v.Reason, tt.failing) {
					t.Errorf("reason %q does not name %s", v.Reason, tt.failing)
				}
			}
		})
	}
}

func TestJudgeLifecycle(t *testing.T) {
	p := Policy{
		Warmup: duration.Duration(2 * time.Minute), MinDuration: duration.Duration(5 * time.Minute),
		MaxDuration: duration.Duration(30 * time.Minute),
		Metrics:     []Metric{{Name: "latency", Kind: Mean, Absolute: true, Margin: 5}, {Name: "debug", Kind: Mean, Muted: true}},
	}
	j, err := NewJudge(p, t0)
	if err != nil {
		t.Fatal(err)
	}
	// The warm-up is dropped.
	if err := j.Observe(minute(1), Observation{Metric: "latency", CanaryValue: 1000, BaselineValue: 100}); err != nil {
		t.Fatal(err)
	}
	if n := j.State().Metrics[0].Mean.N; n != 0 {
		t.Fatalf("warm-up observation kept: %d intervals", n)
	}
	r := rand.New(rand.NewPCG(1, 1))
	var d Decision
	var at int
	for m := 2; m <= 30 && d == Continue; m++ {
		// The muted metric regresses badly; it must not decide.
		err := j.Observe(minute(m),
			Observation{Metric: "latency", CanaryValue: 100 + r.NormFloat64(), BaselineValue: 100 + r.NormFloat64()},
			Observation{Metric: "debug", CanaryValue: 500 + r.NormFloat64(), BaselineValue: 100})
		if err != nil {
			t.Fatal(err)
		}
		d, at = j.Decide(minute(m)), m
	}
	if d != Pass {
		t.Fatalf("decision %v at minute %d, want pass", d, at)
	}
	if at < 7 {
		t.Errorf("passed at minute %d, before warm-up + minimum duration (7)", at)
	}
	v := j.Verdict(minute(at))
	if v.Metrics[1].Decision != Fail || !v.Metrics[1].Muted || !strings.HasSuffix(v.Metrics[1].Sentence, ": fail (muted)") {
		t.Errorf("muted metric: %+v", v.Metrics[1])
	}
	// The decision is final.
	if err := j.Observe(minute(at+1), Observation{Metric: "latency", CanaryValue: 1, BaselineValue: 1}); !errors.Is(err, ErrDecided) {
		t.Errorf("observe after the decision: %v", err)
	}
	if d := j.Decide(minute(at + 100)); d != Pass {
		t.Errorf("decision changed to %v", d)
	}
	if s := j.State(); s.Decision != Pass || !s.DecidedAt.Equal(minute(at)) {
		t.Errorf("state: %v at %v", s.Decision, s.DecidedAt)
	}
}

func TestJudgeInconclusiveAtDeadline(t *testing.T) {
	p := Policy{TrafficShare: 0.05, MaxDuration: duration.Duration(20 * time.Minute),
		Metrics: []Metric{{Name: "errors", Kind: Count}, {Name: "latency", Kind: Mean}}}
	j, err := NewJudge(p, t0)
	if err != nil {
		t.Fatal(err)
	}
	// No errors at all, and no latency data: nothing can pass or fail.
	for m := 1; m <= 20; m++ {
		if err := j.Observe(minute(m), Observation{Metric: "errors", CanaryRequests: 50, BaselineRequests: 950}); err != nil {
			t.Fatal(err)
		}
		if d := j.Decide(minute(m)); d != Continue && m < 20 {
			t.Fatalf("decided %v at minute %d", d, m)
		}
	}
	v := j.Verdict(minute(20))
	if v.Decision != Inconclusive {
		t.Fatalf("decision %v", v.Decision)
	}
	want := "inconclusive at the 20m0s deadline; no data for latency; not enough evidence either way for errors"
	if v.Reason != want {
		t.Errorf("reason %q, want %q", v.Reason, want)
	}
}

func TestVerdictSentences(t *testing.T) {
	p := Policy{TrafficShare: 0.1, Metrics: []Metric{
		{Name: "error_rate", Kind: Count},
		{Name: "latency", Kind: Mean},
		{Name: "latency", Kind: Quantile, Quantile: 0.99},
		{Name: "cpu", Kind: Mean, Absolute: true, Margin: 5},
	}}
	p.Metrics[2].Name = "latency_tail"
	j, err := NewJudge(p, t0)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 3))
	errs := [][4]int64{{7, 12, 41, 370}, {5, 15, 40, 371}, {6, 13, 42, 369}, {8, 14, 41, 370}, {6, 13, 40, 370},
		{5, 15, 42, 369}, {7, 14, 41, 371}, {6, 16, 41, 370}, {4, 14, 42, 370}, {6, 14, 42, 370}}
	for m, e := range errs {
		if err := j.Observe(minute(0).Add(time.Duration(m)*time.Second),
			Observation{Metric: "error_rate", CanaryEvents: e[0], BaselineEvents: e[1], CanaryRequests: e[2], BaselineRequests: e[3]}); err != nil {
			t.Fatal(err)
		}
	}
	for m := 1; m <= 3; m++ {
		cs := []float64{100, 120, 130}
		if err := j.Observe(minute(m),
			Observation{Metric: "latency", CanaryValue: 120 + r.NormFloat64(), BaselineValue: 100 + r.NormFloat64()},
			Observation{Metric: "latency_tail", CanarySamples: cs, BaselineSamples: cs},
			Observation{Metric: "cpu", CanaryValue: 52, BaselineValue: 50}); err != nil {
			t.Fatal(err)
		}
	}
	v := j.Verdict(minute(3))
	var got []string
	for _, m := range v.Metrics {
		got = append(got, m.Sentence)
	}
	want := []string{
		"error_rate 3.8x baseline (95% CI 2.3x-6.3x) after 412 canary requests (60 errors vs 140 in the baseline): fail",
		"latency 1.2x baseline (95% CI 0x-inf) after 3 intervals: undecided",
		"latency_tail p99 1.0x baseline (95% CI 0x-inf) after 9 canary requests: undecided",
		"cpu +2 vs baseline (95% CI -inf to +inf) after 3 intervals: undecided",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if v.Decision != Fail || !strings.HasPrefix(v.Reason, "fail after 3m0s: error_rate 3.8x baseline") {
		t.Errorf("verdict %v: %s", v.Decision, v.Reason)
	}
	if m := v.Metrics[0]; !(m.Evidence >= m.Threshold) || math.Abs(m.Threshold-400) > 1e-9 || m.Confidence != 0.95 {
		t.Errorf("evidence %v, threshold %v, confidence %v", m.Evidence, m.Threshold, m.Confidence)
	}
}

func TestObserveBadInput(t *testing.T) {
	p := Policy{TrafficShare: 0.1, Metrics: []Metric{
		{Name: "e", Kind: Count}, {Name: "l", Kind: Mean}, {Name: "q", Kind: Quantile, Quantile: 0.5, Buckets: []float64{1, 2, 3}}}}
	tests := []struct {
		name string
		obs  []Observation
		want string
	}{
		{"unknown metric", []Observation{{Metric: "x"}}, `canary: observe: no metric "x" in the policy: canary: bad observation`},
		{"negative count", []Observation{{Metric: "e", CanaryEvents: -1}}, `canary: observe: count metric "e": negative count: canary: bad observation`},
		{"events above requests", []Observation{{Metric: "e", CanaryEvents: 5, CanaryRequests: 4}}, `canary: observe: count metric "e": more events than requests: canary: bad observation`},
		{"value on a count", []Observation{{Metric: "e", CanaryValue: 1}}, `canary: observe: count metric "e": values or samples given; a count metric takes events: canary: bad observation`},
		{"infinite value", []Observation{{Metric: "l", CanaryValue: math.Inf(1), BaselineValue: 1}}, `canary: observe: mean metric "l": value +Inf is infinite or too large: canary: bad observation`},
		{"events on a mean", []Observation{{Metric: "l", BaselineEvents: 1}}, `canary: observe: mean metric "l": events or samples given; a mean metric takes values: canary: bad observation`},
		{"bucket layout", []Observation{{Metric: "q", CanaryBuckets: []int64{1, 2}}}, `canary: observe: quantile metric "q": 2 bucket counts, want 4 (one per bound and one overflow): canary: bad observation`},
		{"negative bucket", []Observation{{Metric: "q", BaselineBuckets: []int64{1, -2, 0, 0}}}, `canary: observe: quantile metric "q": negative bucket count: canary: bad observation`},
		{"NaN sample", []Observation{{Metric: "q", CanarySamples: []float64{1, math.NaN()}}}, `canary: observe: quantile metric "q": sample NaN is not finite: canary: bad observation`},
		{"value on a quantile", []Observation{{Metric: "q", CanaryValue: 3}}, `canary: observe: quantile metric "q": events or values given; a quantile metric takes samples or buckets: canary: bad observation`},
		// A bad observation after a good one rejects both.
		{"all or nothing", []Observation{{Metric: "e", CanaryEvents: 3}, {Metric: "x"}}, `canary: observe: no metric "x" in the policy: canary: bad observation`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := NewJudge(p, t0)
			if err != nil {
				t.Fatal(err)
			}
			before := j.State()
			err = j.Observe(minute(1), tt.obs...)
			if !errors.Is(err, ErrBadObservation) || err.Error() != tt.want {
				t.Fatalf("got %v\nwant %s", err, tt.want)
			}
			if diff := cmp.Diff(before, j.State()); diff != "" {
				t.Errorf("state changed (-before +after):\n%s", diff)
			}
		})
	}
	j, _ := NewJudge(p, t0)
	if err := j.Observe(minute(5)); err != nil {
		t.Fatal(err)
	}
	if err := j.Observe(minute(4)); !errors.Is(err, ErrBadObservation) {
		t.Errorf("time going backwards: %v", err)
	}
	// NaN and non-positive values mark an interval missing.
	if err := j.Observe(minute(6), Observation{Metric: "l", CanaryValue: math.NaN(), BaselineValue: 1}); err != nil {
		t.Fatal(err)
	}
	if err := j.Observe(minute(7), Observation{Metric: "l", CanaryValue: 0, BaselineValue: 1}); err != nil {
		t.Fatal(err)
	}
	if m := j.State().Metrics[1].Mean; m.Missing != 2 || m.N != 0 {
		t.Errorf("missing %d, intervals %d", m.Missing, m.N)
	}
	if _, err := NewJudge(Policy{}, t0); err == nil {
		t.Error("judge made from an invalid policy")
	}
}

func TestStateRoundTrip(t *testing.T) {
	p := testPolicy()
	a, err := NewJudge(p, t0)
	if err != nil {
		t.Fatal(err)
	}
	simulate(t, a, 21, 8, 1.3, 1.05)
	b, err := json.Marshal(a.State())
	if err != nil {
		t.Fatal(err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a.State(), s); diff != "" {
		t.Fatalf("state JSON round trip (-want +got):\n%s", diff)
	}
	c, err := ResumeJudge(p, s)
	if err != nil {
		t.Fatal(err)
	}
	// Both continue with the same data and reach the same verdict.
	da, ma := simulateFrom(t, a, 22, 9, 40, 1.3, 1.05)
	dc, mc := simulateFrom(t, c, 22, 9, 40, 1.3, 1.05)
	if da != dc || ma != mc {
		t.Fatalf("original %v at %d, resumed %v at %d", da, ma, dc, mc)
	}
	if diff := cmp.Diff(a.Verdict(minute(ma)), c.Verdict(minute(mc))); diff != "" {
		t.Errorf("verdicts differ (-original +resumed):\n%s", diff)
	}
}

func TestResumeBadState(t *testing.T) {
	p := testPolicy()
	j, _ := NewJudge(p, t0)
	good := j.State()
	tests := []struct {
		name   string
		modify func(*State)
		want   string
	}{
		{"metric count", func(s *State) { s.Metrics = s.Metrics[:1] }, "canary: resume: 1 metrics in the state, 3 in the policy: canary: state does not fit the policy"},
		{"name", func(s *State) { s.Metrics[0].Name = "x" }, `canary: resume: metric 0 is "x" in the state, "errors" in the policy: canary: state does not fit the policy`},
		{"kind", func(s *State) { s.Metrics[0].Count = nil; s.Metrics[0].Mean = &MeanState{} },
			`canary: resume: count metric "errors": no count state: canary: state does not fit the policy`},
		{"two kinds", func(s *State) { s.Metrics[1].Count = &CountState{} },
			`canary: resume: mean metric "latency": 2 kinds of state, want exactly one: canary: state does not fit the policy`},
		{"negative", func(s *State) { s.Metrics[0].Count.CanaryEvents = -4 },
			`canary: resume: count metric "errors": negative count: canary: state does not fit the policy`},
		{"NaN sum", func(s *State) { s.Metrics[1].Mean.Sum = math.NaN() },
			`canary: resume: mean metric "latency": non-finite sum: canary: state does not fit the policy`},
		{"buckets", func(s *State) { s.Metrics[2].Quantile.CanaryBuckets = []int64{1} },
			`canary: resume: quantile metric "latency_p99": 1 and 473 buckets, want 473: canary: state does not fit the policy`},
		{"totals", func(s *State) { s.Metrics[2].Quantile.CanarySamples = 3 },
			`canary: resume: quantile metric "latency_p99": sample totals do not match the buckets: canary: state does not fit the policy`},
		{"decision", func(s *State) { s.Decision = 7 }, "canary: resume: unknown decision 7: canary: state does not fit the policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := cloneState(good)
			tt.modify(&s)
			_, err := ResumeJudge(p, s)
			if !errors.Is(err, ErrBadState) || err.Error() != tt.want {
				t.Errorf("got %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestObserveAndDecideDoNotAllocate(t *testing.T) {
	j, err := NewJudge(testPolicy(), t0)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	cs, bs := make([]float64, 50), make([]float64, 500)
	for i := range cs {
		cs[i] = 100 * math.Exp(0.5*r.NormFloat64())
	}
	for i := range bs {
		bs[i] = 100 * math.Exp(0.5*r.NormFloat64())
	}
	obs := []Observation{
		{Metric: "errors", CanaryEvents: 1, BaselineEvents: 9, CanaryRequests: 100, BaselineRequests: 900},
		{Metric: "latency", CanaryValue: 101, BaselineValue: 100},
		{Metric: "latency_p99", CanarySamples: cs, BaselineSamples: bs},
	}
	m := 0
	allocs := testing.AllocsPerRun(50, func() {
		m++
		obs[1].CanaryValue = 100 + r.NormFloat64()
		if err := j.Observe(minute(m), obs...); err != nil {
			t.Fatal(err)
		}
		j.Decide(minute(m))
		j.st.Decision = Continue // keep judging: a pass would stop the judge
	})
	if allocs != 0 {
		t.Errorf("%v allocations per interval", allocs)
	}
}

func BenchmarkObserve(b *testing.B) {
	j, err := NewJudge(testPolicy(), t0)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	count := []Observation{{Metric: "errors", CanaryEvents: 1, BaselineEvents: 9}}
	value := []Observation{{Metric: "latency", CanaryValue: 101, BaselineValue: 100}}
	sample := []Observation{{Metric: "latency_p99", CanarySamples: []float64{123.4}}}
	for _, bc := range []struct {
		name string
		obs  []Observation
	}{{"count", count}, {"mean", value}, {"quantile-sample", sample}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			m := 0
			for b.Loop() {
				m++
				value[0].CanaryValue = 100 + r.NormFloat64()
				if err := j.Observe(t0, bc.obs...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecide(b *testing.B) {
	for _, bc := range []struct {
		name   string
		metric Metric
	}{{"count", Metric{Name: "m", Kind: Count}}, {"mean", Metric{Name: "m", Kind: Mean}}, {"quantile", Metric{Name: "m", Kind: Quantile, Quantile: 0.99}}} {
		b.Run(bc.name, func(b *testing.B) {
			p := Policy{TrafficShare: 0.1, Metrics: []Metric{bc.metric}}
			j, err := NewJudge(p, t0)
			if err != nil {
				b.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 2))
			// An hour of data: the cost of a decision does not grow with it.
			for m := 1; m <= 60; m++ {
				var o Observation
				switch bc.metric.Kind {
				case Count:
					o = Observation{Metric: "m", CanaryEvents: poissonDraw(r, 10), BaselineEvents: poissonDraw(r, 90)}
				case Mean:
					o = Observation{Metric: "m", CanaryValue: 100 + r.NormFloat64(), BaselineValue: 100 + r.NormFloat64()}
				case Quantile:
					cs, bs := make([]float64, 100), make([]float64, 900)
					for i := range cs {
						cs[i] = 100 * math.Exp(0.5*r.NormFloat64())
					}
					for i := range bs {
						bs[i] = 100 * math.Exp(0.5*r.NormFloat64())
					}
					o = Observation{Metric: "m", CanarySamples: cs, BaselineSamples: bs}
				}
				if err := j.Observe(minute(m), o); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				j.st.Decision = Continue
				j.Decide(minute(30))
			}
		})
	}
}

func ExampleJudge() {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	j, err := NewJudge(Policy{
		TrafficShare: 0.1, // the canary gets a tenth of the requests
		Metrics:      []Metric{{Name: "5xx", Kind: Count}},
	}, start)
	if err != nil {
		fmt.Println(err)
		return
	}
	// Each minute: the canary served 1000 requests with 30 errors, the
	// baseline 9000 requests with 90.
	for m := 1; m <= 30; m++ {
		now := start.Add(time.Duration(m) * time.Minute)
		err := j.Observe(now, Observation{Metric: "5xx",
			CanaryEvents: 30, BaselineEvents: 90, CanaryRequests: 1000, BaselineRequests: 9000})
		if err != nil {
			fmt.Println(err)
			return
		}
		if j.Decide(now) != Continue {
			fmt.Println(j.Verdict(now).Reason)
			return
		}
	}
	// Output:
	// fail after 5m0s: 5xx 3.0x baseline (95% CI 1.8x-5.0x) after 5000 canary requests (150 errors vs 450 in the baseline): fail
}
