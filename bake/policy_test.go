package bake_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/duration"
)

// errorLines splits a joined validation error into its messages.
func errorLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestPolicyValidate(t *testing.T) {
	h := func(n float64) duration.Duration { return duration.Duration(n * float64(time.Hour)) }
	tests := []struct {
		name   string
		policy bake.Policy
		want   []string
	}{
		{name: "zero value is valid", policy: bake.Policy{}},
		{name: "the acceptance policy is valid", policy: twelveHours()},
		{name: "equal bounds are valid", policy: bake.Policy{MinDuration: h(2), MaxDuration: h(2)}},
		{
			name:   "empty requirement query",
			policy: bake.Policy{Evidence: []bake.Requirement{{Name: "create-requests", Min: 100}}},
			want:   []string{"bake: Evidence[0].Query: empty; a requirement needs a query to count its evidence"},
		},
		{
			name: "negative durations",
			policy: bake.Policy{MinDuration: h(-1), MaxDuration: h(-2), PollInterval: -duration.Duration(time.Second),
				Evidence: []bake.Requirement{{Query: "q", Min: 1, Step: -duration.Duration(time.Minute)}}},
			want: []string{
				"bake: MinDuration: -1h0m0s is negative",
				"bake: MaxDuration: -2h0m0s is negative",
				"bake: PollInterval: -1s is negative",
				"bake: Evidence[0].Step: -1m0s is negative",
			},
		},
		{
			name:   "MinDuration above MaxDuration",
			policy: bake.Policy{MinDuration: h(12), MaxDuration: h(1)},
			want:   []string{"bake: MaxDuration: 1h0m0s is less than MinDuration 12h0m0s"},
		},
		{
			name:   "MaxDuration below the default minimum",
			policy: bake.Policy{MaxDuration: h(0.5)},
			want:   []string{"bake: MaxDuration: 30m0s is less than MinDuration 1h0m0s (the default)"},
		},
		{
			name:   "longer than a year",
			policy: bake.Policy{MinDuration: h(9000), MaxDuration: h(9001)},
			want: []string{
				"bake: MinDuration: 9000h0m0s is longer than a year (8760h0m0s)",
				"bake: MaxDuration: 9001h0m0s is longer than a year (8760h0m0s)",
			},
		},
		{
			name: "everything else at once",
			policy: bake.Policy{
				OnInconclusive:     "shrug",
				OnInsufficientData: "panic",
				MaxReadErrors:      -1,
				Evidence: []bake.Requirement{
					{Name: "a", Query: "q1", Min: 0},
					{Name: "a", Query: "q2", Min: math.NaN(), Count: "median"},
					{Query: "q3", Min: -5},
				},
				Alarms: []string{"sev2", "", "sev2"},
			},
			want: []string{
				"bake: MaxReadErrors: -1 is negative",
				`bake: OnInconclusive: "shrug" is not one of "rollback", "pass" or "pause"`,
				`bake: OnInsufficientData: "panic" is not one of "wait", "fail" or "ignore"`,
				"bake: Evidence[0].Min: 0 must be positive",
				"bake: Evidence[1].Min: NaN is not a finite number",
				`bake: Evidence[1].Count: "median" is not one of "values" or "samples"`,
				`bake: Evidence[1].Name: "a" is already the name of Evidence[0]`,
				"bake: Evidence[2].Min: -5 must be positive",
				"bake: Alarms[1]: empty alarm name",
				`bake: Alarms[2]: "sev2" is already Alarms[0]`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Validate()
			if diff := cmp.Diff(tt.want, errorLines(err)); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
			if err != nil {
				var fe *bake.FieldError
				if !errors.As(err, &fe) || fe.Path == "" || !errors.Is(err, bake.ErrInvalid) {
					t.Errorf("errors.As(%v) = %+v, want a *FieldError", err, fe)
				}
			}
		})
	}
}

func TestPolicyWithDefaults(t *testing.T) {
	p := bake.Policy{
		MinDuration: duration.Duration(12 * time.Hour),
		Evidence:    []bake.Requirement{{Query: "create", Min: 100}},
		Alarms:      []string{"sev2"},
	}
	got := p.WithDefaults()
	want := bake.Policy{
		MinDuration:        duration.Duration(12 * time.Hour),
		MaxDuration:        duration.Duration(24 * time.Hour),
		Evidence:           []bake.Requirement{{Name: "create", Query: "create", Min: 100, Count: bake.CountValues, Step: duration.Duration(time.Minute)}},
		Alarms:             []string{"sev2"},
		OnInconclusive:     bake.RollBack,
		OnInsufficientData: bake.WaitForData,
		PollInterval:       duration.Duration(time.Minute),
		MaxReadErrors:      3,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("WithDefaults (-want +got):\n%s", diff)
	}
	// The copy shares nothing with the original.
	got.Evidence[0].Min = 1
	got.Alarms[0] = "x"
	if p.Evidence[0].Min != 100 || p.Alarms[0] != "sev2" {
		t.Error("WithDefaults shares slices with its receiver")
	}
	// The default maximum is twice the minimum, within a year.
	for _, tt := range []struct{ min, want time.Duration }{
		{3 * time.Hour, 6 * time.Hour},
		{5555 * time.Hour, bake.MaxBake},
		{bake.MaxBake, bake.MaxBake},
	} {
		p := bake.Policy{MinDuration: duration.Duration(tt.min)}.WithDefaults()
		if p.MaxDuration.Std() != tt.want || p.Validate() != nil {
			t.Errorf("MinDuration %v: default MaxDuration %v, want %v (valid: %v)", tt.min, p.MaxDuration, tt.want, p.Validate())
		}
	}
	if diff := cmp.Diff(bake.Policy{}.WithDefaults(), bake.Policy{}.WithDefaults().WithDefaults()); diff != "" {
		t.Errorf("WithDefaults is not idempotent (-want +got):\n%s", diff)
	}
}

func TestPolicyJSON(t *testing.T) {
	const in = `{
		"minDuration": "12h",
		"maxDuration": "1d",
		"evidence": [{"name": "create-requests", "query": "create", "min": 100}]
	}`
	var p bake.Policy
	if err := json.Unmarshal([]byte(in), &p); err == nil {
		t.Fatalf("decoded an invalid duration: %+v", p)
	}
	const good = `{"minDuration":"12h0m0s","maxDuration":"24h0m0s",` +
		`"evidence":[{"name":"create-requests","query":"create","min":100,"count":"samples","step":"30s"}],` +
		`"alarms":["sev2"],"onInconclusive":"pause","pollInterval":"30s","maxReadErrors":1}`
	p = bake.Policy{}
	if err := json.Unmarshal([]byte(good), &p); err != nil {
		t.Fatal(err)
	}
	want := bake.Policy{
		MinDuration:    duration.Duration(12 * time.Hour),
		MaxDuration:    duration.Duration(24 * time.Hour),
		Evidence:       []bake.Requirement{{Name: "create-requests", Query: "create", Min: 100, Count: bake.CountSamples, Step: duration.Duration(30 * time.Second)}},
		Alarms:         []string{"sev2"},
		OnInconclusive: bake.Pause,
		PollInterval:   duration.Duration(30 * time.Second),
		MaxReadErrors:  1,
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(good, string(out)); diff != "" {
		t.Errorf("encoded (-want +got):\n%s", diff)
	}
	// The zero policy encodes as an empty object: defaults are not written.
	if out, _ := json.Marshal(bake.Policy{}); string(out) != "{}" {
		t.Errorf("zero policy encodes as %s", out)
	}
}

// One vocabulary with the rollout driver: "rollback" and "pause". The
// former spellings still decode, so old policy files and saved bakes keep
// their meaning.
func TestConsequenceSpellings(t *testing.T) {
	tests := []struct {
		in   string
		want bake.Consequence
	}{
		{`"rollback"`, bake.RollBack},
		{`"roll-back"`, bake.RollBack},
		{`"pause"`, bake.Pause},
		{`"hold"`, bake.Pause},
		{`"pass"`, bake.Pass},
		{`"shrug"`, "shrug"}, // kept for Validate to report
	}
	for _, tt := range tests {
		var p bake.Policy
		if err := json.Unmarshal([]byte(`{"onInconclusive":`+tt.in+`}`), &p); err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if p.OnInconclusive != tt.want {
			t.Errorf("%s decodes as %q, want %q", tt.in, p.OnInconclusive, tt.want)
		}
	}
	b, err := json.Marshal(bake.Policy{OnInconclusive: bake.Hold})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"onInconclusive":"pause"}`; got != want {
		t.Errorf("Marshal = %s, want %s", got, want)
	}
}
