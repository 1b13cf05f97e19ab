package canary

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shepherd-go/shepherd/duration"
)

// series returns n points around level with deterministic noise.
func series(seed uint64, n int, level, noise float64) []float64 {
	r := rand.New(rand.NewPCG(seed, 99))
	v := make([]float64, n)
	for i := range v {
		v[i] = level + noise*r.NormFloat64()
	}
	return v
}

func classes(r KayentaResult) map[string]Class {
	out := map[string]Class{}
	for _, m := range r.Metrics {
		out[m.Name] = m.Class
	}
	return out
}

func TestKayentaJudge(t *testing.T) {
	nan := math.NaN()
	base := series(1, 60, 100, 5)
	same := series(2, 60, 100, 5)
	high := series(3, 60, 130, 5)
	low := series(4, 60, 70, 5)
	slightlyHigh := series(5, 60, 104, 1)
	flat := series(6, 60, 100, 1)
	tests := []struct {
		name        string
		policy      KayentaPolicy
		data        map[string]Pair
		wantScore   float64
		wantOutcome Outcome
		wantClasses map[string]Class
		wantReason  string
	}{
		{
			name:        "no change passes",
			policy:      KayentaPolicy{Metrics: []KayentaMetric{{Name: "latency"}}},
			data:        map[string]Pair{"latency": {Canary: same, Baseline: base}},
			wantScore:   100,
			wantOutcome: OutcomePass,
			wantClasses: map[string]Class{"latency": ClassPass},
			wantReason:  "score 100 >= pass 95",
		},
		{
			name:        "a clear increase is High and fails",
			policy:      KayentaPolicy{Metrics: []KayentaMetric{{Name: "latency"}, {Name: "errors"}}},
			data:        map[string]Pair{"latency": {Canary: high, Baseline: base}, "errors": {Canary: same, Baseline: base}},
			wantScore:   50,
			wantOutcome: OutcomeFail,
			wantClasses: map[string]Class{"latency": ClassHigh, "errors": ClassPass},
			wantReason:  "score 50 (latency High) < marginal 75",
		},
		{
			name:        "direction increase ignores a decrease",
			policy:      KayentaPolicy{Metrics: []KayentaMetric{{Name: "latency", Direction: Increase}}},
			data:        map[string]Pair{"latency": {Canary: low, Baseline: base}},
			wantScore:   100,
			wantOutcome: OutcomePass,
			wantClasses: map[string]Class{"latency": ClassPass},
			wantReason:  "score 100 >= pass 95",
		},
		{
			name:        "either direction catches a decrease",
			policy:      KayentaPolicy{Metrics: []KayentaMetric{{Name: "throughput"}}},
			data:        map[string]Pair{"throughput": {Canary: low, Baseline: base}},
			wantScore:   0,
			wantOutcome: OutcomeFail,
			wantClasses: map[string]Class{"throughput": ClassLow},
			wantReason:  "score 0 (throughput Low) < marginal 75",
		},
		{
			name: "an effect below the allowed increase passes",
			policy: KayentaPolicy{Metrics: []KayentaMetric{{Name: "latency",
				EffectSize: EffectSize{AllowedIncrease: 1.10}}}},
			data:        map[string]Pair{"latency": {Canary: slightlyHigh, Baseline: flat}},
			wantScore:   100,
			wantOutcome: OutcomePass,
			wantClasses: map[string]Class{"latency": ClassPass},
			wantReason:  "score 100 >= pass 95",
		},
		{
			name: "CLES effect size",
			policy: KayentaPolicy{Metrics: []KayentaMetric{{Name: "latency",
				EffectSize: EffectSize{Measure: CLES, AllowedIncrease: 0.9}}}},
			data:        map[string]Pair{"latency": {Canary: high, Baseline: base}},
			wantScore:   0,
			wantOutcome: OutcomeFail,
			wantClasses: map[string]Class{"latency": ClassHigh},
			wantReason:  "score 0 (latency High) < marginal 75",
		},
		{
			name: "a critical metric forces the score to 0",
			policy: KayentaPolicy{Metrics: []KayentaMetric{
				{Name: "errors", Critical: true, Groups: []string{"errors"}},
				{Name: "a", Groups: []string{"latency"}}, {Name: "b", Groups: []string{"latency"}}}},
			data: map[string]Pair{"errors": {Canary: high, Baseline: base},
				"a": {Canary: same, Baseline: base}, "b": {Canary: same, Baseline: base}},
			wantScore:   0,
			wantOutcome: OutcomeFail,
			wantClasses: map[string]Class{"errors": ClassHigh, "a": ClassPass, "b": ClassPass},
			wantReason:  "critical metric failed (errors High): score forced to 0",
		},
		{
			name: "a critical metric below its critical increase only counts",
			policy: KayentaPolicy{Metrics: []KayentaMetric{
				{Name: "errors", Critical: true, EffectSize: EffectSize{CriticalIncrease: 2}},
				{Name: "a"}, {Name: "b"}, {Name: "c"}}},
			data: map[string]Pair{"errors": {Canary: high, Baseline: base},
				"a": {Canary: same, Baseline: base}, "b": {Canary: same, Baseline: base}, "c": {Canary: same, Baseline: base}},
			wantScore:   75,
			wantOutcome: OutcomeMarginal,
			wantClasses: map[string]Class{"errors": ClassHigh, "a": ClassPass, "b": ClassPass, "c": ClassPass},
			wantReason:  "score 75 (errors High) >= marginal 75, < pass 95",
		},
		{
			name: "weighted groups",
			policy: KayentaPolicy{
				GroupWeights: map[string]float64{"latency": 70, "errors": 30},
				Metrics: []KayentaMetric{
					{Name: "p50", Groups: []string{"latency"}}, {Name: "p99", Groups: []string{"latency"}},
					{Name: "5xx", Groups: []string{"errors"}}}},
			data: map[string]Pair{"p50": {Canary: same, Baseline: base}, "p99": {Canary: same, Baseline: base},
				"5xx": {Canary: high, Baseline: base}},
			wantScore:   70,
			wantOutcome: OutcomeFail,
			wantClasses: map[string]Class{"p50": ClassPass, "p99": ClassPass, "5xx": ClassHigh},
			wantReason:  "score 70 (5xx High) < marginal 75",
		},
		{
			name: "unweighted groups share the rest",
			policy: KayentaPolicy{
				GroupWeights: map[string]float64{"latency": 50},
				Metrics: []KayentaMetric{
					{Name: "p50", Groups: []string{"latency"}}, {Name: "5xx", Groups: []string{"errors"}},
					{Name: "cpu", Groups: []string{"system"}}}},
			data: map[string]Pair{"p50": {Canary: same, Baseline: base}, "5xx": {Canary: same, Baseline: base},
				"cpu": {Canary: high, Baseline: base}},
			wantScore:   75,
			wantOutcome: OutcomeMarginal,
			wantClasses: map[string]Class{"p50": ClassPass, "5xx": ClassPass, "cpu": ClassHigh},
			wantReason:  "score 75 (cpu High) >= marginal 75, < pass 95",
		},
		{
			name:        "a muted metric never counts",
			policy:      KayentaPolicy{Metrics: []KayentaMetric{{Name: "latency"}, {Name: "debug", Muted: true}}},
			data:        map[string]Pair{"latency": {Canary: same, Baseline: base}, "debug": {Canary: high, Baseline: base}},
			wantScore:   100,
			wantOutcome: OutcomePass,
			wantClasses: map[string]Class{"latency": ClassPass, "debug": ClassHigh},
			wantReason:  "score 100 >= pass 95",
		},
		{
			name:        "no data at all",
			policy:      KayentaPolicy{Metrics: []KayentaMetric{{Name: "latency"}}},
			data:        map[string]Pair{"latency": {Canary: []float64{nan, nan}, Baseline: base}},
			wantScore:   0,
			wantOutcome: OutcomeNodata,
			wantClasses: map[string]Class{"latency": ClassNodata},
			wantReason:  "no data for any of the 1 metrics",
		},
		{
			name:        "a missing metric has no data",
			policy:      KayentaPolicy{Metrics: []KayentaMetric{{Name: "latency"}, {Name: "errors"}, {Name: "cpu"}}},
			data:        map[string]Pair{"latency": {Canary: same, Baseline: base}, "cpu": {Canary: same, Baseline: base}},
			wantScore:   100,
			wantOutcome: OutcomePass,
			wantClasses: map[string]Class{"latency": ClassPass, "errors": ClassNodata, "cpu": ClassPass},
			wantReason:  "score 100 >= pass 95",
		},
		{
			name:        "half the metrics without data force 0",
			policy:      KayentaPolicy{Metrics: []KayentaMetric{{Name: "latency"}, {Name: "errors"}}},
			data:        map[string]Pair{"latency": {Canary: same, Baseline: base}},
			wantScore:   0,
			wantOutcome: OutcomeFail,
			wantClasses: map[string]Class{"latency": ClassPass, "errors": ClassNodata},
			wantReason:  "1 of 2 metrics have no data: score forced to 0",
		},
		{
			name: "must have data",
			policy: KayentaPolicy{Metrics: []KayentaMetric{{Name: "latency"}, {Name: "a"}, {Name: "b"},
				{Name: "errors", MustHaveData: true}}},
			data: map[string]Pair{"latency": {Canary: same, Baseline: base}, "a": {Canary: same, Baseline: base},
				"b": {Canary: same, Baseline: base}, "errors": {Canary: base}},
			wantScore:   75,
			wantOutcome: OutcomeMarginal,
			wantClasses: map[string]Class{"latency": ClassPass, "a": ClassPass, "b": ClassPass, "errors": ClassNodataFail},
			wantReason:  "score 75 (errors NodataFail) >= marginal 75, < pass 95",
		},
		{
			name:        "a critical metric without data fails",
			policy:      KayentaPolicy{Metrics: []KayentaMetric{{Name: "latency"}, {Name: "errors", Critical: true}}},
			data:        map[string]Pair{"latency": {Canary: same, Baseline: base}},
			wantScore:   0,
			wantOutcome: OutcomeFail,
			wantClasses: map[string]Class{"latency": ClassPass, "errors": ClassNodata},
			wantReason:  "critical metric failed (errors Nodata): score forced to 0",
		},
		{
			name:        "a must-have-data metric alone fails",
			policy:      KayentaPolicy{Metrics: []KayentaMetric{{Name: "errors", MustHaveData: true}}},
			data:        map[string]Pair{"errors": {Baseline: base}},
			wantScore:   0,
			wantOutcome: OutcomeFail,
			wantClasses: map[string]Class{"errors": ClassNodataFail},
			wantReason:  "score 0 (errors NodataFail) < marginal 75",
		},
		{
			name: "a group without data counts 100",
			policy: KayentaPolicy{Metrics: []KayentaMetric{
				{Name: "p50", Groups: []string{"latency"}}, {Name: "p90", Groups: []string{"latency"}},
				{Name: "p99", Groups: []string{"latency"}}, {Name: "5xx", Groups: []string{"errors"}}}},
			data: map[string]Pair{"p50": {Canary: same, Baseline: base}, "p90": {Canary: same, Baseline: base},
				"p99": {Canary: same, Baseline: base}},
			wantScore:   100,
			wantOutcome: OutcomePass,
			wantClasses: map[string]Class{"p50": ClassPass, "p90": ClassPass, "p99": ClassPass, "5xx": ClassNodata},
			wantReason:  "score 100 (no data in group errors, counted as 100) >= pass 95",
		},
		{
			name:        "an empty metric whose NaNs are replaced passes",
			policy:      KayentaPolicy{Metrics: []KayentaMetric{{Name: "latency"}, {Name: "errors", NaN: ReplaceNaN}}},
			data:        map[string]Pair{"latency": {Canary: same, Baseline: base}},
			wantScore:   100,
			wantOutcome: OutcomePass,
			wantClasses: map[string]Class{"latency": ClassPass, "errors": ClassPass},
			wantReason:  "score 100 >= pass 95",
		},
		{
			name:        "NaN replaced by zero",
			policy:      KayentaPolicy{Metrics: []KayentaMetric{{Name: "errors", NaN: ReplaceNaN}}},
			data:        map[string]Pair{"errors": {Canary: []float64{nan, nan, nan, nan, nan}, Baseline: []float64{5, 6, 7, 5, 6}}},
			wantScore:   0,
			wantOutcome: OutcomeFail,
			wantClasses: map[string]Class{"errors": ClassLow},
			wantReason:  "score 0 (errors Low) < marginal 75",
		},
		{
			name:        "identical data passes",
			policy:      KayentaPolicy{Metrics: []KayentaMetric{{Name: "errors"}}},
			data:        map[string]Pair{"errors": {Canary: []float64{0, 0, 1}, Baseline: []float64{1, 0, 0}}},
			wantScore:   100,
			wantOutcome: OutcomePass,
			wantClasses: map[string]Class{"errors": ClassPass},
			wantReason:  "score 100 >= pass 95",
		},
		{
			// Kayenta's known weakness, kept for parity: sparse errors
			// against a zero baseline pass.
			name:        "sparse errors against a zero baseline pass",
			policy:      KayentaPolicy{Metrics: []KayentaMetric{{Name: "errors"}}},
			data:        map[string]Pair{"errors": {Canary: append(make([]float64, 55), 1, 2, 1, 1, 3), Baseline: make([]float64, 60)}},
			wantScore:   100,
			wantOutcome: OutcomePass,
			wantClasses: map[string]Class{"errors": ClassPass},
			wantReason:  "score 100 >= pass 95",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.policy.Judge(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got.Score-tt.wantScore) > 1e-9 || got.Outcome != tt.wantOutcome {
				t.Errorf("score %v %v, want %v %v", got.Score, got.Outcome, tt.wantScore, tt.wantOutcome)
			}
			if diff := cmp.Diff(tt.wantClasses, classes(got)); diff != "" {
				t.Errorf("classes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantReason, got.Reason); diff != "" {
				t.Errorf("reason (-want +got):\n%s", diff)
			}
			for _, m := range got.Metrics {
				if m.Reason == "" {
					t.Errorf("%s: no reason", m.Name)
				}
			}
		})
	}
}

func TestKayentaOutlierRemoval(t *testing.T) {
	base := series(7, 60, 100, 2)
	canary := series(8, 60, 100, 2)
	canary[3], canary[40] = 900, 1200
	m := KayentaMetric{Name: "latency", RemoveOutliers: true}
	if got := m.clean(canary); len(got) != 58 {
		t.Errorf("kept %d points, want 58", len(got))
	}
	// A mostly-zero series has IQR 0: nothing is removed.
	sparse := append(make([]float64, 57), 1, 4, 2)
	if got := m.clean(sparse); len(got) != 60 {
		t.Errorf("sparse: kept %d points, want 60", len(got))
	}
	r, err := KayentaPolicy{Metrics: []KayentaMetric{m}}.Judge(map[string]Pair{"latency": {Canary: canary, Baseline: base}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Metrics[0].Removed != 2 || r.Metrics[0].Canary != 58 {
		t.Errorf("removed %d, canary %d", r.Metrics[0].Removed, r.Metrics[0].Canary)
	}
}

func TestLegacyPercentile(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct{ p, want float64 }{{25, 2.75}, {50, 5.5}, {75, 8.25}, {5, 1}, {99, 10}} {
		if got := legacyPercentile(v, c.p); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
}

func TestKayentaJudgeBadInput(t *testing.T) {
	p := KayentaPolicy{Metrics: []KayentaMetric{{Name: "latency"}}}
	_, err := p.Judge(map[string]Pair{"latncy": {Canary: []float64{1}, Baseline: []float64{2}},
		"latency": {Canary: []float64{1, math.Inf(1)}, Baseline: []float64{2}}})
	if !errors.Is(err, ErrUnknownMetric) || !errors.Is(err, ErrNonFinite) {
		t.Fatalf("error %v, want both ErrUnknownMetric and ErrNonFinite", err)
	}
	want := "canary: kayenta judge: metric \"latency\": canary point 1 is +Inf: canary: value is NaN or infinite\n" +
		"canary: kayenta judge: metric \"latncy\": canary: data for a metric the policy does not have"
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := (KayentaPolicy{}).Judge(nil); err == nil {
		t.Error("empty policy judged")
	}
}

func TestKayentaPolicyValidate(t *testing.T) {
	p := KayentaPolicy{
		Confidence: 1.5, Tolerance: -1, PassScore: 120, MarginalScore: -3,
		GroupWeights: map[string]float64{"latency": 80, "errors": 40, "ghost": 5, "bad": math.NaN()},
		Lifetime:     duration.Duration(time.Hour), Interval: duration.Duration(2 * time.Hour),
		Metrics: []KayentaMetric{
			{Name: "p50", Groups: []string{"latency"}},
			{Name: "p50", Groups: []string{"errors", ""}, Direction: 7, NaN: 3, OutlierFactor: -2},
			{Name: "", EffectSize: EffectSize{Measure: CLES, AllowedIncrease: 1.5}},
			{Name: "x", Groups: []string{"bad"}, EffectSize: EffectSize{AllowedDecrease: math.Inf(1), Measure: 4}},
		},
	}
	err := p.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		"canary: Confidence: 1.5 is outside (0, 1)",
		"canary: Tolerance: -1 is not a finite non-negative number",
		"canary: PassScore: 120 is outside [0, 100]",
		"canary: MarginalScore: -3 is outside [0, 100]",
		"canary: Interval: 2h0m0s is longer than the Lifetime 1h0m0s",
		"canary: Metrics[1].Name: \"p50\" is also the name of Metrics[0]",
		"canary: Metrics[1].Groups[1]: empty group name",
		"canary: Metrics[1].Direction: unknown value 7",
		"canary: Metrics[1].NaN: unknown value 3",
		"canary: Metrics[1].OutlierFactor: -2 is not a finite non-negative number",
		"canary: Metrics[2].Name: empty",
		"canary: Metrics[2].EffectSize.AllowedIncrease: 1.5 is outside [0, 1] (a CLES is a probability)",
		"canary: Metrics[3].EffectSize.Measure: unknown value 4",
		"canary: Metrics[3].EffectSize.AllowedDecrease: +Inf is not a finite non-negative number",
		"canary: GroupWeights[\"bad\"]: NaN is not a finite non-negative number",
		"canary: GroupWeights[\"ghost\"]: no unmuted metric is in group \"ghost\"",
		"canary: GroupWeights: weights sum to 125; they are shares of 100",
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		name string
		p    KayentaPolicy
		want string
	}{
		{"all muted", KayentaPolicy{Metrics: []KayentaMetric{{Name: "a", Muted: true}}},
			"canary: Metrics: every metric is muted; nothing would count in the score"},
		{"weights short of 100", KayentaPolicy{GroupWeights: map[string]float64{"default": 60}, Metrics: []KayentaMetric{{Name: "a"}}},
			"canary: GroupWeights: every group has a weight and they sum to 60, not 100"},
		{"nothing left", KayentaPolicy{GroupWeights: map[string]float64{"a": 100}, Metrics: []KayentaMetric{{Name: "a", Groups: []string{"a"}}, {Name: "b"}}},
			"canary: GroupWeights: weights already sum to 100, leaving nothing for 1 unweighted group(s)"},
		{"no metrics", KayentaPolicy{}, "canary: Metrics: no metrics"},
		{"marginal above pass", KayentaPolicy{PassScore: 60, Metrics: []KayentaMetric{{Name: "a"}}},
			"canary: MarginalScore: 75 is above the pass score 60"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if err == nil || err.Error() != tt.want {
				t.Errorf("got %v, want %s", err, tt.want)
			}
		})
	}
}

func TestKayentaPolicyJSON(t *testing.T) {
	in := `{"confidence":0.98,"groupWeights":{"latency":60,"errors":40},"lifetime":"1h","interval":"20m",
	 "metrics":[{"name":"p99","groups":["latency"],"direction":"increase","nanStrategy":"replace","removeOutliers":true,
	 "effectSize":{"measure":"cles","allowedIncrease":0.7}},{"name":"5xx","groups":["errors"],"critical":true}]}`
	var p KayentaPolicy
	if err := json.Unmarshal([]byte(in), &p); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	want := KayentaPolicy{
		Confidence: 0.98, GroupWeights: map[string]float64{"latency": 60, "errors": 40},
		Lifetime: duration.Duration(time.Hour), Interval: duration.Duration(20 * time.Minute),
		Metrics: []KayentaMetric{
			{Name: "p99", Groups: []string{"latency"}, Direction: Increase, NaN: ReplaceNaN, RemoveOutliers: true,
				EffectSize: EffectSize{Measure: CLES, AllowedIncrease: 0.7}},
			{Name: "5xx", Groups: []string{"errors"}, Critical: true}},
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if p.Windows() != 3 {
		t.Errorf("windows %d, want 3", p.Windows())
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back KayentaPolicy
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if err := json.Unmarshal([]byte(`{"metrics":[{"name":"a","direction":"sideways"}]}`), &p); err == nil {
		t.Error("unknown direction accepted")
	}
}

func TestKayentaDecide(t *testing.T) {
	p := KayentaPolicy{}
	r := func(scores ...float64) []KayentaResult {
		out := make([]KayentaResult, len(scores))
		for i, s := range scores {
			out[i] = KayentaResult{Score: s, Reason: fmt.Sprintf("score %v", s)}
		}
		return out
	}
	tests := []struct {
		name   string
		scores []KayentaResult
		n      int
		want   Decision
		reason string
	}{
		{"still running", r(100), 3, Continue, "1 of 3 intervals judged"},
		{"marginal middle continues", r(80, 90), 3, Continue, "2 of 3 intervals judged"},
		{"middle at marginal fails at once", r(100, 75), 3, Fail, "interval 2 of 3 scored 75, at or below marginal 75: score 75"},
		{"last reaches pass", r(80, 90, 95), 3, Pass, "final interval 3 scored 95, at or above pass 95"},
		{"last marginal fails", r(100, 100, 94), 3, Fail, "final interval 3 scored 94, below pass 95: score 94"},
		{"single interval", r(96), 1, Pass, "final interval 1 scored 96, at or above pass 95"},
		{"no plan", nil, 0, Continue, "no interval plan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := p.Decide(tt.scores, tt.n)
			if got != tt.want || reason != tt.reason {
				t.Errorf("got %v %q, want %v %q", got, reason, tt.want, tt.reason)
			}
		})
	}
}

func ExampleKayentaPolicy_Judge() {
	p := KayentaPolicy{
		Metrics: []KayentaMetric{
			{Name: "latency_ms", Direction: Increase},
			{Name: "errors", Direction: Increase, NaN: ReplaceNaN},
		},
	}
	baseline := []float64{101, 98, 103, 99, 100, 102, 97, 100, 101, 99}
	canary := []float64{121, 118, 124, 119, 122, 120, 117, 123, 121, 119}
	r, err := p.Judge(map[string]Pair{
		"latency_ms": {Canary: canary, Baseline: baseline},
		"errors":     {Canary: []float64{0, 1, 0, 0, 1, 0, 0, 0, 0, 0}, Baseline: []float64{0, 0, 1, 0, 0, 1, 0, 0, 0, 0}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range r.Metrics {
		fmt.Printf("%s: %s\n", m.Name, m.Class)
	}
	fmt.Printf("%s, %s\n", r.Outcome, r.Reason)
	// Output:
	// latency_ms: High
	// errors: Pass
	// Fail, score 50 (latency_ms High) < marginal 75
}

// TestKayentaScoringTable checks the scorer against Kayenta's
// WeightedSumScorer on the committed cases in testdata/kayenta/scoring.json
// (expected scores and outcomes worked out from Kayenta's code; see the
// file's "source").
func TestKayentaScoringTable(t *testing.T) {
	b, err := os.ReadFile("testdata/kayenta/scoring.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []struct {
			Name          string             `json:"name"`
			GroupWeights  map[string]float64 `json:"groupWeights"`
			PassScore     float64            `json:"passScore"`
			MarginalScore float64            `json:"marginalScore"`
			Metrics       []struct {
				Name     string   `json:"name"`
				Groups   []string `json:"groups"`
				Class    Class    `json:"class"`
				Critical bool     `json:"critical"`
				Muted    bool     `json:"muted"`
			} `json:"metrics"`
			Score   float64  `json:"score"`
			Outcome Outcome  `json:"outcome"`
			Ours    *Outcome `json:"ours"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Cases) < 10 {
		t.Fatalf("%d cases", len(file.Cases))
	}
	for _, c := range file.Cases {
		t.Run(c.Name, func(t *testing.T) {
			p := KayentaPolicy{GroupWeights: c.GroupWeights, PassScore: c.PassScore, MarginalScore: c.MarginalScore}
			var res KayentaResult
			for _, m := range c.Metrics {
				p.Metrics = append(p.Metrics, KayentaMetric{Name: m.Name, Groups: m.Groups, Muted: m.Muted})
				res.Metrics = append(res.Metrics, KayentaMetricResult{Name: m.Name, Class: m.Class,
					Groups: KayentaMetric{Groups: m.Groups}.groups(), Critical: m.Critical, Muted: m.Muted})
			}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			p.score(&res)
			// "ours" is set only where this judge deliberately differs:
			// Nodata (score 0) where Kayenta says Fail (score 0).
			want := c.Outcome
			if c.Ours != nil {
				want = *c.Ours
			}
			if res.Score != c.Score || res.Outcome != want {
				t.Errorf("score %v %v, want %v %v (%s)", res.Score, res.Outcome, c.Score, want, res.Reason)
			}
		})
	}
}

func TestRoundHalfUp(t *testing.T) {
	for _, c := range []struct{ v, want float64 }{
		{33.335, 33.34}, {88.88888888888889, 88.89}, {100, 100}, {0, 0}, {62.5, 62.5}, {1.005, 1.01}, {74.994999, 74.99},
	} {
		if got := roundHalfUp(c.v, 2); got != c.want {
			t.Errorf("roundHalfUp(%v) = %v, want %v", c.v, got, c.want)
		}
	}
}
