// Package prometheus is an [alarm.Source] that reads a Prometheus server
// (or anything that serves its HTTP API: Thanos, Mimir, VictoriaMetrics)
// with range queries.
//
// A query is PromQL that yields the alarm's per-period value, evaluated at
// every step of the range, for example the error ratio over the last
// minute:
//
//	sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))
//
// or the p99 latency:
//
//	histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))
//
// With [alarm.AsReported] (the default statistic), a rule asks for one
// point per period, so the range window in the query should be the rule's
// period.
//
// What results mean:
//
//   - A NaN value (0/0, a quantile of an empty histogram) is a point
//     without a value: rules treat it as missing. ±Inf is kept: it compares
//     as the number it is (x/0 breaches any "greater than").
//   - An empty result is an empty series: the metric had no data in the
//     range, which rules treat as missing datapoints, not as an error.
//   - Several series are an error ([*MultipleSeriesError]) unless
//     [Config.Combine] says how to make one of them ([Sum], [Max], [Min],
//     [Select]). Aggregate in PromQL when you can: sum(...) is cheaper than
//     fetching every series.
//   - Warnings (for example partial data from a federated store) are logged
//     by [Source.Query] at Warn level through [Config.Logger], or turned
//     into errors by [Config.FailOnWarnings]; [Source.QueryRange] returns
//     them to the caller.
//   - Errors (the server unreachable, a bad query, a timeout, a malformed
//     response) are returned as errors, never as an empty series, so that
//     an alarm that cannot be read is never OK.
package prometheus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/shepherd-go/shepherd/alarm"
)

// Config configures a [Source].
type Config struct {
	// Address is the server's base URL, for example
	// "https://prometheus.example:9090". Required.
	Address string
	// RoundTripper carries the requests: set it for TLS, authentication or
	// a proxy. nil means client_golang's api.DefaultRoundTripper.
	RoundTripper http.RoundTripper
	// Timeout bounds each query on top of the caller's context, and is sent
	// to the server as the query's evaluation timeout. Zero means only the
	// context bounds it.
	Timeout time.Duration
	// Combine turns the series a query returns (any number, including none)
	// into the one series a rule evaluates. nil means: none is an empty
	// series, one is itself, several are a [*MultipleSeriesError].
	Combine Combine
	// Logger receives the warnings of queries made through [Source.Query];
	// nil means they are not logged.
	Logger *slog.Logger
	// FailOnWarnings makes [Source.Query] return a [*WarningsError] when
	// the server answers with warnings, for callers that would rather fail
	// closed than judge on partial data.
	FailOnWarnings bool
}

// Source reads series from a Prometheus HTTP API. It is safe for
// concurrent use.
type Source struct {
	api v1.API
	cfg Config
}

// New returns a source for the server at cfg.Address.
func New(cfg Config) (*Source, error) {
	if cfg.Address == "" {
		return nil, errors.New("alarm/prometheus: Config.Address is required")
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("alarm/prometheus: Config.Timeout must not be negative, got %s", cfg.Timeout)
	}
	client, err := api.NewClient(api.Config{Address: cfg.Address, RoundTripper: cfg.RoundTripper})
	if err != nil {
		return nil, fmt.Errorf("alarm/prometheus: %w", err)
	}
	return &Source{api: v1.NewAPI(client), cfg: cfg}, nil
}

// MultipleSeriesError is returned for a query that yields more than one
// series when no [Config.Combine] is set (or [Select] matches more than
// one).
type MultipleSeriesError struct {
	// Query is the query that returned them.
	Query string
	// Labels are the label sets of the series, in the order returned.
	Labels []map[string]string
}

// Error lists the label sets of the first few series.
func (e *MultipleSeriesError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "alarm/prometheus: query %q returned %d series; aggregate it (sum, max) or set Config.Combine:", e.Query, len(e.Labels))
	for i, l := range e.Labels {
		if i == 3 {
			fmt.Fprintf(&b, " and %d more", len(e.Labels)-3)
			break
		}
		b.WriteString(" ")
		b.WriteString(formatLabels(l))
	}
	return b.String()
}

// WarningsError is returned by [Source.Query] when [Config.FailOnWarnings]
// is set and the server answered with warnings.
type WarningsError struct {
	// Query is the query the server warned about.
	Query string
	// Warnings are the server's warnings, as sent.
	Warnings []string
}

// Error quotes the warnings.
func (e *WarningsError) Error() string {
	return fmt.Sprintf("alarm/prometheus: query %q: server warnings: %s", e.Query, strings.Join(e.Warnings, "; "))
}

// Query implements [alarm.Source]: it runs a range query and returns its
// one series. Warnings are logged (or returned as an error with
// FailOnWarnings).
func (s *Source) Query(ctx context.Context, query string, r alarm.Range) (alarm.Series, error) {
	series, warnings, err := s.QueryRange(ctx, query, r)
	if err != nil {
		return alarm.Series{}, err
	}
	if len(warnings) > 0 {
		if s.cfg.FailOnWarnings {
			return alarm.Series{}, &WarningsError{Query: query, Warnings: warnings}
		}
		if s.cfg.Logger != nil {
			s.cfg.Logger.WarnContext(ctx, "prometheus query returned warnings", "query", query, "warnings", warnings)
		}
	}
	return series, nil
}

// QueryRange runs a range query and returns its one series (see
// [Config.Combine]) together with the server's warnings.
func (s *Source) QueryRange(ctx context.Context, query string, r alarm.Range) (alarm.Series, []string, error) {
	if query == "" {
		return alarm.Series{}, nil, errors.New("alarm/prometheus: empty query")
	}
	if err := r.Validate(); err != nil {
		return alarm.Series{}, nil, err
	}
	var opts []v1.Option
	if s.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.Timeout)
		defer cancel()
		opts = append(opts, v1.WithTimeout(s.cfg.Timeout))
	}
	value, warnings, err := s.api.QueryRange(ctx, query, v1.Range{Start: r.Start, End: r.End, Step: r.Step}, opts...)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		return alarm.Series{}, warnings, fmt.Errorf("alarm/prometheus: query %q: %w", query, err)
	}
	matrix, ok := value.(model.Matrix)
	if !ok {
		return alarm.Series{}, warnings, fmt.Errorf("alarm/prometheus: query %q: unexpected result type %s (want a matrix)", query, typeName(value))
	}
	all := make([]alarm.Series, 0, len(matrix))
	for _, stream := range matrix {
		if len(stream.Histograms) > 0 {
			return alarm.Series{}, warnings, fmt.Errorf("alarm/prometheus: query %q: series %s holds native histograms; "+
				"query a number from them (histogram_quantile, histogram_count)", query, stream.Metric)
		}
		all = append(all, convert(stream))
	}
	var one alarm.Series
	switch {
	case s.cfg.Combine != nil:
		one, err = s.cfg.Combine(all)
		if err != nil {
			var mse *MultipleSeriesError
			if errors.As(err, &mse) && mse.Query == "" {
				mse.Query = query
			}
			return alarm.Series{}, warnings, fmt.Errorf("alarm/prometheus: query %q: combining %d series: %w", query, len(all), err)
		}
	case len(all) == 0:
	case len(all) == 1:
		one = all[0]
	default:
		mse := &MultipleSeriesError{Query: query}
		for _, s := range all {
			mse.Labels = append(mse.Labels, s.Labels)
		}
		return alarm.Series{}, warnings, mse
	}
	return one, warnings, nil
}

func typeName(v model.Value) string {
	if v == nil {
		return "none"
	}
	return v.Type().String()
}

// convert turns a sample stream into a series; timestamps are UTC.
func convert(stream *model.SampleStream) alarm.Series {
	s := alarm.Series{Labels: make(map[string]string, len(stream.Metric))}
	for k, v := range stream.Metric {
		s.Labels[string(k)] = string(v)
	}
	s.Points = make([]alarm.Point, len(stream.Values))
	for i, p := range stream.Values {
		s.Points[i] = alarm.Point{Time: p.Timestamp.Time().UTC(), Value: float64(p.Value)}
	}
	return s
}

func formatLabels(l map[string]string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(l)) {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%q", k, l[k])
	}
	b.WriteByte('}')
	return b.String()
}

// Combine turns the series of one query into one series. It receives every
// series the query returned, possibly none.
type Combine func(series []alarm.Series) (alarm.Series, error)

// Sum adds the series point by point: the value at a time is the sum of
// the values the series have there, NaN ones left out (NaN when all are),
// and its samples are the sum of theirs. The result has no labels.
func Sum(series []alarm.Series) (alarm.Series, error) {
	return merge(series, func(acc, v float64) float64 { return acc + v }), nil
}

// Max takes the largest value at each time, NaN ones left out: for "the
// worst host" alarms.
func Max(series []alarm.Series) (alarm.Series, error) {
	return merge(series, math.Max), nil
}

// Min takes the smallest value at each time, NaN ones left out.
func Min(series []alarm.Series) (alarm.Series, error) {
	return merge(series, math.Min), nil
}

// Select returns a Combine that keeps the one series whose labels include
// all of match. None matching is an empty series (no data); more than one
// is a [*MultipleSeriesError].
func Select(match map[string]string) Combine {
	match = maps.Clone(match)
	return func(series []alarm.Series) (alarm.Series, error) {
		var found []alarm.Series
		for _, s := range series {
			ok := true
			for k, v := range match {
				if got, has := s.Labels[k]; !has || got != v {
					ok = false
					break
				}
			}
			if ok {
				found = append(found, s)
			}
		}
		switch len(found) {
		case 0:
			return alarm.Series{}, nil
		case 1:
			return found[0], nil
		}
		mse := &MultipleSeriesError{}
		for _, s := range found {
			mse.Labels = append(mse.Labels, s.Labels)
		}
		return alarm.Series{}, fmt.Errorf("%d series match %s: %w", len(found), formatLabels(match), mse)
	}
}

// merge combines series point by point with f over the non-NaN values.
func merge(series []alarm.Series, f func(acc, v float64) float64) alarm.Series {
	type cell struct {
		v       float64
		samples int64
		any     bool
	}
	cells := map[time.Time]*cell{}
	var times []time.Time
	for _, s := range series {
		for _, p := range s.Points {
			t := p.Time.UTC()
			c, ok := cells[t]
			if !ok {
				c = &cell{v: math.NaN()}
				cells[t] = c
				times = append(times, t)
			}
			c.samples += p.Samples
			if math.IsNaN(p.Value) {
				continue
			}
			if !c.any {
				c.v, c.any = p.Value, true
			} else {
				c.v = f(c.v, p.Value)
			}
		}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	out := alarm.Series{Points: make([]alarm.Point, len(times))}
	for i, t := range times {
		out.Points[i] = alarm.Point{Time: t, Value: cells[t].v, Samples: cells[t].samples}
	}
	return out
}
