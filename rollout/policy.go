package rollout

import (
	"fmt"
	"hash/fnv"
	"path"
	"sort"
	"time"

	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/field"
	"github.com/shepherd-go/shepherd/wave"
)

// Signal is a reason to stop a rollout.
type Signal string

const (
	// SignalAlarm: a watched alarm is in ALARM, or could not be read (an
	// error or INSUFFICIENT_DATA) for [AlarmPolicy.MaxUnreadable] checks
	// in a row.
	SignalAlarm Signal = "alarm"
	// SignalCanary: the canary judge failed the one-box, or could not
	// reach a passing verdict.
	SignalCanary Signal = "canary"
	// SignalFailureBudget: so many deploys of a stage failed that fewer
	// than the stage's MinHealthy targets would stay healthy, or no target
	// of the stage could be deployed at all.
	SignalFailureBudget Signal = "failure-budget"
	// SignalDeadline: a stage did not finish deploying within
	// [DeployPolicy.StageDeadline].
	SignalDeadline Signal = "deadline"
	// SignalBakeInconclusive: a bake reached its maximum duration without
	// the evidence it needs.
	SignalBakeInconclusive Signal = "bake-inconclusive"
	// SignalBlocked: blockers kept a stage from starting for longer than
	// [BlockerPolicy.MaxWait].
	SignalBlocked Signal = "blocked"
	// SignalVerify: a stage's verification failed, or could not run
	// within [VerifyPolicy.Retry]'s attempts.
	SignalVerify Signal = "verify"
	// SignalAbort: someone asked to abort. Its reaction is always
	// [RollBack].
	SignalAbort Signal = "abort"
)

var signals = []Signal{SignalAlarm, SignalCanary, SignalFailureBudget, SignalDeadline, SignalBakeInconclusive, SignalBlocked, SignalVerify, SignalExposure}

// Reaction is what the driver does on a [Signal].
type Reaction string

const (
	// RollBack stops the rollout and rolls back every target it changed.
	// It is the default for every signal.
	RollBack Reaction = "rollback"
	// Pause holds the rollout where it is (alarms are still watched) until
	// a human resumes it or aborts it. It is bake.Pause, the consequence
	// of an inconclusive bake configured to wait for a human.
	Pause Reaction = "pause"
)

// UnmarshalText decodes a reaction. It accepts bake's former spellings,
// "roll-back" for [RollBack] and "hold" for [Pause], so that one
// vocabulary reads both kinds of policy file; any other word is kept as
// it is, for Validate to report.
func (r *Reaction) UnmarshalText(b []byte) error {
	switch w := Reaction(b); w {
	case "roll-back":
		*r = RollBack
	case "hold":
		*r = Pause
	default:
		*r = w
	}
	return nil
}

// Policy is how a rollout behaves. It is plain data, saved in the [State]
// with the plan; its zero value is the documented default everywhere.
type Policy struct {
	// DryRun evaluates every gate (blockers, approvals, alarms, evidence,
	// the canary judge) once per stage and reports what would happen,
	// without waiting and without touching any target: no version is read,
	// deployed or rolled back.
	DryRun bool `json:"dryRun,omitempty"`
	// Deploy governs deploy calls.
	Deploy DeployPolicy `json:"deploy,omitzero"`
	// Rollback governs rollback calls.
	Rollback RollbackPolicy `json:"rollback,omitzero"`
	// Blockers governs waiting for blockers to clear.
	Blockers BlockerPolicy `json:"blockers,omitzero"`
	// Alarms governs alarm watching.
	Alarms AlarmPolicy `json:"alarms,omitzero"`
	// Bake chooses each stage's bake policy, and the final bake's (its
	// Final layer): evidence requirements, watched alarms, maximum
	// duration, what an inconclusive bake means. How long a stage bakes
	// at least is the plan's alone (its Stage.Bake and FinalBake, which
	// the planner took from [wave.Policy.Bake]), so that the reviewed plan
	// is what runs: [Policy.Validate] rejects a MinDuration here rather
	// than ignore it, and [NewState] rejects a MaxDuration shorter than a
	// bake of the plan it applies to. A stage whose plan says no bake does
	// not bake. The zero value bakes on time and alarms alone and rolls
	// back an inconclusive bake.
	Bake bake.Schedule `json:"bake,omitzero"`
	// Canary governs the canary judge.
	Canary CanaryPolicy `json:"canary,omitzero"`
	// Steps is every stage's pipeline: the kinds of step it runs, in
	// order. Empty means [DefaultSteps] (blockers, approval, deploy, bake,
	// judge). A kind whose policy leaves a stage out (an approval the
	// stage does not need, a judge for a stage kind not judged) passes
	// at once for that stage.
	Steps []StepKind `json:"steps,omitempty"`
	// Verify governs the [StepVerify] step, when Steps has one.
	Verify VerifyPolicy `json:"verify,omitzero"`
	// Exposure governs the [StepExposure] step, when Steps has one: the
	// schedule that ramps each stage's share of traffic.
	Exposure ExposurePolicy `json:"exposure,omitzero"`
	// Calls bounds every call to the outside world: a deadline per kind
	// of call, and a grace period after which a call that ignores it is
	// abandoned.
	Calls CallPolicy `json:"calls,omitzero"`
	// Approvals are patterns ([path.Match] syntax, where "*" does not
	// cross a "/": "w2/one-box/*" matches every one-box stage of the
	// planner's wave 2) of the names of stages that wait for a manual
	// approval before they deploy. Empty: no stage does.
	Approvals []string `json:"approvals,omitempty"`
	// Reactions maps a signal to its reaction. A signal that is not here
	// rolls back, except [SignalBlocked] once the rollout has deployed
	// something, which pauses: a stage held by a freeze or a calendar past
	// [BlockerPolicy.MaxWait] keeps the hosts already on the change (they
	// are healthy) and waits for a human to resume or abort; map it to
	// [RollBack] to roll back instead. (Blocked before anything was
	// deployed, the rollout halts: there is nothing to hold.)
	// [SignalAbort] cannot be mapped.
	Reactions map[Signal]Reaction `json:"reactions,omitempty"`
}

// DeployPolicy governs deploy calls.
type DeployPolicy struct {
	// Concurrency is the most deploy calls in flight at once within a
	// batch. Zero means the whole batch at once (the plan's batches are
	// already sized for the stage's MinHealthy).
	Concurrency int `json:"concurrency,omitzero"`
	// Retry is how a deploy that fails with a transient error is retried.
	// Zero values: 5 attempts, 1s initial interval, 1m maximum interval.
	Retry Retry `json:"retry,omitzero"`
	// StageDeadline is how long a stage may take to deploy all its batches
	// (blocked, approval and bake time do not count). Zero means no
	// deadline.
	StageDeadline duration.Duration `json:"stageDeadline,omitzero"`
}

// RollbackPolicy governs rollback calls.
type RollbackPolicy struct {
	// Concurrency is the most targets rolled back at once. Zero means as
	// many as the target's stage may have down at once (its size minus its
	// MinHealthy, at least one): rollback is faster than deployment.
	Concurrency int `json:"concurrency,omitzero"`
	// Retry is how a failed rollback call is retried. Zero values: 10
	// attempts, 1s initial interval, 1m maximum interval.
	Retry Retry `json:"retry,omitzero"`
}

// Retry is an exponential backoff with jitter.
type Retry struct {
	// MaxAttempts is the total number of calls, the first included; 1
	// means no retry.
	MaxAttempts int `json:"maxAttempts,omitzero"`
	// Initial is the wait before the first retry; it doubles (with 50%
	// jitter) up to Max. The jitter is derived from the rollout, the
	// target and the attempt ([Retry.Wait]), so that a rollout retries
	// at the same instants every time it is run or simulated.
	Initial duration.Duration `json:"initial,omitzero"`
	// Max bounds the wait between two attempts.
	Max duration.Duration `json:"max,omitzero"`
}

// BlockerPolicy governs waiting for blockers.
type BlockerPolicy struct {
	// Recheck is how often blockers are evaluated again while they block
	// and do not say when they clear. Zero means 5 minutes.
	Recheck duration.Duration `json:"recheck,omitzero"`
	// MaxWait is how long a stage may stay blocked before [SignalBlocked].
	// Zero means 7 days (a long weekend with a holiday fits).
	MaxWait duration.Duration `json:"maxWait,omitzero"`
}

// AlarmPolicy governs alarm watching. Alarms are watched from the first
// deployed target to the end of the rollout: after every batch, during
// every bake, and every Interval while the rollout waits or is paused. An
// alarm in ALARM is a [SignalAlarm] at once; one in INSUFFICIENT_DATA is
// judged by the bake (see [bake.Policy]'s OnInsufficientData).
type AlarmPolicy struct {
	// Interval is the time between checks. Zero means 1 minute.
	Interval duration.Duration `json:"interval,omitzero"`
	// MaxUnreadable is the number of consecutive checks that could not be
	// read (the gate returned an error) after which the driver acts as if
	// an alarm fired. Zero means 3: one failed query is a blip, three in a
	// row is minutes without sight.
	MaxUnreadable int `json:"maxUnreadable,omitzero"`
}

// CanaryPolicy governs canary judgement.
type CanaryPolicy struct {
	// Enabled turns the canary judge on. The executor must then be able
	// to judge ([ActionJudgeCanary]); a judge that is missing or errs
	// fails the canary.
	Enabled bool `json:"enabled,omitempty"`
	// Kinds are the stage kinds judged. Empty means one-box stages.
	Kinds []wave.StageKind `json:"kinds,omitempty"`
	// Interval, when set, judges every Interval during the bake as well
	// (for sequential, anytime-valid tests), failing early on a failed
	// verdict. Zero judges once, at the end of the bake (fixed-horizon
	// tests must not be peeked at).
	Interval duration.Duration `json:"interval,omitzero"`
}

// Defaults used when a policy field is zero.
const (
	DefaultDeployAttempts   = 5
	DefaultRollbackAttempts = 10
	DefaultRetryInitial     = time.Second
	DefaultRetryMax         = time.Minute
	DefaultBlockerRecheck   = 5 * time.Minute
	DefaultBlockerMaxWait   = 7 * 24 * time.Hour
	DefaultAlarmInterval    = time.Minute
	DefaultMaxUnreadable    = 3
)

// Reaction returns the reaction to sig: the configured one, or [RollBack].
func (p Policy) Reaction(sig Signal) Reaction {
	if sig == SignalAbort {
		return RollBack
	}
	if r, ok := p.Reactions[sig]; ok && r != "" {
		return r
	}
	return RollBack
}

// reaction is the reaction to sig of a rollout that has (or has not)
// deployed something: by default a stage held by blockers past the wait
// pauses once hosts run the change, since a freeze or a closed window says
// nothing against it and those hosts are healthy.
func (p Policy) reaction(sig Signal, deployed bool) Reaction {
	if _, set := p.Reactions[sig]; !set && sig == SignalBlocked && deployed {
		return Pause
	}
	return p.Reaction(sig)
}

// NeedsApproval reports whether the stage named name waits for a manual
// approval.
func (p Policy) NeedsApproval(name string) bool {
	for _, pat := range p.Approvals {
		if ok, _ := path.Match(pat, name); ok {
			return true
		}
	}
	return false
}

// Judged reports whether a stage of kind k is judged by the canary judge.
func (c CanaryPolicy) Judged(k wave.StageKind) bool {
	if !c.Enabled {
		return false
	}
	if len(c.Kinds) == 0 {
		return k == wave.OneBox
	}
	for _, x := range c.Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// stageBake returns the bake policy of a stage of kind kind in wave w whose
// plan asks for a bake of d: the schedule's layers for the stage, with the
// plan's d as the minimum. The [KindFinal] kind (or an empty one) is the
// final bake after the last stage (the schedule's Final layer, d the
// plan's FinalBake). ok is false when the stage does not bake.
func (p Policy) stageBake(w int, kind wave.StageKind, d duration.Duration) (bake.Policy, bool) {
	if d <= 0 {
		return bake.Policy{}, false
	}
	var bp bake.Policy
	if kind == "" || kind == KindFinal {
		bp = p.Bake.ForFinal()
	} else {
		bp = p.Bake.For(w, kind == wave.OneBox)
	}
	bp.MinDuration = d
	return bp, true
}

// maxDurationFrom names the layer of the bake schedule whose MaxDuration a
// stage of kind kind in wave w takes (kind "" for the final bake), as a
// field path under policy.Bake.
func (p Policy) maxDurationFrom(w int, kind wave.StageKind) string {
	s := p.Bake
	if kind == "" || kind == KindFinal {
		if s.Final.MaxDuration != 0 {
			return "Final"
		}
		return "Base"
	}
	if o, ok := s.Waves[w]; ok && kind != wave.OneBox && o.MaxDuration != 0 {
		return fmt.Sprintf("Waves[%d]", w)
	}
	layer, lp := "LaterWaves", s.LaterWaves
	switch {
	case kind == wave.OneBox:
		layer, lp = "OneBox", s.OneBox
	case w <= 0:
		layer, lp = "FirstWave", s.FirstWave
	}
	if lp.MaxDuration != 0 {
		return layer
	}
	return "Base"
}

// WithDefaults returns r with its zero fields set to the defaults for
// deploys (attempts is the default number of attempts).
func (r Retry) WithDefaults(attempts int) Retry {
	if r.MaxAttempts == 0 {
		r.MaxAttempts = attempts
	}
	if r.Initial == 0 {
		r.Initial = duration.Duration(DefaultRetryInitial)
	}
	if r.Max == 0 {
		r.Max = duration.Duration(DefaultRetryMax)
	}
	return r
}

// Wait returns the wait before attempt (2 for the first retry) of a call
// for target in rollout: Initial doubled for every earlier retry, capped
// at Max, then scaled by a jitter factor in [0.5, 1.5). The factor comes
// from a hash of the rollout, the target and the attempt rather than from
// a random number, so that the retries of different targets spread out
// (they do not retry in lockstep) while every run of a rollout waits the
// same: a scenario with flaky deploys is reproducible. Call it on a Retry
// with its defaults set ([Retry.WithDefaults]); it returns 0 for an
// attempt below 2.
func (r Retry) Wait(rollout, target string, attempt int) time.Duration {
	if attempt < 2 {
		return 0
	}
	base, limit := r.Initial.Std(), r.Max.Std()
	for i := 2; i < attempt && base < limit; i++ {
		base *= 2
	}
	base = min(base, limit)
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%d", rollout, target, attempt)
	u := float64(h.Sum64()>>11) / (1 << 53) // uniform in [0, 1)
	return time.Duration(float64(base) * (0.5 + u))
}

func orDefault(d duration.Duration, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d.Std()
}

func (p Policy) alarmInterval() time.Duration {
	return orDefault(p.Alarms.Interval, DefaultAlarmInterval)
}
func (p Policy) recheck() time.Duration { return orDefault(p.Blockers.Recheck, DefaultBlockerRecheck) }
func (p Policy) maxBlocked() time.Duration {
	return orDefault(p.Blockers.MaxWait, DefaultBlockerMaxWait)
}
func (p Policy) maxUnreadable() int {
	if p.Alarms.MaxUnreadable == 0 {
		return DefaultMaxUnreadable
	}
	return p.Alarms.MaxUnreadable
}

// Validate reports every problem of the policy, each a [*FieldError] with
// its field path, joined; the error wraps [ErrInvalid]. The bake
// schedule's own problems are bake's, under "policy.Bake" (they wrap
// bake.ErrInvalid too). A MinDuration anywhere in the bake schedule is a
// problem: the plan says how long stages bake. Maximum durations are
// compared with the plan's bakes by [NewState], which has the plan.
func (p Policy) Validate() error {
	var ps problems
	p.validate(&ps, "policy")
	return ps.err()
}

func (p Policy) validate(ps *problems, prefix string) {
	if p.Deploy.Concurrency < 0 {
		ps.add(prefix+".Deploy.Concurrency", "%d is negative", p.Deploy.Concurrency)
	}
	p.Deploy.Retry.validate(ps, prefix+".Deploy.Retry")
	if p.Deploy.StageDeadline < 0 {
		ps.add(prefix+".Deploy.StageDeadline", "%s is negative", p.Deploy.StageDeadline)
	}
	if p.Rollback.Concurrency < 0 {
		ps.add(prefix+".Rollback.Concurrency", "%d is negative", p.Rollback.Concurrency)
	}
	p.Rollback.Retry.validate(ps, prefix+".Rollback.Retry")
	if p.Blockers.Recheck < 0 {
		ps.add(prefix+".Blockers.Recheck", "%s is negative", p.Blockers.Recheck)
	}
	if p.Blockers.MaxWait < 0 {
		ps.add(prefix+".Blockers.MaxWait", "%s is negative", p.Blockers.MaxWait)
	}
	if p.Alarms.Interval < 0 {
		ps.add(prefix+".Alarms.Interval", "%s is negative", p.Alarms.Interval)
	}
	if p.Alarms.MaxUnreadable < 0 {
		ps.add(prefix+".Alarms.MaxUnreadable", "%d is negative", p.Alarms.MaxUnreadable)
	}
	// The schedule's own fields, as bake reports them. Its maximum
	// durations are compared with the bakes of a plan by NewState, not
	// with bake's defaults, which a rollout never uses.
	ps.merge(prefix+".Bake", p.Bake.ValidateFields())
	p.validateBakeMinimums(ps, prefix+".Bake")
	for i, k := range p.Canary.Kinds {
		switch k {
		case wave.OneBox, wave.Zone, wave.Region:
		default:
			ps.add(fmt.Sprintf("%s.Canary.Kinds[%d]", prefix, i), "unknown stage kind %q", k)
		}
	}
	if p.Canary.Interval < 0 {
		ps.add(prefix+".Canary.Interval", "%s is negative", p.Canary.Interval)
	}
	for i, pat := range p.Approvals {
		if pat == "" {
			ps.add(fmt.Sprintf("%s.Approvals[%d]", prefix, i), "empty pattern")
		} else if _, err := path.Match(pat, ""); err != nil {
			ps.add(fmt.Sprintf("%s.Approvals[%d]", prefix, i), "bad pattern %q: %v", pat, err)
		}
	}
	validateSteps(ps, prefix+".Steps", p.Steps)
	p.Verify.validate(ps, prefix+".Verify")
	p.Exposure.validate(ps, prefix+".Exposure", p.Steps)
	p.Calls.validate(ps, prefix+".Calls")
	keys := make([]string, 0, len(p.Reactions))
	for k := range p.Reactions {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	for _, k := range keys {
		sig, r := Signal(k), p.Reactions[Signal(k)]
		field := fmt.Sprintf("%s.Reactions[%q]", prefix, k)
		known := false
		for _, s := range signals {
			known = known || s == sig
		}
		switch {
		case sig == SignalAbort:
			ps.add(field, "abort always rolls back")
		case !known:
			ps.add(field, "unknown signal (want one of %v)", signals)
		}
		if r != RollBack && r != Pause {
			ps.add(field, "unknown reaction %q (want %q or %q)", r, RollBack, Pause)
		}
	}
}

// validateBakeMinimums rejects a minimum duration in any layer of the bake
// schedule: the plan says how long each stage bakes, and a setting that
// would be ignored is an error, not a surprise.
func (p Policy) validateBakeMinimums(ps *problems, prefix string) {
	s := p.Bake
	layers := []struct {
		name string
		p    bake.Policy
	}{{"Base", s.Base}, {"OneBox", s.OneBox}, {"FirstWave", s.FirstWave}, {"LaterWaves", s.LaterWaves}, {"Final", s.Final}}
	for _, w := range sortedInts(s.Waves) {
		layers = append(layers, struct {
			name string
			p    bake.Policy
		}{fmt.Sprintf("Waves[%d]", w), s.Waves[w]})
	}
	for _, l := range layers {
		if l.p.MinDuration != 0 {
			ps.add(prefix+"."+l.name+".MinDuration", "%s: the plan sets how long each stage bakes (its Stage.Bake and FinalBake, from wave.Policy.Bake); leave it zero here", l.p.MinDuration)
		}
	}
}

func sortedInts[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

func (r Retry) validate(ps *problems, prefix string) {
	if r.MaxAttempts < 0 {
		ps.add(prefix+".MaxAttempts", "%d is negative", r.MaxAttempts)
	}
	if r.Initial < 0 {
		ps.add(prefix+".Initial", "%s is negative", r.Initial)
	}
	if r.Max < 0 {
		ps.add(prefix+".Max", "%s is negative", r.Max)
	}
	if r.Initial > 0 && r.Max > 0 && r.Max < r.Initial {
		ps.add(prefix+".Max", "%s is less than Initial %s", r.Max, r.Initial)
	}
}

// FieldError is one problem of a plan, a policy or a request, with the path
// of the field at fault (for example "plan.Waves[0].Stages[1].MinHealthy"
// or "policy.Alarms.Interval") and [ErrInvalid] as its Err. It is the one
// shape of a validation problem in shepherd, [field.Error]. Problems that
// other packages find (a plan's, from [wave.Plan.Validate]; a bake
// schedule's, from [bake.Schedule.ValidateFields]) are passed on as those
// packages report them, wrapping their own sentinels, and the joined error
// wraps ErrInvalid as well.
type FieldError = field.Error

// problems collects the problems of one validation: the package's own
// and, kept as they are, those of the packages it asks.
type problems struct {
	list    field.List
	foreign bool
}

func (p *problems) add(path, format string, args ...any) {
	p.list.Add(ErrInvalid, path, format, args...)
}

// merge records the problems another package reported, with prefix
// (when not empty) before their paths.
func (p *problems) merge(prefix string, err error) {
	if err == nil {
		return
	}
	p.foreign = true
	p.list.Merge(field.Prefix(prefix, err))
}

func (p *problems) len() int { return p.list.Len() }

func (p *problems) err() error {
	err := p.list.Err()
	if err == nil || !p.foreign {
		return err
	}
	return &invalid{err}
}

// invalid is the joined problems of a validation that include other
// packages' problems: it matches [ErrInvalid] too, so that every
// validation error of this package does, whoever found the problem.
type invalid struct{ joined error }

func (e *invalid) Error() string { return e.joined.Error() }

// Unwrap returns the problems, so that errors.Is and errors.As (and
// [field.All]) see each one.
func (e *invalid) Unwrap() []error {
	if j, ok := e.joined.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{e.joined}
}

// Is reports whether target is [ErrInvalid].
func (e *invalid) Is(target error) bool { return target == ErrInvalid }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
