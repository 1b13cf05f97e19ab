package timeline

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func labels(ts []tick) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.label)
	}
	return out
}

func TestTicks(t *testing.T) {
	ist := time.FixedZone("IST", 5*3600+1800)
	tests := []struct {
		name       string
		start, end time.Time
		max        int
		want       []string
	}{
		{"seconds", at(0), at(40 * time.Second), 6, []string{"09:00:00", "09:00:10", "09:00:20", "09:00:30", "09:00:40"}},
		{"an hour", at(0), at(time.Hour), 8, []string{"09:00", "09:10", "09:20", "09:30", "09:40", "09:50", "10:00"}},
		{"odd start", at(7 * time.Minute), at(52 * time.Minute), 5, []string{"09:10", "09:20", "09:30", "09:40", "09:50"}},
		{"a day and a bit", at(0), at(30 * time.Hour), 6, []string{"12:00", "18:00", "Mar 5", "06:00", "12:00"}},
		{"days", at(0), at(6 * 24 * time.Hour), 8, []string{"Mar 5", "Mar 6", "Mar 7", "Mar 8", "Mar 9", "Mar 10"}},
		{"weeks", at(0), at(60 * 24 * time.Hour), 6, []string{"Mar 18", "Apr 1", "Apr 15", "Apr 29"}},
		{"half-hour zone", time.Date(2024, 3, 4, 9, 10, 0, 0, ist), time.Date(2024, 3, 4, 12, 5, 0, 0, ist), 4, []string{"10:00", "11:00", "12:00"}},
		{"one tick", at(0), at(time.Hour), 1, []string{"10:00"}},
		{"midnight start", at(-9 * time.Hour), at(39 * time.Hour), 3, []string{"Mar 4", "Mar 5", "Mar 6"}},
	}
	// Centuries with a budget of one tick: the step must not overflow.
	if got := ticks(at(0), at(0).AddDate(290, 0, 0), 1); len(got) > 1 {
		t.Errorf("290 years, budget 1: %d ticks", len(got))
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, labels(ticks(tc.start, tc.end, tc.max))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

// TestTicksProperties checks, over random ranges from a second to months
// and random budgets, that ticks stay within the range and the budget, are
// strictly increasing, evenly spaced below a day, and labelled.
func TestTicksProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	zones := []*time.Location{time.UTC, time.FixedZone("IST", 5*3600+1800), time.FixedZone("NST", -(3*3600 + 1800))}
	for i := 0; i < 2000; i++ {
		start := t0.Add(time.Duration(rng.Int64N(int64(365 * 24 * time.Hour)))).In(zones[rng.IntN(len(zones))])
		span := time.Duration(1+rng.Int64N(int64(90*24*time.Hour))) / time.Duration(1+rng.IntN(1000))
		end := start.Add(max(span, time.Second))
		budget := 1 + rng.IntN(20)
		ts := ticks(start, end, budget)
		if len(ts) > budget {
			t.Fatalf("%v..%v budget %d: %d ticks", start, end, budget, len(ts))
		}
		for j, tk := range ts {
			if tk.t.Before(start) || tk.t.After(end) || tk.label == "" {
				t.Fatalf("%v..%v: tick %v %q outside the range or unlabelled", start, end, tk.t, tk.label)
			}
			if j > 0 && !tk.t.After(ts[j-1].t) {
				t.Fatalf("%v..%v: ticks not increasing at %d", start, end, j)
			}
			if j > 1 && tk.t.Sub(ts[j-1].t) < day && tk.t.Sub(ts[j-1].t) != ts[1].t.Sub(ts[0].t) {
				t.Fatalf("%v..%v: uneven ticks at %d", start, end, j)
			}
		}
	}
}
