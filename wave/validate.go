package wave

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/shepherd-go/shepherd/duration"
)

// Validate checks the invariants a driver relies on, for a plan made by
// [Policy.Plan] or read back from storage, and reports every broken one
// with its path (for example "wave: plan.Waves[1].Stages[0].Name: ..."),
// each a [*FieldError] wrapping [ErrPlan], joined with [errors.Join]. It
// checks, from the plan alone:
//
//  1. Levels: there is at least one level, each named, and every target's
//     location names every level.
//  2. Waves: there is at least one; each is numbered by its position
//     (Index), has regions and stages; no region is in two waves; the
//     first wave holds exactly one region; no wave holds fewer regions
//     than the wave before it.
//  3. Stages: names are unique and not empty; kinds are known (a zone
//     stage needs a zone level); each stage's Wave is its wave's index;
//     its regions are listed once each, all of its wave, with Zones[i]
//     the zone of Regions[i] when Zones is given.
//  4. Targets: no target is in two batches, nor both in a batch and
//     Excluded (listed once); IDs are not empty; weights are finite and
//     not negative; every stage has a batch and every batch a target.
//  5. Isolation: a stage's targets are in its regions, in one zone of
//     each (the one Zones lists); a batch holds one cell of a zone; a
//     one-box stage holds one target of each of its regions.
//  6. Minimum healthy: a stage's MinHealthy is between 0 and its number
//     of targets, and no batch leaves fewer of the stage's targets
//     healthy. When the stage lists its Units (plans made since Units
//     exist; they are optional so that older stored plans still
//     validate), every target is in exactly one listed unit, each unit's
//     Targets is its count, the units' minimums add up to MinHealthy, and
//     no batch leaves fewer than a unit's MinHealthy of that unit healthy,
//     so that a stage of two zones cannot over-deploy one of them.
//  7. Bakes: no stage bake and no final bake is negative (a plan holds
//     resolved bakes: no bake is 0, never [duration.None]).
//
// A plan made by [Policy.Plan] passes; each of these is tested with a plan
// that breaks it.
func (p *Plan) Validate() error {
	ps := problems{prefix: "plan"}
	if p == nil {
		ps.add(ErrPlan, "Waves", "the plan is nil")
		return ps.err()
	}
	L := len(p.Levels)
	if L == 0 {
		ps.add(ErrPlan, "Levels", "is empty")
	}
	for i, l := range p.Levels {
		if l == "" {
			ps.add(ErrPlan, fmt.Sprintf("Levels[%d]", i), "is empty")
		}
	}
	if len(p.Waves) == 0 {
		ps.add(ErrPlan, "Waves", "there are no waves")
	}
	bakeOK(&ps, "FinalBake", p.FinalBake)
	n := 0
	for wi := range p.Waves {
		for si := range p.Waves[wi].Stages {
			for bi := range p.Waves[wi].Stages[si].Batches {
				n += len(p.Waves[wi].Stages[si].Batches[bi].Targets)
			}
		}
	}
	seen := make(map[string]where, n) // target ID -> where
	for i, id := range p.Excluded {
		if _, dup := seen[id]; dup {
			ps.add(ErrPlan, fmt.Sprintf("Excluded[%d]", i), "%q is listed twice", id)
		}
		seen[id] = where{path: "Excluded", i: i}
	}
	waveOf := map[string]int{} // region -> wave
	names := map[string]string{}
	for wi := range p.Waves {
		wv := &p.Waves[wi]
		wf := fmt.Sprintf("Waves[%d]", wi)
		if wv.Index != wi {
			ps.add(ErrPlan, wf+".Index", "is %d, want %d", wv.Index, wi)
		}
		if len(wv.Regions) == 0 {
			ps.add(ErrPlan, wf+".Regions", "the wave has no regions")
		}
		if wi == 0 && len(wv.Regions) > 1 {
			ps.add(ErrPlan, wf+".Regions", "the first wave holds %d regions %v; it must hold one", len(wv.Regions), wv.Regions)
		}
		if wi > 0 && len(wv.Regions) < len(p.Waves[wi-1].Regions) {
			ps.add(ErrPlan, wf+".Regions", "the wave holds %d %s, fewer than wave %d (%d): waves never shrink",
				len(wv.Regions), plural(len(wv.Regions), "region"), wi-1, len(p.Waves[wi-1].Regions))
		}
		inWave := map[string]bool{}
		for ri, r := range wv.Regions {
			if w, ok := waveOf[r]; ok {
				ps.add(ErrPlan, fmt.Sprintf("%s.Regions[%d]", wf, ri), "region %q is also in wave %d", r, w)
			}
			waveOf[r] = wi
			inWave[r] = true
		}
		if len(wv.Stages) == 0 {
			ps.add(ErrPlan, wf+".Stages", "the wave has no stages")
		}
		for si := range wv.Stages {
			p.validateStage(&ps, fmt.Sprintf("%s.Stages[%d]", wf, si), wi, &wv.Stages[si], inWave, names, seen)
		}
	}
	return ps.err()
}

func (p *Plan) validateStage(ps *problems, sf string, wi int, st *Stage, inWave map[string]bool, names map[string]string, seen map[string]where) {
	L := len(p.Levels)
	if st.Name == "" {
		ps.add(ErrPlan, sf+".Name", "is empty")
	} else if other, dup := names[st.Name]; dup {
		ps.add(ErrPlan, sf+".Name", "%q is also the name of %s", st.Name, other)
	} else {
		names[st.Name] = sf
	}
	switch st.Kind {
	case OneBox, Region:
	case Zone:
		if L < 2 {
			ps.add(ErrPlan, sf+".Kind", "is zone, but the plan has no zone level")
		}
	default:
		ps.add(ErrPlan, sf+".Kind", "%q is not a known kind", st.Kind)
	}
	if st.Wave != wi {
		ps.add(ErrPlan, sf+".Wave", "is %d, want %d", st.Wave, wi)
	}
	bakeOK(ps, sf+".Bake", st.Bake)
	if len(st.Regions) == 0 {
		ps.add(ErrPlan, sf+".Regions", "the stage has no regions")
	}
	if st.Zones != nil && len(st.Zones) != len(st.Regions) {
		ps.add(ErrPlan, sf+".Zones", "has %d zones for %d regions; Zones[i] is the zone of Regions[i]", len(st.Zones), len(st.Regions))
	}
	zoneOf := map[string]string{} // region -> its one zone in this stage
	for ri, r := range st.Regions {
		rf := fmt.Sprintf("%s.Regions[%d]", sf, ri)
		if !inWave[r] {
			ps.add(ErrPlan, rf, "region %q is not in the stage's wave", r)
		}
		if _, dup := zoneOf[r]; dup {
			ps.add(ErrPlan, rf, "region %q is listed twice", r)
		}
		zoneOf[r] = ""
		if len(st.Zones) == len(st.Regions) {
			zoneOf[r] = st.Zones[ri]
		}
	}
	if len(st.Batches) == 0 {
		ps.add(ErrPlan, sf+".Batches", "the stage has no batches")
	}
	if st.MinHealthy < 0 {
		ps.add(ErrPlan, sf+".MinHealthy", "%d is negative", st.MinHealthy)
	}
	n := 0
	for bi := range st.Batches {
		n += len(st.Batches[bi].Targets)
	}
	if st.MinHealthy > n {
		ps.add(ErrPlan, sf+".MinHealthy", "%d is more than the stage's %d targets", st.MinHealthy, n)
	}
	perRegion := map[string]int{}
	misplaced := false // a target's location is already reported
	for bi := range st.Batches {
		b := &st.Batches[bi]
		bf := fmt.Sprintf("%s.Batches[%d]", sf, bi)
		if len(b.Targets) == 0 {
			ps.add(ErrPlan, bf+".Targets", "the batch is empty")
		}
		if k := len(b.Targets); k > 0 && n-k < st.MinHealthy {
			ps.add(ErrPlan, bf+".Targets", "deploys %d of the stage's %d targets at once, leaving %d healthy, below its MinHealthy %d", k, n, n-k, st.MinHealthy)
		}
		var cellOf map[[2]string]string // region, zone -> the batch's cell
		for ti := range b.Targets {
			t := &b.Targets[ti]
			// The path is made only for a problem: a plan of 100,000
			// targets must not format 100,000 paths to find none.
			tf := func() string { return fmt.Sprintf("%s.Targets[%d]", bf, ti) }
			if t.ID == "" {
				ps.add(ErrPlan, tf()+".ID", "is empty")
			} else if at, dup := seen[t.ID]; dup {
				ps.add(ErrPlan, tf()+".ID", "target %q is also at %s", t.ID, at)
			} else {
				seen[t.ID] = where{path: bf, targets: true, i: ti}
			}
			if w := t.Weight; math.IsNaN(w) || math.IsInf(w, 0) || w < 0 {
				ps.add(ErrPlan, tf()+".Weight", "%v is not a finite weight of 0 or more", w)
			}
			// A location names at least its region, even in a plan whose
			// Levels are missing (already reported above): without this a
			// decoded plan with no levels and an empty location would index
			// past the end.
			if need := max(L, 1); len(t.Location) < need || slices.Contains(t.Location[:need], "") {
				ps.add(ErrPlan, tf()+".Location", "%q does not name every level of %s", t.Location, levelList(p.Levels))
				misplaced = true
				continue
			}
			r := t.Location[0]
			want, ok := zoneOf[r]
			if !ok {
				ps.add(ErrPlan, tf()+".Location", "region %q is not one of the stage's regions %v", r, st.Regions)
				misplaced = true
				continue
			}
			if st.Kind == OneBox {
				if perRegion[r]++; perRegion[r] == 2 {
					ps.add(ErrPlan, tf(), "a one-box stage holds a second target of region %q", r)
				}
			}
			if L < 2 {
				continue
			}
			z := t.Location[1]
			switch {
			case want == "":
				zoneOf[r] = z
			case want != z:
				ps.add(ErrPlan, tf()+".Location", "zone %q of region %q, but the stage already holds zone %q of it", z, r, want)
				misplaced = true
				continue
			}
			if L < 3 {
				continue
			}
			if cellOf == nil {
				cellOf = map[[2]string]string{}
			}
			c := t.Location[2]
			if have, ok := cellOf[[2]string{r, z}]; !ok {
				cellOf[[2]string{r, z}] = c
			} else if have != c {
				ps.add(ErrPlan, tf()+".Location", "cell %q of %s/%s, but the batch already holds cell %q of it", c, r, z, have)
			}
		}
	}
	if len(st.Units) > 0 && L > 0 {
		p.validateUnits(ps, sf, st, !misplaced)
	}
}

// validateUnits checks a stage's targets and batches against its Units;
// whether the units cover the stage's targets only when no target is
// misplaced (reported already, it would be reported twice).
func (p *Plan) validateUnits(ps *problems, sf string, st *Stage, cover bool) {
	L := len(p.Levels)
	key := func(loc []string) string { return strings.Join(loc, "\x00") }
	unitOf := make(map[string]int, len(st.Units))
	valid := make([]bool, len(st.Units))
	sum := 0
	for ui := range st.Units {
		u := &st.Units[ui]
		uf := fmt.Sprintf("%s.Units[%d]", sf, ui)
		if len(u.Location) != L || slices.Contains(u.Location, "") {
			ps.add(ErrPlan, uf+".Location", "%q does not name exactly the %d levels %s", u.Location, L, levelList(p.Levels))
			continue
		}
		k := key(u.Location)
		if j, dup := unitOf[k]; dup {
			ps.add(ErrPlan, uf+".Location", "%q is also Units[%d]", u.Location, j)
			continue
		}
		unitOf[k] = ui
		valid[ui] = true
		if u.MinHealthy < 0 || u.MinHealthy > u.Targets {
			ps.add(ErrPlan, uf+".MinHealthy", "%d is outside [0, %d] (the unit's targets)", u.MinHealthy, u.Targets)
		}
		sum += u.MinHealthy
	}
	if sum != st.MinHealthy {
		ps.add(ErrPlan, sf+".MinHealthy", "is %d, but its units' minimums add up to %d", st.MinHealthy, sum)
	}
	count := make([]int, len(st.Units))
	for bi := range st.Batches {
		b := &st.Batches[bi]
		var inBatch map[int]int
		for ti := range b.Targets {
			t := &b.Targets[ti]
			if len(t.Location) < L {
				continue // reported by validateStage
			}
			ui, ok := unitOf[key(t.Location[:L])]
			if !ok {
				if !cover {
					continue
				}
				ps.add(ErrPlan, fmt.Sprintf("%s.Batches[%d].Targets[%d].Location", sf, bi, ti), "%q is in none of the stage's Units", t.Location[:L])
				continue
			}
			count[ui]++
			if inBatch == nil {
				inBatch = map[int]int{}
			}
			inBatch[ui]++
		}
		for ui, k := range inBatch {
			u := &st.Units[ui]
			if u.Targets-k < u.MinHealthy {
				ps.add(ErrPlan, fmt.Sprintf("%s.Batches[%d].Targets", sf, bi), "deploys %d of the %d targets of %s at once, leaving %d healthy, below its MinHealthy %d",
					k, u.Targets, strings.Join(u.Location, "/"), u.Targets-k, u.MinHealthy)
			}
		}
	}
	for ui := range st.Units {
		if u := &st.Units[ui]; cover && valid[ui] && count[ui] != u.Targets {
			ps.add(ErrPlan, fmt.Sprintf("%s.Units[%d].Targets", sf, ui), "is %d, but the stage has %d targets of %s", u.Targets, count[ui], strings.Join(u.Location, "/"))
		}
	}
}

// bakeOK reports a negative bake; a plan's bakes are resolved, so None is
// wrong there too.
func bakeOK(ps *problems, path string, d duration.Duration) {
	switch {
	case d.IsNone():
		ps.add(ErrPlan, path, `is "none"; a plan holds resolved bakes, 0 for no bake`)
	case d < 0:
		ps.add(ErrPlan, path, "%v is negative", d)
	}
}

// where is a place in a plan, kept for every target while validating and
// formatted only when a duplicate is found.
type where struct {
	path    string // "Excluded", or a batch
	targets bool   // the batch's Targets
	i       int
}

func (w where) String() string {
	if w.targets {
		return fmt.Sprintf("%s.Targets[%d]", w.path, w.i)
	}
	return fmt.Sprintf("%s[%d]", w.path, w.i)
}
