package alarm

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shepherd-go/shepherd/duration"
)

func minuteRule(query string, threshold float64) *Threshold {
	return &Threshold{Query: query, Comparison: GreaterThan, Threshold: threshold,
		Evaluation: Evaluation{Period: duration.Duration(time.Minute), EvaluationPeriods: 3, DatapointsToAlarm: 2}}
}

func TestNewSetRejects(t *testing.T) {
	src := new(Memory)
	tests := []struct {
		name     string
		rules    []Rule
		sentinel error
		want     []string // substrings, one per expected problem
	}{
		{"unknown alarm", []Rule{
			{Name: "a", Threshold: minuteRule("q", 1)},
			{Name: "agg", Composite: &Composite{Expression: "ALARM(a) OR ALARM(b)"}},
		}, ErrUnknownAlarm, []string{`alarm: rules["agg"].Composite.Expression: unknown alarm "b"`}},
		{"self cycle", []Rule{
			{Name: "x", Composite: &Composite{Expression: "ALARM(x)"}},
		}, ErrCycle, []string{`rules["x"].Composite.Expression: cycle: x -> x`}},
		{"longer cycle", []Rule{
			{Name: "leaf", Threshold: minuteRule("q", 1)},
			{Name: "a", Composite: &Composite{Expression: "ALARM(b) OR ALARM(leaf)"}},
			{Name: "b", Composite: &Composite{Expression: `OK("c d")`}},
			{Name: "c d", Composite: &Composite{Expression: "NOT ALARM(a)"}},
		}, ErrCycle, []string{`cycle: a -> b -> "c d" -> a`}},
		{"duplicate", []Rule{
			{Name: "a", Threshold: minuteRule("q", 1)},
			{Name: "a", Threshold: minuteRule("r", 1)},
		}, ErrInvalid, []string{`rules["a"].Name: duplicate name`}},
		{"every problem at once", []Rule{
			{Name: "a", Threshold: &Threshold{Query: "", Comparison: "!=", Evaluation: Evaluation{EvaluationPeriods: 2, DatapointsToAlarm: 3}}},
			{Threshold: minuteRule("q", 1)},
			{Name: "two", Threshold: minuteRule("q", 1), Composite: &Composite{Expression: "TRUE"}},
			{Name: "none"},
			{Name: "bad", Composite: &Composite{Expression: "ALARM(a) OR"}},
		}, ErrInvalid, []string{
			`rules["a"].Threshold.Query: must not be empty`,
			`rules["a"].Threshold.Comparison: unknown comparison "!="`,
			`rules["a"].Threshold.Period: must be positive`,
			`rules["a"].Threshold.DatapointsToAlarm: 3 is outside [1, EvaluationPeriods=2]`,
			`alarm: rules[1].Name: must not be empty`,
			`rules["two"].Threshold: exactly one of Threshold, Relative and Composite must be set, got 2`,
			`rules["none"].Threshold: exactly one of Threshold, Relative and Composite must be set, got 0`,
			`rules["bad"].Composite.Expression: syntax error at position 12: expression ends`,
		}},
	}
	for _, tt := range tests {
		set, err := NewSet(src, tt.rules...)
		if set != nil || !errors.Is(err, tt.sentinel) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.sentinel)
			continue
		}
		lines := strings.Split(err.Error(), "\n")
		if len(lines) != len(tt.want) {
			t.Errorf("%s: got %d problems, want %d:\n%v", tt.name, len(lines), len(tt.want), err)
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q not reported in:\n%v", tt.name, w, err)
			}
		}
	}
	if _, err := NewSet(nil, Rule{Name: "a", Threshold: minuteRule("q", 1)}); err == nil {
		t.Error("a threshold rule without a source was accepted")
	}
	if _, err := NewSet(nil, Rule{Name: "a", Composite: &Composite{Expression: "TRUE"}}); err != nil {
		t.Errorf("a composite-only set needs no source: %v", err)
	}
}

func TestSetCheck(t *testing.T) {
	ctx := context.Background()
	src := new(Memory)
	for i := range 5 {
		at := t0.Add(-time.Duration(4-i) * time.Minute)
		src.Record("errors", at, 0.2, 100)  // breaching 0.1
		src.Record("latency", at, 0.1, 100) // within 0.5
		src.Record("box", at, 0.3, 10)
		src.Record("fleet", at, 0.1, 1000)
	}
	set, err := NewSet(src,
		Rule{Name: "errors", Threshold: minuteRule("errors", 0.1)},
		Rule{Name: "latency", Threshold: minuteRule("latency", 0.5)},
		Rule{Name: "one box", Relative: &Relative{Query: "box", Baseline: "fleet", Ratio: 2, Difference: 0.1,
			Evaluation: Evaluation{Period: duration.Duration(time.Minute), EvaluationPeriods: 3}}},
		Rule{Name: "rollback", Composite: &Composite{Expression: `ALARM(errors) OR ALARM(latency) OR ALARM("one box")`}},
		Rule{Name: "healthy", Composite: &Composite{Expression: "OK(errors) AND OK(latency)"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"errors", "latency", "one box", "rollback", "healthy"}, set.Names()); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	want := map[string]State{"errors": Alarm, "latency": OK, "one box": Alarm, "rollback": Alarm, "healthy": OK}
	for _, o := range set.CheckAll(ctx, t0) {
		if o.Err != nil {
			t.Errorf("%s: %v", o.Result.Name, o.Err)
		}
		if o.Result.State != want[o.Result.Name] || !o.Result.Time.Equal(t0) {
			t.Errorf("%s: got %s at %v, want %s (%s)", o.Result.Name, o.Result.State, o.Result.Time, want[o.Result.Name], o.Result.Reason)
		}
	}
	// A single check of a composite evaluates what it depends on.
	got, err := set.Check(ctx, "rollback", t0)
	if err != nil || got.State != Alarm || got.Name != "rollback" {
		t.Errorf("Check(rollback) = %v, %v", got, err)
	}
	if !strings.Contains(got.Reason, `errors is ALARM, latency is OK, "one box" is ALARM`) {
		t.Errorf("reason %q does not name the states", got.Reason)
	}
	// Through the Checker interface.
	var c Checker = set.Checker("latency")
	if got, err := c.Check(ctx, t0); err != nil || got.State != OK {
		t.Errorf("Checker: %v, %v", got, err)
	}
	if set.Checker("nope") != nil {
		t.Error("Checker of an unknown alarm is not nil")
	}
	if _, err := set.Check(ctx, "nope", t0); !errors.Is(err, ErrUnknownAlarm) {
		t.Errorf("Check(nope) = %v", err)
	}
	if r, ok := set.Rule("errors"); !ok || r.Threshold.Query != "errors" {
		t.Errorf("Rule(errors) = %v, %v", r, ok)
	}
}

func TestSetSourceError(t *testing.T) {
	ctx := context.Background()
	src := new(Memory)
	src.Record("errors", t0, 0, 1)
	boom := errors.New("boom")
	src.SetError("latency", boom)
	set, err := NewSet(src,
		Rule{Name: "errors", Threshold: minuteRule("errors", 0.1)},
		Rule{Name: "latency", Threshold: minuteRule("latency", 0.5)},
		Rule{Name: "agg", Composite: &Composite{Expression: "ALARM(errors) OR ALARM(latency)"}},
		Rule{Name: "box", Relative: &Relative{Query: "errors", Baseline: "latency",
			Evaluation: Evaluation{Period: duration.Duration(time.Minute), EvaluationPeriods: 1}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	out := set.CheckAll(ctx, t0)
	if out[0].Err != nil {
		t.Errorf("errors: %v", out[0].Err)
	}
	for _, o := range out[1:] {
		if !errors.Is(o.Err, boom) {
			t.Errorf("%s: err = %v, want the source error", o.Result.Name, o.Err)
		}
		if o.Result.Name == "" || o.Result.State == OK {
			t.Errorf("%s: result %v with an error", o.Result.Name, o.Result)
		}
	}
	if _, err := set.Check(ctx, "agg", t0); !errors.Is(err, boom) || !strings.Contains(err.Error(), `"agg" depends on "latency"`) {
		t.Errorf("Check(agg) = %v", err)
	}
	// A canceled context is an error too, never a result.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := set.Check(cctx, "errors", t0); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}

func TestSetIgnoreKeepsState(t *testing.T) {
	ctx := context.Background()
	src := new(Memory)
	rule := minuteRule("q", 0.1)
	rule.TreatMissingData = Ignore
	set, err := NewSet(src, Rule{Name: "a", Threshold: rule})
	if err != nil {
		t.Fatal(err)
	}
	check := func(now time.Time) State {
		t.Helper()
		r, err := set.Check(ctx, "a", now)
		if err != nil {
			t.Fatal(err)
		}
		return r.State
	}
	if got := check(t0); got != InsufficientData {
		t.Errorf("no data, no history: %s", got)
	}
	for i := range 3 {
		src.Record("q", t0.Add(time.Duration(i)*time.Minute), 0.5, 1)
	}
	if got := check(t0.Add(2 * time.Minute)); got != Alarm {
		t.Errorf("three breaching: %s", got)
	}
	// Ten minutes later the data has stopped: ignore keeps ALARM.
	if got := check(t0.Add(20 * time.Minute)); got != Alarm {
		t.Errorf("no data after ALARM: %s", got)
	}
}

func TestRuleJSON(t *testing.T) {
	in := `[
	  {"name": "errors", "threshold": {"query": "e", "comparison": ">", "threshold": 0.01,
	    "period": "1m", "evaluationPeriods": 5, "datapointsToAlarm": 3, "treatMissingData": "breaching"}},
	  {"name": "one box", "relative": {"query": "box", "baseline": "fleet", "ratio": 2, "difference": 0.01,
	    "period": "30s", "evaluationPeriods": 3}},
	  {"name": "rollback", "composite": {"expression": "ALARM(errors) OR ALARM(\"one box\")"}}
	]`
	var rules []Rule
	if err := json.Unmarshal([]byte(in), &rules); err != nil {
		t.Fatal(err)
	}
	if _, err := NewSet(new(Memory), rules...); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(rules)
	if err != nil {
		t.Fatal(err)
	}
	var again []Rule
	if err := json.Unmarshal(out, &again); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rules, again); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

// FuzzRuleJSON decodes arbitrary JSON as a rule: validation never panics,
// and a rule that validates evaluates without panicking and without OK or
// ALARM when it has no data.
func FuzzRuleJSON(f *testing.F) {
	for _, s := range []string{
		`{"name":"a","threshold":{"query":"q","comparison":">","threshold":1,"period":"1m","evaluationPeriods":3}}`,
		`{"name":"a","threshold":{"query":"q","comparison":"<=","threshold":-1e300,"period":"10s","evaluationPeriods":5,"datapointsToAlarm":2,"treatMissingData":"ignore","statistic":"p99.9","minSamples":10,"evaluationRange":9}}`,
		`{"name":"b","relative":{"query":"s","baseline":"b","direction":"lowerIsWorse","ratio":1.5,"difference":3,"period":"1h","evaluationPeriods":1,"statistic":"Sum"}}`,
		`{"name":"c","composite":{"expression":"ALARM(a) OR NOT OK(b)"}}`,
		`{"name":"d","threshold":{"query":"q","comparison":"GreaterThan","threshold":1,"period":-5,"evaluationPeriods":0,"datapointsToAlarm":9}}`,
		`{"name":"e","threshold":{"query":"q","comparison":">","threshold":1,"period":"2562047h","evaluationPeriods":1000000}}`,
		`{}`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Rule
		if json.Unmarshal(data, &r) != nil {
			return
		}
		if err := r.Validate(); err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("validation error %v is not a FieldError", err)
			}
			return
		}
		now := t0
		switch {
		case r.Threshold != nil:
			if got := r.Threshold.Evaluate(now, Series{}); got.State == OK && r.Threshold.TreatMissingData != NotBreaching ||
				got.State == Alarm && r.Threshold.TreatMissingData != Breaching {
				t.Fatalf("no data gave %s under %q", got.State, r.Threshold.TreatMissingData)
			}
			s := Series{Points: []Point{{Time: now.Add(-time.Second), Value: 1, Samples: 1}, {Time: now, Value: 2}}}
			r.Threshold.Evaluate(now, s)
			r.Threshold.Window(now)
		case r.Relative != nil:
			r.Relative.Evaluate(now, Series{}, Series{})
			r.Relative.Window(now)
		case r.Composite != nil:
			r.Composite.Evaluate(now, nil)
		}
	})
}
