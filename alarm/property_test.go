package alarm

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// slot is one period of the reference model: missing, within the
// threshold, or breaching.
type slot int8

const (
	slotMissing slot = iota
	slotOK
	slotBreach
)

// reference decides a state the plain way, from an explicit array of
// periods (oldest first), following the CloudWatch documentation's prose
// step by step. It is the model the walker and tally are checked against.
func reference(slots []slot, n, m int, treat Treatment, prev State) State {
	var real []slot // newest first
	for i := len(slots) - 1; i >= 0; i-- {
		if slots[i] != slotMissing {
			real = append(real, slots[i])
		}
	}
	count := func(s []slot) (breach int) {
		for _, x := range s {
			if x == slotBreach {
				breach++
			}
		}
		return breach
	}
	verdict := func(b int) State {
		if b >= m {
			return Alarm
		}
		return OK
	}
	// Enough real datapoints: the N most recent decide.
	if len(real) >= n {
		return verdict(count(real[:n]))
	}
	// Otherwise fill the rest per treatment.
	switch treat {
	case Breaching:
		return verdict(count(real) + n - len(real))
	case NotBreaching:
		return verdict(count(real))
	}
	if len(real) == 0 {
		if treat == Ignore {
			return prev
		}
		return InsufficientData
	}
	b := count(real)
	if b >= m {
		return Alarm
	}
	if b < len(real) {
		return OK
	}
	if treat == Ignore {
		return prev
	}
	// Avoiding premature transitions: the oldest breaching datapoint is at
	// least M periods old, with only breaching or missing after it.
	oldest := 0
	for i, s := range slots {
		if s == slotBreach {
			oldest = len(slots) - i
			break
		}
	}
	if oldest >= m {
		return Alarm
	}
	return InsufficientData
}

// TestAssessMatchesReference compares Assess with the reference model on
// random rows, rules, treatments, previous states and point placements
// within their periods.
func TestAssessMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	treatments := []Treatment{Missing, NotBreaching, Breaching, Ignore}
	const period = time.Minute
	for iter := range 20000 {
		n := 1 + rng.IntN(6)
		m := 1 + rng.IntN(n)
		rangeN := n + rng.IntN(4)
		treat := treatments[rng.IntN(len(treatments))]
		prev := State(rng.IntN(3))
		slots := make([]slot, rangeN)
		var s Series
		// Older points outside the range must not matter.
		for i := range rng.IntN(3) {
			s.Points = append(s.Points, Point{Time: t0.Add(-time.Duration(rangeN+3-i) * period), Value: 10})
		}
		for i := range slots {
			slots[i] = slot(rng.IntN(3))
			// Anywhere within (end-period, end] of the slot.
			end := t0.Add(-time.Duration(rangeN-1-i) * period)
			at := end.Add(-time.Duration(rng.Int64N(int64(period))))
			switch slots[i] {
			case slotOK:
				s.Points = append(s.Points, Point{Time: at, Value: 1})
			case slotBreach:
				s.Points = append(s.Points, Point{Time: at, Value: 10})
			}
		}
		// Future points must not matter either.
		if rng.IntN(2) == 0 {
			s.Points = append(s.Points, Point{Time: t0.Add(time.Second), Value: 10})
		}
		rule := Threshold{Query: "q", Comparison: GreaterThan, Threshold: 5, Evaluation: Evaluation{
			Period: 60e9, EvaluationPeriods: n, DatapointsToAlarm: m, TreatMissingData: treat, EvaluationRange: rangeN}}
		want := reference(slots, n, m, treat, prev)
		got := rule.Assess(t0, s, prev)
		if got.State != want {
			var row []string
			for _, x := range slots {
				row = append(row, [...]string{"-", "0", "X"}[x])
			}
			t.Fatalf("iteration %d: %d of %d, range %d, %s, previous %s, %q: got %s, want %s",
				iter, m, n, rangeN, treat, prev, strings.Join(row, " "), got.State, want)
		}
		// Invariants of the evidence.
		if got.Real > rangeN || got.Considered > n || got.Breaching > got.Considered || got.Filled > n {
			t.Fatalf("iteration %d: inconsistent assessment %+v", iter, got)
		}
	}
}

// TestTreatmentOrder checks that treating missing data as breaching never
// gives a healthier state than notBreaching on the same data.
func TestTreatmentOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for range 5000 {
		n := 1 + rng.IntN(5)
		m := 1 + rng.IntN(n)
		var s Series
		for i := range n + 2 {
			if v := rng.IntN(3); v > 0 {
				s.Points = append(s.Points, Point{Time: t0.Add(-time.Duration(n+1-i) * time.Minute), Value: float64(v * 4)})
			}
		}
		rule := Threshold{Query: "q", Comparison: GreaterThan, Threshold: 5,
			Evaluation: Evaluation{Period: 60e9, EvaluationPeriods: n, DatapointsToAlarm: m}}
		rule.TreatMissingData = Breaching
		hi := rule.Assess(t0, s, InsufficientData).State
		rule.TreatMissingData = NotBreaching
		lo := rule.Assess(t0, s, InsufficientData).State
		if lo == Alarm && hi != Alarm {
			t.Fatalf("notBreaching alarms but breaching does not: %+v", s.Points)
		}
	}
}
