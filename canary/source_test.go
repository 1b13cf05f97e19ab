package canary

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shepherd-go/shepherd/alarm"
)

func sourcePolicy() Policy {
	return Policy{TrafficShare: 0.1, Metrics: []Metric{
		{Name: "errors", Kind: Count}, {Name: "latency", Kind: Mean}, {Name: "p99", Kind: Quantile, Quantile: 0.99}}}
}

var sourceQueries = []Query{
	{Metric: "errors", Canary: "errors{canary}", Baseline: "errors{baseline}", CanaryRequests: "requests{canary}", BaselineRequests: "requests{baseline}"},
	{Metric: "latency", Canary: "latency{canary}", Baseline: "latency{baseline}"},
}

// fill records minutes [from, to] of a canary with eight times the
// baseline's error rate.
func fill(m *alarm.Memory, from, to int) {
	for i := from; i <= to; i++ {
		t := minute(i)
		m.Record("errors{canary}", t, 8, 100)
		m.Record("errors{baseline}", t, 9, 900)
		m.Record("requests{canary}", t, 100, 0)
		m.Record("requests{baseline}", t, 900, 0)
		m.Record("latency{canary}", t, 101+float64(i%3), 100)
		m.Record("latency{baseline}", t, 100+float64(i%2), 900)
	}
}

func TestObserveSource(t *testing.T) {
	var src alarm.Memory
	fill(&src, 1, 3)
	j, err := NewJudge(sourcePolicy(), t0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := alarm.Range{Start: t0, End: minute(3), Step: time.Minute}
	if err := j.ObserveSource(ctx, &src, sourceQueries, r); err != nil {
		t.Fatal(err)
	}
	// Reading an overlapping range again observes only the new minutes.
	// (Ten intervals: the count test trusts a spread no larger than the
	// binomial's only from then on.)
	fill(&src, 4, 10)
	// A baseline point without a canary partner is skipped.
	src.Record("latency{baseline}", minute(11), 100, 900)
	r.End = minute(11)
	if err := j.ObserveSource(ctx, &src, sourceQueries, r); err != nil {
		t.Fatal(err)
	}
	s := j.State()
	c := *s.Metrics[0].Count
	c.Series, c.Binomial, c.CanarySide, c.BaselineSide, c.PoissonX, c.PoissonY = SeriesSums{}, 0, SeriesSums{}, SeriesSums{}, 0, 0
	if diff := cmp.Diff(CountState{CanaryEvents: 80, BaselineEvents: 90, CanaryRequests: 1000, BaselineRequests: 9000}, c); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if s.Metrics[1].Mean.N != 10 || !s.Last.Equal(minute(10)) {
		t.Errorf("%d intervals, last %v", s.Metrics[1].Mean.N, s.Last)
	}
	if d := j.Decide(minute(10)); d != Fail {
		t.Errorf("decision %v, want fail", d)
	}
}

func TestObserveSourceErrors(t *testing.T) {
	ctx := context.Background()
	r := alarm.Range{Start: t0, End: minute(3), Step: time.Minute}
	down := errors.New("connection refused")
	tests := []struct {
		name    string
		setup   func(*alarm.Memory)
		queries []Query
		r       alarm.Range
		is      error
		want    string
	}{
		{"source error", func(m *alarm.Memory) { m.SetError("latency{baseline}", down) }, sourceQueries, r, down,
			`canary: fetch: metric "latency", baseline query "latency{baseline}": alarm: memory: query "latency{baseline}": connection refused`},
		{"negative count", func(m *alarm.Memory) { m.Record("errors{canary}", minute(2), -3, 0) }, sourceQueries, r, ErrBadObservation,
			`canary: observe source: metric "errors" at 2025-03-01T12:02:00Z: count -3 is negative or too large: canary: bad observation`},
		{"infinite value", func(m *alarm.Memory) { m.Record("latency{canary}", minute(2), math.Inf(1), 0) }, sourceQueries, r, ErrBadObservation,
			`canary: observe source at 2025-03-01T12:02:00Z: canary: observe: mean metric "latency": value +Inf is infinite or too large: canary: bad observation`},
		{"infinite count", func(m *alarm.Memory) { m.Record("errors{baseline}", minute(3), math.Inf(1), 0) }, sourceQueries, r, ErrBadObservation,
			`canary: observe source: metric "errors" at 2025-03-01T12:03:00Z: count +Inf is negative or too large: canary: bad observation`},
		{"quantile", nil, []Query{{Metric: "p99", Canary: "a", Baseline: "b"}}, r, ErrQuantileSource,
			`canary: observe source: metric "p99": canary: quantile metrics take samples or buckets, not series; feed them with Observe`},
		{"unknown metric", nil, []Query{{Metric: "cpu", Canary: "a", Baseline: "b"}}, r, ErrBadObservation,
			`canary: observe source: no metric "cpu" in the policy: canary: bad observation`},
		{"missing query", nil, []Query{{Metric: "latency", Canary: "a"}}, r, nil,
			`canary: fetch: metric "latency": no baseline query`},
		{"bad range", nil, sourceQueries, alarm.Range{Start: t0, End: minute(3)}, nil,
			`canary: fetch: alarm: range: step must be positive, got 0s`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var src alarm.Memory
			fill(&src, 1, 3)
			if tt.setup != nil {
				tt.setup(&src)
			}
			j, err := NewJudge(sourcePolicy(), t0)
			if err != nil {
				t.Fatal(err)
			}
			before := j.State()
			err = j.ObserveSource(ctx, &src, tt.queries, tt.r)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("got %v\nwant %s", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("%v is not %v", err, tt.is)
			}
			if diff := cmp.Diff(before, j.State()); diff != "" {
				t.Errorf("state changed (-before +after):\n%s", diff)
			}
		})
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	var src alarm.Memory
	fill(&src, 1, 3)
	j, _ := NewJudge(sourcePolicy(), t0)
	if err := j.ObserveSource(cancelled, &src, sourceQueries, r); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestKayentaJudgeSource(t *testing.T) {
	var src alarm.Memory
	for i := 1; i <= 30; i++ {
		src.Record("lat{canary}", minute(i), 150+float64(i%5), 0)
		src.Record("lat{baseline}", minute(i), 100+float64(i%4), 0)
	}
	src.Record("lat{canary}", minute(31), math.NaN(), 0)
	p := KayentaPolicy{Metrics: []KayentaMetric{{Name: "latency", Direction: Increase}}}
	q := []Query{{Metric: "latency", Canary: "lat{canary}", Baseline: "lat{baseline}"}}
	r := alarm.Range{Start: t0, End: minute(31), Step: time.Minute}
	data, err := Fetch(context.Background(), &src, q, r)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(data["latency"].Canary); n != 31 || !math.IsNaN(data["latency"].Canary[30]) {
		t.Errorf("fetched %d canary points: %v", n, data["latency"].Canary)
	}
	res, err := p.JudgeSource(context.Background(), &src, q, r)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeFail || res.Metrics[0].Class != ClassHigh || res.Metrics[0].Removed != 1 {
		t.Errorf("%v: %s (%+v)", res.Outcome, res.Reason, res.Metrics[0])
	}
	src.SetError("lat{canary}", errors.New("timeout"))
	if _, err := p.JudgeSource(context.Background(), &src, q, r); err == nil {
		t.Error("judged through a failing source")
	}
}

func ExampleJudge_ObserveSource() {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	// Per-minute error counts and mean latency of each scope, as a metrics
	// backend would return them.
	var src alarm.Memory
	for i := 1; i <= 10; i++ {
		t := start.Add(time.Duration(i) * time.Minute)
		src.Record(`errors{version="new"}`, t, 1, 0)
		src.Record(`errors{version="old"}`, t, 9, 0)
		src.Record(`latency{version="new"}`, t, 182+float64(i%3), 0)
		src.Record(`latency{version="old"}`, t, 100+float64(i%2), 0)
	}
	j, err := NewJudge(Policy{TrafficShare: 0.1, Metrics: []Metric{
		{Name: "errors", Kind: Count}, {Name: "latency", Kind: Mean}}}, start)
	if err != nil {
		fmt.Println(err)
		return
	}
	now := start.Add(10 * time.Minute)
	err = j.ObserveSource(context.Background(), &src, []Query{
		{Metric: "errors", Canary: `errors{version="new"}`, Baseline: `errors{version="old"}`},
		{Metric: "latency", Canary: `latency{version="new"}`, Baseline: `latency{version="old"}`},
	}, alarm.Range{Start: start, End: now, Step: time.Minute})
	if err != nil {
		fmt.Println(err)
		return
	}
	v := j.Verdict(now)
	fmt.Println(v.Decision)
	for _, m := range v.Metrics {
		fmt.Println(m.Sentence)
	}
	// Output:
	// fail
	// errors 1.0x baseline (95% CI 0.35x-2.8x) after 10 canary and 90 baseline events: undecided
	// latency 1.8x baseline (95% CI 1.8x-1.8x) after 10 intervals: fail
}
