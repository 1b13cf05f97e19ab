package alarm

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/duration"
)

// sixtyPoints is an hour of one-minute datapoints ending at t0, a quarter of
// them breaching 0.05.
func sixtyPoints() Series {
	var s Series
	for i := range 60 {
		v := 0.01
		if i%4 == 0 {
			v = 0.09
		}
		s.Points = append(s.Points, Point{Time: t0.Add(-time.Duration(59-i) * time.Minute), Value: v, Samples: 1200})
	}
	return s
}

func threeOfFive() Threshold {
	return Threshold{
		Query:      "errors",
		Comparison: GreaterThan,
		Threshold:  0.05,
		Evaluation: Evaluation{
			Period:            duration.Duration(time.Minute),
			EvaluationPeriods: 5,
			DatapointsToAlarm: 3,
		},
	}
}

// BenchmarkAssess3of5 is the acceptance benchmark: a 3-of-5 threshold rule
// decided over 60 points, without allocating.
func BenchmarkAssess3of5(b *testing.B) {
	rule, s := threeOfFive(), sixtyPoints()
	b.ReportAllocs()
	for b.Loop() {
		if rule.Assess(t0, s, InsufficientData).State == Alarm {
			b.Fatal("unexpected ALARM")
		}
	}
}

// BenchmarkEvaluate3of5 is the same decision with its reason in words.
func BenchmarkEvaluate3of5(b *testing.B) {
	rule, s := threeOfFive(), sixtyPoints()
	b.ReportAllocs()
	for b.Loop() {
		rule.Evaluate(t0, s)
	}
}

// BenchmarkAssessAverage3of5 aggregates raw points: 10 per minute for an
// hour, averaged per period.
func BenchmarkAssessAverage3of5(b *testing.B) {
	rule := threeOfFive()
	rule.Statistic = Average
	var s Series
	for i := range 600 {
		s.Points = append(s.Points, Point{Time: t0.Add(-time.Duration(599-i) * 6 * time.Second), Value: float64(i%7) / 100})
	}
	b.ReportAllocs()
	for b.Loop() {
		rule.Assess(t0, s, InsufficientData)
	}
}

// BenchmarkAssess10000Rules decides 10,000 different 3-of-5 rules, each over
// its own 60-point series.
func BenchmarkAssess10000Rules(b *testing.B) {
	const n = 10000
	rules := make([]Threshold, n)
	series := make([]Series, n)
	base := sixtyPoints()
	for i := range rules {
		rules[i] = threeOfFive()
		rules[i].Query = "q" + strconv.Itoa(i)
		rules[i].Threshold = 0.005 + float64(i)/n*0.1
		series[i] = Series{Points: base.Points}
	}
	b.ReportAllocs()
	for b.Loop() {
		alarms := 0
		for i := range rules {
			if rules[i].Assess(t0, series[i], InsufficientData).State == Alarm {
				alarms++
			}
		}
		if alarms == 0 || alarms == n {
			b.Fatal("degenerate benchmark")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/rule")
}

// BenchmarkSetCheckAll10000 checks 10,000 named 3-of-5 rules through a
// Set over a Memory source: fetching each window, deciding, and writing
// each reason.
func BenchmarkSetCheckAll10000(b *testing.B) {
	const n = 10000
	src := new(Memory)
	base := sixtyPoints()
	rules := make([]Rule, n)
	for i := range rules {
		q := "q" + strconv.Itoa(i)
		src.Set(q, base.Points)
		r := threeOfFive()
		r.Query = q
		r.Threshold = 0.005 + float64(i)/n*0.1
		rules[i] = Rule{Name: q, Threshold: &r}
	}
	set, err := NewSet(src, rules...)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		for _, o := range set.CheckAll(ctx, t0) {
			if o.Err != nil {
				b.Fatal(o.Err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/rule")
}

// TestAssessDoesNotAllocate pins the zero-allocation property that the
// benchmarks report, for every statistic (percentiles over up to 64 raw
// points per period) and for relative rules.
func TestAssessDoesNotAllocate(t *testing.T) {
	s := sixtyPoints()
	for _, stat := range []Statistic{AsReported, Average, Sum, Minimum, Maximum, SampleCount, Percentile(99)} {
		rule := threeOfFive()
		rule.Statistic = stat
		if n := testing.AllocsPerRun(100, func() { rule.Assess(t0, s, InsufficientData) }); n != 0 {
			t.Errorf("%q: %v allocations per Assess", stat, n)
		}
	}
	rel := Relative{Query: "a", Baseline: "b", Ratio: 2, Evaluation: threeOfFive().Evaluation}
	if n := testing.AllocsPerRun(100, func() { rel.Assess(t0, s, s, InsufficientData) }); n != 0 {
		t.Errorf("relative: %v allocations per Assess", n)
	}
}
