package wave

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/field"
)

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		want   []string // one line per problem
	}{
		{"zero value", Policy{}, nil},
		{"growth below 1", Policy{Waves: Sizing{Growth: 0.5}}, []string{
			"wave: policy.Waves.Growth: 0.5 is below 1: waves would shrink"}},
		{"negative growth", Policy{Waves: Sizing{Growth: -2}}, []string{
			"wave: policy.Waves.Growth: -2 is below 1: waves would shrink"}},
		{"NaN growth", Policy{Waves: Sizing{Growth: math.NaN()}}, []string{
			"wave: policy.Waves.Growth: NaN is not a number; want at least 1"}},
		{"batch fraction above 1", Policy{Batch: Batching{MaxFraction: 1.5}}, []string{
			"wave: policy.Batch.MaxFraction: 1.5 is outside (0, 1]"}},
		{"negative batch fraction", Policy{Batch: Batching{MaxFraction: -0.1}}, []string{
			"wave: policy.Batch.MaxFraction: -0.1 is outside (0, 1]"}},
		{"NaN batch fraction", Policy{Batch: Batching{MaxFraction: math.NaN()}}, []string{
			"wave: policy.Batch.MaxFraction: NaN is outside (0, 1]"}},
		{"batch fraction 1 is fine", Policy{Batch: Batching{MaxFraction: 1}}, nil},
		{"one-box fraction", Policy{OneBox: OneBoxRule{MaxFraction: 2}}, []string{
			"wave: policy.OneBox.MaxFraction: 2 is outside (0, 1]"}},
		{"first size not 1", Policy{Waves: Sizing{Sizes: []int{2, 4}}}, []string{
			"wave: policy.Waves.Sizes[0]: 2: the first wave holds exactly one region"}},
		{"shrinking sizes", Policy{Waves: Sizing{Sizes: []int{1, 3, 2, 0}}}, []string{
			"wave: policy.Waves.Sizes[2]: 2 is smaller than Waves.Sizes[1] (3): waves never shrink",
			"wave: policy.Waves.Sizes[3]: 0 is below 1"}},
		{"negative max parallel", Policy{Waves: Sizing{MaxParallelRegions: -1}}, []string{
			"wave: policy.Waves.MaxParallelRegions: -1 is negative; want 0 (no cap) or more"}},
		{"min healthy", Policy{Batch: Batching{MinHealthy: &MinHealthy{Count: -1, Percent: 101}}}, []string{
			"wave: policy.Batch.MinHealthy.Count: -1 is negative",
			"wave: policy.Batch.MinHealthy.Percent: 101 is outside [0, 100]",
			"wave: policy.Batch.MinHealthy: sets both Count (-1) and Percent (101); set one"}},
		{"levels", Policy{Levels: []string{"region", "", "region", "cell"}}, []string{
			"wave: policy.Levels: has 4 levels; the planner isolates at most three (region, zone, cell)",
			"wave: policy.Levels[1]: is empty",
			`wave: policy.Levels[2]: "region" repeats Levels[0]`}},
		{"empty levels", Policy{Levels: []string{}}, []string{
			"wave: policy.Levels: is empty; want one to three level names, or nil for [region zone]"}},
		{"pinned", Policy{First: []string{"a", "", "a"}}, []string{
			"wave: policy.First[1]: is empty",
			`wave: policy.First[2]: "a" repeats First[0]`}},
		{"negative bakes", Policy{Bake: BakeSchedule{
			OneBox: duration.Duration(-30 * time.Minute), Zone: -1, FirstWave: duration.None, LaterWaves: -duration.Duration(time.Hour), Final: -2,
			Waves: []WaveBake{{}, {OneBox: duration.None, Zone: -3, Wave: duration.Duration(-time.Second)}},
		}}, []string{
			`wave: policy.Bake.OneBox: -30m0s is negative; write "none" (duration.None) for no bake`,
			`wave: policy.Bake.Zone: -1ns is negative; write "none" (duration.None) for no bake`,
			`wave: policy.Bake.LaterWaves: -1h0m0s is negative; write "none" (duration.None) for no bake`,
			`wave: policy.Bake.Final: -2ns is negative; write "none" (duration.None) for no bake`,
			`wave: policy.Bake.Waves[1].Zone: -3ns is negative; write "none" (duration.None) for no bake`,
			`wave: policy.Bake.Waves[1].Wave: -1s is negative; write "none" (duration.None) for no bake`}},
		{"exclusion label", Policy{Exclude: Exclusion{Labels: map[string]string{"": "x"}}}, []string{
			"wave: policy.Exclude.Labels: has an empty label name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("Validate() problems (-want +got):\n%s", diff)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
			}
			if n := len(field.All(err)); n != len(tt.want) {
				t.Errorf("field.All(err) has %d problems, want %d", n, len(tt.want))
			}
			// Plan refuses the same policy, before looking at the fleet.
			if _, perr := tt.policy.Plan(nil); perr == nil || perr.Error() != err.Error() {
				t.Errorf("Plan() = %v, want the policy's problems %v", perr, err)
			}
		})
	}
}

func TestPolicyJSON(t *testing.T) {
	const doc = `{
	  "levels": ["region", "zone", "cell"],
	  "oneBox": {"maxFraction": 0.05, "perZone": true, "require": true},
	  "waves": {"sizes": [1, 1, 3], "growth": 1.5, "maxParallelRegions": 8},
	  "batch": {"maxFraction": 0.2, "minHealthy": {"percent": 75}},
	  "bake": {"oneBox": "30m", "firstWave": "24h", "final": "none", "waves": [{}, {"wave": "6h"}]},
	  "first": ["us-west-2"],
	  "exclude": {"ids": ["h1"], "labels": {"canary": "off"}}
	}`
	var got Policy
	if err := json.Unmarshal([]byte(doc), &got); err != nil {
		t.Fatal(err)
	}
	want := Policy{
		Levels: []string{"region", "zone", "cell"},
		OneBox: OneBoxRule{MaxFraction: 0.05, PerZone: true, Require: true},
		Waves:  Sizing{Sizes: []int{1, 1, 3}, Growth: 1.5, MaxParallelRegions: 8},
		Batch:  Batching{MaxFraction: 0.2, MinHealthy: &MinHealthy{Percent: 75}},
		Bake: BakeSchedule{
			OneBox: duration.Duration(30 * time.Minute), FirstWave: duration.Duration(24 * time.Hour),
			Final: duration.None, Waves: []WaveBake{{}, {Wave: duration.Duration(6 * time.Hour)}},
		},
		First:   []string{"us-west-2"},
		Exclude: Exclusion{IDs: []string{"h1"}, Labels: map[string]string{"canary": "off"}},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b func(RegionInfo, RegionInfo) int) bool { return a == nil && b == nil })); diff != "" {
		t.Errorf("decoded policy (-want +got):\n%s", diff)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"oneBox":"30m0s"`) {
		t.Errorf("encoded policy %s does not show readable durations", b)
	}
	var again Policy
	if err := json.Unmarshal(b, &again); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, again, cmp.Comparer(func(a, b func(RegionInfo, RegionInfo) int) bool { return a == nil && b == nil })); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	// The zero policy encodes to almost nothing: every default is implied.
	b, _ = json.Marshal(Policy{})
	if got, want := string(b), `{"oneBox":{},"waves":{},"batch":{},"bake":{},"exclude":{}}`; got != want {
		t.Errorf("zero policy JSON = %s, want %s", got, want)
	}
}

func TestWaveSizes(t *testing.T) {
	tests := []struct {
		name    string
		waves   Sizing
		regions int
		want    []int
	}{
		{"default growth", Sizing{}, 6, []int{1, 2, 3}},
		{"default growth, exact", Sizing{}, 7, []int{1, 2, 4}},
		{"short last wave joins the one before", Sizing{}, 4, []int{1, 3}},
		{"short last wave too big to join is moved", Sizing{}, 12, []int{1, 2, 4, 5}},
		{"one region", Sizing{}, 1, []int{1}},
		{"two regions", Sizing{}, 2, []int{1, 1}},
		{"growth 1", Sizing{Growth: 1}, 3, []int{1, 1, 1}},
		{"growth 1.5", Sizing{Growth: 1.5}, 19, []int{1, 2, 3, 5, 8}},
		{"cap: the short last wave moves ahead", Sizing{MaxParallelRegions: 3}, 10, []int{1, 1, 2, 3, 3}},
		{"published shape", Sizing{Sizes: []int{1, 1, 3, 5}, Growth: 1}, 20, []int{1, 1, 3, 5, 5, 5}},
		{"listed then growth", Sizing{Sizes: []int{1, 1, 3}}, 16, []int{1, 1, 3, 11}},
		{"listed then growth, longer", Sizing{Sizes: []int{1, 1, 3}}, 30, []int{1, 1, 3, 6, 19}},
		{"cap keeps waves growing", Sizing{MaxParallelRegions: 4}, 12, []int{1, 1, 2, 4, 4}},
		{"huge growth", Sizing{Growth: 1e300}, 5, []int{1, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Policy{Waves: tt.waves}
			s := p.settings()
			got := s.waveSizes(tt.regions)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("waveSizes(%d) (-want +got):\n%s", tt.regions, diff)
			}
			sum := 0
			for i, n := range got {
				sum += n
				if i > 0 && n < got[i-1] {
					t.Errorf("wave %d shrinks: %v", i, got)
				}
				if c := tt.waves.MaxParallelRegions; c > 0 && n > c {
					t.Errorf("wave %d holds %d regions, cap %d", i, n, c)
				}
			}
			if sum != tt.regions || got[0] != 1 {
				t.Errorf("waveSizes(%d) = %v: sum %d, first %d", tt.regions, got, sum, got[0])
			}
		})
	}
}

// TestPolicyJSONSilentNumbers checks that the numbers that used to change a
// policy silently are refused: a bare number is not a duration (it was 30
// ns), and a negative bake is not "no bake" (it was).
func TestPolicyJSONSilentNumbers(t *testing.T) {
	var p Policy
	err := json.Unmarshal([]byte(`{"bake": {"oneBox": 30}}`), &p)
	if !errors.Is(err, duration.ErrSyntax) || !strings.Contains(err.Error(), `"30s"`) {
		t.Errorf("bare number: %v, want duration.ErrSyntax suggesting \"30s\"", err)
	}
	err = json.Unmarshal([]byte(`{"bake": {"zone": "30"}}`), &p)
	if !errors.Is(err, duration.ErrSyntax) {
		t.Errorf("string without a unit: %v, want duration.ErrSyntax", err)
	}
	p = Policy{}
	if err := json.Unmarshal([]byte(`{"bake": {"zone": "-30m", "oneBox": "none"}}`), &p); err != nil {
		t.Fatal(err)
	}
	want := `wave: policy.Bake.Zone: -30m0s is negative; write "none" (duration.None) for no bake`
	if err := p.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want %s", err, want)
	}
	if !p.Bake.OneBox.IsNone() {
		t.Errorf(`"none" decoded as %v`, p.Bake.OneBox)
	}
}
