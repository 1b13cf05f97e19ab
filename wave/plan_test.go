package wave

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/field"
)

func TestPlanFleetErrors(t *testing.T) {
	ok := func(id, r, z string) Target { return Target{ID: id, Location: []string{r, z}} }
	tests := []struct {
		name    string
		policy  Policy
		targets []Target
		is      error
		want    []string
	}{
		{"zero targets", Policy{}, nil, ErrNoTargets, []string{
			"wave: targets: the fleet is empty"}},
		{"duplicate IDs", Policy{}, []Target{ok("a", "r", "z"), ok("b", "r", "z"), ok("a", "r", "y"), ok("b", "r", "z")}, ErrDuplicateID, []string{
			`wave: targets[2].ID: "a" is also the ID of targets[0]`,
			`wave: targets[3].ID: "b" is also the ID of targets[1]`}},
		{"empty ID", Policy{}, []Target{ok("", "r", "z")}, ErrInvalid, []string{
			"wave: targets[0].ID: is empty"}},
		{"empty location levels", Policy{}, []Target{ok("a", "", "z"), ok("b", "r", ""), {ID: "c", Location: []string{"r"}}, {ID: "d"}}, ErrLocation, []string{
			"wave: targets[0].Location[0]: is empty (the region level)",
			"wave: targets[1].Location[1]: is empty (the zone level)",
			"wave: targets[2].Location: has 1 entries; the levels [region zone] need 2",
			"wave: targets[3].Location: has 0 entries; the levels [region zone] need 2"}},
		{"names that JSON would mangle", Policy{}, []Target{{ID: "a\xff", Location: []string{"r", "z\xfe"}}}, ErrInvalid, []string{
			`wave: targets[0].ID: "a\xff" is not valid UTF-8`,
			`wave: targets[0].Location[1]: "z\xfe" is not valid UTF-8`}},
		{"bad names with other problems", Policy{}, []Target{{ID: "", Location: []string{"r\xff", "z"}}}, ErrLocation, []string{
			`wave: targets[0].ID: is empty`,
			`wave: targets[0].Location[0]: "r\xff" is not valid UTF-8`}},
		{"bad names of excluded targets", Policy{Exclude: Exclusion{IDs: []string{"b"}}}, []Target{
			{ID: "a", Location: []string{"r", "z"}}, {ID: "b", Location: []string{"r", "\xff"}},
		}, ErrLocation, []string{
			`wave: targets[1].Location[1]: "\xff" is not valid UTF-8`}},
		{"bad weights", Policy{}, []Target{
			{ID: "a", Location: []string{"r", "z"}, Weight: -1},
			{ID: "b", Location: []string{"r", "z"}, Weight: math.NaN()},
			{ID: "c", Location: []string{"r", "z"}, Weight: math.Inf(1)},
		}, ErrWeight, []string{
			"wave: targets[0].Weight: -1 is not a finite weight of 0 or more",
			"wave: targets[1].Weight: NaN is not a finite weight of 0 or more",
			"wave: targets[2].Weight: +Inf is not a finite weight of 0 or more"}},
		{"weights overflow", Policy{}, []Target{
			{ID: "a", Location: []string{"r", "z"}, Weight: math.MaxFloat64},
			{ID: "b", Location: []string{"r", "z"}, Weight: math.MaxFloat64},
		}, ErrWeight, []string{
			"wave: targets: the weights add up to more than a float64 holds"}},
		{"unknown pinned region", Policy{First: []string{"r", "mars"}}, []Target{ok("a", "r", "z")}, ErrUnknownRegion, []string{
			`wave: policy.First[1]: region "mars" is not in the fleet`}},
		{"pinned region excluded", Policy{First: []string{"q"}, Exclude: Exclusion{IDs: []string{"b"}}}, []Target{ok("a", "r", "z"), ok("b", "q", "z")}, ErrUnknownRegion, []string{
			`wave: policy.First[0]: region "q" is not in the fleet (after exclusions)`}},
		{"everything excluded", Policy{Exclude: Exclusion{Labels: map[string]string{"env": "test"}}}, []Target{
			{ID: "a", Location: []string{"r", "z"}, Labels: map[string]string{"env": "test"}},
		}, ErrNoTargets, []string{
			"wave: targets: all 1 targets are excluded by the policy"}},
		{"minimum healthy cannot be met", Policy{Batch: Batching{MinHealthy: &MinHealthy{Percent: 60}}}, []Target{ok("a", "r", "z"), ok("b", "r", "z"), ok("c", "r", "y")}, ErrMinHealthy, []string{
			"wave: policy.Batch.MinHealthy: 60% of the 2 targets of zone r/z rounds up to 2 and leaves none to deploy",
			"wave: policy.Batch.MinHealthy: 60% of the 1 target of zone r/y rounds up to 1 and leaves none to deploy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.policy.Plan(tt.targets)
			if err == nil {
				t.Fatalf("Plan() = %v, want an error", shape(p))
			}
			if p != nil {
				t.Errorf("Plan() returned a plan with its error")
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("Plan() problems (-want +got):\n%s", diff)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(err, %v) = false", tt.is)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Path == "" {
				t.Errorf("errors.As(err, *FieldError) = %v", fe)
			}
		})
	}
}

func TestPlanManyProblemsAreCapped(t *testing.T) {
	ts := make([]Target, 1000)
	for i := range ts {
		ts[i] = Target{ID: "same", Location: []string{"r", "z"}}
	}
	_, err := Policy{}.Plan(ts)
	if n := len(field.All(err)); n != field.MaxProblems {
		t.Errorf("problems listed = %d, want %d", n, field.MaxProblems)
	}
	if !errors.Is(err, ErrDuplicateID) {
		t.Errorf("errors.Is(err, ErrDuplicateID) = false")
	}
	if !strings.HasSuffix(err.Error(), "\nand 899 more problems") {
		t.Errorf("error does not end with the omitted count: ...%s", err.Error()[len(err.Error())-60:])
	}
}

// TestMinHealthyCodeDeploy checks CodeDeploy's published examples of
// minimum healthy hosts on a deployment group of 10 hosts.
func TestMinHealthyCodeDeploy(t *testing.T) {
	tests := []struct {
		name    string
		min     MinHealthy
		batch   float64 // Batching.MaxFraction; 0 leaves MinHealthy alone
		want    []int   // batch sizes
		wantMin int
		wantErr string
	}{
		{name: "95% fails at once: it rounds up to 10", min: MinHealthy{Percent: 95},
			wantErr: "wave: policy.Batch.MinHealthy: 95% of the 10 targets of zone r/z rounds up to 10 and leaves none to deploy"},
		{name: "99% (one-at-a-time on large fleets) fails on 10", min: MinHealthy{Percent: 99},
			wantErr: "wave: policy.Batch.MinHealthy: 99% of the 10 targets of zone r/z rounds up to 10 and leaves none to deploy"},
		{name: "count 10 fails", min: MinHealthy{Count: 10},
			wantErr: "wave: policy.Batch.MinHealthy: 10 leaves none of the 10 targets of zone r/z to deploy"},
		{name: "count 11 fails", min: MinHealthy{Count: 11},
			wantErr: "wave: policy.Batch.MinHealthy: 11 leaves none of the 10 targets of zone r/z to deploy"},
		{name: "9 means one at a time", min: MinHealthy{Count: 9}, want: []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, wantMin: 9},
		{name: "90% means one at a time", min: MinHealthy{Percent: 90}, want: []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, wantMin: 9},
		{name: "85% rounds up to 9", min: MinHealthy{Percent: 85}, want: []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, wantMin: 9},
		{name: "8 means two at a time", min: MinHealthy{Count: 8}, want: []int{2, 2, 2, 2, 2}, wantMin: 8},
		{name: "half at a time", min: MinHealthy{Percent: 50}, want: []int{5, 5}, wantMin: 5},
		{name: "0 means all at once", min: MinHealthy{}, want: []int{10}, wantMin: 0},
		{name: "0% means all at once", min: MinHealthy{Percent: 0}, want: []int{10}, wantMin: 0},
		{name: "min and fraction: the stricter wins", min: MinHealthy{Count: 5}, batch: 0.33, want: []int{3, 3, 3, 1}, wantMin: 5},
		{name: "min and fraction: min stricter", min: MinHealthy{Count: 8}, batch: 0.5, want: []int{2, 2, 2, 2, 2}, wantMin: 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := grid([]string{"r"}, 1, 10, one)
			for i := range ts {
				ts[i].Location[1] = "z"
			}
			m := tt.min
			p, err := Policy{OneBox: OneBoxRule{Off: true}, Batch: Batching{MinHealthy: &m, MaxFraction: tt.batch}}.Plan(ts)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr || !errors.Is(err, ErrMinHealthy) {
					t.Fatalf("Plan() error = %v, want %q (ErrMinHealthy)", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([][]int{tt.want}, batchSizesOf(p)); diff != "" {
				t.Errorf("batch sizes (-want +got):\n%s", diff)
			}
			if got := p.Waves[0].Stages[0].MinHealthy; got != tt.wantMin {
				t.Errorf("MinHealthy = %d, want %d", got, tt.wantMin)
			}
			if err := p.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestAtLeastOneTarget checks that a batch always deploys at least one
// target, even when the minimum is 0 and the fraction rounds down to 0.
func TestAtLeastOneTarget(t *testing.T) {
	for _, n := range []int{1, 2, 3} {
		ts := grid([]string{"r"}, 1, n, one)
		for _, pol := range []Policy{
			{OneBox: OneBoxRule{Off: true}, Batch: Batching{MinHealthy: &MinHealthy{}}},
			{OneBox: OneBoxRule{Off: true}, Batch: Batching{MaxFraction: 0.01}},
		} {
			p, err := pol.Plan(ts)
			if err != nil {
				t.Fatal(err)
			}
			for _, sizes := range batchSizesOf(p) {
				for _, s := range sizes {
					if s < 1 {
						t.Errorf("%d targets, %+v: batch of %d", n, pol.Batch, s)
					}
				}
			}
		}
	}
}

func TestPlanDefaults(t *testing.T) {
	ts := grid([]string{"big", "small", "mid"}, 2, 10, func(r int) float64 { return []float64{5, 1, 2}[r] })
	p, err := Policy{}.Plan(ts)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"0 w1/one-box/small one-box [1] min=0 bake=1h0m0s",
		"0 w1/small/smalla zone [3 3 3] min=6 bake=1h0m0s",
		"0 w1/small/smallb zone [3 3 3 1] min=7 bake=12h0m0s",
		"1 w2/one-box/mid+big one-box [2] min=0 bake=1h0m0s",
		"1 w2/mid/mida+big/biga zone [6 6 6] min=12 bake=1h0m0s",
		"1 w2/mid/midb+big/bigb zone [6 6 6 2] min=14 bake=2h0m0s",
	}
	if diff := cmp.Diff(want, shape(p)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if p.FinalBake != duration.Duration(2*time.Hour) {
		t.Errorf("FinalBake = %v, want 2h", p.FinalBake)
	}
	if diff := cmp.Diff([]string{"region", "zone"}, p.Levels); diff != "" {
		t.Errorf("Levels (-want +got):\n%s", diff)
	}
	st := p.Waves[1].Stages[1]
	if diff := cmp.Diff([]string{"mid", "big"}, st.Regions); diff != "" {
		t.Errorf("Regions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"mida", "biga"}, st.Zones); diff != "" {
		t.Errorf("Zones (-want +got):\n%s", diff)
	}
	if st.Weight != 9*2+9*5 || st.Wave != 1 {
		t.Errorf("Weight, Wave = %v, %d; want 63, 1", st.Weight, st.Wave)
	}
	if err := p.Validate(); err != nil {
		t.Error(err)
	}
}

func TestOneBox(t *testing.T) {
	// Zone a of "r" has a light host, so it is the one-box even though
	// its ID sorts last; region "q" is too small for a one-box.
	ts := grid([]string{"r"}, 2, 10, func(int) float64 { return 10 })
	ts[9].Weight = 1
	ts = append(ts,
		Target{ID: "q1", Location: []string{"q", "qa"}, Weight: 1},
		Target{ID: "q2", Location: []string{"q", "qa"}, Weight: 1},
		Target{ID: "q3", Location: []string{"q", "qb"}, Weight: 1},
	)
	p, err := Policy{Waves: Sizing{Growth: 1}}.Plan(ts)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"0 w1/q/qa zone [1 1] min=1 bake=1h0m0s",
		"0 w1/q/qb zone [1] min=0 bake=12h0m0s",
		"1 w2/one-box/r one-box [1] min=0 bake=1h0m0s",
		"1 w2/r/ra zone [3 3 3] min=6 bake=1h0m0s",
		"1 w2/r/rb zone [3 3 3 1] min=7 bake=2h0m0s",
	}
	if diff := cmp.Diff(want, shape(p)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if got := p.Waves[1].Stages[0].Batches[0].Targets[0].ID; got != "ra-h09" {
		t.Errorf("one-box = %s, want the light host ra-h09", got)
	}
	note := "region q has no target light enough for a one-box: its lightest carries 33.3% of the region's weight, above OneBox.MaxFraction (10%)"
	wantW := []Warning{{Code: WarnNoOneBox, Region: "q", Message: note + "; its first batch is the first to see the change"}}
	if diff := cmp.Diff(wantW, p.Warnings); diff != "" || p.Notes != nil {
		t.Errorf("Warnings (-want +got):\n%s\nNotes: %q", diff, p.Notes)
	}
	if r := p.Waves[0].Stages[0].Reason; !strings.Contains(r, note) {
		t.Errorf("first stage of q does not say why there is no one-box: %s", r)
	}

	// A larger cap admits q's one-box.
	p, err = Policy{Waves: Sizing{Growth: 1}, OneBox: OneBoxRule{MaxFraction: 1}}.Plan(ts)
	if err != nil {
		t.Fatal(err)
	}
	want = []string{
		"0 w1/one-box/q one-box [1] min=0 bake=1h0m0s",
		"0 w1/q/qa zone [1] min=0 bake=1h0m0s",
		"0 w1/q/qb zone [1] min=0 bake=12h0m0s",
		"1 w2/one-box/r one-box [1] min=0 bake=1h0m0s",
		"1 w2/r/ra zone [3 3 3] min=6 bake=1h0m0s",
		"1 w2/r/rb zone [3 3 3 1] min=7 bake=2h0m0s",
	}
	if diff := cmp.Diff(want, shape(p)); diff != "" {
		t.Errorf("plan with a 100%% one-box cap (-want +got):\n%s", diff)
	}
	if err := p.Validate(); err != nil {
		t.Error(err)
	}

	// Off: no one-box stages, no notes.
	p, err = Policy{OneBox: OneBoxRule{Off: true}}.Plan(ts)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range p.Waves {
		for _, s := range w.Stages {
			if s.Kind == OneBox {
				t.Errorf("stage %s with one-box off", s.Name)
			}
		}
	}
	if p.Notes != nil || p.Warnings != nil {
		t.Errorf("Notes = %q, Warnings = %q; want none", p.Notes, p.Warnings)
	}
}

// TestOneBoxPractice checks the one-box against the published practice:
// at most 10% of the region's requests by default (of the zone's as an
// option), from any zone of the region, and required when asked.
func TestOneBoxPractice(t *testing.T) {
	// The fleet: 3 zones of 5 equal hosts. Each host is 6.7% of
	// its region and 20% of its zone.
	threeByFive := grid([]string{"r"}, 3, 5, one)
	// A region whose first zone has only heavy hosts; zone b has a light
	// one.
	heavyFirst := grid([]string{"r"}, 3, 4, func(int) float64 { return 10 })
	heavyFirst[5].Weight = 2 // rb-h01
	tests := []struct {
		name    string
		policy  Policy
		targets []Target
		oneBox  string // the one-box's ID, "" for none
		zone    string // its zone
		warning string
		err     string
	}{
		{name: "3x5, region limit: 6.7% fits", targets: threeByFive, oneBox: "ra-h00", zone: "ra"},
		{name: "3x5, zone limit: 20% does not fit", policy: Policy{OneBox: OneBoxRule{PerZone: true}}, targets: threeByFive,
			warning: "region r has no target light enough for a one-box: the lightest share of a zone is 20%, above OneBox.MaxFraction (10% of its zone's weight); its first batch is the first to see the change"},
		{name: "3x5, zone limit 20% fits", policy: Policy{OneBox: OneBoxRule{PerZone: true, MaxFraction: 0.2}}, targets: threeByFive, oneBox: "ra-h00", zone: "ra"},
		{name: "3x5, required and impossible", policy: Policy{OneBox: OneBoxRule{PerZone: true, Require: true}}, targets: threeByFive,
			err: "wave: policy.OneBox.Require: region r has no target light enough for a one-box: the lightest share of a zone is 20%, above OneBox.MaxFraction (10% of its zone's weight)"},
		{name: "3x5, required and possible", policy: Policy{OneBox: OneBoxRule{Require: true}}, targets: threeByFive, oneBox: "ra-h00", zone: "ra"},
		{name: "from any zone: the light host of the second zone", targets: heavyFirst, oneBox: "rb-h01", zone: "rb"},
		{name: "from any zone, per zone: 2 of 32", policy: Policy{OneBox: OneBoxRule{PerZone: true}}, targets: heavyFirst, oneBox: "rb-h01", zone: "rb"},
		// Exact boundaries: 1 of 10 is 10%, 3 of 10 is 30% (0.3 × 10 is
		// 2.9999999999999996 in float64), 1 of 10.000000000000002 is
		// below 10%, 1.0000000000000002 of 10 is above.
		{name: "exactly 10%", targets: hosts("r", []string{"z"}, 10, 1), oneBox: "r-z-00", zone: "z"},
		{name: "exactly 30%", policy: Policy{OneBox: OneBoxRule{MaxFraction: 0.3}},
			targets: concat(hosts("r", []string{"z"}, 1, 3), hosts("r", []string{"y"}, 1, 7)), oneBox: "r-z-00", zone: "z"},
		{name: "tenths add up to exactly 1", policy: Policy{OneBox: OneBoxRule{MaxFraction: 0.1}},
			targets: hosts("r", []string{"z"}, 10, 0.1), oneBox: "r-z-00", zone: "z"},
		{name: "just above 10%", targets: concat(hosts("r", []string{"z"}, 1, 1.0000000000000002), hosts("r", []string{"y"}, 1, 9)),
			warning: "region r has no target light enough for a one-box: its lightest carries 10.000000000000002% of the region's weight, above OneBox.MaxFraction (10%); its first batch is the first to see the change"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.policy.Plan(tt.targets)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err || !errors.Is(err, ErrNoOneBox) {
					t.Fatalf("Plan() error = %v, want %q (ErrNoOneBox)", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			st := p.Waves[0].Stages[0]
			if tt.oneBox == "" {
				if st.Kind == OneBox {
					t.Errorf("one-box %s, want none", st.Batches[0].Targets[0].ID)
				}
				if len(p.Warnings) != 1 || p.Warnings[0].Message != tt.warning {
					t.Errorf("Warnings = %q, want %q", p.Warnings, tt.warning)
				}
				return
			}
			if st.Kind != OneBox || st.Batches[0].Targets[0].ID != tt.oneBox || st.Zones[0] != tt.zone {
				t.Errorf("first stage %s, want the one-box %s of zone %s", shape(p)[0], tt.oneBox, tt.zone)
			}
			if p.Warnings != nil {
				t.Errorf("Warnings = %q, want none", p.Warnings)
			}
			if err := p.Validate(); err != nil {
				t.Error(err)
			}
			checkInvariants(t, tt.policy, tt.targets, p)
		})
	}
	if err := (Policy{OneBox: OneBoxRule{Off: true, Require: true}}).Validate(); err == nil ||
		err.Error() != "wave: policy.OneBox.Require: is set with OneBox.Off: a one-box cannot be both required and off" {
		t.Errorf("Validate(Off and Require) = %v", err)
	}
}

func TestOrderingHooks(t *testing.T) {
	regions := []string{"r0", "r1", "r2", "r3", "r4"}
	ts := grid(regions, 1, 20, func(r int) float64 { return float64(10 - r) })
	for i := range ts {
		ts[i].Labels = map[string]string{"tier": fmt.Sprint(i / 20 % 2)}
	}
	ts[0].Labels["skip"] = "yes"

	t.Run("lightest first", func(t *testing.T) {
		p, err := Policy{}.Plan(ts)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([][]string{{"r4"}, {"r3", "r2"}, {"r1", "r0"}}, waveRegions(p)); diff != "" {
			t.Errorf("waves (-want +got):\n%s", diff)
		}
	})
	t.Run("pinned", func(t *testing.T) {
		p, err := Policy{First: []string{"r1", "r0"}}.Plan(ts)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([][]string{{"r1"}, {"r0", "r4"}, {"r3", "r2"}}, waveRegions(p)); diff != "" {
			t.Errorf("waves (-want +got):\n%s", diff)
		}
		if r := p.Waves[0].Stages[0].Reason; !strings.Contains(r, "pinned first") {
			t.Errorf("reason does not say the region is pinned: %s", r)
		}
	})
	t.Run("order function", func(t *testing.T) {
		var seen []RegionInfo
		p, err := Policy{Order: func(a, b RegionInfo) int {
			seen = append(seen, a, b)
			// Tier 1 first, then by name, descending.
			if a.Labels["tier"] != b.Labels["tier"] {
				return strings.Compare(b.Labels["tier"], a.Labels["tier"])
			}
			return strings.Compare(b.Name, a.Name)
		}}.Plan(ts)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([][]string{{"r3"}, {"r1", "r4"}, {"r2", "r0"}}, waveRegions(p)); diff != "" {
			t.Errorf("waves (-want +got):\n%s", diff)
		}
		for _, ri := range seen {
			if ri.Name == "r2" {
				want := RegionInfo{Name: "r2", Targets: 20, Weight: 160, Zones: 1, Labels: map[string]string{"tier": "0"}}
				if diff := cmp.Diff(want, ri); diff != "" {
					t.Errorf("RegionInfo (-want +got):\n%s", diff)
				}
				break
			}
		}
		if r := p.Waves[0].Stages[0].Reason; !strings.Contains(r, "first by the policy's order") {
			t.Errorf("reason does not name the order function: %s", r)
		}
	})
	t.Run("exclusions", func(t *testing.T) {
		p, err := Policy{Exclude: Exclusion{
			IDs:    []string{"r4a-h03", "r4a-h01", "nope"},
			Labels: map[string]string{"skip": "yes"},
		}}.Plan(ts)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"r0a-h00", "r4a-h01", "r4a-h03"}, p.Excluded); diff != "" {
			t.Errorf("Excluded (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{`Exclude.IDs lists "nope", which is not in the fleet`}, p.Notes); diff != "" {
			t.Errorf("Notes (-want +got):\n%s", diff)
		}
		for _, w := range p.Waves {
			for _, s := range w.Stages {
				for _, b := range s.Batches {
					for _, tg := range b.Targets {
						if slices.Contains(p.Excluded, tg.ID) {
							t.Errorf("excluded target %s is in stage %s", tg.ID, s.Name)
						}
					}
				}
			}
		}
		if err := p.Validate(); err != nil {
			t.Error(err)
		}
	})
}

func TestBakeSchedule(t *testing.T) {
	ts := grid([]string{"a", "b", "c"}, 2, 10, func(r int) float64 { return float64(r + 1) })
	h := func(n float64) duration.Duration { return duration.Duration(time.Duration(n * float64(time.Hour))) }
	p, err := Policy{Bake: BakeSchedule{
		OneBox: h(0.5), Zone: h(3), FirstWave: h(24), LaterWaves: h(4), Final: duration.None,
		Waves: []WaveBake{{Zone: duration.None}, {OneBox: h(2), Wave: h(8)}, {}, {}},
	}}.Plan(ts)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range p.Waves {
		for _, s := range w.Stages {
			got = append(got, s.Name+" "+human(s.Bake.Std()))
		}
	}
	want := []string{
		"w1/one-box/a 30m", "w1/a/aa none", "w1/a/ab 24h",
		"w2/one-box/b+c 2h", "w2/b/ba+c/ca 3h", "w2/b/bb+c/cb 8h",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("bakes (-want +got):\n%s", diff)
	}
	if p.FinalBake != 0 {
		t.Errorf("FinalBake = %v, want none", p.FinalBake)
	}
}

func TestSchedule(t *testing.T) {
	ts := grid([]string{"a", "b", "c"}, 2, 10, func(r int) float64 { return float64(r + 1) })
	p, err := Policy{}.Plan(ts)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	e := p.Schedule(start, 10*time.Minute)
	// Batches: 1 + 3 + 4 in wave 1, 1 + 3 + 4 in wave 2: 16 x 10m.
	// Bakes: 1h + 1h + 12h, 1h + 1h + 2h, and the final 2h.
	if e.Deploying != 160*time.Minute || e.Baking != 20*time.Hour {
		t.Errorf("Deploying, Baking = %v, %v; want 2h40m, 20h", e.Deploying, e.Baking)
	}
	if want := start.Add(22*time.Hour + 40*time.Minute); !e.End.Equal(want) {
		t.Errorf("End = %v, want %v", e.End, want)
	}
	want := StageTimes{
		Name:     "w1/a/aa",
		Wave:     0,
		Start:    start.Add(10*time.Minute + time.Hour),
		Deployed: start.Add(40*time.Minute + time.Hour),
		Baked:    start.Add(40*time.Minute + 2*time.Hour),
	}
	if diff := cmp.Diff(want, e.Stages[1]); diff != "" {
		t.Errorf("second stage (-want +got):\n%s", diff)
	}
	if len(e.Stages) != 6 || e.Stages[5].Baked.Add(p.FinalBake.Std()) != e.End {
		t.Errorf("stages do not end where the final bake starts: %+v", e)
	}
	if e2 := p.Schedule(start, -time.Hour); e2.Deploying != 0 {
		t.Errorf("a negative time per batch counts as zero; Deploying = %v", e2.Deploying)
	}
}

// TestStageNamesStable checks that names depend on where a stage deploys,
// not on how many targets it holds, so that a driver that persisted a
// name finds the stage again after a host is added.
func TestStageNamesStable(t *testing.T) {
	ts := grid([]string{"a", "b", "c", "d"}, 3, 10, func(r int) float64 { return float64(r + 1) })
	p1, err := Policy{}.Plan(ts)
	if err != nil {
		t.Fatal(err)
	}
	ts = append(ts, Target{ID: "new", Location: []string{"c", "cb"}, Weight: 3})
	p2, err := Policy{}.Plan(ts)
	if err != nil {
		t.Fatal(err)
	}
	names := func(p *Plan) []string {
		var out []string
		for _, w := range p.Waves {
			for _, s := range w.Stages {
				out = append(out, s.Name)
			}
		}
		return out
	}
	if diff := cmp.Diff(names(p1), names(p2)); diff != "" {
		t.Errorf("names changed when a host was added (-before +after):\n%s", diff)
	}
}

func TestStageNamesUnique(t *testing.T) {
	// Zone "r" of region "one-box", deployed alone, and the one-box of
	// region "r" make the same natural name "w2/one-box/r"; the planner
	// tells them apart.
	ts := []Target{
		{ID: "x", Location: []string{"first", "f"}},
		{ID: "o1", Location: []string{"one-box", "a"}, Weight: 5},
		{ID: "o2", Location: []string{"one-box", "r"}, Weight: 5},
	}
	for i := range 20 {
		ts = append(ts, Target{ID: fmt.Sprint("r", i), Location: []string{"r", "z"}})
	}
	p, err := Policy{First: []string{"first"}}.Plan(ts)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, w := range p.Waves {
		for _, s := range w.Stages {
			names = append(names, s.Name)
		}
	}
	want := []string{"w1/first/f", "w2/one-box/r", "w2/one-box/a+r/z", "w2/one-box/r~2"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	if err := p.Validate(); err != nil {
		t.Error(err)
	}
}

// TestSortByID checks the planner's ID sort, which compares 8-byte keys
// after the common prefix before whole IDs, against a plain string sort,
// on IDs built to trip it: shared prefixes, zero bytes, IDs that are
// prefixes of others.
func TestSortByID(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"\x00", "a", "b", "\xff", "0", "9"}
	var keys []idKey
	for range 2000 {
		n := 1 + r.IntN(30)
		ts := make([]Target, n)
		prefix := []string{"", "host-", "host-000"}[r.IntN(3)]
		for i := range ts {
			id := prefix
			for range r.IntN(12) {
				id += alphabet[r.IntN(len(alphabet))]
			}
			ts[i].ID = id
		}
		idx := make([]int32, n)
		for i := range idx {
			idx[i] = int32(i)
		}
		keys = sortByID(ts, idx, keys)
		got := make([]string, n)
		for i, k := range idx {
			got[i] = ts[k].ID
		}
		want := make([]string, n)
		for i := range ts {
			want[i] = ts[i].ID
		}
		slices.Sort(want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("sortByID (-want +got):\n%s", diff)
		}
	}
}

// TestExactRounding checks the documented rounding at its boundaries,
// where float arithmetic (or an epsilon nudge) would round the wrong way:
// numbers are read as the decimals they are written as, and rounded
// exactly.
func TestExactRounding(t *testing.T) {
	zone := func(n int) []Target { return hosts("r", []string{"z"}, n, 1) }
	tests := []struct {
		name    string
		batch   Batching
		targets int
		want    []int // batch sizes
	}{
		// 0.29 × 100 is 28.999999999999996 in float64: the batch is 29.
		{"0.29 of 100 is 29", Batching{MaxFraction: 0.29}, 100, []int{29, 29, 29, 13}},
		// 0.3333333333333 × 6 is 1.9999999999998: rounded down, 1 (a
		// +1e-9 nudge made it 2).
		{"0.3333333333333 of 6 is 1", Batching{MaxFraction: 0.3333333333333}, 6, []int{1, 1, 1, 1, 1, 1}},
		{"1/3 written out of 3 is 0, so 1", Batching{MaxFraction: 0.3333333333333333}, 3, []int{1, 1, 1}},
		// 50.00000000001% of 10 is 5.000000000001: rounded up, 6 stay
		// healthy (a -1e-9 nudge made it 5).
		{"50.00000000001% of 10 keeps 6", Batching{MinHealthy: &MinHealthy{Percent: 50.00000000001}}, 10, []int{4, 4, 2}},
		{"50% of 10 keeps 5", Batching{MinHealthy: &MinHealthy{Percent: 50}}, 10, []int{5, 5}},
		{"33.3% of 1000 keeps 333", Batching{MinHealthy: &MinHealthy{Percent: 33.3}}, 1000, []int{667, 333}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := Policy{OneBox: OneBoxRule{Off: true}, Batch: tt.batch}
			p, err := pol.Plan(zone(tt.targets))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([][]int{tt.want}, batchSizesOf(p)); diff != "" {
				t.Errorf("batch sizes (-want +got):\n%s", diff)
			}
			checkInvariants(t, pol, zone(tt.targets), p)
		})
	}

	// Growth: 1.1 × 10 is 11 (11.000000000000002 in float64), and
	// 1.0000000001 × 5 is 5.0000000005, rounded up to 6 (a -1e-9 nudge
	// made it 5).
	for _, tt := range []struct {
		growth  float64
		regions int
		want    []int
	}{
		{1.1, 54, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 9}},
		{1.0000000001, 15, []int{1, 2, 3, 4, 5}},
	} {
		s := (&Policy{Waves: Sizing{Growth: tt.growth}}).settings()
		if diff := cmp.Diff(tt.want, s.waveSizes(tt.regions)); diff != "" {
			t.Errorf("waveSizes(%d) with growth %v (-want +got):\n%s", tt.regions, tt.growth, diff)
		}
	}
	s := (&Policy{Waves: Sizing{Growth: 1.1, Sizes: []int{1, 10}}}).settings()
	if got := s.waveSizes(22); !slices.Equal(got, []int{1, 10, 11}) {
		t.Errorf("waveSizes(22) after 10 with growth 1.1 = %v, want [1 10 11]", got)
	}
}
