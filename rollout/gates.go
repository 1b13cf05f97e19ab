package rollout

import (
	"context"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/blocker"
	"github.com/shepherd-go/shepherd/canary"
)

// BlockerSet adapts a [blocker.Set] to [Blockers]: the stage becomes a
// [blocker.Subject] (the rollout's ID is the change, so overrides granted
// for the change apply), every blocking result becomes a [BlockReason], and
// the stage sleeps until the verdict's Until when every blocker knows when
// it clears. A blocker that never opens within its horizon
// ([blocker.Decision] Never) makes the stage give up at once.
type BlockerSet struct {
	// Set is the blockers to evaluate.
	Set blocker.Set
	// Service names the service for switches scoped to it.
	Service string
	// Labels are passed to blockers written by users.
	Labels map[string]string
}

// Check implements [Blockers].
func (b BlockerSet) Check(ctx context.Context, s Subject, now time.Time) ([]BlockReason, time.Time, error) {
	v, err := b.Set.Check(ctx, blocker.Subject{
		Change:  s.Rollout,
		Service: b.Service,
		Stage:   s.Stage,
		Regions: s.Regions,
		Targets: s.Targets,
		Labels:  b.Labels,
	}, now)
	var out []BlockReason
	for _, r := range v.Results {
		if r.Blocking() {
			out = append(out, BlockReason{Blocker: r.Blocker, Reason: r.Reason, Until: r.Until, Never: r.Never})
		}
	}
	if err != nil {
		return out, time.Time{}, err
	}
	return out, v.Until, nil
}

// SequentialJudge adapts canary's sequential judge to [Judge]. Each
// judgement replays the stage's data since the bake began from Source into
// a fresh [canary.Judge] (its statistics are sums, so replaying gives what
// an incremental judge would hold) and asks it for a verdict: the driver's
// state needs no judge state, and a resumed rollout judges the same.
// Anytime-valid tests may be judged at every interval
// ([CanaryPolicy.Interval]).
type SequentialJudge struct {
	// Policy is the judge's policy: metrics, error rates, durations.
	Policy canary.Policy
	// Source is where the metrics are read.
	Source alarm.Source
	// Queries returns where the judge finds each metric for the stage: the
	// canary's scope (the stage's targets) and the baseline's.
	Queries func(s Subject) []canary.Query
	// Step is the interval of one observation. Zero means one minute.
	Step time.Duration
}

// Judge implements [Judge].
func (j SequentialJudge) Judge(ctx context.Context, s Subject, since, now time.Time) (Verdict, error) {
	cj, err := canary.NewJudge(j.Policy, since)
	if err != nil {
		return Verdict{}, err
	}
	step := j.Step
	if step <= 0 {
		step = time.Minute
	}
	if err := cj.ObserveSource(ctx, j.Source, j.Queries(s), alarm.Range{Start: since, End: now, Step: step}); err != nil {
		return Verdict{}, err
	}
	v := cj.Verdict(now)
	out := Verdict{Reason: v.Reason, Time: now}
	switch v.Decision {
	case canary.Pass:
		out.Outcome = VerdictPass
	case canary.Fail:
		out.Outcome = VerdictFail
	default: // still undecided, or inconclusive: never a pass
		out.Outcome = VerdictInconclusive
	}
	return out, nil
}

// KayentaJudge adapts canary's Kayenta-compatible judge to [Judge]: the
// stage's data since the bake began is fetched from Source and scored
// once; at or above the pass score is a pass, at or above the marginal
// score is marginal (which does not promote), below is a failure. Judge
// it once, at the end of the bake ([CanaryPolicy.Interval] zero): a
// fixed-horizon test must not be peeked at.
type KayentaJudge struct {
	// Policy is the Kayenta policy: metrics, groups, thresholds.
	Policy canary.KayentaPolicy
	// Source is where the metrics are read.
	Source alarm.Source
	// Queries returns where the judge finds each metric for the stage.
	Queries func(s Subject) []canary.Query
	// Step is the interval of one point. Zero means one minute.
	Step time.Duration
}

// Judge implements [Judge].
func (j KayentaJudge) Judge(ctx context.Context, s Subject, since, now time.Time) (Verdict, error) {
	step := j.Step
	if step <= 0 {
		step = time.Minute
	}
	data, err := canary.Fetch(ctx, j.Source, j.Queries(s), alarm.Range{Start: since, End: now, Step: step})
	if err != nil {
		return Verdict{}, err
	}
	res, err := j.Policy.Judge(data)
	if err != nil {
		return Verdict{}, err
	}
	out := Verdict{Score: res.Score, Reason: res.Reason, Time: now}
	switch res.Outcome {
	case canary.OutcomePass:
		out.Outcome = VerdictPass
	case canary.OutcomeMarginal:
		out.Outcome = VerdictMarginal
	case canary.OutcomeFail:
		out.Outcome = VerdictFail
	default:
		out.Outcome = VerdictInconclusive
	}
	return out, nil
}
