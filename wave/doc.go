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
//     region, at most 10% of its zone), then one zone of each region per
//     stage, so that no stage holds two zones of one region;
//   - inside a stage, batches: as many targets of a zone at once as the
//     batch fraction (33%) and the minimum healthy (CodeDeploy semantics)
//     allow, and at least one;
//   - a bake after every stage: 1h after a one-box or a zone, 12h after the
//     first wave, 2h after later waves, and a final 2h.
//
// Every number is a documented zero-value default of [Policy], taken from
// the published practice of careful operators; a policy is plain data with
// a JSON form and a [Policy.Validate] method that names every bad field.
// The plan is deterministic, explains itself ([Plan.Explain], for review
// in a pull request), validates itself ([Plan.Validate]) and estimates its
// own duration ([Plan.Schedule]). Carrying it out (deploying, baking,
// watching alarms, rolling back) is the rollout package's job.
package wave
