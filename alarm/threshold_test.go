package alarm

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shepherd-go/shepherd/duration"
)

var t0 = time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)

// rowSeries builds a series from the CloudWatch documentation's notation,
// oldest datapoint first: "0" is a datapoint within the threshold, "X" one
// that breaches, "-" a missing one. The newest datapoint is stamped now;
// each is one period apart. Breaching values are 10, others 1, so a rule
// "> 5" reads them as the table does.
func rowSeries(row string, now time.Time, period time.Duration) Series {
	cells := strings.Fields(row)
	var s Series
	for i, c := range cells {
		at := now.Add(-time.Duration(len(cells)-1-i) * period)
		switch c {
		case "0":
			s.Points = append(s.Points, Point{Time: at, Value: 1})
		case "X":
			s.Points = append(s.Points, Point{Time: at, Value: 10})
		case "-":
		default:
			panic("bad cell " + c)
		}
	}
	return s
}

func tableRule(m, n int, treat Treatment) Threshold {
	return Threshold{
		Query:      "errors",
		Comparison: GreaterThan,
		Threshold:  5,
		Evaluation: Evaluation{
			Period:            duration.Duration(5 * time.Minute),
			EvaluationPeriods: n,
			DatapointsToAlarm: m,
			TreatMissingData:  treat,
		},
	}
}

// retain marks the IGNORE column's "Retain current state".
const retain State = -1

// TestCloudWatchMissingDataTables reproduces, row by row, the tables of
// CloudWatch's "How alarm state is evaluated when data is missing" (Amazon
// CloudWatch User Guide, "Configuring how CloudWatch alarms treat missing
// data"). CloudWatch retrieves the 5 most recent datapoints for these
// alarms, which is this package's default evaluation range for N = 3.
//
// Row "X - - - -" was added to the documentation in 2019 (awsdocs pull
// request 13); row "- - X - -" is the example of its section "Avoiding
// premature transitions to alarm state".
func TestCloudWatchMissingDataTables(t *testing.T) {
	tests := []struct {
		m, n                                     int
		row                                      string
		missing, ignore, breaching, notBreaching State
	}{
		// First table: Datapoints to Alarm and Evaluation Periods both 3.
		{3, 3, "0 - X - X", OK, OK, OK, OK},
		{3, 3, "0 - - - -", OK, OK, OK, OK},
		{3, 3, "- - - - -", InsufficientData, retain, Alarm, OK},
		{3, 3, "0 X X - X", Alarm, Alarm, Alarm, Alarm},
		{3, 3, "- - - - X", InsufficientData, retain, Alarm, OK},
		{3, 3, "X - - - -", Alarm, retain, Alarm, OK},
		{3, 3, "- - X - -", Alarm, retain, Alarm, OK},
		// Second table: 2 out of 3.
		{2, 3, "0 - X - X", Alarm, Alarm, Alarm, Alarm},
		{2, 3, "0 0 X 0 X", Alarm, Alarm, Alarm, Alarm},
		{2, 3, "0 - X - -", OK, OK, Alarm, OK},
		{2, 3, "- - - - 0", OK, OK, Alarm, OK},
		{2, 3, "- - - - X", InsufficientData, retain, Alarm, OK},
	}
	for _, tt := range tests {
		s := rowSeries(tt.row, t0, 5*time.Minute)
		for _, col := range []struct {
			treat Treatment
			want  State
		}{
			{Missing, tt.missing},
			{"", tt.missing}, // the default
			{Ignore, tt.ignore},
			{Breaching, tt.breaching},
			{NotBreaching, tt.notBreaching},
		} {
			rule := tableRule(tt.m, tt.n, col.treat)
			if err := rule.Validate(); err != nil {
				t.Fatal(err)
			}
			for _, prev := range []State{InsufficientData, OK, Alarm} {
				want := col.want
				if want == retain {
					want = prev
				}
				got := rule.EvaluateFrom(t0, s, prev)
				if got.State != want {
					t.Errorf("%d of %d, %q, treat %q, previous %s: got %s, want %s (%s)",
						tt.m, tt.n, tt.row, col.treat, prev, got.State, want, got.Reason)
				}
				if a := rule.Assess(t0, s, prev); a.State != want {
					t.Errorf("%d of %d, %q, treat %q: Assess = %s, Evaluate = %s", tt.m, tt.n, tt.row, col.treat, a.State, got.State)
				}
			}
		}
	}
}

// TestPrematureTransition follows one breaching datapoint as it ages with
// no data after it, for a 3 of 3 alarm treating missing data as missing:
// INSUFFICIENT_DATA while it is too recent to decide, ALARM once it is 3
// periods old, INSUFFICIENT_DATA again when it leaves the evaluation range.
func TestPrematureTransition(t *testing.T) {
	rule := tableRule(3, 3, Missing)
	period := 5 * time.Minute
	s := Series{Points: []Point{{Time: t0, Value: 10}}}
	want := []State{InsufficientData, InsufficientData, Alarm, Alarm, Alarm, InsufficientData}
	for i, w := range want {
		now := t0.Add(time.Duration(i) * period)
		if got := rule.Evaluate(now, s); got.State != w {
			t.Errorf("%d periods later: got %s, want %s (%s)", i, got.State, w, got.Reason)
		}
	}
}

func TestMOfN(t *testing.T) {
	tests := []struct {
		m, n int
		row  string // oldest first, the last N+2 periods
		want State
	}{
		{3, 5, "0 0 X 0 X 0 X", Alarm}, // not consecutive
		{3, 5, "X X X 0 X 0 0", OK},    // the old breaches are outside N
		{3, 5, "0 0 X X 0 0 0", OK},
		{1, 1, "0 0 X", Alarm},
		{1, 1, "X X 0", OK},
		{5, 5, "0 0 X X X X X", Alarm},
		{5, 5, "0 0 X X 0 X X", OK},
		// Gaps: the N most recent real datapoints decide, wherever they are.
		{3, 5, "X - X X 0 - X", Alarm},
		{3, 5, "X 0 - X 0 - X", Alarm}, // five real datapoints, three breach
		{3, 5, "X X - 0 0 - X", Alarm},
		{3, 5, "0 X - 0 0 - X", OK},
	}
	for _, tt := range tests {
		rule := tableRule(tt.m, tt.n, Missing)
		if got := rule.Evaluate(t0, rowSeries(tt.row, t0, 5*time.Minute)); got.State != tt.want {
			t.Errorf("%d of %d over %q: got %s, want %s (%s)", tt.m, tt.n, tt.row, got.State, tt.want, got.Reason)
		}
	}
}

func TestComparisons(t *testing.T) {
	tests := []struct {
		cmp   Comparison
		value float64
		want  State
	}{
		{GreaterThan, 5, OK},
		{GreaterThan, 5.1, Alarm},
		{">", 5.1, Alarm},
		{GreaterThanOrEqual, 5, Alarm},
		{">=", 4.9, OK},
		{LessThan, 5, OK},
		{"<", 4.9, Alarm},
		{LessThanOrEqual, 5, Alarm},
		{"<=", 5.1, OK},
		{GreaterThan, math.Inf(1), Alarm},
		{LessThan, math.Inf(-1), Alarm},
		{GreaterThan, math.NaN(), InsufficientData}, // NaN is missing
	}
	for _, tt := range tests {
		rule := Threshold{Query: "q", Comparison: tt.cmp, Threshold: 5,
			Evaluation: Evaluation{Period: duration.Duration(time.Minute), EvaluationPeriods: 1}}
		got := rule.Evaluate(t0, Series{Points: []Point{{Time: t0, Value: tt.value}}})
		if got.State != tt.want {
			t.Errorf("%v %s 5: got %s, want %s (%s)", tt.value, tt.cmp, got.State, tt.want, got.Reason)
		}
	}
}

func TestStatistics(t *testing.T) {
	// Raw points within one one-minute period ending at t0.
	raw := []Point{
		{Time: t0.Add(-50 * time.Second), Value: 4},
		{Time: t0.Add(-40 * time.Second), Value: 1},
		{Time: t0.Add(-30 * time.Second), Value: math.NaN()}, // skipped
		{Time: t0.Add(-20 * time.Second), Value: 10, Samples: 3},
		{Time: t0.Add(-10 * time.Second), Value: 5},
	}
	tests := []struct {
		stat Statistic
		want float64
	}{
		{Average, 5},
		{Sum, 20},
		{Minimum, 1},
		{Maximum, 10},
		{SampleCount, 6}, // 1 + 1 + 3 + 1
		{Percentile(50), 4},
		{Percentile(75), 5},
		{Percentile(99), 10},
		{"p0.1", 1},
		{AsReported, 5}, // the newest point with a value
	}
	for _, tt := range tests {
		rule := Threshold{Query: "q", Comparison: GreaterThan,
			Evaluation: Evaluation{Period: duration.Duration(time.Minute), EvaluationPeriods: 1, Statistic: tt.stat}}
		if err := rule.Validate(); err != nil {
			t.Fatal(err)
		}
		a := rule.Assess(t0, Series{Points: raw}, InsufficientData)
		if a.Real != 1 || a.Latest.Value != tt.want {
			t.Errorf("%q: got %d datapoints, value %v; want 1, %v", tt.stat, a.Real, a.Latest.Value, tt.want)
		}
	}
}

func TestPercentileBeyondBuffer(t *testing.T) {
	var raw []Point
	for i := range 1000 {
		raw = append(raw, Point{Time: t0.Add(-time.Minute + time.Duration(i+1)*time.Millisecond*50), Value: float64(1000 - i)})
	}
	rule := Threshold{Query: "q", Comparison: GreaterThan, Threshold: 989,
		Evaluation: Evaluation{Period: duration.Duration(time.Minute), EvaluationPeriods: 1, Statistic: Percentile(99), MinSamples: PercentileMinSamples(99)}}
	a := rule.Assess(t0, Series{Points: raw}, InsufficientData)
	if a.Latest.Value != 990 || a.State != Alarm {
		t.Errorf("p99 of 1..1000 = %v (%s), want 990 (ALARM)", a.Latest.Value, a.State)
	}
	// One sample short of the minimum: missing.
	a = rule.Assess(t0, Series{Points: raw[1:]}, InsufficientData)
	if a.Real != 0 || a.State != InsufficientData {
		t.Errorf("999 samples for p99: got %d datapoints, %s; want none, INSUFFICIENT_DATA", a.Real, a.State)
	}
}

func TestPercentileMinSamples(t *testing.T) {
	for _, tt := range []struct {
		p    float64
		want int64
	}{{99, 1000}, {99.9, 10000}, {99.99, 100000}, {90, 100}, {50, 20}, {10, 100}, {1, 1000}, {0, 0}, {100, 0}, {math.NaN(), 0}} {
		if got := PercentileMinSamples(tt.p); got != tt.want {
			t.Errorf("PercentileMinSamples(%v) = %d, want %d", tt.p, got, tt.want)
		}
	}
}

func TestMinSamples(t *testing.T) {
	rule := Threshold{Query: "q", Comparison: GreaterThan, Threshold: 0.5,
		Evaluation: Evaluation{Period: duration.Duration(time.Minute), EvaluationPeriods: 3, MinSamples: 1000}}
	s := Series{Points: []Point{
		{Time: t0.Add(-time.Minute), Value: 0.9, Samples: 1000},
		{Time: t0, Value: 0.9, Samples: 999}, // too few: missing
	}}
	a := rule.Assess(t0, s, InsufficientData)
	if a.Real != 1 || a.State != InsufficientData {
		t.Errorf("got %d datapoints, %s; want 1, INSUFFICIENT_DATA", a.Real, a.State)
	}
	// Unknown sample counts fail closed when a minimum is set.
	s.Points[1].Samples = 0
	if a := rule.Assess(t0, s, InsufficientData); a.Real != 1 {
		t.Errorf("unknown samples: got %d datapoints, want 1", a.Real)
	}
}

func TestEvaluateEdges(t *testing.T) {
	rule := tableRule(2, 3, Missing)
	t.Run("future points are ignored", func(t *testing.T) {
		s := rowSeries("X X X", t0.Add(10*time.Minute), 5*time.Minute)
		if got := rule.Evaluate(t0, s); got.State != InsufficientData {
			t.Errorf("got %s (%s)", got.State, got.Reason)
		}
	})
	t.Run("unordered series", func(t *testing.T) {
		s := rowSeries("X X X", t0, 5*time.Minute)
		s.Points[0], s.Points[2] = s.Points[2], s.Points[0]
		got := rule.Evaluate(t0, s)
		if got.State != InsufficientData || !strings.Contains(got.Reason, "time order") {
			t.Errorf("got %s (%s)", got.State, got.Reason)
		}
	})
	t.Run("invalid rule", func(t *testing.T) {
		bad := rule
		bad.EvaluationPeriods = 0
		got := bad.Evaluate(t0, rowSeries("X X X", t0, 5*time.Minute))
		if got.State != InsufficientData || !strings.Contains(got.Reason, "EvaluationPeriods") {
			t.Errorf("got %s (%s)", got.State, got.Reason)
		}
	})
	t.Run("empty series", func(t *testing.T) {
		if got := rule.Evaluate(t0, Series{}); got.State != InsufficientData {
			t.Errorf("got %s", got.State)
		}
	})
	t.Run("period boundaries", func(t *testing.T) {
		// A point exactly one period before now belongs to the second
		// period, one a nanosecond later to the first.
		r := tableRule(1, 1, Missing)
		r.EvaluationRange = 1
		s := Series{Points: []Point{{Time: t0.Add(-5 * time.Minute), Value: 10}}}
		if got := r.Evaluate(t0, s); got.State != InsufficientData {
			t.Errorf("point at now-period: got %s", got.State)
		}
		s.Points[0].Time = s.Points[0].Time.Add(time.Nanosecond)
		if got := r.Evaluate(t0, s); got.State != Alarm {
			t.Errorf("point just after now-period: got %s", got.State)
		}
	})
}

func TestThresholdReasons(t *testing.T) {
	tests := []struct {
		treat Treatment
		row   string
		prev  State
		want  string
	}{
		{Missing, "0 - X - X", InsufficientData,
			"2 of the last 3 datapoints (5m0s periods) > 5, 2 needed for ALARM [newest first: 10, 10, 1]"},
		{Breaching, "- - - 0 -", InsufficientData,
			"only 1 of 3 datapoints in the last 5 periods of 5m0s; 2 missing filled as breaching: 2 of 3 > 5, 2 needed for ALARM [newest first: 1]"},
		{Missing, "- - - - -", InsufficientData,
			"no datapoints in the last 5 periods of 5m0s; missing data is treated as missing"},
		{Breaching, "- - - - -", InsufficientData,
			"no datapoints in the last 5 periods of 5m0s; missing data is treated as breaching, so all 3 count as breaching"},
		{Ignore, "- - - - X", Alarm,
			"only 1 of 3 datapoints in the last 5 periods of 5m0s, 1 of them > 5 [newest first: 10]; missing data is treated as ignore, so the previous state ALARM is kept"},
		{Missing, "0 - X - -", InsufficientData,
			"only 2 of 3 datapoints in the last 5 periods of 5m0s, 1 of them > 5 [newest first: 10, 1]; missing data is treated as missing, and fewer than 2 breach with at least one that does not"},
		{Missing, "- X - - -", InsufficientData,
			"only 1 of 3 datapoints in the last 5 periods of 5m0s, 1 of them > 5 [newest first: 10]; missing data is treated as missing, and the oldest breaching datapoint is 4 periods old (at least 2) with nothing but breaching or missing datapoints after it"},
		{Missing, "- - - - X", InsufficientData,
			"only 1 of 3 datapoints in the last 5 periods of 5m0s, 1 of them > 5 [newest first: 10]; missing data is treated as missing, and the 1 real datapoints all breach but are too few and too recent to decide"},
	}
	for _, tt := range tests {
		rule := tableRule(2, 3, tt.treat)
		got := rule.EvaluateFrom(t0, rowSeries(tt.row, t0, 5*time.Minute), tt.prev)
		if got.Reason != tt.want {
			t.Errorf("%s %q:\n got %s\nwant %s", tt.treat, tt.row, got.Reason, tt.want)
		}
		if !got.Time.Equal(t0) {
			t.Errorf("Time = %v, want %v", got.Time, t0)
		}
	}
}

func TestThresholdValidate(t *testing.T) {
	valid := tableRule(2, 3, Missing)
	if err := valid.Validate(); err != nil {
		t.Fatalf("valid rule: %v", err)
	}
	tests := []struct {
		name  string
		edit  func(*Threshold)
		field string
	}{
		{"M > N", func(r *Threshold) { r.DatapointsToAlarm = 4 }, "Threshold.DatapointsToAlarm"},
		{"negative M", func(r *Threshold) { r.DatapointsToAlarm = -1 }, "Threshold.DatapointsToAlarm"},
		{"N = 0", func(r *Threshold) { r.EvaluationPeriods = 0 }, "Threshold.EvaluationPeriods"},
		{"zero period", func(r *Threshold) { r.Period = 0 }, "Threshold.Period"},
		{"negative period", func(r *Threshold) { r.Period = -1 }, "Threshold.Period"},
		{"NaN threshold", func(r *Threshold) { r.Threshold = math.NaN() }, "Threshold.Threshold"},
		{"infinite threshold", func(r *Threshold) { r.Threshold = math.Inf(-1) }, "Threshold.Threshold"},
		{"unknown comparison", func(r *Threshold) { r.Comparison = "GreaterThanOrEqual" }, "Threshold.Comparison"},
		{"no comparison", func(r *Threshold) { r.Comparison = "" }, "Threshold.Comparison"},
		{"unknown treatment", func(r *Threshold) { r.TreatMissingData = "notbreaching" }, "Threshold.TreatMissingData"},
		{"empty query", func(r *Threshold) { r.Query = "" }, "Threshold.Query"},
		{"unknown statistic", func(r *Threshold) { r.Statistic = "Median" }, "Threshold.Statistic"},
		{"percentile out of range", func(r *Threshold) { r.Statistic = "p100" }, "Threshold.Statistic"},
		{"negative samples", func(r *Threshold) { r.MinSamples = -1 }, "Threshold.MinSamples"},
		{"range below N", func(r *Threshold) { r.EvaluationRange = 2 }, "Threshold.EvaluationRange"},
		{"range overflows", func(r *Threshold) { r.Period = duration.Duration(time.Hour); r.EvaluationRange = 1 << 40 }, "Threshold.EvaluationRange"},
	}
	for _, tt := range tests {
		r := valid
		tt.edit(&r)
		err := r.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Path != tt.field || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v, want a FieldError for %s", tt.name, err, tt.field)
		}
		// An invalid rule never evaluates to OK or ALARM.
		if got := r.Evaluate(t0, rowSeries("X X X X X", t0, 5*time.Minute)); got.State != InsufficientData {
			t.Errorf("%s: invalid rule evaluated to %s", tt.name, got.State)
		}
	}

	// Every problem is reported at once.
	err := Threshold{}.Validate()
	var fields []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		fields = append(fields, e.(*FieldError).Path)
	}
	want := []string{"Threshold.Query", "Threshold.Comparison", "Threshold.Period", "Threshold.EvaluationPeriods"}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("zero rule problems (-want +got):\n%s", diff)
	}
	if msg := err.Error(); !strings.Contains(msg, "alarm: Threshold.Period: must be positive, got 0s") {
		t.Errorf("message %q does not name the field", msg)
	}
}

func TestThresholdJSON(t *testing.T) {
	in := `{
		"query": "sum(rate(errors[1m]))",
		"comparison": ">=",
		"threshold": 0.05,
		"period": "1m",
		"evaluationPeriods": 5,
		"datapointsToAlarm": 3,
		"treatMissingData": "breaching",
		"statistic": "p99",
		"minSamples": 1000
	}`
	var got Threshold
	if err := json.Unmarshal([]byte(in), &got); err != nil {
		t.Fatal(err)
	}
	want := Threshold{
		Query: "sum(rate(errors[1m]))", Comparison: ">=", Threshold: 0.05,
		Evaluation: Evaluation{
			Period: duration.Duration(time.Minute), EvaluationPeriods: 5, DatapointsToAlarm: 3,
			TreatMissingData: Breaching, Statistic: "p99", MinSamples: 1000,
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
	if err := got.Validate(); err != nil {
		t.Error(err)
	}
	out, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var again Threshold
	if err := json.Unmarshal(out, &again); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, again); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if !strings.Contains(string(out), `"period":"1m0s"`) {
		t.Errorf("period not readable in %s", out)
	}
}

func TestWindow(t *testing.T) {
	e := Evaluation{Period: duration.Duration(time.Minute), EvaluationPeriods: 3}
	want := Range{Start: t0.Add(-4 * time.Minute), End: t0, Step: time.Minute}
	if diff := cmp.Diff(want, e.Window(t0)); diff != "" {
		t.Errorf("as reported (-want +got):\n%s", diff)
	}
	e.Statistic = Average
	want.Start = t0.Add(-5 * time.Minute)
	if diff := cmp.Diff(want, e.Window(t0)); diff != "" {
		t.Errorf("aggregated (-want +got):\n%s", diff)
	}
}
