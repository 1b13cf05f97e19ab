package wave

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPlanValidate(t *testing.T) {
	base := func(t *testing.T) *Plan {
		ts := grid([]string{"a", "b", "c"}, 2, 10, func(r int) float64 { return float64(r + 1) })
		p, err := Policy{}.Plan(ts)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The base plan's stages: w1/one-box/a, w1/a/aa, w1/a/ab,
	// w2/one-box/b+c, w2/b/ba+c/ca, w2/b/bb+c/cb.
	tests := []struct {
		name   string
		mutate func(p *Plan)
		want   []string
	}{
		{"target twice", func(p *Plan) {
			s := &p.Waves[1].Stages[1]
			s.Batches[0].Targets = append(s.Batches[0].Targets, s.Batches[1].Targets[0])
			s.MinHealthy = 0
		}, []string{
			`wave: plan.Waves[1].Stages[1].Batches[1].Targets[0].ID: target "ba-h04" is also at Waves[1].Stages[1].Batches[0].Targets[6]`}},
		{"excluded and planned", func(p *Plan) { p.Excluded = []string{"aa-h05"} }, []string{
			`wave: plan.Waves[0].Stages[1].Batches[1].Targets[1].ID: target "aa-h05" is also at Excluded[0]`}},
		{"two zones of one region", func(p *Plan) {
			s := &p.Waves[0].Stages[1]
			s.Batches[2].Targets[0].Location = []string{"a", "ab"}
		}, []string{
			`wave: plan.Waves[0].Stages[1].Batches[2].Targets[0].Location: zone "ab" of region "a", but the stage already holds zone "aa" of it`}},
		{"first wave of two regions", func(p *Plan) { p.Waves[0].Regions = append(p.Waves[0].Regions, "x") }, []string{
			`wave: plan.Waves[0].Regions: the first wave holds 2 regions [a x]; it must hold one`}},
		{"region in two waves", func(p *Plan) { p.Waves[1].Regions[1] = "a" }, []string{
			`wave: plan.Waves[1].Regions[1]: region "a" is also in wave 0`,
			`wave: plan.Waves[1].Stages[0].Regions[1]: region "c" is not in the stage's wave`,
			`wave: plan.Waves[1].Stages[1].Regions[1]: region "c" is not in the stage's wave`,
			`wave: plan.Waves[1].Stages[2].Regions[1]: region "c" is not in the stage's wave`}},
		{"duplicate and empty names", func(p *Plan) {
			p.Waves[0].Stages[2].Name = p.Waves[0].Stages[1].Name
			p.Waves[1].Stages[0].Name = ""
		}, []string{
			`wave: plan.Waves[0].Stages[2].Name: "w1/a/aa" is also the name of Waves[0].Stages[1]`,
			`wave: plan.Waves[1].Stages[0].Name: is empty`}},
		{"empty batch", func(p *Plan) {
			p.Waves[0].Stages[2].Batches[3].Targets = nil
			p.Waves[0].Stages[2].MinHealthy = 6
		}, []string{
			`wave: plan.Waves[0].Stages[2].Batches[3].Targets: the batch is empty`}},
		{"batch breaks minimum healthy", func(p *Plan) { p.Waves[0].Stages[1].MinHealthy = 7 }, []string{
			`wave: plan.Waves[0].Stages[1].Batches[0].Targets: deploys 3 of the stage's 9 targets at once, leaving 6 healthy, below its MinHealthy 7`,
			`wave: plan.Waves[0].Stages[1].Batches[1].Targets: deploys 3 of the stage's 9 targets at once, leaving 6 healthy, below its MinHealthy 7`,
			`wave: plan.Waves[0].Stages[1].Batches[2].Targets: deploys 3 of the stage's 9 targets at once, leaving 6 healthy, below its MinHealthy 7`}},
		{"two one-boxes of a region", func(p *Plan) {
			p.Waves[1].Stages[0].Batches[0].Targets[1] = Target{ID: "extra", Location: []string{"b", "ba"}}
		}, []string{
			`wave: plan.Waves[1].Stages[0].Batches[0].Targets[1]: a one-box stage holds a second target of region "b"`}},
		{"negative bakes, bad kind, wrong indices", func(p *Plan) {
			p.FinalBake = -1
			p.Waves[0].Stages[0].Bake = -1
			p.Waves[0].Stages[0].Kind = "cell"
			p.Waves[1].Index = 5
			p.Waves[1].Stages[1].Wave = 0
		}, []string{
			`wave: plan.FinalBake: -1ns is negative`,
			`wave: plan.Waves[0].Stages[0].Kind: "cell" is not a known kind`,
			`wave: plan.Waves[0].Stages[0].Bake: -1ns is negative`,
			`wave: plan.Waves[1].Index: is 5, want 1`,
			`wave: plan.Waves[1].Stages[1].Wave: is 0, want 1`}},
		{"target outside the stage's regions", func(p *Plan) {
			p.Waves[0].Stages[1].Batches[0].Targets[0].Location = []string{"b", "ba"}
		}, []string{
			`wave: plan.Waves[0].Stages[1].Batches[0].Targets[0].Location: region "b" is not one of the stage's regions [a]`}},
		{"short location and bad weight", func(p *Plan) {
			p.Waves[0].Stages[1].Batches[0].Targets[0].Location = []string{"a"}
			p.Waves[0].Stages[1].Batches[0].Targets[1].Weight = -3
		}, []string{
			`wave: plan.Waves[0].Stages[1].Batches[0].Targets[0].Location: ["a"] does not name every level of [region zone]`,
			`wave: plan.Waves[0].Stages[1].Batches[0].Targets[1].Weight: -3 is not a finite weight of 0 or more`}},
		{"no waves", func(p *Plan) { p.Waves = nil; p.Levels = nil }, []string{
			`wave: plan.Levels: is empty`,
			`wave: plan.Waves: there are no waves`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base(t)
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
		})
	}
	var nilPlan *Plan
	if err := nilPlan.Validate(); !errors.Is(err, ErrPlan) {
		t.Errorf("nil plan: Validate() = %v", err)
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
