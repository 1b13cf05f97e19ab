// Package rollout is the driver: it carries a change across a fleet wave by
// wave through every safety gate (blockers, manual approvals, bounded
// deploys with a failure budget, verifications, bakes watched by alarms,
// canary judgement), rolls the change back by itself when anything looks
// wrong, persists its place at every transition and resumes after a crash.
//
// A program makes a rollout with [Create] and drives it with
// [Runner.Run]; after a crash, or from another replica, [Open] takes the
// saved rollout over:
//
//	r, err := rollout.Create(ctx, rollout.Spec{ID: "web-v2", Plan: *plan, Version: "v2"}, deployer, rollout.Config{Store: store})
//	...
//	err = r.Run(ctx) // nil: succeeded; a *HaltError: rolled back
//
// # The pipeline
//
// Every stage of the plan runs the same pipeline of steps, [Policy.Steps]:
// by default blockers, approval, deploy, bake, judge ([DefaultSteps]), and
// verify ([StepVerify]: smoke or integration tests through a [Verifier])
// wherever a team puts it. Each step kind is one small type in a file of
// its own (step_blockers.go, step_approval.go, step_deploy.go,
// step_verify.go, step_bake.go, step_judge.go) registered in one table: its
// decisions, its dry run, the activity its time is charged to ([Timings]),
// its events. A kind that does not apply to a stage (an approval it does not
// need, a judge for a stage kind not judged) is passed over. The plan's final
// bake is a stage too, [FinalStage], whose pipeline is a bake alone.
//
// # One brain, several executors
//
// Everything the driver decides lives in one pure step function,
// [State.Step]. A [State] is plain, JSON-serialisable data (the plan, the
// version, the [Policy], every target's previous and current version, the
// stage in progress, bake progress, decisions with reasons, the audit log),
// versioned by [SchemaVersion]. Step takes the time and the observations the
// executor made, and returns an [Output]: the [Action]s to perform next, the
// time to wake up at if nothing else happens, whether the state must be
// persisted first, and the [Event]s to report:
//
//	out, err := st.Step(now, observations...)
//
// Step updates the state in place and is deterministic: the same state,
// time and observations always give the same resulting state and output,
// and a state that went through JSON ([EncodeState], [DecodeState], or any
// JSON codec) decides exactly as the original. It starts no goroutine,
// reads no clock, performs no I/O and never blocks, so a durable workflow
// engine can replay it, and a unit test can drive it line by line
// (see the example of [State.Step]).
//
// An executor follows this contract:
//
//  1. Create the state with [NewState], or load a saved one with
//     [DecodeState]. After loading, the first call must carry a
//     [Restarted] observation: actions that were in flight when the previous
//     executor stopped are lost, and the state re-issues them (reading a
//     target's version first wherever a deploy may or may not have
//     happened).
//  2. Call Step. If [Output.Persist] is set, save the state durably before
//     doing anything else: a deploy is only ever issued after its intent is
//     saved, which is what makes resuming safe.
//  3. Deliver [Output.Events], then perform every action of
//     [Output.Actions] (those of one output may run concurrently, at most
//     [Output.Concurrency] target actions at a time). Turn each result into
//     an [Observation] carrying the action's [Action.Round] (the Observe
//     helpers do this) and pass them to the next Step, all together or in
//     parts: Step waits until every action of the round has been answered.
//  4. With no actions, wait until [Output.WakeAt] (no timer when it is
//     zero) or until a control request ([Control]) arrives, then call Step
//     with the current time and the requests.
//  5. Stop when [Output.Done] is set: the state is terminal ([Phase]).
//
// An executor may also step the state while a round's actions are still
// out, with no observation or with control requests and alarm results:
// the state then asks for an alarm check when the alarms are due
// ([Output.WakeAt]) and, when a signal or an abort stops the rollout, starts
// the rollback at once and sets [Output.Cancel]: cancel the calls in
// flight (their observations are still expected).
//
// [Runner] is the executor for a Go process: it deploys with bounded
// concurrency and retries with exponential backoff, watches alarms and
// control requests while deploys run, sleeps with timers, persists through
// a [Store] under a lease, and accepts pause, resume, abort, approval and
// override requests from other goroutines.
//
// # One set of hands
//
// Executors own only waiting, persisting and concurrency. Turning an
// [Action] into an [Observation] is [Hands]: it calls the team's
// [Deployer] and gates, retries at the policy's pace with reproducible
// jitter ([Retry.Wait]), reads a version back after each deploy and
// rollback, waits for a [HealthChecker], honours the action's deadline,
// contains panics, and checks every answer with [CheckObservation] (a NaN
// count or score, an unknown verdict, fails closed instead of reaching the
// state). The [Runner] calls [Hands.Do]; rollouttest.Simulate calls it with
// a simulated wait; the Temporal activities call [Hands.Try], one attempt
// each, and leave the retries to Temporal. A custom executor should do the
// same, so that a fault means the same thing whoever executes the rollout.
//
// # What a team provides
//
// A [Deployer] (two methods: deploy a version to a target, read the
// version a target runs), optionally a [HealthChecker] and a
// [FastRollbacker]. The gates are small interfaces too, each with an
// adapter for the package that implements it: [Blockers] ([BlockerSet] for
// a blocker.Set), [Alarms] ([AlarmRules] for alarm rules chosen per stage), [Evidence]
// ([Measure] for an alarm.Source and bake requirements) and [Judge]
// ([SequentialJudge] and [KayentaJudge] for the canary package). The plan
// comes from the wave planner, and with it how long every stage bakes; the
// [Policy] (what a bake waits for and watches through a bake.Schedule,
// approvals, reactions, retries) is plain data saved with the state.
//
// # Durability
//
// A [Store] keeps one saved state per rollout under a lease with a fencing
// token. [FileStore] keeps a journal per rollout, to which each save
// appends (and syncs) only the targets that changed, with a checksum per
// record and a snapshot now and then, and holds an OS file lock, so a
// second driver gets [ErrLocked]; package pgstore keeps rollouts in
// PostgreSQL for drivers on several machines; [MemoryStore] is for tests;
// rollouttest.StoreSuite checks a store of your own. The saved form
// carries a schema version and a checksum: a damaged file is
// [ErrCorrupt], one from a newer driver a [*SchemaError], both before any
// target is touched. Saving is incremental where it matters: the plan is
// encoded once, and only the targets that changed are encoded again.
//
// # Safety
//
// Any signal (an alarm in ALARM or unreadable for too long, a failed
// canary, an exhausted failure budget, a missed stage deadline, a bake that
// ends inconclusive, a blocker that never clears) stops the rollout and,
// by default, rolls back every target the rollout changed to the version it
// ran before, in the reverse order of deployment, with its own concurrency
// and retries. A target that still cannot be rolled back ends the run in
// [RollbackFailed], which names it. [Policy.Reactions] can turn a signal
// into a pause for a human instead, the gentler mode teams adopt first.
//
// Missing evidence is not good evidence: an alarm that cannot be read, a
// blocker that cannot be evaluated and a judge that errs all count against
// the change.
//
// # Failure model
//
// Whatever the outside world does, the driver reaches a safe state in a
// bounded time. The bounds below use the defaults; each is configurable.
//
//   - A call that fails is retried at the policy's pace ([Retry]: deploys 5
//     attempts, rollbacks 10, from 1s doubling to 1m, with reproducible
//     jitter); a [Permanent] error is not retried. Gates are asked once per
//     check and the state paces the checks.
//   - Every call has a deadline ([CallPolicy]: a deploy or rollback attempt
//     15m, a version read 1m, a gate 1m, a canary judgement 5m, a
//     verification [VerifyPolicy.Timeout] 5m). A call that ignores its
//     context is abandoned [CallPolicy.Grace] (30s) after its deadline: its
//     action fails closed, it is counted and logged, and its goroutine ends
//     when the call returns. So one hung deploy costs at most 15m30s, then
//     its target counts as failed and a rollback reads its version before
//     touching it; a hung rollback ends in [RollbackFailed] naming the
//     target after its retries.
//   - An alarm source that fails or hangs is an unreadable check: after
//     [AlarmPolicy.MaxUnreadable] (3) in a row, one [AlarmPolicy.Interval]
//     (1m) apart, the rollout fails closed, within 3 x (1m + 1m) = 6m of
//     the outage's start for a source that honours its context. A single
//     failed read (a blip) is counted and forgotten at the next good one;
//     reads are never repeated in a tight loop.
//   - Alarms and control requests are watched while deploys and rollbacks
//     run, not only between them: an alarm in ALARM, or an abort, in the
//     middle of a batch stops it within one alarm interval; the calls in
//     flight are cancelled, the targets queued behind them are not touched,
//     and the rollback covers every target whose deploy may have happened
//     (reading it first).
//   - A panic in the team's code (a Deployer, a gate, a judge, a verifier)
//     fails that action closed and is logged with its stack; the driver
//     goes on.
//   - An answer no outside call may give (a NaN or negative count, a NaN
//     score, an unknown verdict or outcome) is an error observation, which
//     fails closed: it can never make the state unsaveable.
//   - A stage held by blockers past [BlockerPolicy.MaxWait] pauses if hosts
//     already run the change (they are healthy), and halts otherwise.
//   - A crash at any moment loses nothing: the intent to deploy is saved
//     before any deploy is issued, and [Open] reads back every target whose
//     deploy or rollback was in flight before doing anything else.
//
// Deploys are at least once: a Deployer must be idempotent. The driver
// calls Deploy again for the same target and version only (a) to retry a
// call that failed with a transient error or timed out, per the policy's
// retries, and (b) after a crash in the middle of a call (or after it,
// before its result was saved), once the read-back shows the interrupted
// deploy did not take. It never calls Deploy again for a target whose call
// was abandoned: that target counts as failed. A rollback reads the
// version first and does nothing when the target already runs the version
// it restores.
package rollout
