package bake

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/duration"
)

// Errors returned by the tracker and by [Wait].
var (
	// ErrNotStarted is returned by a [Tracker] that was never started
	// with [Start].
	ErrNotStarted = errors.New("bake: tracker not started")
	// ErrEvidence is wrapped by [Tracker.Update] when the evidence counts
	// do not fit the policy (wrong number, negative, NaN or infinite).
	ErrEvidence = errors.New("bake: bad evidence")
	// ErrPaused is returned by [Wait] for a paused tracker: a paused bake
	// cannot end, so there is nothing to wait for until it is resumed.
	ErrPaused = errors.New("bake: tracker is paused")
	// ErrNoChecker is wrapped by [Wait] when a watched alarm has no checker.
	ErrNoChecker = errors.New("bake: no checker for watched alarm")
	// ErrNoSource is returned by [Wait] when the policy requires evidence
	// and no source was given.
	ErrNoSource = errors.New("bake: evidence required but no source given")
	// ErrTime is wrapped when a time is zero (at [Start]) or outside the
	// years 0 to 9999 that a tracker's JSON form can hold.
	ErrTime = errors.New("bake: time out of range")
)

// The range of times that encoding/json can write.
var (
	minTime = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
)

// checkTime rejects a time the tracker could store but not encode. Times
// before the start are not rejected: they are taken as the start.
func checkTime(now time.Time) error {
	if now.After(maxTime) {
		return fmt.Errorf("%w: %s is after the year 9999", ErrTime, now)
	}
	return nil
}

// Phase is where a bake stands.
type Phase int

const (
	// NotStarted is the phase of the zero [Tracker].
	NotStarted Phase = iota
	// Baking means the bake has not ended: it is waiting for time, for
	// evidence or for alarms to report OK, or it is paused.
	Baking
	// Done means the bake met its time and evidence with every alarm OK:
	// the change may move on.
	Done
	// Failed means an alarm fired (or could not be read, or someone
	// failed the bake by hand): the change must be rolled back.
	Failed
	// Inconclusive means the maximum duration was baked without the
	// evidence (or the alarms' OK) the policy asks for; the policy's
	// OnInconclusive says what happens next.
	Inconclusive
)

var phaseNames = [...]string{
	NotStarted:   "not-started",
	Baking:       "baking",
	Done:         "done",
	Failed:       "failed",
	Inconclusive: "inconclusive",
}

func (p Phase) valid() bool { return p >= 0 && int(p) < len(phaseNames) }

// Ended reports whether the phase is final: done, failed or inconclusive.
func (p Phase) Ended() bool { return p == Done || p == Failed || p == Inconclusive }

// String returns the phase's name, such as "baking".
func (p Phase) String() string {
	if !p.valid() {
		return "Phase(" + strconv.Itoa(int(p)) + ")"
	}
	return phaseNames[p]
}

// MarshalText encodes the phase as its name.
func (p Phase) MarshalText() ([]byte, error) {
	if !p.valid() {
		return nil, fmt.Errorf("bake: invalid phase %d", int(p))
	}
	return []byte(phaseNames[p]), nil
}

// UnmarshalText decodes a phase name written by [Phase.MarshalText].
func (p *Phase) UnmarshalText(b []byte) error {
	for i, n := range phaseNames {
		if string(b) == n {
			*p = Phase(i)
			return nil
		}
	}
	return fmt.Errorf("bake: unknown phase %q", b)
}

// Tracker is the state of one bake, as plain data: a driver keeps it in its
// own persisted state (it round-trips through JSON, and decoding validates
// it) and resumes it after a crash. The zero value is [NotStarted]; use
// [Start].
//
// Every method takes the time as an argument and none reads the clock,
// blocks or starts a goroutine, so the same inputs always give the same
// outputs. A tracker is a value: copying it copies the bake (the policy's
// slices are shared but never written). It is not safe for concurrent use.
//
// The bake clock counts time since Started minus time paused. Evidence is
// not stored while baking: the caller counts it over the whole bake at each
// update ([Measure] does), so a resumed bake needs no history.
type Tracker struct {
	// Policy is the policy the bake runs under, with defaults filled in
	// by [Start].
	Policy Policy `json:"policy"`
	// Phase is where the bake stands.
	Phase Phase `json:"phase"`
	// Started is when the bake started.
	Started time.Time `json:"started,omitzero"`
	// PausedAt is when the current pause began; zero when not paused.
	PausedAt time.Time `json:"pausedAt,omitzero"`
	// PausedFor is the time spent in pauses that have ended; it is not
	// counted as bake time.
	PausedFor duration.Duration `json:"pausedFor,omitzero"`
	// ReadErrors counts consecutive failed reads ([Tracker.ReadFailed]),
	// reset by every successful update.
	ReadErrors int `json:"readErrors,omitzero"`
	// Ended is when the bake ended; zero while it has not.
	Ended time.Time `json:"ended,omitzero"`
	// Reason says in plain words why the bake ended.
	Reason string `json:"reason,omitempty"`
	// Evidence is the evidence counted at the update that ended the bake,
	// one count per requirement; empty while baking and when the bake
	// ended without a reading.
	Evidence []float64 `json:"evidence,omitempty"`
}

// Start validates p and returns a tracker baking from now under p with its
// defaults filled in ([Policy.WithDefaults]). The tracker keeps its own
// copy of the policy's slices.
func Start(p Policy, now time.Time) (Tracker, error) {
	if err := p.Validate(); err != nil {
		return Tracker{}, err
	}
	if now.IsZero() || now.Before(minTime) || now.After(maxTime) {
		return Tracker{}, fmt.Errorf("%w: start at %s", ErrTime, now)
	}
	// Round(0) drops the monotonic clock reading, so that the tracker
	// computes the same durations before and after a JSON round trip.
	return Tracker{Policy: p.WithDefaults(), Phase: Baking, Started: now.Round(0)}, nil
}

// Reasons of a bake that has not ended. They are constants so that an
// update does not allocate; [Status.String] gives the figures.
const (
	reasonPaused    = "paused; time paused is not counted"
	reasonReadError = "could not read evidence or alarms; will retry"
)

// waitReasons is indexed by a bit set of what the bake still waits for.
var waitReasons = [...]string{
	0:                                    "baking",
	waitTime:                             "waiting for the minimum time",
	waitEvidence:                         "waiting for evidence",
	waitTime | waitEvidence:              "waiting for the minimum time and evidence",
	waitAlarms:                           "waiting for every watched alarm to report OK",
	waitTime | waitAlarms:                "waiting for the minimum time and for every watched alarm to report OK",
	waitEvidence | waitAlarms:            "waiting for evidence and for every watched alarm to report OK",
	waitTime | waitEvidence | waitAlarms: "waiting for the minimum time, evidence and every watched alarm to report OK",
}

const (
	waitTime = 1 << iota
	waitEvidence
	waitAlarms
)

// Update judges the bake at now, given the evidence counted so far (one
// count per requirement of the policy, in order, each the total since
// Started: see [Requirement]) and the latest result of the alarms, and
// returns its status. It allocates only when the bake ends.
//
//   - Any result in ALARM (or in a state it does not know) fails the bake
//     at once, with that alarm's reason, even while paused: the change is
//     still deployed. A result in INSUFFICIENT_DATA fails it too if the
//     policy says [FailWithoutData]. Every result passed is judged,
//     whether or not its name is in Policy.Alarms.
//   - Otherwise, unless paused, the bake is done when it has baked
//     MinDuration, every requirement is met, each alarm named in
//     Policy.Alarms has a result here, and no result is in
//     INSUFFICIENT_DATA (unless the policy says [IgnoreMissingData]).
//   - Otherwise, once MaxDuration is baked, it ends [Inconclusive].
//
// Updates are judged at the time given: an update late after the maximum
// duration that finds everything met ends the bake done. A bake that has
// ended stays ended: Update returns its final status and ignores its
// arguments. Bad evidence returns an error wrapping [ErrEvidence] and
// leaves the tracker unchanged. A successful update resets ReadErrors.
func (t *Tracker) Update(now time.Time, evidence []float64, alarms []alarm.Result) (st Status, err error) {
	if t.Phase != Baking {
		return t.settled()
	}
	if err := checkTime(now); err != nil {
		return Status{}, err
	}
	p := &t.Policy
	if len(evidence) != len(p.Evidence) {
		return Status{}, fmt.Errorf("%w: %d counts for %d requirements", ErrEvidence, len(evidence), len(p.Evidence))
	}
	for i, v := range evidence {
		if !(v >= 0) || math.IsInf(v, 1) {
			return Status{}, fmt.Errorf("%w: %q: %v is not a count", ErrEvidence, p.Evidence[i].name(), v)
		}
	}
	t.ReadErrors = 0
	noData := p.dataTreatment()
	for i := range alarms {
		if s := alarms[i].State; s != alarm.OK && s != alarm.InsufficientData {
			t.end(now, Failed, alarmReason(&alarms[i]), evidence)
			return t.final(), nil
		}
	}
	if noData == FailWithoutData {
		for i := range alarms {
			if alarms[i].State == alarm.InsufficientData {
				t.end(now, Failed, alarmReason(&alarms[i]), evidence)
				return t.final(), nil
			}
		}
	}
	t.status(&st, now, evidence)
	if st.Paused {
		st.Reason = reasonPaused
		return st, nil
	}
	var wait int
	if st.TimeRemaining > 0 {
		wait |= waitTime
	}
	if !st.Evidence.Met() {
		wait |= waitEvidence
	}
	if !p.alarmsReady(alarms) {
		wait |= waitAlarms
	}
	switch {
	case wait == 0:
		t.end(now, Done, doneReason(st), evidence)
		return t.final(), nil
	case st.Baked >= p.maxDuration():
		t.end(now, Inconclusive, inconclusiveReason(st, p, alarms), evidence)
		return t.final(), nil
	}
	st.Reason = waitReasons[wait]
	return st, nil
}

// ReadFailed records that evidence or alarms could not be read at now and
// returns the status. After Policy.MaxReadErrors consecutive failures the
// bake fails, with err in its reason: a bake that cannot see its alarms
// fails closed. Until then it keeps baking but cannot end done or
// inconclusive, since nothing was read.
func (t *Tracker) ReadFailed(now time.Time, err error) (Status, error) {
	if t.Phase != Baking {
		return t.settled()
	}
	if e := checkTime(now); e != nil {
		return Status{}, e
	}
	if err == nil {
		err = errors.New("unknown error")
	}
	if t.ReadErrors < math.MaxInt {
		t.ReadErrors++
	}
	if limit := t.Policy.maxReadErrors(); t.ReadErrors >= limit {
		t.end(now, Failed, fmt.Sprintf("could not read evidence or alarms %d time(s) in a row: %v", t.ReadErrors, err), nil)
		return t.final(), nil
	}
	var st Status
	t.status(&st, now, nil)
	st.Reason = reasonReadError
	return st, nil
}

// Fail ends the bake as failed at now with the given reason: for a human
// who fails a bake by hand, or a driver that learned of a failure some
// other way. A bake that has already ended is left as it is.
func (t *Tracker) Fail(now time.Time, reason string) error {
	if t.Phase != Baking {
		_, err := t.settled()
		return err
	}
	if err := checkTime(now); err != nil {
		return err
	}
	if reason == "" {
		reason = "failed by hand (no reason given)"
	}
	t.end(now, Failed, reason, nil)
	return nil
}

// Pause stops the bake clock at now: time paused is not counted as bake
// time, and the bake cannot end done or inconclusive while paused (alarms
// still fail it). Pausing a paused or ended bake does nothing.
func (t *Tracker) Pause(now time.Time) error {
	if t.Phase != Baking {
		_, err := t.settled()
		return err
	}
	if err := checkTime(now); err != nil {
		return err
	}
	if !t.PausedAt.IsZero() {
		return nil
	}
	if now.Before(t.Started) {
		now = t.Started
	}
	t.PausedAt = now.Round(0)
	return nil
}

// Resume restarts the bake clock at now, adding the pause to PausedFor.
// Resuming a bake that is not paused does nothing.
func (t *Tracker) Resume(now time.Time) error {
	if t.Phase != Baking {
		_, err := t.settled()
		return err
	}
	if err := checkTime(now); err != nil {
		return err
	}
	t.resume(now)
	return nil
}

func (t *Tracker) resume(now time.Time) {
	if t.PausedAt.IsZero() {
		return
	}
	t.PausedFor = duration.Duration(satAdd(t.PausedFor.Std(), nonneg(now.Sub(t.PausedAt))))
	t.PausedAt = time.Time{}
}

// settled is the outcome of a call on a tracker that is not baking: the
// final status of an ended bake, or an error.
func (t *Tracker) settled() (Status, error) {
	switch t.Phase {
	case NotStarted:
		return Status{}, ErrNotStarted
	case Done, Failed, Inconclusive:
		return t.final(), nil
	}
	return Status{}, fmt.Errorf("bake: tracker: invalid phase %d", int(t.Phase))
}

// end moves the bake to a final phase at now.
func (t *Tracker) end(now time.Time, ph Phase, reason string, evidence []float64) {
	if now.Before(t.Started) {
		now = t.Started
	}
	now = now.Round(0)
	t.resume(now)
	t.Phase = ph
	t.Ended = now
	t.Reason = reason
	t.Evidence = nil
	if len(evidence) > 0 {
		t.Evidence = append([]float64(nil), evidence...)
	}
}

// clock returns the time baked and the time paused at now.
func (t *Tracker) clock(now time.Time) (baked, paused time.Duration) {
	paused = t.PausedFor.Std()
	if !t.PausedAt.IsZero() {
		paused = satAdd(paused, nonneg(now.Sub(t.PausedAt)))
	}
	return nonneg(nonneg(now.Sub(t.Started)) - paused), paused
}

// status fills in *st, which must be zero, with the status of a running
// bake at now. (Filling in place keeps the hot path free of copies of the
// large Status.)
func (t *Tracker) status(st *Status, now time.Time, evidence []float64) {
	p := &t.Policy
	baked, paused := t.clock(now)
	minimum, maximum := p.minDuration(), p.maxDuration()
	st.Phase = Baking
	st.Paused = !t.PausedAt.IsZero()
	st.Baked = baked
	st.PausedFor = paused
	st.MinDuration = minimum
	st.MaxDuration = maximum
	st.TimeRemaining = nonneg(minimum - baked)
	st.ReadErrors = t.ReadErrors
	st.Evidence = Evidence{Requirements: p.Evidence, Have: evidence}
	next := p.pollInterval()
	if !st.Paused {
		left := nonneg(maximum - baked)
		st.EarliestEnd = now.Add(st.TimeRemaining)
		st.Deadline = now.Add(left)
		// Look again at the exact instants the bake can end, not only on
		// the interval, so that polling never delays the end.
		if st.TimeRemaining > 0 {
			next = min(next, st.TimeRemaining)
		}
		if left > 0 {
			next = min(next, left)
		}
	}
	st.NextCheck = now.Add(next)
}

// final is the status of an ended bake, as of its end.
func (t *Tracker) final() Status {
	p := &t.Policy
	baked, paused := t.clock(t.Ended)
	st := Status{
		Phase:         t.Phase,
		Reason:        t.Reason,
		Baked:         baked,
		PausedFor:     paused,
		MinDuration:   p.minDuration(),
		MaxDuration:   p.maxDuration(),
		TimeRemaining: nonneg(p.minDuration() - baked),
		Ended:         t.Ended,
		Evidence:      Evidence{Requirements: p.Evidence, Have: t.Evidence},
	}
	switch t.Phase {
	case Done:
		st.Consequence = Pass
	case Failed:
		st.Consequence = RollBack
	case Inconclusive:
		st.Consequence = p.inconclusive()
	}
	return st
}

// Effective values of a policy that may not have had its defaults filled
// in (a tracker decoded from JSON written by hand).

func (p *Policy) minDuration() time.Duration {
	if p.MinDuration == 0 {
		return DefaultMinDuration
	}
	return p.MinDuration.Std()
}

func (p *Policy) maxDuration() time.Duration {
	if p.MaxDuration == 0 {
		return defaultMax(p.minDuration())
	}
	return p.MaxDuration.Std()
}

func (p *Policy) pollInterval() time.Duration {
	if p.PollInterval <= 0 {
		return DefaultPollInterval
	}
	return p.PollInterval.Std()
}

func (p *Policy) maxReadErrors() int {
	if p.MaxReadErrors <= 0 {
		return DefaultMaxReadErrors
	}
	return p.MaxReadErrors
}

func (p *Policy) inconclusive() Consequence {
	if p.OnInconclusive == "" {
		return RollBack
	}
	return p.OnInconclusive
}

func (p *Policy) dataTreatment() DataTreatment {
	if p.OnInsufficientData == "" {
		return WaitForData
	}
	return p.OnInsufficientData
}

func (r *Requirement) name() string {
	if r.Name == "" {
		return r.Query
	}
	return r.Name
}

// alarmsReady reports whether the alarms let the bake end done: each named
// alarm has a result, and no result is in INSUFFICIENT_DATA unless the
// policy ignores it. (Results in ALARM have already failed the bake.)
func (p *Policy) alarmsReady(results []alarm.Result) bool {
	if p.dataTreatment() != IgnoreMissingData {
		for i := range results {
			if results[i].State != alarm.OK {
				return false
			}
		}
	}
	for _, name := range p.Alarms {
		if !hasResult(results, name) {
			return false
		}
	}
	return true
}

func hasResult(results []alarm.Result, name string) bool {
	for i := range results {
		if results[i].Name == name {
			return true
		}
	}
	return false
}

func alarmReason(r *alarm.Result) string {
	name := r.Name
	if name == "" {
		name = "(unnamed)"
	}
	var b strings.Builder
	b.WriteString("alarm ")
	b.WriteString(strconv.Quote(name))
	switch r.State {
	case alarm.Alarm, alarm.InsufficientData:
		b.WriteString(" is in ")
		b.WriteString(r.State.String())
	default:
		b.WriteString(" is in an unknown state ")
		b.WriteString(r.State.String())
		b.WriteString(", treated as ALARM")
	}
	if r.Reason != "" {
		b.WriteString(": ")
		b.WriteString(r.Reason)
	}
	return b.String()
}

func doneReason(st Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "baked %s (minimum %s)", st.Baked, st.MinDuration)
	if st.PausedFor > 0 {
		fmt.Fprintf(&b, ", paused %s, not counted", st.PausedFor)
	}
	if st.Evidence.Len() > 0 {
		b.WriteString("; evidence: ")
		st.Evidence.write(&b)
	}
	return b.String()
}

func inconclusiveReason(st Status, p *Policy, results []alarm.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "no conclusion after %s of bake (the maximum)", st.Baked)
	if st.PausedFor > 0 {
		fmt.Fprintf(&b, ", paused %s, not counted", st.PausedFor)
	}
	if !st.Evidence.Met() {
		b.WriteString("; evidence short: ")
		st.Evidence.write(&b)
	}
	var missing []string
	if p.dataTreatment() != IgnoreMissingData {
		for _, r := range results {
			if r.State != alarm.OK {
				missing = append(missing, fmt.Sprintf("%q is %s", r.Name, r.State))
			}
		}
	}
	for _, name := range p.Alarms {
		if !hasResult(results, name) {
			missing = append(missing, fmt.Sprintf("%q did not report", name))
		}
	}
	if len(missing) > 0 {
		b.WriteString("; alarms not OK: ")
		b.WriteString(strings.Join(missing, ", "))
	}
	b.WriteString("; consequence: ")
	b.WriteString(p.inconclusive().words())
	return b.String()
}

// Validate reports every problem with the tracker's state, each as a
// [*FieldError]: the policy's own problems (under "Policy.") and
// inconsistent fields (an ended phase without an end time, a pause before
// the start, evidence counts that do not fit the policy). Decoding a
// tracker from JSON runs it.
func (t Tracker) Validate() error {
	var ps problems
	t.Policy.fields(&ps, "Policy")
	t.Policy.bounds(&ps, "Policy", "")
	if !t.Phase.valid() {
		ps.add("Phase", "%d is not a phase", int(t.Phase))
	}
	if t.Phase == NotStarted {
		if !t.Started.IsZero() || !t.PausedAt.IsZero() || !t.Ended.IsZero() {
			ps.add("Phase", "not started, but Started, PausedAt or Ended is set")
		}
	} else if t.Started.IsZero() {
		ps.add("Started", "zero, but the bake is %s", t.Phase)
	}
	if !t.PausedAt.IsZero() {
		if t.Phase != Baking {
			ps.add("PausedAt", "set, but the bake is %s", t.Phase)
		}
		if t.PausedAt.Before(t.Started) {
			ps.add("PausedAt", "before Started")
		}
	}
	if t.PausedFor < 0 {
		ps.add("PausedFor", "%s is negative", t.PausedFor)
	}
	if t.ReadErrors < 0 {
		ps.add("ReadErrors", "%d is negative", t.ReadErrors)
	}
	switch {
	case t.Phase.Ended() && t.Ended.IsZero():
		ps.add("Ended", "zero, but the bake is %s", t.Phase)
	case !t.Phase.Ended() && !t.Ended.IsZero():
		ps.add("Ended", "set, but the bake is %s", t.Phase)
	case !t.Ended.IsZero() && t.Ended.Before(t.Started):
		ps.add("Ended", "before Started")
	}
	if len(t.Evidence) > 0 {
		if !t.Phase.Ended() {
			ps.add("Evidence", "set, but the bake is %s", t.Phase)
		}
		if len(t.Evidence) != len(t.Policy.Evidence) {
			ps.add("Evidence", "%d counts for %d requirements", len(t.Evidence), len(t.Policy.Evidence))
		}
		for i, v := range t.Evidence {
			if !(v >= 0) || math.IsInf(v, 1) {
				ps.add("Evidence["+strconv.Itoa(i)+"]", "%v is not a count", v)
			}
		}
	}
	// A done bake met its time and its evidence: state that says otherwise
	// was not written by a tracker.
	if t.Phase == Done && !t.Ended.IsZero() {
		if baked, _ := t.clock(t.Ended); baked < t.Policy.minDuration() {
			ps.add("Ended", "the bake is done after %s, less than its minimum %s", baked, t.Policy.minDuration())
		}
		ev := Evidence{Requirements: t.Policy.Evidence, Have: t.Evidence}
		if !ev.Met() {
			ps.add("Evidence", "the bake is done but its evidence is short or missing")
		}
	}
	return ps.err()
}

// UnmarshalJSON decodes a tracker and validates it; on any error the
// tracker is left unchanged.
func (t *Tracker) UnmarshalJSON(b []byte) error {
	type plain Tracker // without this method
	var v plain
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("bake: tracker: %w", err)
	}
	if err := Tracker(v).Validate(); err != nil {
		return err
	}
	*t = Tracker(v)
	return nil
}

func nonneg(d time.Duration) time.Duration { return max(d, 0) }

// satAdd adds two non-negative durations, saturating.
func satAdd(a, b time.Duration) time.Duration {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
