package wave

import (
	"fmt"
	"math"
	"time"

	"github.com/shepherd-go/shepherd/duration"
)

// Published defaults (reference/safe-deployments.md). A zero field of a
// [Policy] means the matching value here.
const (
	// DefaultOneBoxFraction caps a one-box at 10% of its region's weight
	// (of its zone's, with [OneBoxRule.PerZone]).
	DefaultOneBoxFraction = 0.10
	// DefaultGrowth doubles the number of regions from wave to wave.
	DefaultGrowth = 2.0
	// DefaultMaxFraction deploys at most 33% of a zone at once, keeping
	// 67% healthy: every service is scaled to lose a whole zone.
	DefaultMaxFraction = 0.33
	// DefaultOneBoxBake is the bake after each one-box stage.
	DefaultOneBoxBake = time.Hour
	// DefaultZoneBake is the bake after each zone of a wave but its last.
	DefaultZoneBake = time.Hour
	// DefaultFirstWaveBake is the bake after the first wave.
	DefaultFirstWaveBake = 12 * time.Hour
	// DefaultLaterWaveBake is the bake after each later wave.
	DefaultLaterWaveBake = 2 * time.Hour
	// DefaultFinalBake is the watch after the last wave's bake.
	DefaultFinalBake = 2 * time.Hour
)

// DefaultLevels are the isolation levels of an AWS-shaped fleet:
// Location[0] is the region and Location[1] the zone.
var DefaultLevels = []string{"region", "zone"}

// Policy says how [Policy.Plan] cuts a fleet into waves, stages and
// batches. It is plain data: the zero value is the published practice
// (AWS-shaped levels, a one-box before each region's first zone, waves of
// 1, 2, 4, ... regions, 33% of a zone at a time, bakes of 1h after a
// one-box and a zone, 12h after the first wave, 2h after later waves and a
// final 2h), and every field's zero value is documented. A policy can live
// in a JSON file (durations read "1h30m"), except for [Policy.Order],
// which is code.
//
// The words "region" and "zone" below mean the first and second of
// [Policy.Levels], whatever the fleet calls them (ring and cell, cluster
// and namespace...).
type Policy struct {
	// Levels names the isolation levels of a target's Location, outermost
	// first: Location[0] is a value of Levels[0], and so on. There are one
	// to three levels:
	//   - the first (the "region") is what waves group; regions deploy
	//     one at a time in the first wave and in parallel later;
	//   - the second (the "zone"), if any, deploys one at a time inside a
	//     region, and a stage never holds two zones of one region;
	//   - the third (the "cell"), if any, deploys one at a time inside a
	//     zone: a batch never holds two cells of one zone.
	// Location entries beyond the levels (a host name) are free. Nil means
	// [DefaultLevels], ["region", "zone"]. A fleet without zones, such as
	// Kubernetes clusters, uses one level (["cluster"]); rings of cells use
	// ["ring", "cell"].
	Levels []string `json:"levels,omitempty"`

	// OneBox places a one-box stage before each region's first zone.
	OneBox OneBoxRule `json:"oneBox"`
	// Waves says how many regions each wave holds.
	Waves Sizing `json:"waves"`
	// Batch sizes the batches inside a zone.
	Batch Batching `json:"batch"`
	// Bake says how long each stage bakes.
	Bake BakeSchedule `json:"bake"`

	// First pins the regions that go first, in this order: First[0] is the
	// first wave, and the others lead the waves after it. Every pinned
	// region must be in the fleet.
	First []string `json:"first,omitempty"`
	// Exclude leaves targets out of the plan (they are listed in
	// [Plan.Excluded]).
	Exclude Exclusion `json:"exclude"`
	// Order, if set, orders the regions that are not pinned (a negative
	// result puts a first), in the manner of [slices.SortFunc]; ties keep
	// the order by name. Nil orders them by total weight, lowest first,
	// so that the smallest region takes the first wave. It is code, not
	// data, and is not part of the JSON form.
	Order func(a, b RegionInfo) int `json:"-"`
}

// RegionInfo describes a region to [Policy.Order].
type RegionInfo struct {
	// Name is the region's value of the first level.
	Name string
	// Targets is how many targets of the plan are in the region.
	Targets int
	// Weight is the region's total weight.
	Weight float64
	// Zones is how many zones the region has (0 without a zone level).
	Zones int
	// Labels are the labels every target of the region shares, nil if
	// none; a region can be ordered by a "tier" label, for example.
	Labels map[string]string
}

// OneBoxRule controls the one-box stage: before the first zone of each
// region, one target, serving at most a small share of the region's
// weight, is deployed and baked alone, so that a bad change hurts one
// target before it hurts a zone.
//
// The one-box is the lightest target of the region, from any of its zones
// (and cells), ties going to the one that deploys first (by zone, cell,
// then ID), provided it carries at most MaxFraction of the region's weight
// (with PerZone: at most MaxFraction of its own zone's weight; the
// lightest such target of the region is chosen). The zone it comes from
// later deploys without it. A region with no such target gets no one-box:
// the plan says so in [Plan.Warnings] and in the reason of the region's
// first stage, or, with Require, the plan is refused ([ErrNoOneBox]).
//
// Weights and MaxFraction are compared exactly, as the decimals they are
// written as: a target of weight 1 in a region of weight 10 is a one-box
// at MaxFraction 0.1.
type OneBoxRule struct {
	// Off disables one-box stages.
	Off bool `json:"off,omitempty"`
	// MaxFraction is the largest share of its region's weight (of its
	// zone's, with PerZone) the one-box may carry. Zero means
	// [DefaultOneBoxFraction] (10%); it must be in (0, 1].
	MaxFraction float64 `json:"maxFraction,omitempty"`
	// PerZone measures MaxFraction against the weight of the one-box's
	// zone instead of its region's (the published practice allows
	// either: "at most 10% of the region's or the zone's requests"). It
	// is stricter: 10% of a zone of a three-zone region is about 3% of
	// the region. Without a zone level it changes nothing.
	PerZone bool `json:"perZone,omitempty"`
	// Require makes a region without a one-box an error of [Policy.Plan]
	// ([ErrNoOneBox], naming every such region) instead of a warning. It
	// cannot be set with Off.
	Require bool `json:"require,omitempty"`
}

// Sizing says how many regions each wave holds. The first wave always
// holds one region.
type Sizing struct {
	// Growth multiplies the number of regions from one wave to the next,
	// rounding up exactly (1.1 × 10 is 11, not 12): 2 gives 1, 2, 4,
	// 8...; 1.5 gives 1, 2, 3, 5, 8...; 1 gives one region per wave. Zero means [DefaultGrowth] (2); it must
	// be at least 1.
	Growth float64 `json:"growth,omitempty"`
	// Sizes lists the number of regions of the first waves explicitly, for
	// example [1, 1, 3, 5] (a small region, a medium region, then 3 and 5);
	// beyond the list, waves keep growing by Growth from its last size.
	// Sizes[0] must be 1 and sizes must never decrease.
	Sizes []int `json:"sizes,omitempty"`
	// MaxParallelRegions caps the number of regions in one wave. Zero
	// means no cap.
	MaxParallelRegions int `json:"maxParallelRegions,omitempty"`
}

// Batching sizes the batches inside a zone (inside a cell with three
// levels, inside a region with one), with the semantics of CodeDeploy's
// minimum healthy hosts: as many targets at once as the limits allow, and
// at least one.
type Batching struct {
	// MaxFraction is the largest share of a zone's targets deployed at
	// once, rounded down exactly (0.29 of 100 targets is 29, read as the
	// decimal 0.29, not as the float64 nearest to it). Zero means [DefaultMaxFraction] (33%) when
	// MinHealthy is nil, and no limit (1) when MinHealthy is set, so that
	// MinHealthy alone behaves as in CodeDeploy. It must be in (0, 1].
	MaxFraction float64 `json:"maxFraction,omitempty"`
	// MinHealthy is how many of a zone's targets must stay healthy while
	// it deploys. Nil means the minimum MaxFraction implies: all of the
	// zone's targets but one batch.
	MinHealthy *MinHealthy `json:"minHealthy,omitempty"`
}

// MinHealthy is a minimum number of healthy targets, as a count or as a
// percentage of the zone's targets rounded up exactly when the plan is made
// (CodeDeploy's HOST_COUNT and FLEET_PERCENT; 90% of 10 is 9, 90.01% is
// 10). With both zero the minimum
// is 0, which deploys a zone all at once. On 10 targets: 95% rounds up to
// 10 and is an error (nothing could ever deploy), 9 deploys one at a time,
// 8 two at a time, 0 all at once.
type MinHealthy struct {
	// Count is the minimum as a number of targets.
	Count int `json:"count,omitempty"`
	// Percent is the minimum as a percentage in [0, 100]; set Count or
	// Percent, not both.
	Percent float64 `json:"percent,omitempty"`
}

// of returns the minimum for a zone of n targets.
func (m *MinHealthy) of(n int) int {
	if m == nil {
		return 0
	}
	if m.Count > 0 {
		return m.Count
	}
	return ceilPercent(m.Percent, n)
}

// BakeSchedule says how long each stage bakes after its last batch. A zero
// duration means the default; [duration.None] ("none" in JSON) means no
// bake at all. A negative duration is an error, so that a typo such as
// "-30m" cannot remove a bake without a word.
//
// Which bake a stage gets depends on where it stands in its wave: a
// one-box stage gets OneBox; a zone stage gets Zone, except the last stage
// of a wave, which gets the wave's bake (FirstWave or LaterWaves) instead,
// since the wave's bake is the wait before the next wave and it is longer
// than a zone's. A wave of one zone per region therefore bakes only once,
// with the wave's bake. Plan.Explain says which bake each stage has.
type BakeSchedule struct {
	// OneBox is the bake after each one-box stage. Zero means
	// [DefaultOneBoxBake] (1h).
	OneBox duration.Duration `json:"oneBox,omitempty"`
	// Zone is the bake after each zone stage of a wave but its last. Zero
	// means [DefaultZoneBake] (1h).
	Zone duration.Duration `json:"zone,omitempty"`
	// FirstWave is the bake after the last stage of the first wave, in
	// place of Zone. Zero means [DefaultFirstWaveBake] (12h).
	FirstWave duration.Duration `json:"firstWave,omitempty"`
	// LaterWaves is the bake after the last stage of every later wave, in
	// place of Zone. Zero means [DefaultLaterWaveBake] (2h).
	LaterWaves duration.Duration `json:"laterWaves,omitempty"`
	// Final is [Plan.FinalBake]: the watch after the last wave's bake, with
	// the change everywhere and still rolled back on alarm. Zero means
	// [DefaultFinalBake] (2h).
	Final duration.Duration `json:"final,omitempty"`
	// Waves overrides the bakes of single waves: Waves[i] applies to wave
	// i (from 0). Entries beyond the plan's waves are ignored.
	Waves []WaveBake `json:"waves,omitempty"`
}

// WaveBake overrides the bakes of one wave. A zero field keeps the
// schedule's value; [duration.None] means no bake; a negative one is an
// error.
type WaveBake struct {
	// OneBox replaces [BakeSchedule.OneBox] for this wave.
	OneBox duration.Duration `json:"oneBox,omitempty"`
	// Zone replaces [BakeSchedule.Zone] for this wave.
	Zone duration.Duration `json:"zone,omitempty"`
	// Wave replaces [BakeSchedule.FirstWave] or [BakeSchedule.LaterWaves]
	// for this wave.
	Wave duration.Duration `json:"wave,omitempty"`
}

// Exclusion leaves targets out of a plan.
type Exclusion struct {
	// IDs are the IDs of targets to leave out. An ID not in the fleet is
	// noted in the plan, not an error, so that one list can serve several
	// fleets.
	IDs []string `json:"ids,omitempty"`
	// Labels leaves out every target that has any of these labels with
	// this value.
	Labels map[string]string `json:"labels,omitempty"`
}

// Validate reports every problem of the policy alone, each as a
// [*FieldError] naming its field (for example "wave:
// policy.Batch.MaxFraction: 1.5 is outside (0, 1]"), joined with
// [errors.Join]. Problems that depend on the fleet (an unknown
// pinned region, a minimum healthy a zone cannot meet) are reported by
// [Policy.Plan].
func (p Policy) Validate() error {
	ps := problems{prefix: "policy"}
	p.validate(&ps)
	return ps.err()
}

func (p *Policy) validate(ps *problems) {
	if p.Levels != nil && len(p.Levels) == 0 {
		ps.add(ErrInvalid, "Levels", "is empty; want one to three level names, or nil for [region zone]")
	}
	if len(p.Levels) > 3 {
		ps.add(ErrInvalid, "Levels", "has %d levels; the planner isolates at most three (region, zone, cell)", len(p.Levels))
	}
	seen := map[string]int{}
	for i, l := range p.Levels {
		if l == "" {
			ps.add(ErrInvalid, fmt.Sprintf("Levels[%d]", i), "is empty")
			continue
		}
		if j, ok := seen[l]; ok {
			ps.add(ErrInvalid, fmt.Sprintf("Levels[%d]", i), "%q repeats Levels[%d]", l, j)
		}
		seen[l] = i
	}

	fraction(ps, "OneBox.MaxFraction", p.OneBox.MaxFraction)
	if p.OneBox.Off && p.OneBox.Require {
		ps.add(ErrInvalid, "OneBox.Require", "is set with OneBox.Off: a one-box cannot be both required and off")
	}

	g := p.Waves.Growth
	switch {
	case math.IsNaN(g) || math.IsInf(g, 0):
		ps.add(ErrInvalid, "Waves.Growth", "%v is not a number; want at least 1", g)
	case g != 0 && g < 1:
		ps.add(ErrInvalid, "Waves.Growth", "%v is below 1: waves would shrink", g)
	}
	for i, s := range p.Waves.Sizes {
		f := fmt.Sprintf("Waves.Sizes[%d]", i)
		switch {
		case s < 1:
			ps.add(ErrInvalid, f, "%d is below 1", s)
		case i == 0 && s != 1:
			ps.add(ErrInvalid, f, "%d: the first wave holds exactly one region", s)
		case i > 0 && s < p.Waves.Sizes[i-1]:
			ps.add(ErrInvalid, f, "%d is smaller than Waves.Sizes[%d] (%d): waves never shrink", s, i-1, p.Waves.Sizes[i-1])
		}
	}
	if p.Waves.MaxParallelRegions < 0 {
		ps.add(ErrInvalid, "Waves.MaxParallelRegions", "%d is negative; want 0 (no cap) or more", p.Waves.MaxParallelRegions)
	}

	fraction(ps, "Batch.MaxFraction", p.Batch.MaxFraction)
	if m := p.Batch.MinHealthy; m != nil {
		if m.Count < 0 {
			ps.add(ErrInvalid, "Batch.MinHealthy.Count", "%d is negative", m.Count)
		}
		if math.IsNaN(m.Percent) || m.Percent < 0 || m.Percent > 100 {
			ps.add(ErrInvalid, "Batch.MinHealthy.Percent", "%v is outside [0, 100]", m.Percent)
		}
		if m.Count != 0 && m.Percent != 0 {
			ps.add(ErrInvalid, "Batch.MinHealthy", "sets both Count (%d) and Percent (%v); set one", m.Count, m.Percent)
		}
	}

	bake(ps, "Bake.OneBox", p.Bake.OneBox)
	bake(ps, "Bake.Zone", p.Bake.Zone)
	bake(ps, "Bake.FirstWave", p.Bake.FirstWave)
	bake(ps, "Bake.LaterWaves", p.Bake.LaterWaves)
	bake(ps, "Bake.Final", p.Bake.Final)
	for i, w := range p.Bake.Waves {
		bake(ps, fmt.Sprintf("Bake.Waves[%d].OneBox", i), w.OneBox)
		bake(ps, fmt.Sprintf("Bake.Waves[%d].Zone", i), w.Zone)
		bake(ps, fmt.Sprintf("Bake.Waves[%d].Wave", i), w.Wave)
	}

	pinned := map[string]int{}
	for i, r := range p.First {
		f := fmt.Sprintf("First[%d]", i)
		if r == "" {
			ps.add(ErrInvalid, f, "is empty")
			continue
		}
		if j, ok := pinned[r]; ok {
			ps.add(ErrInvalid, f, "%q repeats First[%d]", r, j)
		}
		pinned[r] = i
	}
	for k := range p.Exclude.Labels {
		if k == "" {
			ps.add(ErrInvalid, "Exclude.Labels", "has an empty label name")
		}
	}
}

// bake reports a negative bake: no bake is said with duration.None.
func bake(ps *problems, field string, d duration.Duration) {
	if d < 0 && !d.IsNone() {
		ps.add(ErrInvalid, field, "%v is negative; write \"none\" (duration.None) for no bake", d)
	}
}

func fraction(ps *problems, field string, f float64) {
	if math.IsNaN(f) || f < 0 || f > 1 {
		ps.add(ErrInvalid, field, "%v is outside (0, 1]", f)
	}
}

// settings is a policy with its defaults applied.
type settings struct {
	levels         []string
	oneBox         bool
	oneBoxFraction float64
	oneBoxPerZone  bool
	oneBoxRequire  bool
	growth         float64
	sizes          []int
	maxParallel    int
	maxFraction    float64
	minHealthy     *MinHealthy
	bake           BakeSchedule
}

func (p *Policy) settings() settings {
	s := settings{
		levels:         p.Levels,
		oneBox:         !p.OneBox.Off,
		oneBoxFraction: p.OneBox.MaxFraction,
		oneBoxPerZone:  p.OneBox.PerZone && len(p.Levels) != 1,
		oneBoxRequire:  p.OneBox.Require,
		growth:         p.Waves.Growth,
		sizes:          p.Waves.Sizes,
		maxParallel:    p.Waves.MaxParallelRegions,
		maxFraction:    p.Batch.MaxFraction,
		minHealthy:     p.Batch.MinHealthy,
		bake:           p.Bake,
	}
	if s.levels == nil {
		s.levels = DefaultLevels
	}
	if s.oneBoxFraction == 0 {
		s.oneBoxFraction = DefaultOneBoxFraction
	}
	if s.growth == 0 {
		s.growth = DefaultGrowth
	}
	if s.maxFraction == 0 {
		s.maxFraction = DefaultMaxFraction
		if s.minHealthy != nil {
			s.maxFraction = 1
		}
	}
	return s
}

// bakeFor resolves a bake: the override o if non-zero, else the schedule's
// value v if non-zero, else the default d; None means no bake (0 in the
// plan).
func bakeFor(o, v duration.Duration, d time.Duration) duration.Duration {
	b := o
	if b == 0 {
		b = v
	}
	if b == 0 {
		b = duration.Duration(d)
	}
	if b.IsNone() {
		b = 0
	}
	return b
}

func (s *settings) waveBake(w int) WaveBake {
	var o WaveBake
	if w < len(s.bake.Waves) {
		o = s.bake.Waves[w]
	}
	wave, def := s.bake.LaterWaves, DefaultLaterWaveBake
	if w == 0 {
		wave, def = s.bake.FirstWave, DefaultFirstWaveBake
	}
	return WaveBake{
		OneBox: bakeFor(o.OneBox, s.bake.OneBox, DefaultOneBoxBake),
		Zone:   bakeFor(o.Zone, s.bake.Zone, DefaultZoneBake),
		Wave:   bakeFor(o.Wave, wave, def),
	}
}

func (s *settings) finalBake() duration.Duration {
	return bakeFor(0, s.bake.Final, DefaultFinalBake)
}

// waveSizes returns the number of regions of each wave for n regions: the
// planned sizes (Sizes, then Growth), capped by MaxParallelRegions, with
// a short last wave folded so that sizes never decrease.
func (s *settings) waveSizes(n int) []int {
	var sizes []int
	planned, left := 0, n
	for k := 0; left > 0; k++ {
		switch {
		case k < len(s.sizes):
			planned = s.sizes[k]
		case k == 0:
			planned = 1
		default:
			planned = max(ceilMulCap(s.growth, planned, n), planned)
		}
		size := planned
		if s.maxParallel > 0 && size > s.maxParallel {
			size = s.maxParallel
		}
		if size < left {
			sizes = append(sizes, size)
			left -= size
			continue
		}
		// The last wave: the regions left. If they are fewer than the
		// wave before, join that wave when it stays within what this
		// wave could have held; otherwise reorder so that waves grow.
		last := len(sizes) - 1
		switch {
		case last < 0 || left >= sizes[last]:
			sizes = append(sizes, left)
		case sizes[last]+left <= size:
			sizes[last] += left
		default:
			i := last
			for i > 0 && sizes[i] > left {
				i--
			}
			sizes = append(sizes, 0)
			copy(sizes[i+2:], sizes[i+1:])
			sizes[i+1] = left
		}
		left = 0
	}
	return sizes
}
