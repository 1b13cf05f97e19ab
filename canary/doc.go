// Package canary judges a canary (the new version on a small slice of the
// fleet) against a baseline (the old version) and says Pass, Fail or
// Inconclusive, with reasons in plain words.
//
// It offers two judges over the same metrics.
//
// # The sequential judge (the default)
//
// [Policy] and [Judge] look at the evidence after every interval and stop as
// soon as it is strong, while keeping the chance of a false Fail under the
// policy's Alpha however often they look (anytime-valid tests):
//
//   - Count metrics (errors, failed requests) compare the canary's share of
//     the events with its share of the traffic, a test that is exact
//     whatever the total rate does over the day.
//   - Mean metrics (one value per interval and side) use a likelihood-ratio
//     e-process that stays valid when consecutive intervals are correlated,
//     as one-minute metrics are.
//   - Quantile metrics (p50, p99 of per-request samples or histogram
//     buckets) keep time-uniform confidence sequences for each side and fail
//     when they separate.
//
// The judge fails as soon as one guarded metric regresses beyond its
// tolerance, passes once every guarded metric rules out a regression beyond
// its margin after a minimum duration, and is inconclusive at the deadline
// otherwise. Its state ([State]) is plain data: a driver persists it after
// every interval and resumes with [ResumeJudge]. [Judge.Observe] and
// [Judge.Decide] do not allocate; [Judge.Verdict] explains each metric with
// its estimate, interval, evidence, data counts and one sentence:
//
//	errors 3.8x baseline (95% CI 2.3x-6.3x) after 412 canary requests (60 errors vs 140 in the baseline): fail
//
// A driver feeds the judge from an [github.com/shepherd-go/shepherd/alarm.Source]
// with [Judge.ObserveSource], or with [Judge.Observe] directly.
//
// # The Kayenta-compatible judge
//
// [KayentaPolicy] has the semantics of Spinnaker's NetflixACAJudge, for
// teams that migrate or want to compare: each metric is classified by a
// Mann-Whitney rank test ([RankTest], a port of R's wilcox.test that
// matches R to 1e-9 on 222 committed reference cases) with Kayenta's
// confidence (0.98), tolerance (0.25), effect sizes, NaN and outlier
// handling; metrics roll up into weighted group scores and a summary score
// with pass and marginal thresholds; [KayentaPolicy.Decide] runs Kayenta's
// interval analysis. It inherits Kayenta's weaknesses, measured in the
// evaluation (docs/benchmarks.md): it treats one-minute points as
// independent, so serial correlation multiplies its false alarms, and it
// cannot stop early.
//
// # Evaluation
//
// go run ./canary/internal/cmd/canaryeval runs both judges on the same
// seeded synthetic canaries (log-normal latency, AR(1) host noise, daily
// traffic swings, host-to-host differences, error counts, and a list of
// regressions) and prints false-fail rates, detection rates and times.
package canary
