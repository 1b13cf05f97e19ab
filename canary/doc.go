// Package canary judges a canary (the new version on a small slice of the
// fleet) against a baseline (the old version) and says Pass, Fail or
// Inconclusive, with reasons in plain words.
//
// It offers two judges on the same metrics:
//
//   - [KayentaPolicy]: Kayenta's fixed-horizon judge, for teams that migrate
//     from Spinnaker or want to compare. Each metric is classified with a
//     Mann-Whitney rank test ([RankTest], a port of R's wilcox.test that
//     matches R to 1e-9 on the committed reference cases), metrics roll up
//     into weighted group scores, and the score is compared with pass and
//     marginal thresholds, interval by interval.
//   - [Policy] and [Judge]: the default, anytime-valid sequential judge. It
//     looks at the evidence every interval and stops as soon as it is strong,
//     while keeping the chance of a false Fail under its stated alpha however
//     often it looks. Counts (errors) use a conditional test on the canary's
//     traffic share, per-interval values use a likelihood-ratio e-process
//     that stays valid under serially correlated (autoregressive) noise,
//     and quantiles of per-request samples use time-uniform confidence
//     sequences.
//
// Every verdict carries, per metric, the estimated change with its interval,
// the evidence, the amount of data behind it, and one sentence that says
// what was decided and why.
package canary
