package canary

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
)

// Query tells where a judge finds one metric in an [alarm.Source]: the
// source's query for the canary's scope and for the baseline's (for
// example the same PromQL with version="new" and version="old").
//
// Each point of a series is one interval. For a Count metric its value is
// the number of events in the interval (a rate times the step, or
// Prometheus' increase()), and the optional request queries give the
// requests behind them. For a Mean metric, or any metric of the Kayenta
// judge, it is the interval's value.
type Query struct {
	// Metric is the metric's name in the policy.
	Metric string
	// Canary and Baseline are the queries for the two scopes.
	Canary, Baseline string
	// CanaryRequests and BaselineRequests count the requests of a Count
	// metric. Optional, but recommended: the count test then compares
	// rates per request, the traffic guard compares the canary's share of
	// the requests with its TrafficShare, and Metric.Slack applies.
	CanaryRequests, BaselineRequests string
}

// ErrQuantileSource means a Quantile metric was given a [Query]: its
// per-request samples do not fit in a series of one value per interval.
// Feed it with [Judge.Observe].
var ErrQuantileSource = errors.New("canary: quantile metrics take samples or buckets, not series; feed them with Observe")

// fetch runs every query over r and validates the series. It returns the
// series by query string; an error from any query fails the whole fetch.
func fetch(ctx context.Context, src alarm.Source, queries []Query, r alarm.Range) (map[string]alarm.Series, error) {
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("canary: fetch: %w", err)
	}
	out := map[string]alarm.Series{}
	for _, q := range queries {
		for _, s := range []struct{ side, query string }{
			{"canary", q.Canary}, {"baseline", q.Baseline},
			{"canary requests", q.CanaryRequests}, {"baseline requests", q.BaselineRequests},
		} {
			if s.query == "" {
				if s.side == "canary" || s.side == "baseline" {
					return nil, fmt.Errorf("canary: fetch: metric %q: no %s query", q.Metric, s.side)
				}
				continue
			}
			if _, done := out[s.query]; done {
				continue
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			series, err := src.Query(ctx, s.query, r)
			if err != nil {
				return nil, fmt.Errorf("canary: fetch: metric %q, %s query %q: %w", q.Metric, s.side, s.query, err)
			}
			if err := series.Validate(); err != nil {
				return nil, fmt.Errorf("canary: fetch: metric %q, %s query %q: %w", q.Metric, s.side, s.query, err)
			}
			out[s.query] = series
		}
	}
	return out, nil
}

// Fetch reads every metric's canary and baseline series over r from src
// and returns them as the Kayenta judge's data: each point's value, NaN
// included (the metric's NaN strategy decides). An error from the source
// is returned, never an empty result: a metric that cannot be read is not
// a healthy one.
func Fetch(ctx context.Context, src alarm.Source, queries []Query, r alarm.Range) (map[string]Pair, error) {
	series, err := fetch(ctx, src, queries, r)
	if err != nil {
		return nil, err
	}
	data := map[string]Pair{}
	for _, q := range queries {
		data[q.Metric] = Pair{Canary: values(series[q.Canary]), Baseline: values(series[q.Baseline])}
	}
	return data, nil
}

func values(s alarm.Series) []float64 {
	v := make([]float64, len(s.Points))
	for i, p := range s.Points {
		v[i] = p.Value
	}
	return v
}

// JudgeSource fetches the metrics over r (see [Fetch]) and judges them. For
// interval analysis, call it at the end of each interval with r from the
// start of the canary, and pass the results to [KayentaPolicy.Decide].
func (p KayentaPolicy) JudgeSource(ctx context.Context, src alarm.Source, queries []Query, r alarm.Range) (KayentaResult, error) {
	data, err := Fetch(ctx, src, queries, r)
	if err != nil {
		return KayentaResult{}, err
	}
	return p.Judge(data)
}

// ObserveSource reads every metric's series over r from src and observes,
// in time order, each interval after the judge's latest observation: the
// points of a metric's canary and baseline series with the same time make
// one observation at that time. Points without a partner on the other side
// are skipped, as are Count points whose value is NaN; NaN values of Mean
// metrics mark the interval missing. Event counts are rounded to whole
// numbers.
//
// Nothing is observed when any query fails or any point is malformed (a
// negative count, for example); the error says which. Quantile metrics
// cannot be fed from series ([ErrQuantileSource]).
func (j *Judge) ObserveSource(ctx context.Context, src alarm.Source, queries []Query, r alarm.Range) error {
	for _, q := range queries {
		i := j.index(q.Metric)
		if i < 0 {
			return fmt.Errorf("canary: observe source: no metric %q in the policy: %w", q.Metric, ErrBadObservation)
		}
		if j.p.Metrics[i].Kind == Quantile {
			return fmt.Errorf("canary: observe source: metric %q: %w", q.Metric, ErrQuantileSource)
		}
	}
	series, err := fetch(ctx, src, queries, r)
	if err != nil {
		return err
	}
	// Group the observations by time.
	byTime := map[time.Time][]Observation{}
	for _, q := range queries {
		m := j.p.Metrics[j.index(q.Metric)]
		canary := pointsByTime(series[q.Canary])
		var creq, breq map[time.Time]float64
		if q.CanaryRequests != "" {
			creq = pointsByTime(series[q.CanaryRequests])
		}
		if q.BaselineRequests != "" {
			breq = pointsByTime(series[q.BaselineRequests])
		}
		for _, bp := range series[q.Baseline].Points {
			cv, ok := canary[bp.Time]
			if !ok || !bp.Time.After(j.st.Last) {
				continue
			}
			o := Observation{Metric: q.Metric}
			switch m.Kind {
			case Count:
				if math.IsNaN(cv) || math.IsNaN(bp.Value) {
					continue
				}
				var err error
				if o.CanaryEvents, err = count(cv); err == nil {
					o.BaselineEvents, err = count(bp.Value)
				}
				if err == nil {
					o.CanaryRequests, err = count(creq[bp.Time])
				}
				if err == nil {
					o.BaselineRequests, err = count(breq[bp.Time])
				}
				if err != nil {
					return fmt.Errorf("canary: observe source: metric %q at %s: %w", q.Metric, bp.Time.Format(time.RFC3339), err)
				}
			case Mean:
				o.CanaryValue, o.BaselineValue = cv, bp.Value
			}
			byTime[bp.Time] = append(byTime[bp.Time], o)
		}
	}
	times := make([]time.Time, 0, len(byTime))
	for t := range byTime {
		times = append(times, t)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	// Check everything before applying anything.
	for _, t := range times {
		for k := range byTime[t] {
			if err := j.check(&byTime[t][k]); err != nil {
				return fmt.Errorf("canary: observe source at %s: %w", t.Format(time.RFC3339), err)
			}
		}
	}
	for _, t := range times {
		if err := j.Observe(t, byTime[t]...); err != nil {
			return err
		}
	}
	return nil
}

func pointsByTime(s alarm.Series) map[time.Time]float64 {
	m := make(map[time.Time]float64, len(s.Points))
	for _, p := range s.Points {
		m[p.Time] = p.Value
	}
	return m
}

// count turns a point's value into an event count: NaN (no data) is 0, a
// fractional value (a rate times a step) is rounded, a negative value is
// an error.
func count(v float64) (int64, error) {
	switch {
	case math.IsNaN(v):
		return 0, nil
	case v < -0.5 || v > 1e15:
		return 0, fmt.Errorf("count %v is negative or too large: %w", v, ErrBadObservation)
	}
	return int64(math.Round(math.Max(v, 0))), nil
}
