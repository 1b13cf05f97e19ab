// Package rollouttest unit-tests rollout policies: it simulates a fleet
// whose versions misbehave on cue, feeds alarms with the traffic that fleet
// serves, runs a policy end to end in simulated time and measures who a bad
// version hurt. It also holds the conformance suites a team runs against
// its own deployer and its own metric source.
//
// # A simulated fleet
//
// A [Fleet] is a set of targets (build one with [Hosts], or bring the
// fleet's real topology) that all run an initial version. Its [Config]
// scripts how versions behave once deployed ([Behavior]: a higher error
// rate or latency everywhere, or a [Regression] from a given time, in given
// regions or zones, only under load) and what deploy calls suffer
// ([Fault]: slow, flaky or broken deploys, targets that refuse their
// rollback, calls that hang):
//
//	fleet, err := rollouttest.NewFleet(rollouttest.Config{
//		Targets: rollouttest.Hosts([]string{"us-east-1", "eu-west-1"}, 3, 10),
//		Initial: "v1",
//		Versions: map[string]rollouttest.Behavior{
//			"v2": {Regressions: []rollouttest.Regression{
//				{Zones: []string{"eu-west-1b"}, MinLoad: 0.8, ErrorRate: 0.05},
//			}},
//		},
//		Faults:     []rollouttest.Fault{{Op: rollouttest.OpRollback, Targets: []string{"us-east-1a-1"}, FailAlways: true}},
//		DeployTime: 2 * time.Minute,
//		Seed:       1,
//	})
//
// The fleet is a [rollout.Deployer] (and a [rollout.FastRollbacker]): it
// records every call ([Fleet.Calls]) and every change of version
// ([Fleet.Changes]).
//
// # Synthetic metrics
//
// The fleet is also an [alarm.Source]. Every target serves requests at a
// rate that follows a daily curve in its region's time zone ([Traffic]),
// with seeded noise; requests fail and take time according to the version
// the target runs at that moment. Queries name a metric and a scope in
// PromQL's manner (see [Fleet.Query]): the fleet, a region, a zone, a
// target, and a version, so that "the change" and "the rest of the fleet"
// are two queries:
//
//	error_rate{version="v2"}      error_rate{version!="v2"}
//
// [CanaryRules] are alarm rules over these queries that a careful team
// starts from (the fleet's error rate; the change's error rate and latency
// against its baseline; each zone of the stage on its own), and [Alarms]
// binds rules like these to a stage, which is what the driver watches. The
// fleet also counts the evidence a bake waits for ([Fleet.Evidence]).
//
// # Running a policy
//
// A [Scenario] is a plan, a version, a [rollout.Policy] and the gates, with
// the requests a human would make on the way ([Control]). [Run] runs it
// with the real driver, [rollout.Runner]; inside testing/synctest a
// rollout of days takes milliseconds:
//
//	func TestBadVersionStopsAtTheOneBox(t *testing.T) {
//		synctest.Test(t, func(t *testing.T) {
//			fleet := ...
//			plan, _ := wave.Policy{}.Plan(fleet.Targets())
//			out, err := rollouttest.Run(t.Context(), fleet, rollouttest.Scenario{
//				Plan: *plan, Version: "v2", Policy: myPolicy,
//			})
//			if err != nil {
//				t.Fatal(err)
//			}
//			if out.Phase != rollout.RolledBack || len(out.Blast.Targets) != 1 {
//				t.Errorf("v2 reached %d targets:\n%s", len(out.Blast.Targets), out)
//			}
//		})
//	}
//
// [Simulate] runs the same scenario without synctest, by driving the
// rollout's step function itself in simulated time: it suits Examples and
// programs (a preview of next week's rollout, say), and is reproducible to
// the request. Both perform their actions through the same
// [rollout.Hands], whose retries jitter reproducibly, and give the same
// [Outcome].
//
// # The outcome and the blast radius
//
// An [Outcome] says how the rollout ended ([rollout.Phase]), why it stopped
// (the [rollout.Signal] and its reason in words), which stages it reached
// and promoted, what every target runs at the end, the events and calls of
// the run, and the blast radius of the version ([Blast]): which targets ran
// it, how many requests it served and what share of the fleet's traffic
// that was, how many of them failed, and for how long. With a fixed seed
// every number is exact, so a test can pin the blast radius of a bad
// version to the request, and a change of policy that widens it fails.
//
// # Conformance suites
//
// Like testing/slogtest for slog handlers, [DeployerSuite] checks a team's
// own [rollout.Deployer] against the contract the driver relies on:
// versions read back, idempotent deploys, rollbacks, cancellation
// honoured, and errors classified as transient or permanent. [SourceSuite]
// does the same for an [alarm.Source]: ranges honoured, cancellation
// honoured, and the difference between no data (an empty series) and no
// answer (an error). Run them with [TestDeployer] and [TestSource], which
// return every failure with what went wrong, or as subtests with
// [RunDeployer] and [RunSource].
//
// # Test fixtures
//
// The tests of rollout, rollouttest and temporal share a few small
// fixtures: [AWSPlan] plans an AWS-shaped fleet (regions of zones of hosts,
// in waves of 1, 1, 2, 2 regions); [StageTargets], [WaveTargets] and
// [AllTargets] list the target IDs of a plan; [ZeroBake] drops its bakes;
// [EventLog] collects a rollout's events safely; [MemFleet] is a bare
// in-memory [rollout.Deployer] with scripted deploy failures, for tests
// that want exact calls rather than a simulated fleet.
//
// # Bubble safety
//
// Nothing here does I/O or holds a lock while it waits: a fleet waits with
// timers that honour the caller's context, so it runs inside a synctest
// bubble, and computed datapoints are remembered (a point's window ends in
// the past, which no later deploy can change).
package rollouttest
