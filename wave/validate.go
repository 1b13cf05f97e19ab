package wave

import (
	"fmt"
	"math"
	"slices"
)

// Validate checks the invariants a driver relies on, for a plan made by
// [Policy.Plan] or read back from storage, and reports every broken one
// with its path (for example "wave: plan.Waves[1].Stages[0].Name: ..."),
// each a [*FieldError] wrapping [ErrPlan], joined with [errors.Join]:
//   - the levels are named, and every target's location covers them;
//   - waves are numbered in order, each region is in one wave only, and
//     the first wave holds exactly one region;
//   - stage names are unique and not empty, kinds are known, and every
//     stage touches only regions of its wave;
//   - every target is in exactly one batch and not also excluded, and
//     every batch has at least one target;
//   - no stage holds two zones of one region, no batch holds two cells of
//     one zone, and a one-box stage holds one target per region;
//   - no batch deploys so many targets that fewer than MinHealthy of the
//     stage's targets stay healthy;
//   - bakes are not negative.
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
	if p.FinalBake < 0 {
		ps.add(ErrPlan, "FinalBake", "%v is negative", p.FinalBake)
	}
	seen := map[string]string{} // target ID -> where
	for i, id := range p.Excluded {
		if _, dup := seen[id]; dup {
			ps.add(ErrPlan, fmt.Sprintf("Excluded[%d]", i), "%q is listed twice", id)
		}
		seen[id] = fmt.Sprintf("Excluded[%d]", i)
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

func (p *Plan) validateStage(ps *problems, sf string, wi int, st *Stage, inWave map[string]bool, names, seen map[string]string) {
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
	if st.Bake < 0 {
		ps.add(ErrPlan, sf+".Bake", "%v is negative", st.Bake)
	}
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
			tf := fmt.Sprintf("%s.Targets[%d]", bf, ti)
			if t.ID == "" {
				ps.add(ErrPlan, tf+".ID", "is empty")
			} else if where, dup := seen[t.ID]; dup {
				ps.add(ErrPlan, tf+".ID", "target %q is also at %s", t.ID, where)
			} else {
				seen[t.ID] = tf
			}
			if w := t.Weight; math.IsNaN(w) || math.IsInf(w, 0) || w < 0 {
				ps.add(ErrPlan, tf+".Weight", "%v is not a finite weight of 0 or more", w)
			}
			// A location names at least its region, even in a plan whose
			// Levels are missing (already reported above): without this a
			// decoded plan with no levels and an empty location would index
			// past the end.
			if need := max(L, 1); len(t.Location) < need || slices.Contains(t.Location[:need], "") {
				ps.add(ErrPlan, tf+".Location", "%q does not name every level of %s", t.Location, levelList(p.Levels))
				continue
			}
			r := t.Location[0]
			want, ok := zoneOf[r]
			if !ok {
				ps.add(ErrPlan, tf+".Location", "region %q is not one of the stage's regions %v", r, st.Regions)
				continue
			}
			if st.Kind == OneBox {
				if perRegion[r]++; perRegion[r] == 2 {
					ps.add(ErrPlan, tf, "a one-box stage holds a second target of region %q", r)
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
				ps.add(ErrPlan, tf+".Location", "zone %q of region %q, but the stage already holds zone %q of it", z, r, want)
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
				ps.add(ErrPlan, tf+".Location", "cell %q of %s/%s, but the batch already holds cell %q of it", c, r, z, have)
			}
		}
	}
}
