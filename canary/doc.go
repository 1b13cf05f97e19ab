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
//   - Count metrics (errors, failed requests) compare, interval by
//     interval, the canary's events with the baseline's scaled by the two
//     sides' requests (or by the policy's TrafficShare when requests are
//     not observed): w_t = x_t (1 - rho_t) - r y_t rho_t has mean zero
//     when the canary's rate is r times the baseline's, whatever the total
//     rate does over the day (noise common to both sides cancels). Its
//     variance is the Poisson variance of the observed counts plus an
//     excess: error rates that vary from minute to minute on each side
//     (overdispersion) and stay high for a while (serial correlation).
//     The excess is what the series' spread shows beyond the Poisson
//     variance (and beyond that variance's own noise), scaled up for
//     the part of a persistent variation a few intervals do not yet
//     show, and multiplied by the finite-sample long-run factor of an
//     AR(1) process. Its coefficient, the persistence, is read not from
//     the series but from each side's own events against its own
//     requests (beyond their Poisson noise), pooled by how clearly each
//     side's variation stands out, so mostly from the baseline, which has
//     many times the canary's events: a design choice that assumes the
//     canary's error rate varies with the same persistence as the
//     baseline's (in the evaluation's model both sides' noise has one
//     coefficient). It is corrected for its small-sample bias (to second
//     order: at phi 0.9 over 20 intervals Kendall's first-order correction
//     leaves half the bias). The fail takes it one standard error high,
//     the pass as estimated. The excess's estimate has few degrees of freedom
//     when the persistence is high (about one for an hour at phi 0.9),
//     and the fail takes its degrees of freedom at the excess's upper
//     90% bound, so that a persistent offset between the sides that a
//     few intervals do not show in their spread does not make the
//     variance look known. When neither side varies beyond Poisson
//     noise clearly enough to read a persistence, the series' own lag-1
//     autocorrelation (bias-corrected, one standard error high, read as
//     an AR(1) coefficient capped at 0.95) gives the long-run variance,
//     never below the binomial variance. A Fail needs, at half the
//     metric's alpha each, either the smaller of two e-values
//     (a mixture t test with the effective number of intervals and
//     degrees of freedom of that variance, and the exact binomial
//     mixture on the pooled counts) or the t statistic crossing a
//     group-sequential boundary (O'Brien-Fleming shape, c / sqrt(t) in
//     the fraction t of the canary's time: the chance that a Brownian
//     motion ever crosses it is exactly the level, so discrete looks
//     cross less often; it spends almost nothing early and is close to a
//     fixed-horizon test at the deadline, where moderate regressions are
//     found; Student t tails for the variance's degrees of freedom). Until 10 intervals are in, the exact test is also run on
//     the counts deflated by a generous dispersion (8, or the upper bound
//     of the long-run variance over the Poisson one when that is
//     larger), which still stops gross regressions early. A Pass needs the t statistic at the
//     margin to cross the same kind of boundary, at level PassAlpha; or,
//     with request counts, a rate above the baseline's plus an absolute
//     slack ([Metric.Slack]) to be ruled out, so that a canary with no
//     errors against a baseline with none can pass. Assumptions: the
//     per-interval series is stationary with short memory (its
//     autocorrelation decays like an AR(1) process's), information
//     accrues about evenly over the canary's time, and the requests are
//     counted on the same intervals as the events. The variance is
//     estimated, so the guarantees are approximate, not exact: the
//     evaluation measures them. Where they cannot hold: when each side's
//     error rate drifts by 50% and stays off for many minutes (AR(1) phi
//     0.8-0.9), the two sides' rates differ by a factor that persists
//     for tens of minutes, which in the first minutes of a canary looks
//     exactly like a regression, and an hour holds only a few
//     independent looks at it; docs/benchmarks.md has the false-fail
//     rates there and the trade-off with the power on small regressions.
//   - Mean metrics (one value per interval and side) compare the two sides
//     in the same interval (so that load and other noise common to both
//     cancel). A Fail needs, at half the metric's alpha each, one of two
//     tests. The first is a likelihood-ratio e-process that stays valid
//     when consecutive intervals are correlated: its null hypothesis is
//     every stationary Gaussian AR(1) process with |phi| <= 0.9
//     (universal inference); exact, but a level that persists is what a
//     null process with phi 0.9 does for a while, so alone it is slow on
//     small shifts. The second is a t statistic whose variance bounds the
//     variance of the mean for every AR(1) coefficient up to phiUp, plus
//     white noise. phiUp is the lag-1 autocorrelation of the differences
//     averaged with that of the baseline's own values (a design choice:
//     the canary's noise is assumed to persist like the baseline's; the
//     baseline's series is as long and independent of the canary's
//     noise, which halves the variance of the estimate), bias-corrected,
//     3.5 standard errors high, capped at 0.9. The scale comes from the mean
//     square of the differences of consecutive intervals, which are
//     nearly independent even when the levels are not (the sample
//     variance of a short series that wanders slowly misses most of the
//     wandering), and the long-run factor is the finite-sample one for n
//     intervals. It fails when it crosses a constant boundary set so that
//     a standardized Brownian motion crosses it with the chance of its
//     level between the fourth interval and the deadline, with Student t
//     tails for the degrees of freedom of the scale. Approximate: phiUp is
//     estimated, and the evaluation measures the false-fail rate up to
//     phi 0.9. A Pass needs the e-process, or a t statistic with an AR(1)
//     long-run variance (phi two standard errors high) crossing the
//     group-sequential boundary at the margin: approximate, which for a
//     pass costs at most an occasional pass at the margin.
//   - Quantile metrics (p50, p99 of per-request samples or histogram
//     buckets) keep time-uniform confidence sequences for each side and fail
//     when they separate.
//
// # The traffic guard
//
// No evidence is never a pass. With a TrafficShare, the judge checks the
// canary's share of the requests (or of the quantile samples, or, with
// neither, of each count metric's events) against the share it has when
// it serves [Policy.MinTraffic] of its expected traffic, with the same
// anytime-valid mixture as the counts (a sample-ratio-mismatch test): a
// canary shown to serve less stops at once as Inconclusive, "the canary
// served 0 of about 45000 expected requests", and a Pass needs the
// opposite evidence. Without request counts, a canary with no errors
// against a baseline with many looks exactly like a canary without
// traffic; it is stopped, not passed (give request counts to judge a
// canary that fixes errors).
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
