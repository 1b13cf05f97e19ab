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
// signal channel) until the state's next wake-up or a request. While a
// round's actions run it watches as the Runner does: at the alarm interval
// it steps the state and runs the alarm checks it asks for, requests are
// applied at once, and when the state stops the rollout (an alarm, an
// abort) the deploys in flight are cancelled and those queued never start,
// so that an alarm in the middle of a long batch starts the rollback
// within one alarm interval. No decision is made here: a rollout behaves the same under the Runner and under
// Temporal, which the tests check by running the rollout package's
// scenarios both ways and comparing states, events and calls.
//
// Temporal's history replaces the Runner's [rollout.Store]: the state is
// rebuilt by replaying the history, so the workflow needs no store and no
// lease, and [rollout.Restarted] is never needed (no action is lost: an
// activity whose worker died is retried by the server).
//
// # Limits of the server
//
// A rollout lasts days and may touch tens of thousands of targets; the
// workflow stays inside the server's limits however large it is:
//
//   - History length (51,200 events by default, then the server
//     terminates the workflow): before every target action it starts,
//     the workflow checks the history (with what the activities in flight
//     will add) against [Settings.MaxHistory] and the server's
//     continue-as-new suggestion. When it must, it starts no more, waits
//     for those running and continues as new, carrying the rest of the
//     round (the actions not started and the observations made, see
//     [Round]): the next run performs them and steps as if nothing had
//     happened in between. A stage of thousands of targets continues as
//     new in its middle; a rollout costs about 10 history events per
//     target.
//   - Pending activities (2,000 by default, then every workflow task
//     fails): at most [Settings.MaxInFlight] target actions run at once
//     (500 by default), whatever the batch's concurrency: a large batch
//     or rollback group runs in waves. The cap slows a round; it never
//     changes a decision.
//   - Payloads (2 MiB by default) and query answers (gRPC's 4 MiB): the
//     input travels compressed ([PackInput]: the state's JSON, the kept
//     events and the last refused requests, gzip-compressed), about 15
//     bytes per target for a finished rollout of 20,000 targets; a plan
//     that does not fit in [Settings.MaxPayload] is refused at start
//     ([ErrTooLarge]). The status query's lists are bounded
//     ([MaxStatusList]); the state query answers compressed.
//
// # Cancellation
//
// Cancelling a rollout workflow is an abort by [CancelActor], taken at
// once, in the middle of a round too: the rollback runs on a disconnected
// context (deploys in flight are cancelled and waited for first; a
// rollback in flight goes on), and then the workflow ends cancelled with the
// [Result] as its details, which [Client.Wait] returns (Result.Cancelled
// set). Terminating a workflow leaves its targets as they are: never
// terminate a rollout.
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
//     to the maximum, an initial interval over the maximum waits the
//     maximum, as the core does; Temporal adds no jitter). A permanent error
//     ([rollout.Permanent]) or the last attempt's error is returned as the
//     action's observation, so that the step function decides, as with the
//     Runner. They heartbeat at a third of [Settings.HeartbeatTimeout] (or
//     [Activities.Heartbeat] if shorter); a worker that dies mid-deploy is
//     noticed within the timeout and the call is retried elsewhere. A
//     retried deploy reads the version first and does not deploy a target
//     that already runs it; the Deployer also finds a key that is the same
//     for every attempt in its context ([IdempotencyKey]). The action's
//     deadline, counted from when it starts, becomes the activity's
//     schedule-to-close timeout.
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
// Control requests ([rollout.Control], with actor and reason) are the
// [UpdateControl] update, which [Client.Request] and its shortcuts send:
// its validator refuses a malformed request, an unknown stage or an ended
// rollout, and its handler has the request authorised by
// [Activities.Authorize] (the function a Runner takes as
// [rollout.Config.Authorize]); the caller gets [rollout.ErrInvalid],
// [rollout.ErrNotAuthorised] or [rollout.ErrDone] as from
// [rollout.Runner.Request]. An accepted request is applied at the next
// step. A refused request changes nothing; it is recorded in the audit of
// [Status] with Ignored "not authorised: <why>", and reported as an
// [rollout.EventControl] event. An authoriser that cannot be reached
// refuses (fail closed). The [SignalControl] signal of earlier releases
// still works ([Client.Signal]); its refusals are only in the audit.
//
// The actor is what the sender says: the namespace's access control (who
// may send updates and signals) is the security boundary. To check real
// credentials, carry them in a header with a context propagator on the
// client and the worker, and verify them in Activities.Authorize.
//
// # Progress and events
//
// Queries: [QueryStatus] (the [rollout.Progress] and the audit),
// [QueryEvents] (the events after a sequence number; the workflow keeps the
// last [Settings.KeepEvents]) and [QueryState] (the whole state).
// [Client.Watch] polls the events for a caller; with [Settings.Notify] the
// workflow also delivers the events to [Activities.OnEvent], in order, in
// batches, from a coroutine of its own: a listener that is down never
// delays a step. With [Settings.SearchAttributes] it keeps search
// attributes ([AttrPhase], [AttrStage], [AttrAwaitingApproval],
// [AttrPaused]) so that an operator can list the rollouts that need a
// human. Gates can run on a task queue of their own
// ([Settings.GateTaskQueue]), so that long deploys never delay an alarm
// check.
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
// decisions, or the worker fails the task with a non-determinism error.
//
//  1. Pin rollouts to the worker build that started them with Worker
//     Deployment Versioning (worker.Options.DeploymentOptions: UseVersioning,
//     the Version of the build, and DefaultVersioningBehavior Pinned; see
//     the example of [NewWorker]), so that a rollout ends on the code it
//     started with and a new build only takes new rollouts. Keep an old version's
//     workers until its rollouts have ended. (The Build-ID APIs of earlier
//     SDKs are deprecated.)
//
//  2. The step function's decisions are part of the workflow's code: a
//     release of package rollout that changes what Step decides for the
//     same state and observations changes the workflow. With pinned
//     rollouts that is safe. Without pinning, guard such a change, and any
//     change to [Workflow] itself (another activity, another order,
//     another timer), with workflow.GetVersion for replay, and with
//     [Input.Logic] (kept across continue-as-new, which GetVersion markers
//     are not) for what an in-flight rollout goes on deciding.
//
//  3. Changes inside activities (the Deployer, the gates) are free: their
//     results are recorded in the history and not recomputed on replay.
//     Activity names and input types are the contract; add fields, do not
//     rename them.
//
// Histories recorded by earlier builds are committed in
// internal/servertest/testdata/histories and replayed by the server tests
// (worker.NewWorkflowReplayer): add those of each release before changing
// the workflow. Watching while a round runs (see [Workflow]) is such a
// change, guarded by workflow.GetVersion: runs recorded before it replay
// as they ran.
//
// # Modules, versions and build cost
//
// This module requires the core (github.com/shepherd-go/shepherd) at the
// release it is tagged with (temporal/vX.Y.Z beside vX.Y.Z), with no
// replace directive: go get resolves both from the module proxy. In the
// repository a go.work puts the working tree's core in its place. The tests
// that need a real server (go.temporal.io/server/temporaltest, a server in
// the test process) are a module of their own, internal/servertest, so
// that this module's users do not inherit the server: a program that
// imports this package needs about 90 modules (go list -m all), against
// about 375 with the server.
//
// It uses go.temporal.io/sdk v1.40.0, and the server tests
// go.temporal.io/server v1.30.8, the newest that build together with Go
// 1.26.8: server v1.30.9 and later need a newer Go, and SDKs from v1.41
// raise go.temporal.io/api and github.com/nexus-rpc/sdk-go past what server
// v1.30.8 compiles with. A program that imports only this package can use
// a newer SDK.
//
// Building the server makes the server tests expensive to compile; see
// docs/benchmarks.md, section "temporal", for the measured cost and the
// number of rollouts one worker carries.
package temporal
