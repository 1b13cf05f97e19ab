// Package shepherd is the overview of a set of small Go packages that make a
// deployment cautious and hands-off: plan waves, bake, watch alarms, judge
// canaries, respect blockers, and roll back on their own, so that nobody has
// to shepherd a deployment.
//
// shepherd is a library, not a service. Import the packages you need into
// your own deploy tooling, unit-test your rollout policy with them (days of
// rollout run in milliseconds under testing/synctest), and compose them into
// pipelines in code. Each package is useful alone.
//
// # Packages
//
// The core, each free of third-party dependencies:
//
//   - [github.com/shepherd-go/shepherd/wave]: targets and their topology, the
//     wave planner that never hurts two regions or two zones at once, plans
//     that explain (with warnings), validate and schedule themselves.
//   - [github.com/shepherd-go/shepherd/bake]: bake policies that wait for a
//     minimum time AND a minimum amount of evidence, and the bake tracker.
//   - [github.com/shepherd-go/shepherd/blocker]: time windows in each
//     region's local time, holidays, freezes (instants or local dates), alarm
//     blockers, stop-the-line switches and audited overrides.
//   - [github.com/shepherd-go/shepherd/alarm]: metric sources and series;
//     alarm rules with CloudWatch semantics (threshold with M of N and
//     missing-data treatment, composite expressions, relative to a baseline).
//   - [github.com/shepherd-go/shepherd/canary]: the canary judge: a
//     Kayenta-compatible rank test and anytime-valid sequential tests.
//   - [github.com/shepherd-go/shepherd/field]: the one shape of a validation
//     problem (a path, the problem, a sentinel error), shared by every
//     package.
//   - [github.com/shepherd-go/shepherd/duration]: durations that read
//     "1h30m" in JSON, always with a unit, and "none" where a field allows
//     nothing.
//
// The driver and what surrounds it:
//
//   - [github.com/shepherd-go/shepherd/rollout]: the driver that carries a
//     change across the fleet wave by wave, rolls back by itself and resumes
//     after a crash.
//   - [github.com/shepherd-go/shepherd/rollouttest]: simulated fleets and
//     metrics, end-to-end policy tests, conformance suites for your own
//     targets, sources and stores.
//   - [github.com/shepherd-go/shepherd/fleetwide]: coordinated rollouts of
//     several services or pipelines: ordering, group promotion, release
//     trains, one stop-the-line, and the culprit found and stopped when a
//     shared regional alarm fires.
//   - [github.com/shepherd-go/shepherd/policyfile]: every policy of a rollout
//     in one strict JSON or YAML file.
//   - [github.com/shepherd-go/shepherd/timeline]: a plan or a rollout drawn
//     as a timeline (SVG, HTML, text), and a recorder that draws a rollout
//     from its events.
//   - [github.com/shepherd-go/shepherd/console]: an operator console
//     (an http.Handler): progress as JSON, an event stream, a live page with
//     pause, resume, abort and approve behind the team's authoriser.
//
// Adapters with heavier dependencies, each in its own package:
//
//   - [github.com/shepherd-go/shepherd/alarm/monitor]: polls a set of alarms
//     on an interval and reports transitions, with OpenTelemetry and
//     Prometheus instrumentation.
//   - [github.com/shepherd-go/shepherd/alarm/prometheus]: a metric source
//     over the Prometheus HTTP API.
//   - [github.com/shepherd-go/shepherd/rollout/pgstore]: a rollout store in
//     PostgreSQL, with leases and fencing tokens held in the database.
//   - [github.com/shepherd-go/shepherd/alarm/probe]: continuous canaries:
//     synthetic requests on an interval, read back as a metric source.
//   - github.com/shepherd-go/shepherd/temporal (a module of its own): the
//     same rollout logic as a Temporal workflow.
//
// The shepherd command (cmd/shepherd) validates policy files, explains
// plans, simulates rollouts and runs scenario test files for teams who do
// not write Go.
//
// Runnable programs live under examples/ (go run ./examples/NAME).
package shepherd
