package wave

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/field"
)

// TestPlanValidate breaks every promise of Plan.Validate's doc, one case
// (or more) each, named after the promise's number, on a plan the planner
// made.
func TestPlanValidate(t *testing.T) {
	base := func(t *testing.T) *Plan {
		ts := grid([]string{"a", "b", "c"}, 2, 10, func(r int) float64 { return float64(r + 1) })
		p, err := Policy{}.Plan(ts)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The base plan's stages, batches and units:
	//   w1/one-box/a     [aa-h00]
	//   w1/a/aa          [3 3 3]     units a/aa 9 min 6
	//   w1/a/ab          [3 3 3 1]   units a/ab 10 min 7
	//   w2/one-box/b+c   [ba-h00 ca-h00]
	//   w2/b/ba+c/ca     [6 6 6]     units b/ba 9 min 6, c/ca 9 min 6;
	//                                batch j holds 3 of ba, then 3 of ca
	//   w2/b/bb+c/cb     [6 6 6 2]   units b/bb 10 min 7, c/cb 10 min 7
	oneLevel := func(t *testing.T) *Plan {
		p, err := Policy{Levels: []string{"cluster"}, OneBox: OneBoxRule{Off: true}}.Plan(hosts("k", nil, 3, 1))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Waves of 1, 1, 2 regions (a cap of 2 moves the short wave ahead).
	growing := func(t *testing.T) *Plan {
		ts := grid([]string{"a", "b", "c", "d"}, 1, 3, func(r int) float64 { return float64(r + 1) })
		p, err := Policy{Waves: Sizing{MaxParallelRegions: 2}}.Plan(ts)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name   string
		base   func(*testing.T) *Plan // nil: base
		mutate func(p *Plan)
		want   []string
	}{
		// 1. Levels.
		{name: "1: no levels, no waves", mutate: func(p *Plan) { p.Waves = nil; p.Levels = nil }, want: []string{
			`wave: plan.Levels: is empty`,
			`wave: plan.Waves: there are no waves`}},
		{name: "1: a level without a name", mutate: func(p *Plan) { p.Levels[1] = "" }, want: []string{
			`wave: plan.Levels[1]: is empty`}},
		{name: "1: a location short of the levels", mutate: func(p *Plan) {
			p.Waves[0].Stages[1].Batches[0].Targets[0].Location = []string{"a"}
		}, want: []string{
			`wave: plan.Waves[0].Stages[1].Batches[0].Targets[0].Location: ["a"] does not name every level of [region zone]`}},

		// 2. Waves.
		{name: "2: wrong index", mutate: func(p *Plan) { p.Waves[1].Index = 5 }, want: []string{
			`wave: plan.Waves[1].Index: is 5, want 1`}},
		{name: "2: a wave without regions or stages", mutate: func(p *Plan) { p.Waves = append(p.Waves, Wave{Index: 2}) }, want: []string{
			`wave: plan.Waves[2].Regions: the wave has no regions`,
			`wave: plan.Waves[2].Regions: the wave holds 0 regions, fewer than wave 1 (2): waves never shrink`,
			`wave: plan.Waves[2].Stages: the wave has no stages`}},
		{name: "2: a region in two waves", mutate: func(p *Plan) { p.Waves[1].Regions[1] = "a" }, want: []string{
			`wave: plan.Waves[1].Regions[1]: region "a" is also in wave 0`,
			`wave: plan.Waves[1].Stages[0].Regions[1]: region "c" is not in the stage's wave`,
			`wave: plan.Waves[1].Stages[1].Regions[1]: region "c" is not in the stage's wave`,
			`wave: plan.Waves[1].Stages[2].Regions[1]: region "c" is not in the stage's wave`}},
		{name: "2: a first wave of two regions", mutate: func(p *Plan) { p.Waves[0].Regions = append(p.Waves[0].Regions, "x") }, want: []string{
			`wave: plan.Waves[0].Regions: the first wave holds 2 regions [a x]; it must hold one`}},
		{name: "2: waves that shrink (1, 2, 1)", base: growing, mutate: func(p *Plan) {
			p.Waves[1], p.Waves[2] = p.Waves[2], p.Waves[1]
			for wi := range p.Waves {
				p.Waves[wi].Index = wi
				for si := range p.Waves[wi].Stages {
					p.Waves[wi].Stages[si].Wave = wi
				}
			}
		}, want: []string{
			`wave: plan.Waves[2].Regions: the wave holds 1 region, fewer than wave 1 (2): waves never shrink`}},

		// 3. Stages.
		{name: "3: duplicate and empty names", mutate: func(p *Plan) {
			p.Waves[0].Stages[2].Name = p.Waves[0].Stages[1].Name
			p.Waves[1].Stages[0].Name = ""
		}, want: []string{
			`wave: plan.Waves[0].Stages[2].Name: "w1/a/aa" is also the name of Waves[0].Stages[1]`,
			`wave: plan.Waves[1].Stages[0].Name: is empty`}},
		{name: "3: an unknown kind", mutate: func(p *Plan) { p.Waves[0].Stages[0].Kind = "cell" }, want: []string{
			`wave: plan.Waves[0].Stages[0].Kind: "cell" is not a known kind`}},
		{name: "3: a zone stage without a zone level", base: oneLevel, mutate: func(p *Plan) { p.Waves[0].Stages[0].Kind = Zone }, want: []string{
			`wave: plan.Waves[0].Stages[0].Kind: is zone, but the plan has no zone level`}},
		{name: "3: the wrong wave", mutate: func(p *Plan) { p.Waves[1].Stages[1].Wave = 0 }, want: []string{
			`wave: plan.Waves[1].Stages[1].Wave: is 0, want 1`}},
		{name: "3: a stage without regions", mutate: func(p *Plan) {
			p.Waves[0].Stages[0].Regions, p.Waves[0].Stages[0].Zones = nil, nil
		}, want: []string{
			`wave: plan.Waves[0].Stages[0].Regions: the stage has no regions`,
			`wave: plan.Waves[0].Stages[0].Batches[0].Targets[0].Location: region "a" is not one of the stage's regions []`}},
		{name: "3: a region listed twice", mutate: func(p *Plan) {
			s := &p.Waves[1].Stages[1]
			s.Regions, s.Zones = append(s.Regions, "b"), append(s.Zones, "ba")
		}, want: []string{
			`wave: plan.Waves[1].Stages[1].Regions[2]: region "b" is listed twice`}},
		{name: "3: zones that do not match regions", mutate: func(p *Plan) { p.Waves[1].Stages[1].Zones = []string{"ba"} }, want: []string{
			`wave: plan.Waves[1].Stages[1].Zones: has 1 zones for 2 regions; Zones[i] is the zone of Regions[i]`}},

		// 4. Targets.
		{name: "4: a target in two batches", mutate: func(p *Plan) {
			s := &p.Waves[0].Stages[2]
			s.Batches[3].Targets = append(s.Batches[3].Targets, s.Batches[0].Targets[0])
		}, want: []string{
			`wave: plan.Waves[0].Stages[2].Batches[3].Targets[1].ID: target "ab-h00" is also at Waves[0].Stages[2].Batches[0].Targets[0]`,
			`wave: plan.Waves[0].Stages[2].Units[0].Targets: is 10, but the stage has 11 targets of a/ab`}},
		{name: "4: excluded and planned", mutate: func(p *Plan) { p.Excluded = []string{"aa-h05"} }, want: []string{
			`wave: plan.Waves[0].Stages[1].Batches[1].Targets[1].ID: target "aa-h05" is also at Excluded[0]`}},
		{name: "4: excluded twice", mutate: func(p *Plan) { p.Excluded = []string{"gone", "gone"} }, want: []string{
			`wave: plan.Excluded[1]: "gone" is listed twice`}},
		{name: "4: an empty ID and a bad weight", mutate: func(p *Plan) {
			p.Waves[0].Stages[1].Batches[0].Targets[0].ID = ""
			p.Waves[0].Stages[1].Batches[0].Targets[1].Weight = -3
		}, want: []string{
			`wave: plan.Waves[0].Stages[1].Batches[0].Targets[0].ID: is empty`,
			`wave: plan.Waves[0].Stages[1].Batches[0].Targets[1].Weight: -3 is not a finite weight of 0 or more`}},
		{name: "4: a stage without batches", mutate: func(p *Plan) { p.Waves[0].Stages[0].Batches = nil }, want: []string{
			`wave: plan.Waves[0].Stages[0].Batches: the stage has no batches`}},
		{name: "4: an empty batch", mutate: func(p *Plan) {
			p.Waves[0].Stages[2].Batches = append(p.Waves[0].Stages[2].Batches, Batch{})
		}, want: []string{
			`wave: plan.Waves[0].Stages[2].Batches[4].Targets: the batch is empty`}},

		// 5. Isolation.
		{name: "5: a target outside the stage's regions", mutate: func(p *Plan) {
			p.Waves[0].Stages[1].Batches[0].Targets[0].Location = []string{"b", "ba"}
		}, want: []string{
			`wave: plan.Waves[0].Stages[1].Batches[0].Targets[0].Location: region "b" is not one of the stage's regions [a]`}},
		{name: "5: two zones of one region", mutate: func(p *Plan) {
			p.Waves[0].Stages[1].Batches[2].Targets[0].Location = []string{"a", "ab"}
		}, want: []string{
			`wave: plan.Waves[0].Stages[1].Batches[2].Targets[0].Location: zone "ab" of region "a", but the stage already holds zone "aa" of it`}},
		{name: "5: a zone other than the one listed", mutate: func(p *Plan) { p.Waves[0].Stages[1].Zones[0] = "ab" }, want: []string{
			`wave: plan.Waves[0].Stages[1].Batches[0].Targets[0].Location: zone "aa" of region "a", but the stage already holds zone "ab" of it`,
			`wave: plan.Waves[0].Stages[1].Batches[0].Targets[1].Location: zone "aa" of region "a", but the stage already holds zone "ab" of it`,
			`wave: plan.Waves[0].Stages[1].Batches[0].Targets[2].Location: zone "aa" of region "a", but the stage already holds zone "ab" of it`,
			`wave: plan.Waves[0].Stages[1].Batches[1].Targets[0].Location: zone "aa" of region "a", but the stage already holds zone "ab" of it`,
			`wave: plan.Waves[0].Stages[1].Batches[1].Targets[1].Location: zone "aa" of region "a", but the stage already holds zone "ab" of it`,
			`wave: plan.Waves[0].Stages[1].Batches[1].Targets[2].Location: zone "aa" of region "a", but the stage already holds zone "ab" of it`,
			`wave: plan.Waves[0].Stages[1].Batches[2].Targets[0].Location: zone "aa" of region "a", but the stage already holds zone "ab" of it`,
			`wave: plan.Waves[0].Stages[1].Batches[2].Targets[1].Location: zone "aa" of region "a", but the stage already holds zone "ab" of it`,
			`wave: plan.Waves[0].Stages[1].Batches[2].Targets[2].Location: zone "aa" of region "a", but the stage already holds zone "ab" of it`}},
		{name: "5: two one-boxes of a region", mutate: func(p *Plan) {
			p.Waves[1].Stages[0].Batches[0].Targets[1] = Target{ID: "extra", Location: []string{"b", "ba"}}
		}, want: []string{
			`wave: plan.Waves[1].Stages[0].Batches[0].Targets[1]: a one-box stage holds a second target of region "b"`}},
		// (Two cells of a zone in one batch: TestPlanValidateCells.)

		// 6. Minimum healthy.
		{name: "6: a negative minimum", mutate: func(p *Plan) {
			p.Waves[0].Stages[0].MinHealthy = -1
		}, want: []string{
			`wave: plan.Waves[0].Stages[0].MinHealthy: -1 is negative`}},
		{name: "6: a minimum above the stage's size", mutate: func(p *Plan) { p.Waves[0].Stages[0].MinHealthy = 2 }, want: []string{
			`wave: plan.Waves[0].Stages[0].MinHealthy: 2 is more than the stage's 1 targets`,
			`wave: plan.Waves[0].Stages[0].Batches[0].Targets: deploys 1 of the stage's 1 targets at once, leaving 0 healthy, below its MinHealthy 2`}},
		{name: "6: a batch breaks the stage's minimum", mutate: func(p *Plan) {
			s := &p.Waves[0].Stages[1]
			s.MinHealthy, s.Units[0].MinHealthy = 7, 7
		}, want: []string{
			`wave: plan.Waves[0].Stages[1].Batches[0].Targets: deploys 3 of the stage's 9 targets at once, leaving 6 healthy, below its MinHealthy 7`,
			`wave: plan.Waves[0].Stages[1].Batches[1].Targets: deploys 3 of the stage's 9 targets at once, leaving 6 healthy, below its MinHealthy 7`,
			`wave: plan.Waves[0].Stages[1].Batches[2].Targets: deploys 3 of the stage's 9 targets at once, leaving 6 healthy, below its MinHealthy 7`,
			`wave: plan.Waves[0].Stages[1].Batches[0].Targets: deploys 3 of the 9 targets of a/aa at once, leaving 6 healthy, below its MinHealthy 7`,
			`wave: plan.Waves[0].Stages[1].Batches[1].Targets: deploys 3 of the 9 targets of a/aa at once, leaving 6 healthy, below its MinHealthy 7`,
			`wave: plan.Waves[0].Stages[1].Batches[2].Targets: deploys 3 of the 9 targets of a/aa at once, leaving 6 healthy, below its MinHealthy 7`}},
		{name: "6: a zone over-deployed inside a two-region stage", mutate: func(p *Plan) {
			// Swap ba-h01 of batch 0 with ca-h04 of batch 1: every batch
			// still deploys 6 of the stage's 18 (12 stay healthy), but
			// batch 0 takes 4 of zone ca's 9, leaving 5 of its 6.
			bs := p.Waves[1].Stages[1].Batches
			bs[0].Targets[0], bs[1].Targets[3] = bs[1].Targets[3], bs[0].Targets[0]
		}, want: []string{
			`wave: plan.Waves[1].Stages[1].Batches[0].Targets: deploys 4 of the 9 targets of c/ca at once, leaving 5 healthy, below its MinHealthy 6`,
			`wave: plan.Waves[1].Stages[1].Batches[1].Targets: deploys 4 of the 9 targets of b/ba at once, leaving 5 healthy, below its MinHealthy 6`}},
		{name: "6: units whose minimums do not add up", mutate: func(p *Plan) { p.Waves[1].Stages[1].Units[1].MinHealthy = 5 }, want: []string{
			`wave: plan.Waves[1].Stages[1].MinHealthy: is 12, but its units' minimums add up to 11`}},
		{name: "6: a target in no unit, a unit with the wrong count", mutate: func(p *Plan) {
			s := &p.Waves[1].Stages[1]
			s.Units[1].Location = []string{"c", "cb"}
		}, want: []string{
			`wave: plan.Waves[1].Stages[1].Batches[0].Targets[3].Location: ["c" "ca"] is in none of the stage's Units`,
			`wave: plan.Waves[1].Stages[1].Batches[0].Targets[4].Location: ["c" "ca"] is in none of the stage's Units`,
			`wave: plan.Waves[1].Stages[1].Batches[0].Targets[5].Location: ["c" "ca"] is in none of the stage's Units`,
			`wave: plan.Waves[1].Stages[1].Batches[1].Targets[3].Location: ["c" "ca"] is in none of the stage's Units`,
			`wave: plan.Waves[1].Stages[1].Batches[1].Targets[4].Location: ["c" "ca"] is in none of the stage's Units`,
			`wave: plan.Waves[1].Stages[1].Batches[1].Targets[5].Location: ["c" "ca"] is in none of the stage's Units`,
			`wave: plan.Waves[1].Stages[1].Batches[2].Targets[3].Location: ["c" "ca"] is in none of the stage's Units`,
			`wave: plan.Waves[1].Stages[1].Batches[2].Targets[4].Location: ["c" "ca"] is in none of the stage's Units`,
			`wave: plan.Waves[1].Stages[1].Batches[2].Targets[5].Location: ["c" "ca"] is in none of the stage's Units`,
			`wave: plan.Waves[1].Stages[1].Units[1].Targets: is 9, but the stage has 0 targets of c/cb`}},
		{name: "6: a unit listed twice, a unit without levels", mutate: func(p *Plan) {
			s := &p.Waves[1].Stages[2]
			s.Units = append(s.Units, s.Units[0], Unit{Location: []string{"c"}})
		}, want: []string{
			`wave: plan.Waves[1].Stages[2].Units[2].Location: ["b" "bb"] is also Units[0]`,
			`wave: plan.Waves[1].Stages[2].Units[3].Location: ["c"] does not name exactly the 2 levels [region zone]`}},
		{name: "6: a unit's minimum above its size", mutate: func(p *Plan) {
			s := &p.Waves[0].Stages[2]
			s.Units[0].MinHealthy, s.MinHealthy = 11, 11
		}, want: []string{
			`wave: plan.Waves[0].Stages[2].MinHealthy: 11 is more than the stage's 10 targets`,
			`wave: plan.Waves[0].Stages[2].Batches[0].Targets: deploys 3 of the stage's 10 targets at once, leaving 7 healthy, below its MinHealthy 11`,
			`wave: plan.Waves[0].Stages[2].Batches[1].Targets: deploys 3 of the stage's 10 targets at once, leaving 7 healthy, below its MinHealthy 11`,
			`wave: plan.Waves[0].Stages[2].Batches[2].Targets: deploys 3 of the stage's 10 targets at once, leaving 7 healthy, below its MinHealthy 11`,
			`wave: plan.Waves[0].Stages[2].Batches[3].Targets: deploys 1 of the stage's 10 targets at once, leaving 9 healthy, below its MinHealthy 11`,
			`wave: plan.Waves[0].Stages[2].Units[0].MinHealthy: 11 is outside [0, 10] (the unit's targets)`,
			`wave: plan.Waves[0].Stages[2].Batches[0].Targets: deploys 3 of the 10 targets of a/ab at once, leaving 7 healthy, below its MinHealthy 11`,
			`wave: plan.Waves[0].Stages[2].Batches[1].Targets: deploys 3 of the 10 targets of a/ab at once, leaving 7 healthy, below its MinHealthy 11`,
			`wave: plan.Waves[0].Stages[2].Batches[2].Targets: deploys 3 of the 10 targets of a/ab at once, leaving 7 healthy, below its MinHealthy 11`,
			`wave: plan.Waves[0].Stages[2].Batches[3].Targets: deploys 1 of the 10 targets of a/ab at once, leaving 9 healthy, below its MinHealthy 11`}},

		// 7. Bakes.
		{name: "7: negative bakes", mutate: func(p *Plan) {
			p.FinalBake = -1
			p.Waves[0].Stages[0].Bake = -duration.Duration(time.Hour)
		}, want: []string{
			`wave: plan.FinalBake: -1ns is negative`,
			`wave: plan.Waves[0].Stages[0].Bake: -1h0m0s is negative`}},
		{name: "7: none in a plan", mutate: func(p *Plan) { p.Waves[0].Stages[1].Bake = duration.None }, want: []string{
			`wave: plan.Waves[0].Stages[1].Bake: is "none"; a plan holds resolved bakes, 0 for no bake`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mk := base
			if tt.base != nil {
				mk = tt.base
			}
			p := mk(t)
			if err := p.Validate(); err != nil {
				t.Fatalf("base plan: %v", err)
			}
			tt.mutate(p)
			err := p.Validate()
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("Validate() problems (-want +got):\n%s", diff)
			}
			if !errors.Is(err, ErrPlan) {
				t.Errorf("errors.Is(err, ErrPlan) = false")
			}
			for _, fe := range field.All(err) {
				if !strings.HasPrefix(fe.Path, "plan.") || fe.Err != ErrPlan {
					t.Errorf("problem %#v", fe)
				}
			}
		})
	}
	var nilPlan *Plan
	if err := nilPlan.Validate(); !errors.Is(err, ErrPlan) {
		t.Errorf("nil plan: Validate() = %v", err)
	}
}

// TestPlanValidateOldPlans checks that a plan stored before Stage.Units
// existed still validates, against its stages' totals.
func TestPlanValidateOldPlans(t *testing.T) {
	p, err := Policy{}.Plan(grid([]string{"a", "b", "c"}, 2, 10, one))
	if err != nil {
		t.Fatal(err)
	}
	for wi := range p.Waves {
		for si := range p.Waves[wi].Stages {
			p.Waves[wi].Stages[si].Units = nil
		}
	}
	if err := p.Validate(); err != nil {
		t.Error(err)
	}
}

func TestPlanValidateCells(t *testing.T) {
	ts := concat(hosts("r", []string{"z", "c1"}, 4, 1), hosts("r", []string{"z", "c2"}, 4, 1))
	p, err := Policy{Levels: []string{"region", "zone", "cell"}, OneBox: OneBoxRule{Off: true}, Batch: Batching{MaxFraction: 0.5}}.Plan(ts)
	if err != nil {
		t.Fatal(err)
	}
	// Move the first target of cell c2 into the first batch, of cell c1.
	b := &p.Waves[0].Stages[0].Batches
	(*b)[0].Targets = append((*b)[0].Targets, (*b)[2].Targets[0])
	(*b)[2].Targets = (*b)[2].Targets[1:]
	p.Waves[0].Stages[0].MinHealthy = 0
	for i := range p.Waves[0].Stages[0].Units {
		p.Waves[0].Stages[0].Units[i].MinHealthy = 0
	}
	want := `wave: plan.Waves[0].Stages[0].Batches[0].Targets[2].Location: cell "c2" of r/z, but the batch already holds cell "c1" of it`
	if err := p.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want %s", err, want)
	}
}

func TestPlanJSON(t *testing.T) {
	p, err := Policy{}.Plan(awsFleet())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Plan
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, &back); diff != "" {
		t.Errorf("plan after a JSON round trip (-want +got):\n%s", diff)
	}
	if err := back.Validate(); err != nil {
		t.Error(err)
	}
	if !strings.Contains(string(b), `"bake":"12h0m0s"`) || !strings.Contains(string(b), `"name":"w1/one-box/sa-east-1"`) {
		t.Errorf("JSON lacks readable bakes or names: %.300s", b)
	}
}

// TestPlanValidateNoLevels is the case that once indexed past the end of
// a location: a decoded plan with no Levels and a target with no
// Location must get field-named errors, not a panic.
func TestPlanValidateNoLevels(t *testing.T) {
	const planJSON = `{"waves":[{"index":0,"regions":["r"],"stages":[{"name":"s","kind":"region","wave":0,"regions":["r"],"batches":[{"targets":[{"id":"a","location":[]},{"id":"b"}]}]}]}]}`
	var p Plan
	if err := json.Unmarshal([]byte(planJSON), &p); err != nil {
		t.Fatal(err)
	}
	err := p.Validate()
	want := []string{
		`wave: plan.Levels: is empty`,
		`wave: plan.Waves[0].Stages[0].Batches[0].Targets[0].Location: [] does not name every level of []`,
		`wave: plan.Waves[0].Stages[0].Batches[0].Targets[1].Location: [] does not name every level of []`,
	}
	if err == nil {
		t.Fatal("Validate() = nil, want an error")
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("Validate() problems (-want +got):\n%s", diff)
	}
}
