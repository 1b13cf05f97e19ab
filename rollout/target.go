package rollout

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/wave"
)

// Deployer deploys versions to targets: the one thing a team must write.
//
// Both methods must be safe for concurrent use on different targets. Deploy
// must be idempotent (deploying the version a target already runs does no
// harm) and should honour ctx, which carries the stage deadline. Version
// reads what a target runs now; the driver reads it before deploying (to
// know what a rollback restores), after deploying (to confirm), and after a
// crash (to find out whether an interrupted deploy happened).
//
// Errors are transient (retried with backoff) unless marked with
// [Permanent] or implementing [PermanentError].
type Deployer interface {
	Deploy(ctx context.Context, t wave.Target, version string) error
	Version(ctx context.Context, t wave.Target) (string, error)
}

// HealthChecker is an optional capability of a [Deployer]: after a deploy
// succeeds, the driver waits until Healthy returns nil (retrying like the
// deploy); a target that never becomes healthy counts as failed.
type HealthChecker interface {
	Healthy(ctx context.Context, t wave.Target) error
}

// FastRollbacker is an optional capability of a [Deployer]: a quicker path
// back to a previous version (a traffic switch, a kept-warm old fleet). The
// driver uses it instead of Deploy for rollbacks.
type FastRollbacker interface {
	Rollback(ctx context.Context, t wave.Target, version string) error
}

// PermanentError is implemented by errors that say whether retrying can
// help. An error whose Permanent method returns true is not retried.
type PermanentError interface {
	error
	Permanent() bool
}

type permanent struct{ err error }

func (p *permanent) Error() string   { return p.err.Error() }
func (p *permanent) Unwrap() error   { return p.err }
func (p *permanent) Permanent() bool { return true }

// Permanent marks err as permanent: the deploy fails at once, without
// retries (a bad artifact, a rejected configuration, a missing permission).
// Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanent{err}
}

// IsPermanent reports whether err, or an error it wraps, is permanent:
// marked with [Permanent], implementing [PermanentError] with true, or a
// [backoff.PermanentError].
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var p PermanentError
	if errors.As(err, &p) && p.Permanent() {
		return true
	}
	var bp *backoff.PermanentError
	return errors.As(err, &bp)
}

// The gates are small interfaces owned by the driver; the blocker, alarm,
// bake and canary packages satisfy them directly or through the adapters in
// this package.

// Blockers decides whether a stage may start now.
type Blockers interface {
	// Check returns what blocks the stage at now (empty: clear) and, if
	// known, when it may clear. An error blocks (fail closed).
	Check(ctx context.Context, s Subject, now time.Time) (blocked []BlockReason, until time.Time, err error)
}

// BlockersFunc adapts a function to [Blockers].
type BlockersFunc func(ctx context.Context, s Subject, now time.Time) ([]BlockReason, time.Time, error)

// Check calls f.
func (f BlockersFunc) Check(ctx context.Context, s Subject, now time.Time) ([]BlockReason, time.Time, error) {
	return f(ctx, s, now)
}

// Alarms evaluates the alarms watched for a stage. Return the alarms of
// every region the rollout has touched to have them all watched; a
// rollout's alarms are watched until it ends.
type Alarms interface {
	Alarms(ctx context.Context, s Subject, now time.Time) ([]alarm.Result, error)
}

// AlarmsFunc adapts a function to [Alarms].
type AlarmsFunc func(ctx context.Context, s Subject, now time.Time) ([]alarm.Result, error)

// Alarms calls f.
func (f AlarmsFunc) Alarms(ctx context.Context, s Subject, now time.Time) ([]alarm.Result, error) {
	return f(ctx, s, now)
}

// Evidence counts a bake's evidence for a stage: one count per
// requirement, each over [since, now].
type Evidence interface {
	Evidence(ctx context.Context, s Subject, reqs []bake.Requirement, since, now time.Time) ([]float64, error)
}

// EvidenceFunc adapts a function to [Evidence].
type EvidenceFunc func(ctx context.Context, s Subject, reqs []bake.Requirement, since, now time.Time) ([]float64, error)

// Evidence calls f.
func (f EvidenceFunc) Evidence(ctx context.Context, s Subject, reqs []bake.Requirement, since, now time.Time) ([]float64, error) {
	return f(ctx, s, reqs, since, now)
}

// Measure returns [Evidence] that queries src with [bake.Measure]: the
// requirements' queries are the same for every stage (scope them in the
// query, or write your own [Evidence] that looks at the [Subject]).
func Measure(src alarm.Source) Evidence {
	return EvidenceFunc(func(ctx context.Context, _ Subject, reqs []bake.Requirement, since, now time.Time) ([]float64, error) {
		return bake.Measure(ctx, src, reqs, since, now, make([]float64, 0, len(reqs)))
	})
}

// Judge compares a stage's targets (the canary) with the baseline over
// [since, now].
type Judge interface {
	Judge(ctx context.Context, s Subject, since, now time.Time) (Verdict, error)
}

// JudgeFunc adapts a function to [Judge].
type JudgeFunc func(ctx context.Context, s Subject, since, now time.Time) (Verdict, error)

// Judge calls f.
func (f JudgeFunc) Judge(ctx context.Context, s Subject, since, now time.Time) (Verdict, error) {
	return f(ctx, s, since, now)
}

// Verifier runs a stage-level check against a stage's targets once they
// are deployed: integration or smoke tests, a suite of synthetic
// transactions (what Cloud Deploy calls verify and Flagger runs as
// webhooks). A [VerifyPass] lets the stage go on; a [VerifyFail] stops the
// rollout ([SignalVerify]); an error (or [VerifyError]) means the check
// could not run: it is retried per [VerifyPolicy.Retry] and fails closed
// when the retries run out. Verify should honour ctx, which carries the
// policy's timeout.
type Verifier interface {
	Verify(ctx context.Context, s Subject, now time.Time) (VerifyResult, error)
}

// VerifierFunc adapts a function to [Verifier].
type VerifierFunc func(ctx context.Context, s Subject, now time.Time) (VerifyResult, error)

// Verify implements [Verifier].
func (f VerifierFunc) Verify(ctx context.Context, s Subject, now time.Time) (VerifyResult, error) {
	return f(ctx, s, now)
}

// VerifyOutcome is a verification's outcome.
type VerifyOutcome string

// The outcomes of a verification. Only a pass lets the stage go on.
const (
	VerifyPass  VerifyOutcome = "pass"
	VerifyFail  VerifyOutcome = "fail"
	VerifyError VerifyOutcome = "error" // the check could not run; retried
)

// VerifyResult is a [Verifier]'s answer.
type VerifyResult struct {
	// Outcome is the check's outcome.
	Outcome VerifyOutcome `json:"outcome"`
	// Reason says why, in plain words (which test failed, and how).
	Reason string `json:"reason,omitempty"`
}
