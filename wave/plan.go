package wave

import (
	"cmp"
	"fmt"
	"hash/maphash"
	"math"
	"math/big"
	"slices"
	"strings"
	"unicode/utf8"
)

// Plan cuts the fleet into waves, stages and batches by the policy. It
// validates the policy and the fleet first and returns every problem, each
// a [*FieldError], joined with [errors.Join] (nothing is planned if there
// is any): an empty fleet, duplicate or empty IDs, locations with fewer
// entries than the policy has levels or with an empty entry, negative, NaN
// or infinite weights, a pinned region not in the fleet, a minimum healthy
// that a zone cannot meet, a region without a one-box when the policy
// requires one ([ErrNoOneBox]).
//
// The plan is deterministic: the same fleet and policy, in any order, give
// the same plan, ties being broken by name and ID. Planning takes
// O(n log n) time for n targets.
//
// The plan passes [Plan.Validate], and more, which the package's property
// tests check on random fleets:
//   - every target not excluded is in exactly one batch;
//   - the first wave holds one region, and waves never shrink;
//   - no stage holds two zones of one region, and no batch two cells of
//     one zone;
//   - no batch deploys more of a zone (a cell with three levels) than its
//     minimum healthy allows, and every batch deploys at least one target;
//   - every region that has a target light enough for a one-box gets one
//     (the lightest such target), and every other region is in
//     [Plan.Warnings].
func (p Policy) Plan(targets []Target) (*Plan, error) {
	ps := problems{prefix: "policy"}
	p.validate(&ps)
	if err := ps.err(); err != nil {
		return nil, err
	}
	pl := planner{policy: &p, s: p.settings(), targets: targets}
	return pl.run()
}

type planner struct {
	policy  *Policy
	s       settings
	targets []Target

	excluded []bool
	unitOf   []int32 // cell of each target, -1 if excluded
	order    []int32 // target indices grouped by cell, each cell sorted by ID
	regions  []regionG
	zones    []zoneG
	cells    []cellG
	notes    []string
}

type regionG struct {
	name       string
	n          int
	w          float64
	zones      []int32
	pinned     bool
	oneBox     int32   // target index, -1 if none
	oneBoxZone int32   // the one-box's zone
	share      float64 // the lightest target's share of its base, when refused
}

type zoneG struct {
	region int32
	name   string
	n      int
	w      float64
	cells  []int32
}

type cellG struct {
	zone       int32
	name       string
	n          int
	w          float64
	start, end int32 // range in order
	min        int   // minimum healthy
	batch      int   // batch size
	oneBox     bool  // the cell gave the region's one-box (moved to order[end-1])
}

func weightOf(t *Target) float64 {
	if t.Weight == 0 {
		return 1
	}
	return t.Weight
}

func (pl *planner) run() (*Plan, error) {
	if err := pl.checkFleet(); err != nil {
		return nil, err
	}
	if err := pl.group(); err != nil {
		return nil, err
	}
	if err := pl.checkRegions(); err != nil {
		return nil, err
	}
	pl.sizeBatches()
	if err := pl.checkBatches(); err != nil {
		return nil, err
	}
	pl.chooseOneBoxes()
	if err := pl.checkOneBoxes(); err != nil {
		return nil, err
	}
	return pl.build(), nil
}

// checkFleet reports every problem of the targets, and marks exclusions.
func (pl *planner) checkFleet() error {
	ps := problems{}
	ts, L := pl.targets, len(pl.s.levels)
	if len(ts) == 0 {
		ps.add(ErrNoTargets, "targets", "the fleet is empty")
		return ps.err()
	}
	// One pass over the targets: with a million of them, reading each ID
	// twice costs as much as all the rest.
	seed := maphash.MakeSeed()
	hs := make([]uint64, len(ts))
	total := 0.0
	for i := range ts {
		t := &ts[i]
		hs[i] = maphash.String(seed, t.ID)
		total += weightOf(t)
		// Names must survive JSON, which turns every invalid byte into
		// U+FFFD: "\xff" and "\xfe" would become the same name.
		if t.ID == "" {
			ps.add(ErrInvalid, fmt.Sprintf("targets[%d].ID", i), "is empty")
		} else if !utf8.ValidString(t.ID) {
			ps.add(ErrInvalid, fmt.Sprintf("targets[%d].ID", i), "%q is not valid UTF-8", t.ID)
		}
		if len(t.Location) < L {
			ps.add(ErrLocation, fmt.Sprintf("targets[%d].Location", i), "has %d entries; the levels %s need %d", len(t.Location), levelList(pl.s.levels), L)
		} else {
			for j := range L {
				if t.Location[j] == "" {
					ps.add(ErrLocation, fmt.Sprintf("targets[%d].Location[%d]", i, j), "is empty (the %s level)", pl.s.levels[j])
				}
			}
		}
		if w := t.Weight; math.IsNaN(w) || math.IsInf(w, 0) || w < 0 {
			ps.add(ErrWeight, fmt.Sprintf("targets[%d].Weight", i), "%v is not a finite weight of 0 or more", w)
		}
	}
	if hasDuplicates(hs) {
		ids := make(map[string]int, len(ts))
		for i := range ts {
			id := ts[i].ID
			if j, dup := ids[id]; dup && id != "" {
				ps.add(ErrDuplicateID, fmt.Sprintf("targets[%d].ID", i), "%q is also the ID of targets[%d]", id, j)
			} else if !dup {
				ids[id] = i
			}
		}
	}
	if math.IsInf(total, 0) && ps.count() == 0 {
		ps.add(ErrWeight, "targets", "the weights add up to more than a float64 holds")
	}
	if ps.count() > 0 {
		pl.checkNames(&ps)
		return ps.err()
	}

	ex := &pl.policy.Exclude
	if len(ex.IDs) == 0 && len(ex.Labels) == 0 {
		return nil
	}
	pl.excluded = make([]bool, len(ts))
	byID := make(map[string]bool, len(ex.IDs))
	for _, id := range ex.IDs {
		byID[id] = false
	}
	left := 0
	for i := range ts {
		if _, ok := byID[ts[i].ID]; ok {
			pl.excluded[i] = true
			byID[ts[i].ID] = true
		}
		if !pl.excluded[i] {
			for k, v := range ex.Labels {
				if lv, ok := ts[i].Labels[k]; ok && lv == v {
					pl.excluded[i] = true
					break
				}
			}
		}
		if !pl.excluded[i] {
			left++
		}
	}
	for _, id := range ex.IDs {
		if found, ok := byID[id]; ok && !found {
			pl.notes = append(pl.notes, fmt.Sprintf("Exclude.IDs lists %q, which is not in the fleet", id))
			delete(byID, id)
		}
	}
	if left == 0 {
		ps.add(ErrNoTargets, "targets", "all %d targets are excluded by the policy", len(ts))
	}
	return ps.err()
}

// checkNames reports location names that are not valid UTF-8, target by
// target. [planner.group] checks each distinct name once and calls it only
// if one is bad, or checkFleet when it found other problems, so that every
// problem is reported at once.
func (pl *planner) checkNames(ps *problems) {
	L := len(pl.s.levels)
	for i := range pl.targets {
		loc := pl.targets[i].Location
		for j := range min(L, len(loc)) {
			// Names must survive JSON, which turns every invalid byte into
			// U+FFFD: "\xff" and "\xfe" would become the same name.
			if !utf8.ValidString(loc[j]) {
				ps.add(ErrLocation, fmt.Sprintf("targets[%d].Location[%d]", i, j), "%q is not valid UTF-8", loc[j])
			}
		}
	}
}

// hasDuplicates reports whether two targets may share an ID, given the
// hashes of the IDs (which it sorts): sorting hashes is several times
// faster than a map of a million strings; equal hashes (a duplicate or,
// rarely, a collision) send the caller to the exact check.
func hasDuplicates(hs []uint64) bool {
	hs = radixSort(hs)
	for i := 1; i < len(hs); i++ {
		if hs[i] == hs[i-1] {
			return true
		}
	}
	return false
}

// radixSort sorts xs, a byte at a time from the least significant; it
// returns the sorted slice, which is xs or a buffer of the same length.
func radixSort(xs []uint64) []uint64 {
	if len(xs) < 256 {
		slices.Sort(xs)
		return xs
	}
	buf := make([]uint64, len(xs))
	for shift := 0; shift < 64; shift += 8 {
		var count [257]int
		for _, x := range xs {
			count[(x>>shift)&0xff+1]++
		}
		for i := 1; i < len(count); i++ {
			count[i] += count[i-1]
		}
		for _, x := range xs {
			d := (x >> shift) & 0xff
			buf[count[d]] = x
			count[d]++
		}
		xs, buf = buf, xs
	}
	return xs
}

// idKey is a target index with its ID, and the 8 bytes of the ID that
// follow the prefix all IDs of the cell share, as a number: IDs of one
// cell are usually alike ("host-0001", "host-0002"), and comparing
// numbers is faster than comparing strings.
type idKey struct {
	key uint64
	id  string
	i   int32
}

// sortByID sorts the target indices idx by ID, using keys as scratch
// space, which it returns for reuse.
func sortByID(ts []Target, idx []int32, keys []idKey) []idKey {
	keys = keys[:0]
	prefix := ts[idx[0]].ID
	for _, t := range idx {
		id := ts[t].ID
		n := 0
		for n < len(prefix) && n < len(id) && prefix[n] == id[n] {
			n++
		}
		prefix = prefix[:n]
		keys = append(keys, idKey{id: id, i: t})
	}
	p := len(prefix)
	for k := range keys {
		// Big-endian, padded with zeros: a smaller key means a smaller ID;
		// equal keys need the whole IDs compared.
		var x uint64
		rest := keys[k].id[p:]
		for b := range 8 {
			x <<= 8
			if b < len(rest) {
				x |= uint64(rest[b])
			}
		}
		keys[k].key = x
	}
	slices.SortFunc(keys, func(a, b idKey) int {
		if a.key != b.key {
			return cmp.Compare(a.key, b.key)
		}
		return strings.Compare(a.id, b.id)
	})
	for k := range keys {
		idx[k] = keys[k].i
	}
	return keys
}

type key struct {
	parent int32
	name   string
}

// group finds the regions, zones and cells, sorts each cell by ID and
// orders cells, zones and regions. It checks that names are valid UTF-8,
// once per distinct name.
func (pl *planner) group() error {
	ts, L := pl.targets, len(pl.s.levels)
	pl.unitOf = make([]int32, len(ts))
	regionIdx := map[string]int32{}
	zoneIdx := map[key]int32{}
	cellIdx := map[key]int32{}
	// One look-up per target instead of three: cells by a hash of the
	// whole location, checked against the names (a collision falls back
	// to the maps). Fleets listed by location mostly hit the last cell.
	seed := maphash.MakeSeed()
	byHash := map[uint64]int32{}
	c := int32(-1)
	for i := range ts {
		if pl.excluded != nil && pl.excluded[i] {
			pl.unitOf[i] = -1
			continue
		}
		loc := ts[i].Location[:L]
		if c < 0 || !pl.isCell(c, loc) {
			h := maphash.String(seed, loc[0])
			for _, l := range loc[1:] {
				h = h*0x100000001b3 ^ maphash.String(seed, l)
			}
			found, ok := byHash[h]
			if ok && pl.isCell(found, loc) {
				c = found
			} else {
				c = pl.findCell(loc, regionIdx, zoneIdx, cellIdx)
				if !ok {
					byHash[h] = c
				}
			}
		}
		pl.unitOf[i] = c
		pl.cells[c].n++
	}
	valid := true
	for i := range pl.regions {
		valid = valid && utf8.ValidString(pl.regions[i].name)
	}
	for i := range pl.zones {
		valid = valid && utf8.ValidString(pl.zones[i].name)
	}
	for i := range pl.cells {
		valid = valid && utf8.ValidString(pl.cells[i].name)
	}
	for i, ex := range pl.excluded {
		for j := 0; ex && j < L; j++ {
			valid = valid && utf8.ValidString(ts[i].Location[j])
		}
	}
	if !valid {
		ps := problems{}
		pl.checkNames(&ps)
		return ps.err()
	}

	// Group target indices by cell (a counting sort), then sort each cell
	// by ID so that the input order does not matter.
	var off int32
	for i := range pl.cells {
		pl.cells[i].start = off
		pl.cells[i].end = off
		off += int32(pl.cells[i].n)
	}
	pl.order = make([]int32, off)
	for i, u := range pl.unitOf {
		if u >= 0 {
			cl := &pl.cells[u]
			pl.order[cl.end] = int32(i)
			cl.end++
		}
	}
	byID := func(a, b int32) int { return strings.Compare(ts[a].ID, ts[b].ID) }
	var keys []idKey // reused
	for i := range pl.cells {
		cl := &pl.cells[i]
		idx := pl.order[cl.start:cl.end]
		if !slices.IsSortedFunc(idx, byID) {
			keys = sortByID(ts, idx, keys)
		}
		for _, t := range idx {
			cl.w += weightOf(&ts[t])
		}
	}

	// Zones and cells deploy in name order, which keeps stage names stable
	// when targets come and go; weights are summed in that order so that
	// float sums do not depend on the input order.
	byName := func(names func(int32) string) func(a, b int32) int {
		return func(a, b int32) int { return strings.Compare(names(a), names(b)) }
	}
	cellName := byName(func(i int32) string { return pl.cells[i].name })
	zoneName := byName(func(i int32) string { return pl.zones[i].name })
	for zi := range pl.zones {
		zg := &pl.zones[zi]
		slices.SortFunc(zg.cells, cellName)
		for _, c := range zg.cells {
			zg.w += pl.cells[c].w
			zg.n += pl.cells[c].n
		}
	}
	for ri := range pl.regions {
		rg := &pl.regions[ri]
		slices.SortFunc(rg.zones, zoneName)
		for _, z := range rg.zones {
			rg.w += pl.zones[z].w
			rg.n += pl.zones[z].n
		}
	}
	return nil
}

// isCell reports whether cell c is at location loc (cut to the levels).
func (pl *planner) isCell(c int32, loc []string) bool {
	cl := &pl.cells[c]
	zg := &pl.zones[cl.zone]
	switch len(loc) {
	case 3:
		return cl.name == loc[2] && zg.name == loc[1] && pl.regions[zg.region].name == loc[0]
	case 2:
		return zg.name == loc[1] && pl.regions[zg.region].name == loc[0]
	}
	return pl.regions[zg.region].name == loc[0]
}

// findCell finds or adds the region, zone and cell of loc; with fewer
// levels, a region has one unnamed zone and a zone one unnamed cell.
func (pl *planner) findCell(loc []string, regionIdx map[string]int32, zoneIdx, cellIdx map[key]int32) int32 {
	r, ok := regionIdx[loc[0]]
	if !ok {
		r = int32(len(pl.regions))
		regionIdx[loc[0]] = r
		pl.regions = append(pl.regions, regionG{name: loc[0], oneBox: -1, oneBoxZone: -1})
	}
	name := ""
	if len(loc) > 1 {
		name = loc[1]
	}
	z, ok := zoneIdx[key{r, name}]
	if !ok {
		z = int32(len(pl.zones))
		zoneIdx[key{r, name}] = z
		pl.zones = append(pl.zones, zoneG{region: r, name: name})
		pl.regions[r].zones = append(pl.regions[r].zones, z)
	}
	name = ""
	if len(loc) > 2 {
		name = loc[2]
	}
	c, ok := cellIdx[key{z, name}]
	if !ok {
		c = int32(len(pl.cells))
		cellIdx[key{z, name}] = c
		pl.cells = append(pl.cells, cellG{zone: z, name: name})
		pl.zones[z].cells = append(pl.zones[z].cells, c)
	}
	return c
}

// checkRegions reports pinned regions that are not in the fleet.
func (pl *planner) checkRegions() error {
	ps := problems{prefix: "policy"}
	byName := make(map[string]int, len(pl.regions))
	for i := range pl.regions {
		byName[pl.regions[i].name] = i
	}
	for i, r := range pl.policy.First {
		j, ok := byName[r]
		if !ok {
			ps.add(ErrUnknownRegion, fmt.Sprintf("First[%d]", i), "%s %q is not in the fleet%s", pl.s.levels[0], r, pl.excludedHint())
			continue
		}
		pl.regions[j].pinned = true
	}
	return ps.err()
}

func (pl *planner) excludedHint() string {
	if pl.excluded != nil {
		return " (after exclusions)"
	}
	return ""
}

// sizeBatches applies the minimum healthy and the batch fraction to each
// cell (zone, region).
//
// The rounding is exact (see exact.go), and done once per distinct size.
func (pl *planner) sizeBatches() {
	type sized struct{ min, frac int }
	memo := map[int]sized{}
	for i := range pl.cells {
		cl := &pl.cells[i]
		sz, ok := memo[cl.n]
		if !ok {
			sz = sized{pl.s.minHealthy.of(cl.n), floorMul(pl.s.maxFraction, cl.n)}
			memo[cl.n] = sz
		}
		cl.min = sz.min
		down := cl.n - cl.min
		cl.batch = max(1, min(down, sz.frac))
		if pl.s.minHealthy == nil {
			// The fraction alone: everything outside the batch stays
			// healthy, which is the minimum a driver must hold.
			cl.min = cl.n - cl.batch
		}
	}
}

func (pl *planner) checkBatches() error {
	ps := problems{prefix: "policy"}
	for i := range pl.cells {
		cl := &pl.cells[i]
		if cl.n-cl.min >= 1 {
			continue
		}
		m := pl.s.minHealthy
		where := fmt.Sprintf("the %d %s of %s %s", cl.n, plural(cl.n, "target"), pl.s.levels[len(pl.s.levels)-1], pl.cellPath(int32(i)))
		if m.Count > 0 {
			ps.add(ErrMinHealthy, "Batch.MinHealthy", "%d leaves none of %s to deploy", m.Count, where)
		} else {
			ps.add(ErrMinHealthy, "Batch.MinHealthy", "%g%% of %s rounds up to %d and leaves none to deploy", m.Percent, where, cl.min)
		}
	}
	return ps.err()
}

// cellPath names a cell as region/zone/cell, as deep as the levels go.
func (pl *planner) cellPath(c int32) string {
	cl := &pl.cells[c]
	zg := &pl.zones[cl.zone]
	path := pl.regions[zg.region].name
	if len(pl.s.levels) > 1 {
		path += "/" + zg.name
	}
	if len(pl.s.levels) > 2 {
		path += "/" + cl.name
	}
	return path
}

// chooseOneBoxes picks each region's one-box (see [OneBoxRule]): the
// lightest target of the region, ties to the one that deploys first, if
// it carries at most the one-box fraction of its region's weight; with
// PerZone, the lightest target that carries at most the fraction of its
// own zone's weight.
func (pl *planner) chooseOneBoxes() {
	if !pl.s.oneBox {
		return
	}
	ts := pl.targets
	f := pl.s.oneBoxFraction
	for ri := range pl.regions {
		rg := &pl.regions[ri]
		best, bestZone, bestCell, bestPos := int32(-1), int32(-1), int32(-1), int32(0)
		bw := math.Inf(1)
		rg.share = math.Inf(1)
		for _, z := range rg.zones {
			zg := &pl.zones[z]
			// The lightest target of the zone, in deploy order.
			zb, zc, zpos, zw := int32(-1), int32(-1), int32(0), math.Inf(1)
			for _, c := range zg.cells {
				cl := &pl.cells[c]
				for k := cl.start; k < cl.end; k++ {
					if w := weightOf(&ts[pl.order[k]]); w < zw {
						zb, zc, zpos, zw = pl.order[k], c, k, w
					}
				}
			}
			if zw >= bw {
				continue
			}
			if pl.s.oneBoxPerZone {
				if !atMost(zw, f, zg.w, func() *big.Rat { return pl.exactZoneWeight(z) }) {
					rg.share = min(rg.share, zw/zg.w)
					continue
				}
			}
			best, bestZone, bestCell, bestPos, bw = zb, z, zc, zpos, zw
		}
		if best < 0 {
			continue // PerZone, and no zone has a light enough target
		}
		if !pl.s.oneBoxPerZone && !atMost(bw, f, rg.w, func() *big.Rat { return pl.exactRegionWeight(int32(ri)) }) {
			rg.share = bw / rg.w
			continue
		}
		rg.oneBox, rg.oneBoxZone = best, bestZone
		// Move the one-box to the end of its cell, keeping the rest sorted.
		cl := &pl.cells[bestCell]
		idx := pl.order[bestPos:cl.end]
		copy(idx, idx[1:])
		idx[len(idx)-1] = best
		cl.oneBox = true
	}
}

// exactZoneWeight returns the weight of zone z, each target's weight read
// as a decimal and added exactly.
func (pl *planner) exactZoneWeight(z int32) *big.Rat {
	sum := new(big.Rat)
	for _, c := range pl.zones[z].cells {
		cl := &pl.cells[c]
		for _, t := range pl.order[cl.start:cl.end] {
			sum.Add(sum, ratOf(weightOf(&pl.targets[t])))
		}
	}
	return sum
}

func (pl *planner) exactRegionWeight(r int32) *big.Rat {
	sum := new(big.Rat)
	for _, z := range pl.regions[r].zones {
		sum.Add(sum, pl.exactZoneWeight(z))
	}
	return sum
}

// checkOneBoxes reports every region without a one-box when the policy
// requires one.
func (pl *planner) checkOneBoxes() error {
	if !pl.s.oneBox || !pl.s.oneBoxRequire {
		return nil
	}
	ps := problems{prefix: "policy"}
	for ri := range pl.regions {
		if rg := &pl.regions[ri]; rg.oneBox < 0 {
			ps.add(ErrNoOneBox, "OneBox.Require", "%s", pl.noOneBox(rg))
		}
	}
	return ps.err()
}

// noOneBox says why region rg has no one-box.
func (pl *planner) noOneBox(rg *regionG) string {
	lv0 := pl.s.levels[0]
	if pl.s.oneBoxPerZone {
		lv1 := pl.s.levels[1]
		return fmt.Sprintf("%s %s has no target light enough for a one-box: the lightest share of a %s is %s, above OneBox.MaxFraction (%s of its %s's weight)",
			lv0, rg.name, lv1, pctAbove(rg.share, pl.s.oneBoxFraction), pct(pl.s.oneBoxFraction), lv1)
	}
	return fmt.Sprintf("%s %s has no target light enough for a one-box: its lightest carries %s of the %s's weight, above OneBox.MaxFraction (%s)",
		lv0, rg.name, pctAbove(rg.share, pl.s.oneBoxFraction), lv0, pct(pl.s.oneBoxFraction))
}

// regionOrder returns the regions in the order they deploy.
func (pl *planner) regionOrder() (order []int32, how string) {
	order = make([]int32, len(pl.regions))
	for i := range order {
		order[i] = int32(i)
	}
	rs := pl.regions
	slices.SortFunc(order, func(a, b int32) int { return strings.Compare(rs[a].name, rs[b].name) })
	how = "lowest total weight"
	if f := pl.policy.Order; f != nil {
		how = "first by the policy's order"
		info := make([]RegionInfo, len(rs))
		for i := range rs {
			info[i] = pl.regionInfo(int32(i))
		}
		slices.SortStableFunc(order, func(a, b int32) int { return f(info[a], info[b]) })
	} else {
		slices.SortStableFunc(order, func(a, b int32) int { return cmp.Compare(rs[a].w, rs[b].w) })
	}
	// Pinned regions first, in the policy's order.
	pos := make(map[string]int, len(pl.policy.First))
	for i, r := range pl.policy.First {
		pos[r] = i
	}
	slices.SortStableFunc(order, func(a, b int32) int {
		pa, oka := pos[rs[a].name]
		pb, okb := pos[rs[b].name]
		switch {
		case oka && okb:
			return cmp.Compare(pa, pb)
		case oka:
			return -1
		case okb:
			return 1
		}
		return 0
	})
	return order, how
}

func (pl *planner) regionInfo(r int32) RegionInfo {
	rg := &pl.regions[r]
	info := RegionInfo{Name: rg.name, Targets: rg.n, Weight: rg.w}
	if len(pl.s.levels) > 1 {
		info.Zones = len(rg.zones)
	}
	// Labels every target of the region shares.
	first := true
	for _, z := range rg.zones {
		for _, c := range pl.zones[z].cells {
			cl := &pl.cells[c]
			for _, t := range pl.order[cl.start:cl.end] {
				ls := pl.targets[t].Labels
				if first {
					info.Labels = make(map[string]string, len(ls))
					for k, v := range ls {
						info.Labels[k] = v
					}
					first = false
					continue
				}
				for k, v := range info.Labels {
					if lv, ok := ls[k]; !ok || lv != v {
						delete(info.Labels, k)
					}
				}
			}
		}
	}
	if len(info.Labels) == 0 {
		info.Labels = nil
	}
	return info
}

func (pl *planner) build() *Plan {
	L := len(pl.s.levels)
	ts := pl.targets
	order, how := pl.regionOrder()
	sizes := pl.s.waveSizes(len(order))
	var fleetW float64
	for i := range pl.regions {
		fleetW += pl.regions[i].w
	}

	plan := &Plan{
		Levels:    slices.Clone(pl.s.levels),
		FinalBake: pl.s.finalBake(),
		Notes:     pl.notes,
	}
	if pl.excluded != nil {
		for i, ex := range pl.excluded {
			if ex {
				plan.Excluded = append(plan.Excluded, ts[i].ID)
			}
		}
		slices.Sort(plan.Excluded)
	}
	out := make([]Target, 0, len(pl.order))
	// emit copies targets into the plan, a run of consecutive indices at a
	// time: a fleet listed by location is mostly such runs.
	emit := func(idx []int32) []Target {
		s := len(out)
		for len(idx) > 0 {
			n := 1
			for n < len(idx) && idx[n] == idx[n-1]+1 {
				n++
			}
			if n == 1 {
				out = append(out, ts[idx[0]])
			} else {
				out = append(out, ts[idx[0]:idx[0]+int32(n)]...)
			}
			idx = idx[n:]
		}
		return out[s:len(out):len(out)]
	}
	names := map[string]int{}
	unique := func(n string) string {
		names[n]++
		if k := names[n]; k > 1 {
			n = fmt.Sprintf("%s~%d", n, k)
			names[n]++
		}
		return n
	}
	lv0 := pl.s.levels[0]
	lv1 := ""
	if L > 1 {
		lv1 = pl.s.levels[1]
	}

	next := 0
	for w, size := range sizes {
		rs := order[next : next+size]
		next += size
		wb := pl.s.waveBake(w)
		wv := Wave{Index: w}
		for _, r := range rs {
			wv.Regions = append(wv.Regions, pl.regions[r].name)
		}
		var small []string // regions without a one-box
		if pl.s.oneBox {
			for _, r := range rs {
				if rg := &pl.regions[r]; rg.oneBox < 0 {
					why := pl.noOneBox(rg)
					small = append(small, why)
					plan.Warnings = append(plan.Warnings, Warning{Code: WarnNoOneBox, Region: rg.name,
						Message: why + "; its first batch is the first to see the change"})
				}
			}
		}
		var waveWhy string
		if w == 0 {
			rg := &pl.regions[rs[0]]
			why := how
			if rg.pinned {
				why = "pinned first"
			}
			waveWhy = fmt.Sprintf("the first wave is one %s, %s (%s; %s of the fleet's weight)", lv0, rg.name, why, pct(rg.w/fleetW))
		} else {
			waveWhy = fmt.Sprintf("wave %d of %d: %d %s (%s)", w+1, len(sizes), size, plural(size, lv0), pl.sizeWhy(w, size, sizes))
		}

		// The one-box stage: one target of each region that has one.
		if pl.s.oneBox {
			st := Stage{Kind: OneBox, Wave: w, Bake: wb.OneBox}
			var idx []int32
			var from int32 // the region of the last one-box
			for _, r := range rs {
				rg := &pl.regions[r]
				if rg.oneBox < 0 {
					continue
				}
				from = r
				st.Regions = append(st.Regions, rg.name)
				if L > 1 {
					st.Zones = append(st.Zones, pl.zones[rg.oneBoxZone].name)
				}
				idx = append(idx, rg.oneBox)
			}
			if len(idx) > 0 {
				st.Batches = []Batch{{Targets: emit(idx)}}
				st.Weight = sumWeight(st.Batches)
				st.Name = unique(fmt.Sprintf("w%d/one-box/%s", w+1, strings.Join(st.Regions, "+")))
				first := "the " + lv0
				if L > 1 {
					first = "its first " + lv1
				}
				base := lv0
				if pl.s.oneBoxPerZone {
					base = lv1
				}
				if len(idx) == 1 {
					t := &ts[idx[0]]
					st.Reason = fmt.Sprintf("%s; one-box: %s deploys and bakes alone before %s, carrying %s of its %s's weight (at most %s), so that a bad change hurts one target",
						waveWhy, t.ID, first, pct(weightOf(t)/pl.oneBoxBase(from)), base, pct(pl.s.oneBoxFraction))
				} else {
					st.Reason = fmt.Sprintf("%s; one-box: one target of each %s deploys and bakes alone before %s, each carrying at most %s of its %s's weight",
						waveWhy, lv0, first, pct(pl.s.oneBoxFraction), base)
				}
				if len(small) > 0 {
					st.Reason += "; " + strings.Join(small, "; ")
					small = nil
				}
				wv.Stages = append(wv.Stages, st)
			}
		}

		// Zone stages: the k-th zone of each region of the wave, or the
		// whole regions with a single level.
		maxZ := 0
		for _, r := range rs {
			maxZ = max(maxZ, len(pl.regions[r].zones))
		}
		for k := range maxZ {
			st := Stage{Kind: Zone, Wave: w}
			if L == 1 {
				st.Kind = Region
			}
			var ms [][][]int32 // for each zone of the stage, its batches
			for _, r := range rs {
				rg := &pl.regions[r]
				if k >= len(rg.zones) {
					continue
				}
				z := rg.zones[k]
				zg := &pl.zones[z]
				if z == rg.oneBoxZone && zg.n == 1 {
					continue // the one-box was the whole zone
				}
				st.Regions = append(st.Regions, rg.name)
				if L > 1 {
					st.Zones = append(st.Zones, zg.name)
				}
				var batches [][]int32
				for _, c := range zg.cells {
					cl := &pl.cells[c]
					end := cl.end
					if cl.oneBox {
						end--
					}
					if end == cl.start {
						continue // the one-box was the whole cell
					}
					batches = append(batches, chunk(pl.order[cl.start:end], cl.batch)...)
					u := Unit{Location: []string{rg.name, zg.name, cl.name}[:L], Targets: int(end - cl.start), MinHealthy: max(0, cl.min-b2i(cl.oneBox))}
					st.Units = append(st.Units, u)
					st.MinHealthy += u.MinHealthy
				}
				ms = append(ms, batches)
			}
			if len(ms) == 0 {
				continue
			}
			nb := 0
			for _, batches := range ms {
				nb = max(nb, len(batches))
			}
			// Batch j of the stage is batch j of each of its zones.
			var idx []int32
			for j := range nb {
				idx = idx[:0]
				for _, batches := range ms {
					if j < len(batches) {
						idx = append(idx, batches[j]...)
					}
				}
				st.Batches = append(st.Batches, Batch{Targets: emit(idx)})
			}
			st.Weight = sumWeight(st.Batches)
			if L == 1 {
				st.Name = unique(fmt.Sprintf("w%d/%s", w+1, strings.Join(st.Regions, "+")))
				st.Reason = fmt.Sprintf("%s; whole %s at once, as the policy has no level below %s", waveWhy, plural(len(st.Regions), lv0), lv0)
			} else {
				parts := make([]string, len(st.Regions))
				for i := range parts {
					parts[i] = st.Regions[i] + "/" + st.Zones[i]
				}
				st.Name = unique(fmt.Sprintf("w%d/%s", w+1, strings.Join(parts, "+")))
				if len(rs) == 1 {
					st.Reason = fmt.Sprintf("%s; %s %d of %d, one at a time", waveWhy, lv1, k+1, maxZ)
				} else {
					st.Reason = fmt.Sprintf("%s; %s %d of each %s, never two %ss of one %s at once", waveWhy, lv1, k+1, lv0, lv1, lv0)
				}
			}
			if L > 2 {
				st.Reason += fmt.Sprintf("; %ss one at a time inside each %s", pl.s.levels[2], lv1)
			}
			if len(small) > 0 {
				st.Reason += "; " + strings.Join(small, "; ")
				small = nil
			}
			st.Bake = wb.Zone
			wv.Stages = append(wv.Stages, st)
		}
		// The wave's last stage carries the wave's bake.
		wv.Stages[len(wv.Stages)-1].Bake = wb.Wave
		plan.Waves = append(plan.Waves, wv)
	}
	return plan
}

// oneBoxBase is the weight region r's one-box is measured against.
func (pl *planner) oneBoxBase(r int32) float64 {
	rg := &pl.regions[r]
	if pl.s.oneBoxPerZone {
		return pl.zones[rg.oneBoxZone].w
	}
	return rg.w
}

// sizeWhy explains the size of wave w.
func (pl *planner) sizeWhy(w, size int, sizes []int) string {
	var parts []string
	switch {
	case w < len(pl.s.sizes) && pl.s.sizes[w] == size:
		parts = append(parts, "as listed in the policy")
	case w == len(sizes)-1 && size != sizes[w-1]:
		parts = append(parts, "the rest")
	case pl.s.maxParallel > 0 && size == pl.s.maxParallel:
		parts = append(parts, fmt.Sprintf("capped at %d in parallel", pl.s.maxParallel))
	default:
		parts = append(parts, fmt.Sprintf("growing by %g", pl.s.growth))
	}
	return strings.Join(parts, ", ")
}

func chunk(idx []int32, size int) [][]int32 {
	var out [][]int32
	for len(idx) > 0 {
		n := min(size, len(idx))
		out = append(out, idx[:n:n])
		idx = idx[n:]
	}
	return out
}

func sumWeight(bs []Batch) float64 {
	var w float64
	for _, b := range bs {
		for i := range b.Targets {
			w += weightOf(&b.Targets[i])
		}
	}
	return w
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func pct(f float64) string {
	return strings.TrimSuffix(fmt.Sprintf("%.1f", 100*f), ".0") + "%"
}

// pctAbove formats share, which is above limit, with as many decimals as
// it takes not to look equal to it: 10.04% against 10% is "10.04%", not
// "10%".
func pctAbove(share, limit float64) string {
	for prec := 1; prec < 6; prec++ {
		a, b := fmt.Sprintf("%.*f", prec, 100*share), fmt.Sprintf("%.*f", prec, 100*limit)
		if a != b {
			return strings.TrimRight(strings.TrimRight(a, "0"), ".") + "%"
		}
	}
	return fmt.Sprintf("%g%%", 100*share)
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func levelList(levels []string) string {
	return "[" + strings.Join(levels, " ") + "]"
}
