// Package bake decides when a deployed change has baked long enough to move
// on: a minimum time AND a minimum amount of evidence, watched by alarms that
// end the bake at once when they fire.
//
// A bake that only counts minutes passes a low-traffic stage with no evidence
// at all: a one-box that served three requests overnight has proved nothing.
// A [Policy] therefore asks for both, for example "at least 12 hours and at
// least 100 requests to the Create API", and bounds the wait with a maximum
// duration after which the bake ends [Inconclusive] with a configured
// [Consequence] (roll back by default: no evidence is not good evidence).
// A [Schedule] picks a policy per class of stage and per wave, and one for
// the final bake after the last stage. How long each stage bakes at least
// is the planner's (package wave) to say: a rollout bakes each stage for
// its plan's duration. Used without a plan, a schedule takes the planner's
// published defaults: 1 hour after a one-box stage, 12 hours after the
// first regional wave, 2 hours after each later wave and at the end.
//
// The package has three layers, from pure to blocking:
//
//   - [Policy], [Requirement] and [Schedule] are plain data with a JSON form
//     and a Validate method that reports every problem with its field path.
//   - [Tracker] is the bake's state as plain data: it takes the time and the
//     observations as arguments ([Tracker.Update] with now, the evidence
//     counted so far and the alarm results) and returns a [Status]: baking,
//     done, failed or inconclusive, with the time and evidence still needed,
//     the earliest time the bake can end and when to look again. It never
//     reads the clock, starts no goroutine and does not allocate on the
//     common path, so a driver can keep it in its persisted state and step it
//     from a pure function or a workflow engine.
//   - [Wait] is the thin blocking shell: it polls an [alarm.Source] for the
//     evidence ([Measure]) and [alarm.Checker]s for the alarms with timers,
//     feeds the tracker, and returns as soon as the bake has an outcome.
//
// Time in tests is testing/synctest: a 12-hour bake under [Wait] runs in
// milliseconds inside a synctest bubble.
package bake
