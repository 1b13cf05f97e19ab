package bake_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/duration"
)

func TestScheduleDefaults(t *testing.T) {
	var s bake.Schedule
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		wave, waves int
		oneBox      bool
		want        time.Duration
	}{
		{0, 4, true, time.Hour},
		{0, 4, false, 12 * time.Hour},
		{1, 4, true, time.Hour},
		{1, 4, false, 2 * time.Hour},
		{2, 4, false, 2 * time.Hour},
		{3, 4, false, 2 * time.Hour}, // the final bake
		{9, 4, false, 2 * time.Hour}, // beyond the last counts as the last
		{-1, 4, false, 12 * time.Hour},
		{0, 1, false, 12 * time.Hour}, // a single wave is the first
	}
	for _, tt := range tests {
		got := s.For(tt.wave, tt.waves, tt.oneBox)
		if got.MinDuration.Std() != tt.want {
			t.Errorf("For(%d, %d, %t).MinDuration = %v, want %v", tt.wave, tt.waves, tt.oneBox, got.MinDuration, tt.want)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("For(%d, %d, %t) is invalid: %v", tt.wave, tt.waves, tt.oneBox, err)
		}
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
		name        string
		wave, waves int
		oneBox      bool
		want        bake.Policy
	}{
		{"one-box keeps its own alarms", 2, 5, true,
			bake.Policy{MinDuration: d(90 * time.Minute), Evidence: create, Alarms: []string{"sev2", "one-box"}}},
		{"first wave inherits the base", 0, 5, false,
			bake.Policy{MinDuration: d(12 * time.Hour), Evidence: create, Alarms: []string{"sev2"}}},
		{"a later wave", 1, 5, false,
			bake.Policy{MinDuration: d(2 * time.Hour), Evidence: create, Alarms: []string{"sev2"}}},
		{"wave 2 overridden, evidence cleared", 2, 5, false,
			bake.Policy{MinDuration: d(4 * time.Hour), Evidence: []bake.Requirement{}, Alarms: []string{"sev2"}, OnInconclusive: bake.Pass}},
		{"the final wave", 4, 5, false,
			bake.Policy{MinDuration: d(24 * time.Hour), MaxDuration: d(48 * time.Hour), Evidence: create, Alarms: []string{"sev2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, s.For(tt.wave, tt.waves, tt.oneBox)); diff != "" {
				t.Errorf("For (-want +got):\n%s", diff)
			}
		})
	}
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
	want := []string{
		"bake: schedule: FirstWave.Evidence[0].Query: empty; a requirement needs a query to count its evidence",
		"bake: schedule: Final.MinDuration: -1h0m0s is negative",
		"bake: schedule: Waves[-1]: wave index -1 is negative",
		"bake: schedule: FirstWave.MaxDuration: 3h0m0s is less than MinDuration 12h0m0s (in effect)",
		"bake: schedule: Waves[-1].MaxDuration: 3h0m0s is less than MinDuration 12h0m0s (in effect as FirstWave)",
		"bake: schedule: Waves[3].MaxDuration: 3h0m0s is less than MinDuration 5h0m0s (in effect as LaterWaves)",
		"bake: schedule: Waves[3].MaxDuration: 3h0m0s is less than MinDuration 5h0m0s (in effect as Final)",
	}
	if diff := cmp.Diff(want, errorLines(s.Validate())); diff != "" {
		t.Errorf("Validate (-want +got):\n%s", diff)
	}
}
