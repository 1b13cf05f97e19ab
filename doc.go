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
//   - [github.com/shepherd-go/shepherd/alarm]: metric sources and series;
//     alarm rules with CloudWatch semantics (threshold with M of N and
//     missing-data treatment, composite expressions, relative to a baseline).
//     alarm/monitor polls them (with OpenTelemetry and Prometheus
//     instrumentation, kept out of alarm itself); alarm/prometheus reads a
//     real Prometheus.
//   - [github.com/shepherd-go/shepherd/wave]: targets and their topology, the
//     wave planner that never hurts two regions or two zones at once, plans
//     and their explanation.
//   - [github.com/shepherd-go/shepherd/bake]: bake policies that wait for a
//     minimum time AND a minimum amount of evidence, and the bake tracker.
//   - [github.com/shepherd-go/shepherd/blocker]: time windows in each
//     region's local time, holidays, freezes, alarm blockers, stop-the-line
//     switches and audited overrides.
//   - [github.com/shepherd-go/shepherd/canary]: the canary judge: a
//     Kayenta-compatible rank test and anytime-valid sequential tests.
//   - [github.com/shepherd-go/shepherd/rollout]: the driver that carries a
//     change across the fleet wave by wave, rolls back by itself and resumes
//     after a crash.
//   - [github.com/shepherd-go/shepherd/rollouttest]: simulated fleets and
//     metrics, end-to-end policy tests, conformance suites for your own
//     targets and sources.
//
// Runnable programs live under examples/ (go run ./examples/NAME).
package shepherd
