// Package fleetwide coordinates several rollouts as one group: the services
// of a release, or the code, config and infrastructure pipelines of one
// service, each a [rollout.State] with its own plan and policy.
//
// # Ordering
//
// A [Member] may wait for others ([Dependency]): "B's wave k only after A
// finished wave k" ([AfterWave]) or "B only after A succeeded"
// ([AfterSuccess]). [Policy.Lockstep] promotes the group wave by wave
// together, and [Member.Start] starts a member on a schedule (a release
// train). One stop-the-line switch ([ControlStop]) holds the whole group.
//
// The group steers its members through their own gates, never around them:
// it answers part of every member's blockers check (a stage waiting for a
// dependency, a stopped line or a firing regional alarm is blocked with a
// [rollout.BlockReason] that says so), and sends members the control
// requests a human would (pause, resume, abort), recorded in their audit
// logs with the actor [Actor].
//
// # Shared regional health
//
// Alarms scoped to a region or a zone that belong to no member
// ([HealthPolicy.Scopes]) are watched for the whole group. When one fires,
// the group ranks the members in flight by how their changes line up with
// the onset in space (did they touch a target in that scope?) and in time
// (how long before the onset did they reach it?) with [Rank]; it stops the
// most likely culprit (rolls it back), pauses the other members in that
// scope, and blocks new stages there until the alarm clears. Every decision
// carries its evidence in plain words: "errors rose in eu-west-1b 4m0s
// after payments v42 reached it; search v7 touched no target there".
//
// # Group rollback
//
// With [Policy.Rollback] set to [RollbackAtomic], a member that rolls back
// rolls back the whole group, in reverse dependency order; with
// [RollbackTeam], the culprit of a regional alarm takes down with it every
// member of its team that touched the region.
//
// # Shape
//
// The package has the shape of rollout: a plain-data, JSON-serialisable
// [State]; a pure step function, [State.Step], that takes the time and the
// observations and returns the actions to perform (members' actions, each
// to be performed through the member's [rollout.Hands], and health checks);
// an executor for a Go process, [Runner], which persists the group's state
// in a [rollout.Store] under one lease and resumes after a crash; and
// [Simulate], a second executor that runs a group in simulated time
// without goroutines, for previews and examples. [State.Progress] and
// [State.Timeline] show the whole group: one row per member stage, with
// where its time went.
//
// # How well the culprit is found
//
// A member marked [Member.Drain], whose traffic in a scope its [Drainer]
// can send back to the old version, is tested rather than guessed at: the
// group drains it where the alarm fires, restores it if the alarm clears,
// drains it again if the alarm comes back, and stops it only if the alarm
// followed each move ([Trial]). Members that cannot be drained are judged
// by timing alone ([Rank], [Judge]); while the call is close, the group
// holds the likeliest suspect alone and lets the others go on outside the
// scope, so that their next landings add evidence. docs/benchmarks.md
// records the figures on a seeded workload of 1,000 incidents with the
// issue's confounders: every culprit is stopped, and 99.7% of stops hit
// the culprit with every member drainable, 93% with half of them, 84% by
// timing alone ([HealthPolicy.Margin] trades time for precision: 5 gives
// 96% and 87%).
package fleetwide
