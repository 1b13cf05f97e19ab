// Package wave plans how a change travels across a fleet so that it never
// hurts two regions, or two zones of one region, at once.
//
// A fleet is a list of [Target] values, each placed by its Location in
// ordered levels (region > zone > host, ring > cell, or just a Kubernetes
// cluster). [Policy.Plan] cuts the fleet into a [Plan]:
//
//   - waves of regions: the first wave is one region (the lightest unless
//     one is pinned), later waves grow (1, 2, 4... or listed sizes),
//     capped by a maximum of regions in parallel;
//   - inside a wave, stages: a one-box stage (one small target of each
//     region), then one zone of each region per stage;
//   - inside a stage, batches: as many targets of a zone at once as the
//     batch fraction (33%) and the minimum healthy (CodeDeploy semantics)
//     allow, and at least one;
//   - a bake after every stage: 1h after a one-box or a zone, 12h after the
//     first wave, 2h after later waves, and a final 2h.
//
// # How a wave moves
//
// A wave of one region deploys its zones one at a time. A wave of several
// regions moves them in step: its first zone stage deploys the first zone
// of every region of the wave at once, the next stage the second zone of
// every region, and so on; a region with fewer zones simply sits out the
// later stages. So a stage of a later wave touches several regions at
// once, but never two zones of one region, and each zone keeps its own
// minimum healthy ([Stage.Units]). Zones deploy in name order, which keeps
// stage names stable as targets come and go.
//
// Bakes follow the stages: each one-box stage bakes [BakeSchedule.OneBox];
// each zone stage bakes [BakeSchedule.Zone], except the last stage of the
// wave, which bakes the wave's bake instead ([BakeSchedule.FirstWave] or
// [BakeSchedule.LaterWaves]), since that bake is the wait before the next
// wave. A last zone is therefore never baked twice, and a wave of one zone
// per region bakes once. [Plan.Explain] prints both rules for each wave and
// names the bake of each stage.
//
// # The one-box
//
// Before the first zone of each region, one target is deployed and baked
// alone: the lightest target of the region, taken from any of its zones,
// if it carries at most 10% of the region's weight (the published
// practice: "at most 10% of the region's or the zone's requests";
// [OneBoxRule.PerZone] measures against the zone instead). A region with
// no such target gets no one-box, and the plan says so in
// [Plan.Warnings]; [OneBoxRule.Require] turns that into an error.
//
// # Numbers
//
// Every number is a documented zero-value default of [Policy], taken from
// the published practice of careful operators. A bake of zero means the
// default; "none" ([duration.None]) means no bake, and a negative bake is
// an error, so that a typo cannot remove a bake silently. Fractions,
// percentages, growth factors and weights are read as the decimals they are
// written as, and rounded exactly as documented (0.29 of 100 targets is 29;
// a target of weight 1 is 10% of a region of weight 10): no float error, no
// epsilon.
//
// # Errors
//
// A policy is plain data with a JSON form and a [Policy.Validate] method
// that names every bad field. Every problem, of a policy, a fleet or a
// plan, is a [*FieldError] (shepherd's one shape, [field.Error]) with a
// path such as "policy.Batch.MaxFraction", "targets[3].Weight" or
// "plan.Waves[1].Stages[0]", wrapping a sentinel ([ErrInvalid],
// [ErrDuplicateID], [ErrPlan]...); the problems of one call are joined with
// [errors.Join], so that errors.Is works on the whole.
//
// The plan is deterministic, explains itself ([Plan.Explain], for review
// in a pull request), validates itself ([Plan.Validate]: every invariant a
// driver relies on) and estimates its own duration ([Plan.Schedule]).
// Carrying it out (deploying, baking, watching alarms, rolling back) is
// the rollout package's job.
package wave
