package probe

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
)

// bucket holds the results of one endpoint that completed in one period,
// (end-Period, end]. It keeps every latency so that percentiles over any
// multiple of the period are exact.
type bucket struct {
	end       time.Time
	requests  int64
	failures  int64
	status    map[int]int64
	latencies []time.Duration
}

// history is one endpoint's buckets in increasing time order.
type history struct {
	buckets []*bucket
}

// periodEnd returns the end of the period, aligned to the Unix epoch, that
// holds t. A result at exactly a boundary belongs to the period that starts
// there.
func periodEnd(t time.Time, period time.Duration) time.Time {
	ns := t.UnixNano()
	r := ns % int64(period)
	if r < 0 {
		r += int64(period)
	}
	return time.Unix(0, ns-r+int64(period)).In(t.Location())
}

func (h *history) add(r Result, period time.Duration) {
	end := periodEnd(r.Time, period)
	i := sort.Search(len(h.buckets), func(i int) bool { return !h.buckets[i].end.Before(end) })
	if i == len(h.buckets) || !h.buckets[i].end.Equal(end) {
		h.buckets = slices.Insert(h.buckets, i, &bucket{end: end, status: make(map[int]int64)})
	}
	b := h.buckets[i]
	b.requests++
	if !r.OK() {
		b.failures++
	}
	b.status[r.Status]++
	b.latencies = append(b.latencies, r.Latency)
}

// prune drops the buckets that ended before cutoff.
func (h *history) prune(cutoff time.Time) {
	i := sort.Search(len(h.buckets), func(i int) bool { return !h.buckets[i].end.Before(cutoff) })
	if i > 0 {
		h.buckets = slices.Delete(h.buckets, 0, i)
	}
}

// Query answers a query of the grammar in the package documentation with
// one point per window of r.Step that ended within [r.Start, r.End] and by
// now, for windows that hold at least one completed request. Samples is the
// number of requests in the window.
//
// A malformed query, an unknown endpoint, an invalid range or a Step that is
// not a whole multiple of the policy's Period is an error (wrapping
// [ErrBadQuery], [ErrUnknownEndpoint] or the range's error), never an empty
// series.
func (p *Prober) Query(ctx context.Context, query string, r alarm.Range) (alarm.Series, error) {
	if err := ctx.Err(); err != nil {
		return alarm.Series{}, err
	}
	q, err := ParseQuery(query)
	if err != nil {
		return alarm.Series{}, err
	}
	if _, ok := p.byName[q.Endpoint]; !ok {
		names := make([]string, len(p.endpoints))
		for i, e := range p.endpoints {
			names[i] = e.Name
		}
		return alarm.Series{}, fmt.Errorf("probe: query %q: %w %q (have %v)", query, ErrUnknownEndpoint, q.Endpoint, names)
	}
	if err := r.Validate(); err != nil {
		return alarm.Series{}, fmt.Errorf("probe: query %q: %w", query, err)
	}
	period := p.policy.Period.Std()
	if r.Step%period != 0 {
		return alarm.Series{}, fmt.Errorf("probe: query %q: step %s is not a whole multiple of the probe period %s", query, r.Step, period)
	}
	now := time.Now()

	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.store[q.Endpoint]
	// Windows of Step aligned to the epoch: the window ending at E holds the
	// buckets whose end lies in (E-Step, E].
	lo := r.Start.Add(-r.Step)
	i := sort.Search(len(h.buckets), func(i int) bool { return h.buckets[i].end.After(lo) })
	out := alarm.Series{Labels: map[string]string{"endpoint": q.Endpoint, "metric": q.Metric}}
	var win []*bucket
	var winEnd time.Time
	flush := func() {
		if len(win) == 0 {
			return
		}
		if !winEnd.Before(r.Start) && !winEnd.After(r.End) && !winEnd.After(now) {
			agg := merge(win)
			out.Points = append(out.Points, alarm.Point{Time: winEnd, Value: q.value(agg), Samples: agg.requests})
		}
		win = win[:0]
	}
	for ; i < len(h.buckets); i++ {
		b := h.buckets[i]
		// The window of a bucket ending exactly at a boundary E is E's.
		e := periodEnd(b.end.Add(-1), r.Step)
		if e.After(r.End) {
			break
		}
		if !e.Equal(winEnd) {
			flush()
			winEnd = e
		}
		win = append(win, b)
	}
	flush()
	return out, nil
}

func merge(bs []*bucket) *bucket {
	if len(bs) == 1 {
		return bs[0]
	}
	m := &bucket{status: make(map[int]int64)}
	for _, b := range bs {
		m.requests += b.requests
		m.failures += b.failures
		for c, n := range b.status {
			m.status[c] += n
		}
		m.latencies = append(m.latencies, b.latencies...)
	}
	return m
}

func (q Query) value(b *bucket) float64 {
	n := float64(b.requests)
	switch q.kind {
	case mRequests:
		return n
	case mSuccesses:
		return n - float64(b.failures)
	case mFailures:
		return float64(b.failures)
	case mSuccessRate:
		return (n - float64(b.failures)) / n
	case mFailureRate:
		return float64(b.failures) / n
	case mLatencyMean:
		var sum time.Duration
		for _, l := range b.latencies {
			sum += l
		}
		return sum.Seconds() / n
	case mLatencyMax:
		return slices.Max(b.latencies).Seconds()
	case mLatencyQuantile:
		s := slices.Clone(b.latencies)
		slices.Sort(s)
		// Nearest rank: the smallest latency with at least q of the
		// requests at or below it.
		// The tolerance keeps 0.99*100 (99.00000000000001 in floating
		// point) at rank 99.
		k := int(math.Ceil(q.quantile*float64(len(s))-1e-9)) - 1
		k = max(0, min(k, len(s)-1))
		return s[k].Seconds()
	case mStatus:
		return float64(b.status[q.status])
	case mStatusClass:
		var c int64
		for code, k := range b.status {
			if code/100 == q.status {
				c += k
			}
		}
		return float64(c)
	}
	return math.NaN()
}
