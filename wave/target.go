package wave

import "github.com/shepherd-go/shepherd/duration"

// Target is one deployable unit: a host, a container set, a cell, a
// Kubernetes cluster; whatever the deploy tool deploys to in one call.
type Target struct {
	// ID names the target uniquely within a fleet.
	ID string `json:"id"`
	// Location places the target in the topology, outermost level first,
	// for example ["us-east-1", "use1-az1", "host-17"] for region > zone >
	// host, ["ring-1", "cell-3"] for ring > cell, or ["prod-eu"] for a
	// Kubernetes cluster with no zones. Which positions are the isolation
	// levels (region, zone) is named by the policy ([Levels]).
	Location []string `json:"location"`
	// Weight is the target's share of traffic or capacity, in any unit
	// (requests per second, replicas). Zero means 1. Negative, NaN and
	// infinite weights are errors.
	Weight float64 `json:"weight,omitempty"`
	// Labels are free-form attributes for ordering hooks and exclusions.
	Labels map[string]string `json:"labels,omitempty"`
}

// StageKind says what a stage is for. The kinds are structural: what the
// levels are called in the fleet's own words (a ring, a cluster, a cell) is
// in [Plan.Levels]. With three levels (for example region > zone > cell) a
// [Zone] stage deploys its zone one cell at a time: a batch never holds two
// cells of one zone.
type StageKind string

const (
	// OneBox is the smallest slice of a region (one target, at most 10% of
	// its zone's or region's weight) deployed and baked before the region's
	// first zone.
	OneBox StageKind = "one-box"
	// Zone deploys one isolation zone of one region (or of several regions
	// in a later wave, never two zones of one region).
	Zone StageKind = "zone"
	// Region deploys whole regions that have no zone level (a policy with a
	// single level, such as Kubernetes clusters or rings).
	Region StageKind = "region"
)

// Plan is the waves a change takes across a fleet, in order.
type Plan struct {
	// Levels names the location levels of the fleet, outermost first, as
	// the policy named them (for example ["region", "zone"]).
	Levels []string `json:"levels"`
	Waves  []Wave   `json:"waves"`
	// FinalBake is how long the rollout keeps watching after the last
	// stage's own bake, with the change on the whole fleet and still
	// eligible for automatic rollback, before it is declared done.
	FinalBake duration.Duration `json:"finalBake"`
	// Excluded lists the IDs of the targets the policy left out, sorted;
	// every target of the fleet is either in exactly one batch or here.
	Excluded []string `json:"excluded,omitempty"`
	// Warnings are what a reviewer should weigh before approving the plan:
	// it is valid, but weaker than the policy asked for, such as a region
	// with no target light enough for a one-box. [Plan.Explain] prints
	// them first.
	Warnings []Warning `json:"warnings,omitempty"`
	// Notes are things a reviewer may want to know about the plan as a
	// whole, such as an excluded ID that is not in the fleet.
	Notes []string `json:"notes,omitempty"`
}

// Warning is one thing a reviewer should weigh before approving a plan.
type Warning struct {
	// Code names the kind of warning, for programs: [WarnNoOneBox].
	Code string `json:"code"`
	// Region is the region the warning is about, if any.
	Region string `json:"region,omitempty"`
	// Message says it in plain words.
	Message string `json:"message"`
}

// String returns the warning's message.
func (w Warning) String() string { return w.Message }

// Warning codes.
const (
	// WarnNoOneBox is a region with no target light enough for a one-box
	// ([OneBoxRule]): its first batch is the first to see the change. Set
	// [OneBoxRule.Require] to make it an error.
	WarnNoOneBox = "no-one-box"
)

// Wave is a group of regions deployed together; a later wave starts only
// when the previous one has finished its bake.
type Wave struct {
	// Index is the wave's position in the plan, from 0.
	Index int `json:"index"`
	// Regions are the regions (values of the outermost isolation level) the
	// wave covers.
	Regions []string `json:"regions"`
	// Stages run one after another: the wave's one-box stage, if any, then
	// one stage per zone position (the first zone of each region, then the
	// second...), or a single [Region] stage without a zone level.
	Stages []Stage `json:"stages"`
}

// Stage is a step of a wave that is deployed and then baked as a unit.
type Stage struct {
	// Name identifies the stage in the plan, uniquely and stably (the same
	// fleet and policy always give the same names), so that a driver can
	// persist it. The planner names stages after their wave (from 1) and
	// what they touch: "w1/one-box/us-east-1", "w1/us-east-1/use1-az1",
	// "w2/eu-west-1/euw1-az2+ap-south-1/aps1-az1" (region/zone pairs), or
	// "w3/prod-eu+prod-us" for whole regions. Zones and cells deploy in
	// name order, so adding or removing targets does not rename stages. In
	// the unlikely case that two natural names are equal (a zone named like
	// a region), the later stage gets a "~2" suffix.
	Name string    `json:"name"`
	Kind StageKind `json:"kind"`
	// Wave is the index of the stage's wave, from 0.
	Wave int `json:"wave"`
	// Regions and Zones are the regions and zones the stage touches; a
	// stage never holds two zones of one region. For [Zone] and [OneBox]
	// stages Zones[i] is the zone of Regions[i]; [Region] stages have no
	// Zones.
	Regions []string `json:"regions"`
	Zones   []string `json:"zones,omitempty"`
	// Weight is the total weight of the stage's targets (a zero target
	// weight counting as 1).
	Weight float64 `json:"weight"`
	// Batches are deployed in order; the targets of one batch are deployed
	// concurrently.
	Batches []Batch `json:"batches"`
	// Bake is how long the stage bakes after its last batch.
	Bake duration.Duration `json:"bake"`
	// MinHealthy is the number of targets of the stage that must stay
	// healthy (not being deployed, not failed) while it deploys: the sum
	// of its Units' minimums. No batch is so large that it would leave
	// fewer healthy.
	MinHealthy int `json:"minHealthy"`
	// Units are the isolation units the stage deploys (its zones; its
	// cells with three levels; its regions with one level), each with its
	// own minimum healthy, so that no batch takes too much of one zone
	// even when the stage's total would allow it. One-box stages have no
	// units (their minimum is 0).
	Units []Unit `json:"units,omitempty"`
	// Reason says in plain words why the stage is here.
	Reason string `json:"reason"`
}

// Unit is one isolation unit of a stage (a zone, a cell with three levels, a
// region with one level) and its minimum healthy.
type Unit struct {
	// Location names the unit, outermost level first, as deep as the
	// plan's levels: ["us-east-1", "use1-az1"] for a zone.
	Location []string `json:"location"`
	// Targets is how many of the stage's targets are in the unit.
	Targets int `json:"targets"`
	// MinHealthy is how many of them must stay healthy while the stage
	// deploys: the unit's minimum ([Batching.MinHealthy], or all but one
	// batch without it), less the one-box target it already deployed.
	MinHealthy int `json:"minHealthy"`
}

// Batch is a set of targets deployed at the same time.
type Batch struct {
	Targets []Target `json:"targets"`
}
