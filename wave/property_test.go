package wave

import (
	"errors"
	"fmt"
	"math/big"
	"math/rand"
	"reflect"
	"slices"
	"strconv"
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
	p.OneBox = []OneBoxRule{{}, {Off: true}, {MaxFraction: 0.5}, {MaxFraction: 1}, {PerZone: true}, {MaxFraction: 0.3, PerZone: true}}[r.Intn(6)]
	p.OneBox.Require = !p.OneBox.Off && r.Intn(8) == 0
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
			// A required one-box may be impossible too.
			if !errors.Is(err, ErrMinHealthy) && !errors.Is(err, ErrNoTargets) && !(c.Policy.OneBox.Require && errors.Is(err, ErrNoOneBox)) {
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
	// The minimum healthy and the batch of a unit of n targets, computed
	// exactly on the decimals of the policy, independently of the planner.
	minOf := func(n int) (min, batch int) {
		frac := ratFloor(new(big.Rat).Mul(dec(s.maxFraction), big.NewRat(int64(n), 1)))
		var m int
		if mh := s.minHealthy; mh != nil {
			m = mh.Count
			if m == 0 {
				m = ratCeil(new(big.Rat).Mul(dec(mh.Percent), big.NewRat(int64(n), 100)))
			}
		}
		batch = max(1, min2(n-m, frac))
		if s.minHealthy == nil {
			return n - batch, batch
		}
		return m, batch
	}

	// The one-box limits: the lightest target of each region that may be
	// its one-box, if any.
	exactW := map[string]*big.Rat{} // region or zone -> exact weight
	for id := range want {
		tg := byID[id]
		for _, k := range []string{tg.Location[0], strings.Join(tg.Location[:min(L, 2)], "/")} {
			if exactW[k] == nil {
				exactW[k] = new(big.Rat)
			}
		}
		exactW[tg.Location[0]].Add(exactW[tg.Location[0]], dec(weightOf(&tg)))
		if L >= 2 {
			z := strings.Join(tg.Location[:2], "/")
			exactW[z].Add(exactW[z], dec(weightOf(&tg)))
		}
	}
	perZone := pol.OneBox.PerZone && L >= 2
	oneBoxBase := func(tg Target) *big.Rat {
		if perZone {
			return exactW[strings.Join(tg.Location[:2], "/")]
		}
		return exactW[tg.Location[0]]
	}
	fits := func(tg Target) bool {
		lim := new(big.Rat).Mul(dec(s.oneBoxFraction), oneBoxBase(tg))
		return dec(weightOf(&tg)).Cmp(lim) <= 0
	}
	lightestFit := map[string]float64{} // region -> weight of its lightest target that fits
	for id := range want {
		tg := byID[id]
		if !fits(tg) {
			continue
		}
		if w, ok := lightestFit[tg.Location[0]]; !ok || weightOf(&tg) < w {
			lightestFit[tg.Location[0]] = weightOf(&tg)
		}
	}
	gotOneBox := map[string]bool{}

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
						gotOneBox[r] = true
						if !fits(tg) {
							t.Errorf("one-box %s carries %v of %v, above %v", tg.ID, weightOf(&tg), oneBoxBase(tg).FloatString(3), s.oneBoxFraction)
						}
						if w := weightOf(&tg); w != lightestFit[r] {
							t.Errorf("one-box %s of %s weighs %v; the lightest target that fits weighs %v", tg.ID, r, w, lightestFit[r])
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
	// Every region with a target light enough has a one-box, and only
	// those.
	if s.oneBox {
		for r := range regionW {
			_, fit := lightestFit[r]
			if fit != gotOneBox[r] {
				t.Errorf("region %s: a target fits the one-box limit: %v, the plan has a one-box: %v", r, fit, gotOneBox[r])
			}
			warned := slices.ContainsFunc(p.Warnings, func(w Warning) bool { return w.Code == WarnNoOneBox && w.Region == r })
			if warned == fit {
				t.Errorf("region %s: one-box %v, but warned %v", r, fit, warned)
			}
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

// dec reads f as the decimal it is written as.
func dec(f float64) *big.Rat {
	r, ok := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64))
	if !ok {
		panic(f)
	}
	return r
}

func ratFloor(x *big.Rat) int {
	q := new(big.Int).Div(x.Num(), x.Denom()) // Euclidean: floor for a positive denominator
	return int(q.Int64())
}

func ratCeil(x *big.Rat) int {
	return -ratFloor(new(big.Rat).Neg(x))
}
