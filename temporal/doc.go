// Package temporal runs shepherd rollouts on Temporal, the open-source
// durable workflow engine: bakes that last days survive worker restarts,
// deploy workers scale out and move between machines, and pause, resume,
// abort, approve and bake-skip requests arrive as signals.
//
// It lives in its own module (github.com/shepherd-go/shepherd/temporal), so
// that the core library never depends on Temporal.
//
// # One brain
//
// The workflow ([Workflow]) is another executor of the step function of
// package rollout ([rollout.State.Step]), beside [rollout.Runner]. It holds
// the same plain-data [rollout.State], steps it with the workflow's time
// (workflow.Now), performs the actions it returns as activities, and sleeps
// on durable timers (workflow.NewTimer in a selector with the control
// signal channel) until the state's next wake-up or a request. No decision
// is made here: a rollout behaves the same under the Runner and under
// Temporal, which the tests check by running the rollout package's
// scenarios both ways and comparing states, events and calls.
//
// Temporal's history replaces the Runner's [rollout.Store]: the state is
// rebuilt by replaying the history, so the workflow needs no store and no
// lease, and [rollout.Restarted] is never needed (no action is lost: an
// activity whose worker died is retried by the server). Every
// [Settings.MaxHistory] events (or when the server suggests it) the workflow
// continues as new with the state in its saved form ([rollout.EncodeState]),
// at a point where no action is in flight.
//
// # Activities
//
// [Activities] holds the user's implementations: the [rollout.Deployer] and
// the gates ([rollout.Blockers], [rollout.Alarms], [rollout.Evidence],
// [rollout.Judge], [rollout.Verifier]), the authoriser and an optional
// event listener. Register them with the workflow on a worker with
// [Register] or [NewWorker]. Each action kind is its own activity, and
// each activity is one attempt ([rollout.Hands.Try]) through the same
// hands the Runner and the simulator use: the same read-back and health
// check, and the same checks of what comes back
// ([rollout.CheckObservation]: a NaN count or score, an unknown verdict,
// fails closed), so a fault means the same thing under every executor.
//
//   - Deploys and rollbacks retry with Temporal's retry policy, mapped from
//     the rollout's [rollout.Retry] (attempts, initial interval doubling up
//     to the maximum; Temporal adds no jitter). A permanent error
//     ([rollout.Permanent]) or the last attempt's error is returned as the
//     action's observation, so that the step function decides, as with the
//     Runner. They heartbeat every [Activities.Heartbeat]; a worker that
//     dies mid-deploy is noticed within [Settings.HeartbeatTimeout] and the
//     call is retried elsewhere (Deployer.Deploy must be idempotent, as the
//     rollout package already requires). The stage deadline becomes the
//     activity's schedule-to-close timeout.
//   - Gates are evaluated at the workflow's time, passed in the request, so
//     that a gate sees the same time as the step function. Their errors are
//     observations too (an unreadable alarm fails closed); an activity that
//     cannot run at all becomes the same failed observation.
//   - A verification ([ActivityVerify]) retries like a deploy, per
//     [rollout.VerifyPolicy.Retry], each attempt bounded by the policy's
//     Timeout; a check that still could not run fails closed.
//
// # Requests
//
// Control requests ([rollout.Control], with actor and reason) arrive on the
// [SignalControl] signal; [Client.Request] and its shortcuts send them. The
// workflow has each one authorised by [Activities.Authorize] (the same
// function a Runner takes as [rollout.Config.Authorize]) before the step
// sees it. A refused request changes nothing; it is recorded in the audit
// of [Status] with Ignored "not authorised: <why>", and reported as an
// [rollout.EventControl] event. An authoriser that cannot be reached
// refuses (fail closed).
//
// # Progress and events
//
// Queries: [QueryStatus] (the [rollout.Progress] and the audit),
// [QueryEvents] (the events after a sequence number; the workflow keeps the
// last [Settings.KeepEvents]) and [QueryState] (the whole state).
// [Client.Watch] polls the events for a caller; with [Settings.Notify] the
// workflow also delivers each step's events to [Activities.OnEvent].
//
// # One workflow per rollout
//
// The workflow ID is [WorkflowID](rollout ID), "shepherd-rollout-<id>".
// [Client.Start] starts it with the conflict policy FAIL (no second start
// while it runs) and the reuse policy REJECT_DUPLICATE (none after it ended
// either), and reports either as [rollout.ErrExists]: two workflows can
// never run the same rollout. Do not cancel or terminate a rollout
// workflow to stop a rollout: that leaves its targets as they are; abort
// it, which rolls back.
//
// # Changing the workflow while rollouts are in flight
//
// Rollouts last days, so a new worker binary will meet workflows that an
// old one started, and replays their histories. Replay must take the same
// decisions, or the worker fails the task with a non-determinism error. Three
// rules keep it safe:
//
//  1. The step function's decisions are part of the workflow's code. A
//     release of package rollout that changes what Step does for the same
//     state and observations (a new default, a new gate) changes the
//     workflow. Guard such a change with workflow.GetVersion in the
//     workflow, or route new rollouts to new workers with worker
//     versioning (build IDs), and keep old workers until the old rollouts
//     have ended.
//
//  2. Changes to [Workflow] itself (a new activity, another order of
//     activities, another timer) go behind workflow.GetVersion:
//
//     v := workflow.GetVersion(ctx, "notify-batches", workflow.DefaultVersion, 1)
//     if v == 1 { ... new behaviour ... } else { ... old behaviour ... }
//
//     and the old branch is removed once no workflow that started before
//     the change is open (continue-as-new starts a fresh history, so a
//     long rollout reaches the new branch at its next continuation).
//
//  3. Changes inside activities (the Deployer, the gates) are free: their
//     results are recorded in the history and not recomputed on replay.
//     Activity names and input types are the contract; add fields, do not
//     rename them.
//
// Test a change by replaying recorded histories (worker.NewWorkflowReplayer)
// before rolling the worker out, as this package's integration test does.
//
// # Versions and build cost
//
// This module uses go.temporal.io/sdk v1.40.0 and, in its tests only,
// go.temporal.io/server v1.30.8 (go.temporal.io/server/temporaltest, a real
// server in the test process). These are the newest that build together
// with Go 1.26.8: server v1.30.9 and later need a newer Go, and SDKs from
// v1.41 raise go.temporal.io/api and github.com/nexus-rpc/sdk-go past what
// server v1.30.8 compiles with. The module's go directive (1.25.14) is the
// server's minimum; in this module's graph the server raises some shared
// dependencies (OpenTelemetry v1.44.0, golang.org/x/sync v0.22.0), which
// leaves the core module untouched. A program that imports only this
// package and not the server can use a newer SDK.
//
// Building the server makes this module's tests expensive to compile; see
// docs/benchmarks.md, section "temporal", for the measured cost and the
// number of rollouts one worker carries.
package temporal
