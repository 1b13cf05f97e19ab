package alarm

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Memory is an in-memory [Source] for tests, examples and simulations. The
// query is a plain key; each key holds its own points.
//
// Query returns the points whose time lies in [Start, End], as stored: Memory
// does not resample to the range's step, so a test controls exactly which
// datapoints a rule sees. A key that was never written returns an empty
// series (no data), not an error; use [Memory.SetError] to make a key fail.
//
// Memory is safe for concurrent use and holds its lock only briefly, so it
// can be used inside a testing/synctest bubble. The zero value is ready to
// use.
type Memory struct {
	mu     sync.Mutex
	series map[string][]Point
	errs   map[string]error
}

// Add appends points to the series of query, keeping time order. A point at
// the same time as an existing one replaces it.
func (m *Memory) Add(query string, pts ...Point) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.series == nil {
		m.series = make(map[string][]Point)
	}
	s := m.series[query]
	for _, p := range pts {
		i := sort.Search(len(s), func(i int) bool { return !s[i].Time.Before(p.Time) })
		if i < len(s) && s[i].Time.Equal(p.Time) {
			s[i] = p
			continue
		}
		s = append(s, Point{})
		copy(s[i+1:], s[i:])
		s[i] = p
	}
	m.series[query] = s
}

// Record appends one point with the given value and sample count at t.
func (m *Memory) Record(query string, t time.Time, value float64, samples int64) {
	m.Add(query, Point{Time: t, Value: value, Samples: samples})
}

// Set replaces the series of query.
func (m *Memory) Set(query string, pts []Point) {
	m.mu.Lock()
	if m.series == nil {
		m.series = make(map[string][]Point)
	}
	m.series[query] = nil
	m.mu.Unlock()
	m.Add(query, pts...)
}

// SetError makes every query for key fail with err until it is cleared with
// a nil err.
func (m *Memory) SetError(query string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		delete(m.errs, query)
		return
	}
	if m.errs == nil {
		m.errs = make(map[string]error)
	}
	m.errs[query] = err
}

// Query returns a copy of the stored points of query within r.
func (m *Memory) Query(ctx context.Context, query string, r Range) (Series, error) {
	if err := ctx.Err(); err != nil {
		return Series{}, err
	}
	if query == "" {
		return Series{}, fmt.Errorf("alarm: memory: empty query")
	}
	if err := r.Validate(); err != nil {
		return Series{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.errs[query]; err != nil {
		return Series{}, fmt.Errorf("alarm: memory: query %q: %w", query, err)
	}
	s := m.series[query]
	lo := sort.Search(len(s), func(i int) bool { return !s[i].Time.Before(r.Start) })
	hi := sort.Search(len(s), func(i int) bool { return s[i].Time.After(r.End) })
	out := make([]Point, hi-lo)
	copy(out, s[lo:hi])
	return Series{Points: out}, nil
}
