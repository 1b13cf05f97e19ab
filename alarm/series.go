package alarm

import (
	"context"
	"fmt"
	"time"
)

// Point is one datapoint of a metric: the value of a statistic over one period
// that ends (or is stamped) at Time.
type Point struct {
	Time  time.Time
	Value float64
	// Samples is the number of raw samples behind Value (requests behind a
	// latency percentile, for example), or 0 when the source does not know.
	// Rules with a minimum sample count treat a point with too few samples as
	// missing.
	Samples int64
}

// Series is a metric's datapoints in increasing time order.
//
// Labels identify the series when a source knows them (the Prometheus label
// set, for example); rules ignore them.
type Series struct {
	Labels map[string]string
	Points []Point
}

// Len reports the number of points.
func (s Series) Len() int { return len(s.Points) }

// Validate reports whether the points are in strictly increasing time order
// and carry no negative sample count. NaN values are allowed: they mean the
// source had a point but no value, and rules treat them as missing. So are
// infinite values, which rules compare as the numbers they are (an error
// ratio x/0 with x > 0 is +Inf in PromQL, and breaches).
func (s Series) Validate() error {
	for i, p := range s.Points {
		if p.Samples < 0 {
			return fmt.Errorf("alarm: series point %d: negative sample count %d", i, p.Samples)
		}
		if i > 0 && !p.Time.After(s.Points[i-1].Time) {
			return fmt.Errorf("alarm: series point %d: time %s is not after point %d (%s)",
				i, p.Time.Format(time.RFC3339), i-1, s.Points[i-1].Time.Format(time.RFC3339))
		}
	}
	return nil
}

// Range is the time range and resolution of a query: points from Start to
// End inclusive, Step apart.
type Range struct {
	Start, End time.Time
	Step       time.Duration
}

// Validate reports a malformed range.
func (r Range) Validate() error {
	switch {
	case r.Start.IsZero() || r.End.IsZero():
		return fmt.Errorf("alarm: range: start and end must be set")
	case r.End.Before(r.Start):
		return fmt.Errorf("alarm: range: end %s is before start %s", r.End.Format(time.RFC3339), r.Start.Format(time.RFC3339))
	case r.Step <= 0:
		return fmt.Errorf("alarm: range: step must be positive, got %s", r.Step)
	}
	return nil
}

// Source fetches metric series. The query language is the source's own
// (PromQL for [github.com/shepherd-go/shepherd/alarm/prometheus], a plain key
// for [Memory]).
//
// A Source must return an error, never an empty series, when it cannot
// answer; an empty series means the metric had no data in the range. Its
// errors should name the query: a [Set] adds only the alarm's name.
type Source interface {
	Query(ctx context.Context, query string, r Range) (Series, error)
}

// SourceFunc adapts a function to the [Source] interface.
type SourceFunc func(ctx context.Context, query string, r Range) (Series, error)

// Query calls f.
func (f SourceFunc) Query(ctx context.Context, query string, r Range) (Series, error) {
	return f(ctx, query, r)
}
