// Package alarm reads metrics and decides alarm states with CloudWatch's
// semantics: OK, ALARM and INSUFFICIENT_DATA.
//
// The package has three layers, each usable alone:
//
//   - Metrics: a [Series] of [Point] values fetched from a [Source] for a
//     query over a [Range]. [Memory] is an in-memory source for tests,
//     examples and simulations; the sub-package alarm/prometheus reads a
//     real Prometheus.
//   - Rules, each a plain struct with a Validate method, a JSON form and a
//     pure evaluation that takes the time explicitly: [Threshold] (a
//     statistic per period compared with a threshold, M of N datapoints,
//     missing-data treatment), [Relative] (a scoped series against a
//     baseline, for the one bad box that fleet-wide thresholds miss) and
//     [Composite] (an expression such as ALARM(a) OR (ALARM(b) AND NOT
//     OK(c)) over other alarms).
//   - Wiring: a [Set] binds named rules ([Rule]) to a source and implements
//     [Checker] for each of them. The sub-package alarm/monitor polls a set
//     on an interval, keeps the latest result of every alarm, reports
//     transitions and instruments the polls; it lives apart so that this
//     package imports no Prometheus or OpenTelemetry package.
//
// # How a threshold rule decides
//
// A rule looks at the periods that end at now: the most recent Period-long
// slots (now-Period, now], (now-2*Period, now-Period], and so on. Each slot
// holds at most one datapoint (the source's value for that period, or the
// [Statistic] of the raw points in it); a slot without a usable value is
// missing. A datapoint breaches when it compares with the threshold as the
// [Comparison] says.
//
// Like CloudWatch, a rule looks further back than its N evaluation periods:
// its evaluation range is [Evaluation.EvaluationRange] periods (N+2 by
// default). Then, exactly as CloudWatch documents in "How alarm state is
// evaluated when data is missing":
//
//   - If the range holds at least N real datapoints, the N most recent of
//     them decide: ALARM when at least M breach, OK otherwise. Missing
//     periods in between are skipped, and the missing-data treatment plays
//     no part.
//   - If it holds fewer than N, missing datapoints are filled in per
//     [Treatment], as few as possible: all the real datapoints count, plus
//     N minus their number filled as breaching (breaching), as not breaching
//     (notBreaching), or not at all (missing, ignore).
//   - With missing and ignore, the real datapoints alone decide when they
//     can: ALARM when M of them breach, OK when any of them does not. When
//     all of them breach but fewer than M, the state is INSUFFICIENT_DATA
//     (missing) or the previous state (ignore); except that with missing, a
//     breaching datapoint at least M periods old with nothing but missing
//     periods after it puts the alarm in ALARM (CloudWatch's "avoiding
//     premature transitions": "- - X - -" alarms a 3 of 3 rule, "- - - - X"
//     does not yet).
//   - With no real datapoint in the range: INSUFFICIENT_DATA (missing), the
//     previous state (ignore), ALARM (breaching) or OK (notBreaching).
//
// The tests reproduce the documentation's two tables row by row.
//
// # Failing closed
//
// A source that cannot answer returns an error, never an empty series, and
// [Set.Check] returns that error: an alarm that cannot be read is never OK.
// The monitor of alarm/monitor turns such an error into its own configured
// outcome (ALARM by default). Callers that gate deployments should treat INSUFFICIENT_DATA as
// a reason to stop, as config-deployment systems do: missing evidence is not
// good evidence.
package alarm
