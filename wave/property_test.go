package wave

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/quick"

	"github.com/google/go-cmp/cmp"
)

// fleetCase is a random fleet and policy for property tests.
type fleetCase struct {
	Policy  Policy
	Targets []Target
}

// Generate makes fleets of 1 to 3 levels, 1 to 8 regions, 1 to 4 zones,
// 1 to 3 cells and 1 to 12 targets per cell, with random weights, labels,
// exclusions, pins, wave sizes, batch limits and one-box settings, in a
// random order.
func (fleetCase) Generate(r *rand.Rand, _ int) reflect.Value {
	levels := [][]string{{"region"}, {"region", "zone"}, {"region", "zone", "cell"}}[r.Intn(3)]
	var c fleetCase
	c.Policy.Levels = levels
	if len(levels) == 2 && r.Intn(2) == 0 {
		c.Policy.Levels = nil // the default levels
	}
	nr := 1 + r.Intn(8)
	for ri := range nr {
		region := fmt.Sprintf("r%d", ri)
		for zi := range 1 + r.Intn(4) {
			for ci := range 1 + r.Intn(3) {
				for h := range 1 + r.Intn(12) {
					loc := []string{region, fmt.Sprintf("%s-z%d", region, zi), fmt.Sprintf("c%d", ci), fmt.Sprint("h", h)}
					t := Target{ID: fmt.Sprintf("%s-z%d-c%d-h%d", region, zi, ci, h), Location: loc[:max(len(levels), 1+r.Intn(4))]}
					if r.Intn(3) > 0 {
						t.Weight = float64(r.Intn(40)) / 4
					}
					if r.Intn(5) == 0 {
						t.Labels = map[string]string{"env": []string{"a", "b"}[r.Intn(2)]}
					}
					c.Targets = append(c.Targets, t)
				}
			}
		}
	}
	r.Shuffle(len(c.Targets), func(i, j int) { c.Targets[i], c.Targets[j] = c.Targets[j], c.Targets[i] })

	p := &c.Policy
	p.OneBox = []OneBoxRule{{}, {Off: true}, {MaxFraction: 0.5}, {MaxFraction: 1}}[r.Intn(4)]
	p.Waves.Growth = []float64{0, 1, 1.5, 2, 3}[r.Intn(5)]
	if r.Intn(3) == 0 {
		p.Waves.Sizes = []int{1, 1, 2}
	}
	p.Waves.MaxParallelRegions = r.Intn(4)
	p.Batch.MaxFraction = []float64{0, 0.1, 0.33, 0.5, 1}[r.Intn(5)]
	switch r.Intn(4) {
	case 1:
		p.Batch.MinHealthy = &MinHealthy{Count: r.Intn(3)}
	case 2:
		p.Batch.MinHealthy = &MinHealthy{Percent: []float64{0, 10, 50}[r.Intn(3)]}
	}
	if r.Intn(3) == 0 {
		p.First = []string{fmt.Sprint("r", r.Intn(nr))}
	}
	if r.Intn(3) == 0 {
		p.Exclude.IDs = []string{c.Targets[r.Intn(len(c.Targets))].ID, "not-there"}
	}
	if r.Intn(4) == 0 {
		p.Exclude.Labels = map[string]string{"env": "b"}
	}
	return reflect.ValueOf(c)
}

// TestPlanProperties checks the planner's invariants on random fleets.
func TestPlanProperties(t *testing.T) {
	planned := 0
	f := func(c fleetCase) bool {
		p, err := c.Policy.Plan(c.Targets)
		if err != nil {
			// Random minimums and exclusions can make a fleet unplannable;
			// nothing else may.
			if !errors.Is(err, ErrMinHealthy) && !errors.Is(err, ErrNoTargets) {
				t.Errorf("Plan() = %v", err)
			}
			return !t.Failed()
		}
		planned++
		if err := p.Validate(); err != nil {
			t.Errorf("Validate() = %v", err)
		}
		checkInvariants(t, c.Policy, c.Targets, p)

		// Deterministic: the same input gives the same plan, and so does
		// the same fleet in another order.
		again, err := c.Policy.Plan(c.Targets)
		if err != nil {
			t.Fatal(err)
		}
		// reflect.DeepEqual first: cmp.Diff is slow on equal plans.
		if !reflect.DeepEqual(p, again) {
			t.Errorf("planning twice differs (-first +second):\n%s", cmp.Diff(p, again))
		}
		shuffled := slices.Clone(c.Targets)
		slices.Reverse(shuffled)
		again, err = c.Policy.Plan(shuffled)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(p, again) {
			t.Errorf("planning the reversed fleet differs (-first +reversed):\n%s", cmp.Diff(p, again))
		}
		return !t.Failed()
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 400, Rand: rand.New(rand.NewSource(1))}); err != nil {
		t.Error(err)
	}
	if planned < 200 {
		t.Errorf("only %d of 400 random fleets were planned; the generator makes too many bad fleets", planned)
	}
}

// checkInvariants checks a plan against its fleet and policy independently
// of Plan.Validate.
func checkInvariants(t *testing.T, pol Policy, ts []Target, p *Plan) {
	t.Helper()
	s := pol.settings()
	L := len(s.levels)

	// Every target is in exactly one batch, or excluded.
	want := map[string]bool{}
	byID := map[string]Target{}
	for _, tg := range ts {
		byID[tg.ID] = tg
		excluded := slices.Contains(pol.Exclude.IDs, tg.ID)
		for k, v := range pol.Exclude.Labels {
			if lv, ok := tg.Labels[k]; ok && lv == v {
				excluded = true
			}
		}
		if excluded {
			if !slices.Contains(p.Excluded, tg.ID) {
				t.Errorf("target %s should be excluded", tg.ID)
			}
			continue
		}
		want[tg.ID] = true
	}
	seen := map[string]int{}

	// Sizes of each unit (zone, or cell with three levels, or region).
	unitOf := func(tg Target) string { return strings.Join(tg.Location[:L], "/") }
	unitN := map[string]int{}
	zoneW := map[string]float64{}
	regionW := map[string]float64{}
	for id := range want {
		tg := byID[id]
		unitN[unitOf(tg)]++
		zoneW[strings.Join(tg.Location[:min(L, 2)], "/")] += weightOf(&tg)
		regionW[tg.Location[0]] += weightOf(&tg)
	}
	minOf := func(n int) (min, batch int) {
		down := n - s.minHealthy.of(n)
		batch = max(1, min2(down, int(math.Floor(s.maxFraction*float64(n)+1e-9))))
		if s.minHealthy == nil {
			return n - batch, batch
		}
		return s.minHealthy.of(n), batch
	}

	waveOf := map[string]int{}
	names := map[string]bool{}
	for wi, w := range p.Waves {
		if wi == 0 && len(w.Regions) != 1 {
			t.Errorf("the first wave holds %d regions", len(w.Regions))
		}
		if wi > 0 && len(w.Regions) < len(p.Waves[wi-1].Regions) {
			t.Errorf("wave %d holds %d regions, fewer than wave %d (%d)", wi, len(w.Regions), wi-1, len(p.Waves[wi-1].Regions))
		}
		if c := pol.Waves.MaxParallelRegions; c > 0 && len(w.Regions) > c {
			t.Errorf("wave %d holds %d regions, more than the cap %d", wi, len(w.Regions), c)
		}
		for _, r := range w.Regions {
			if _, dup := waveOf[r]; dup {
				t.Errorf("region %s in two waves", r)
			}
			waveOf[r] = wi
		}
		for _, st := range w.Stages {
			if names[st.Name] {
				t.Errorf("stage name %q twice", st.Name)
			}
			names[st.Name] = true
			zoneOfRegion := map[string]string{}
			oneBoxes := map[string]int{}
			for _, b := range st.Batches {
				if len(b.Targets) == 0 {
					t.Errorf("stage %s has an empty batch", st.Name)
				}
				perUnit := map[string]int{}
				cellOfZone := map[string]string{}
				for _, tg := range b.Targets {
					seen[tg.ID]++
					if !want[tg.ID] {
						t.Errorf("target %s is planned but excluded or unknown", tg.ID)
					}
					r := tg.Location[0]
					if waveOf[r] != wi {
						t.Errorf("target %s of region %s deploys in wave %d", tg.ID, r, wi)
					}
					if L >= 2 {
						z := tg.Location[1]
						if have, ok := zoneOfRegion[r]; ok && have != z {
							t.Errorf("stage %s holds zones %s and %s of region %s", st.Name, have, z, r)
						}
						zoneOfRegion[r] = z
					}
					if L == 3 {
						zk := tg.Location[0] + "/" + tg.Location[1]
						if have, ok := cellOfZone[zk]; ok && have != tg.Location[2] {
							t.Errorf("a batch of %s holds cells %s and %s of zone %s", st.Name, have, tg.Location[2], zk)
						}
						cellOfZone[zk] = tg.Location[2]
					}
					perUnit[unitOf(tg)]++
					if st.Kind == OneBox {
						oneBoxes[r]++
						base := zoneW[strings.Join(tg.Location[:min(L, 2)], "/")]
						if weightOf(&tg) > s.oneBoxFraction*base*(1+1e-9) {
							t.Errorf("one-box %s carries %v of %v, above %v", tg.ID, weightOf(&tg), base, s.oneBoxFraction)
						}
					}
				}
				// No batch breaks the minimum healthy of its unit.
				for u, k := range perUnit {
					n := unitN[u]
					m, batch := minOf(n)
					if n-k < m || k > batch {
						t.Errorf("stage %s deploys %d of the %d targets of %s at once: min healthy %d, batch %d", st.Name, k, n, u, m, batch)
					}
				}
			}
			for r, k := range oneBoxes {
				if k != 1 {
					t.Errorf("one-box stage %s holds %d targets of %s", st.Name, k, r)
				}
			}
		}
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("target %s is in %d batches, want 1", id, seen[id])
		}
	}
	for id, n := range seen {
		if !want[id] && n > 0 {
			t.Errorf("target %s should not be planned", id)
		}
	}
	if len(regionW) != len(waveOf) {
		t.Errorf("%d regions in waves, want %d", len(waveOf), len(regionW))
	}

	// The first region: pinned, or the lightest (ties by name).
	first := p.Waves[0].Regions[0]
	if len(pol.First) > 0 {
		if first != pol.First[0] {
			t.Errorf("first region %s, want pinned %s", first, pol.First[0])
		}
	} else if pol.Order == nil {
		for r, w := range regionW {
			if w < regionW[first] || (w == regionW[first] && r < first) {
				t.Errorf("first region %s (weight %v), but %s weighs %v", first, regionW[first], r, w)
			}
		}
	}
}

func min2(a, b int) int { return min(a, b) }
