package bake_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/field"
	"github.com/shepherd-go/shepherd/wave"
)

func TestScheduleDefaults(t *testing.T) {
	var s bake.Schedule
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		wave   int
		oneBox bool
		want   time.Duration
	}{
		{0, true, wave.DefaultOneBoxBake},
		{0, false, wave.DefaultFirstWaveBake},
		{1, true, wave.DefaultOneBoxBake},
		{1, false, wave.DefaultLaterWaveBake},
		{3, false, wave.DefaultLaterWaveBake}, // the last wave is a later wave
		{-1, false, wave.DefaultFirstWaveBake},
	}
	for _, tt := range tests {
		got := s.For(tt.wave, tt.oneBox)
		if got.MinDuration.Std() != tt.want {
			t.Errorf("For(%d, %t).MinDuration = %v, want %v", tt.wave, tt.oneBox, got.MinDuration, tt.want)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("For(%d, %t) is invalid: %v", tt.wave, tt.oneBox, err)
		}
	}
	if got := s.ForFinal(); got.MinDuration.Std() != wave.DefaultFinalBake {
		t.Errorf("ForFinal().MinDuration = %v, want %v", got.MinDuration, wave.DefaultFinalBake)
	}
	// The bake defaults are the planner's: one copy of the published
	// numbers.
	if bake.DefaultMinDuration != wave.DefaultOneBoxBake {
		t.Errorf("DefaultMinDuration = %v, want the planner's one-box bake %v", bake.DefaultMinDuration, wave.DefaultOneBoxBake)
	}
}

func TestScheduleLayers(t *testing.T) {
	d := func(h time.Duration) duration.Duration { return duration.Duration(h) }
	create := []bake.Requirement{{Name: "create-requests", Query: "create", Min: 100}}
	var s bake.Schedule
	in := `{
		"base": {"alarms": ["sev2"], "evidence": [{"name": "create-requests", "query": "create", "min": 100}]},
		"oneBox": {"minDuration": "90m", "alarms": ["sev2", "one-box"]},
		"final": {"minDuration": "24h", "maxDuration": "48h"},
		"waves": {"2": {"minDuration": "4h", "evidence": [], "onInconclusive": "pass"}}
	}`
	if err := json.Unmarshal([]byte(in), &s); err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		wave   int
		oneBox bool
		want   bake.Policy
	}{
		{"one-box keeps its own alarms", 2, true,
			bake.Policy{MinDuration: d(90 * time.Minute), Evidence: create, Alarms: []string{"sev2", "one-box"}}},
		{"first wave inherits the base", 0, false,
			bake.Policy{MinDuration: d(12 * time.Hour), Evidence: create, Alarms: []string{"sev2"}}},
		{"a later wave", 1, false,
			bake.Policy{MinDuration: d(2 * time.Hour), Evidence: create, Alarms: []string{"sev2"}}},
		{"wave 2 overridden, evidence cleared", 2, false,
			bake.Policy{MinDuration: d(4 * time.Hour), Evidence: []bake.Requirement{}, Alarms: []string{"sev2"}, OnInconclusive: bake.Pass}},
		{"the last wave is a later wave", 4, false,
			bake.Policy{MinDuration: d(2 * time.Hour), Evidence: create, Alarms: []string{"sev2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, s.For(tt.wave, tt.oneBox)); diff != "" {
				t.Errorf("For (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("the final bake", func(t *testing.T) {
		want := bake.Policy{MinDuration: d(24 * time.Hour), MaxDuration: d(48 * time.Hour), Evidence: create, Alarms: []string{"sev2"}}
		if diff := cmp.Diff(want, s.ForFinal()); diff != "" {
			t.Errorf("ForFinal (-want +got):\n%s", diff)
		}
	})
}

func TestScheduleValidate(t *testing.T) {
	s := bake.Schedule{
		Base:      bake.Policy{MaxDuration: duration.Duration(3 * time.Hour)},
		FirstWave: bake.Policy{Evidence: []bake.Requirement{{Min: 100}}},
		Final:     bake.Policy{MinDuration: -duration.Duration(time.Hour)},
		Waves: map[int]bake.Policy{
			-1: {},
			3:  {MinDuration: duration.Duration(5 * time.Hour)},
		},
	}
	fields := []string{
		"bake: FirstWave.Evidence[0].Query: empty; a requirement needs a query to count its evidence",
		"bake: Final.MinDuration: -1h0m0s is negative",
		"bake: Waves[-1]: wave index -1 is negative",
	}
	want := append(fields,
		"bake: FirstWave.MaxDuration: 3h0m0s is less than MinDuration 12h0m0s (in effect)",
		"bake: Waves[-1].MaxDuration: 3h0m0s is less than MinDuration 12h0m0s (in effect as FirstWave)",
		"bake: Waves[3].MaxDuration: 3h0m0s is less than MinDuration 5h0m0s (in effect as LaterWaves)",
	)
	if diff := cmp.Diff(want, errorLines(s.Validate())); diff != "" {
		t.Errorf("Validate (-want +got):\n%s", diff)
	}
	// Without the defaults in effect, only the fields themselves.
	if diff := cmp.Diff(fields, errorLines(s.ValidateFields())); diff != "" {
		t.Errorf("ValidateFields (-want +got):\n%s", diff)
	}
	for _, fe := range field.All(s.Validate()) {
		if !errors.Is(fe, bake.ErrInvalid) {
			t.Errorf("%v does not wrap ErrInvalid", fe)
		}
	}
}
