package alarm

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/duration"
)

func oneBox() Relative {
	return Relative{
		Query:      "errors{host=\"box-17\"}",
		Baseline:   "errors{host!=\"box-17\"}",
		Ratio:      2,
		Difference: 0.02,
		Evaluation: Evaluation{
			Period:            duration.Duration(time.Minute),
			EvaluationPeriods: 3,
			DatapointsToAlarm: 2,
		},
	}
}

// pairSeries builds two series of one-minute datapoints ending at t0, oldest
// first; NaN means no datapoint.
func pairSeries(scoped, baseline []float64) (Series, Series) {
	build := func(vals []float64) Series {
		var s Series
		for i, v := range vals {
			if math.IsNaN(v) {
				continue
			}
			s.Points = append(s.Points, Point{Time: t0.Add(-time.Duration(len(vals)-1-i) * time.Minute), Value: v})
		}
		return s
	}
	return build(scoped), build(baseline)
}

func TestRelative(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name             string
		edit             func(*Relative)
		scoped, baseline []float64
		want             State
	}{
		{"one bad box", nil,
			[]float64{0.01, 0.01, 0.06, 0.05, 0.07}, []float64{0.01, 0.01, 0.01, 0.01, 0.01}, Alarm},
		{"healthy box", nil,
			[]float64{0.01, 0.01, 0.012, 0.009, 0.011}, []float64{0.01, 0.01, 0.01, 0.01, 0.01}, OK},
		{"ratio without difference: tiny numbers", nil,
			[]float64{0, 0, 0.0003, 0.0003, 0.0003}, []float64{0, 0, 0.0001, 0.0001, 0.0001}, OK},
		{"difference without ratio: large numbers", func(r *Relative) { r.Difference = 5 },
			[]float64{0, 0, 110, 110, 110}, []float64{0, 0, 100, 100, 100}, OK},
		{"both bounds are strict", func(r *Relative) { r.Ratio, r.Difference = 2, 0.01 },
			[]float64{0, 0, 0.02, 0.02, 0.02}, []float64{0, 0, 0.01, 0.01, 0.01}, OK},
		{"zero baseline", nil,
			[]float64{0, 0, 0.05, 0.05, 0}, []float64{0, 0, 0, 0, 0}, Alarm},
		{"M of N", nil,
			[]float64{0, 0, 0.05, 0.01, 0.05}, []float64{0, 0, 0.01, 0.01, 0.01}, Alarm},
		{"lower is worse", func(r *Relative) { r.Direction = LowerIsWorse; r.Difference = 10 },
			[]float64{100, 100, 40, 45, 100}, []float64{100, 100, 100, 100, 100}, Alarm},
		{"lower is worse, higher box is fine", func(r *Relative) { r.Direction = LowerIsWorse; r.Difference = 10 },
			[]float64{100, 100, 400, 450, 100}, []float64{100, 100, 100, 100, 100}, OK},
		{"periods missing on either side are missing", nil,
			[]float64{nan, nan, 0.05, nan, 0.05}, []float64{nan, nan, nan, 0.01, nan}, InsufficientData},
		{"breaching fills the gaps", func(r *Relative) { r.TreatMissingData = Breaching },
			[]float64{nan, nan, 0.05, nan, 0.05}, []float64{nan, nan, nan, 0.01, nan}, Alarm},
		{"the N most recent common periods decide", nil,
			[]float64{0.05, 0.05, 0.01, nan, 0.01}, []float64{0.01, 0.01, 0.01, 0.01, nan}, Alarm},
	}
	for _, tt := range tests {
		r := oneBox()
		if tt.edit != nil {
			tt.edit(&r)
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		s, b := pairSeries(tt.scoped, tt.baseline)
		got := r.Evaluate(t0, s, b)
		if got.State != tt.want {
			t.Errorf("%s: got %s, want %s (%s)", tt.name, got.State, tt.want, got.Reason)
		}
	}
}

func TestRelativeReason(t *testing.T) {
	r := oneBox()
	s, b := pairSeries([]float64{0.01, 0.01, 0.06, 0.05, 0.07}, []float64{0.01, 0.01, 0.01, 0.02, 0.01})
	got := r.Evaluate(t0, s, b)
	want := "3 of the last 3 datapoints (1m0s periods) scoped above baseline by more than 2x and more than 0.02, " +
		"2 needed for ALARM [newest first: 0.07 vs 0.01, 0.05 vs 0.02, 0.06 vs 0.01]; latest scoped 0.07 vs baseline 0.01"
	if got.Reason != want {
		t.Errorf("reason:\n got %s\nwant %s", got.Reason, want)
	}
}

func TestRelativeValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Relative)
		field string
	}{
		{"empty query", func(r *Relative) { r.Query = "" }, "Relative.Query"},
		{"empty baseline", func(r *Relative) { r.Baseline = "" }, "Relative.Baseline"},
		{"same series", func(r *Relative) { r.Baseline = r.Query }, "Relative.Baseline"},
		{"ratio below 1", func(r *Relative) { r.Ratio = 0.5 }, "Relative.Ratio"},
		{"NaN ratio", func(r *Relative) { r.Ratio = math.NaN() }, "Relative.Ratio"},
		{"negative difference", func(r *Relative) { r.Difference = -1 }, "Relative.Difference"},
		{"infinite difference", func(r *Relative) { r.Difference = math.Inf(1) }, "Relative.Difference"},
		{"unknown direction", func(r *Relative) { r.Direction = "up" }, "Relative.Direction"},
		{"M > N", func(r *Relative) { r.DatapointsToAlarm = 5 }, "Relative.DatapointsToAlarm"},
		{"unknown treatment", func(r *Relative) { r.TreatMissingData = "zero" }, "Relative.TreatMissingData"},
	}
	s, b := pairSeries([]float64{1, 1, 1}, []float64{0, 0, 0})
	for _, tt := range tests {
		r := oneBox()
		tt.edit(&r)
		var fe *FieldError
		if err := r.Validate(); !errors.As(err, &fe) || fe.Path != tt.field {
			t.Errorf("%s: got %v, want a FieldError for %s", tt.name, err, tt.field)
		}
		if got := r.Evaluate(t0, s, b); got.State != InsufficientData || !strings.HasPrefix(got.Reason, "rule is invalid") {
			t.Errorf("%s: invalid rule evaluated to %s (%s)", tt.name, got.State, got.Reason)
		}
	}
}
