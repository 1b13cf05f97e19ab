package rollouttest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/field"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/wave"
)

// Op names a kind of call to a [Fleet].
type Op string

const (
	// OpDeploy is [Fleet.Deploy].
	OpDeploy Op = "deploy"
	// OpRollback is [Fleet.Rollback], the fast path back to a previous
	// version ([rollout.FastRollbacker]).
	OpRollback Op = "rollback"
	// OpVersion is [Fleet.Version].
	OpVersion Op = "version"
	// OpHealth is [Fleet.Healthy], the health check the driver waits for
	// after each deploy ([rollout.HealthChecker]).
	OpHealth Op = "health"
)

// Config describes a simulated fleet: its targets, the version they all
// run at the start, how each version behaves once deployed, the faults its
// deploy calls suffer, and its traffic.
type Config struct {
	// Targets are the fleet's targets. Location[0] is a target's region and
	// Location[1], if any, its zone, as with [wave.DefaultLevels]; Weight
	// scales its traffic (zero means 1). IDs must be unique and non-empty.
	Targets []wave.Target
	// Initial is the version every target runs at the start. Required.
	Initial string
	// Versions scripts how versions behave once deployed. A version that
	// is not here (Initial included, unless listed) is healthy: it serves
	// with the fleet's baseline error rate and latency ([Traffic]).
	Versions map[string]Behavior
	// Faults script what deploy, rollback and version calls suffer:
	// delays, transient or permanent failures, hangs.
	Faults []Fault
	// DeployTime is how long every deploy and rollback call takes before
	// the target switches version. Zero means instant.
	DeployTime time.Duration
	// Traffic shapes the requests the targets serve; its zero value is a
	// documented default.
	Traffic Traffic
	// Seed makes the noise of the traffic and of flaky faults
	// reproducible: the same seed and the same calls at the same times
	// give the same metrics and the same failures.
	Seed uint64
}

// Behavior is how a version serves once a target runs it. The zero value
// is a healthy version: the fleet's baseline error rate and latency.
type Behavior struct {
	// ErrorRate is added to the baseline error rate on every target, at
	// all times (a version that is simply bad).
	ErrorRate float64
	// Latency is added to the baseline median latency on every target.
	Latency time.Duration
	// Regressions are conditional degradations: from a given time, in
	// given places, under load.
	Regressions []Regression
}

// Regression degrades a version where and when its conditions all hold.
// Every empty condition holds.
type Regression struct {
	// From is when the regression starts (for example a certificate that
	// expires, a leap day); zero means as soon as the version runs.
	From time.Time
	// After delays the regression until a target has run the version for
	// this long (a leak that takes an hour to bite).
	After time.Duration
	// Regions, Zones and Targets restrict the regression to targets in
	// one of these regions, one of these zones, with one of these IDs.
	Regions, Zones, Targets []string
	// MinLoad restricts the regression to times when a target's traffic
	// is at least this share of its daily peak (0.8: only near the peak),
	// for a problem that only shows under load.
	MinLoad float64
	// ErrorRate is added to the error rate while the regression holds.
	ErrorRate float64
	// Latency is added to the median latency while it holds.
	Latency time.Duration
}

// Fault scripts what calls to the fleet suffer. It applies to the calls of
// kind Op, for Version, on the targets it selects; every empty selector
// matches everything. Several faults may apply to one call: their delays
// add up, and the call fails if any of them fails it.
type Fault struct {
	// Op is the kind of call; zero means [OpDeploy].
	Op Op
	// Version is the version the call deploys or rolls back to (for
	// [OpHealth], the version the target runs); empty means any. It is
	// ignored for [OpVersion].
	Version string
	// Regions, Zones and Targets select targets as in [Regression].
	Regions, Zones, Targets []string
	// Delay is added to the time each call takes (a slow deploy).
	Delay time.Duration
	// FailFirst fails the first FailFirst matching calls on each target,
	// then lets the others through (a flaky deploy that a retry fixes).
	FailFirst int
	// FailRate fails each matching call with this probability, drawn
	// from the fleet's Seed (a flaky deploy).
	FailRate float64
	// FailAlways fails every matching call (a broken artifact, with
	// Permanent; a target that refuses rollback, with Op [OpRollback]).
	FailAlways bool
	// Permanent makes the failures permanent errors ([rollout.Permanent]):
	// the driver does not retry them.
	Permanent bool
	// Hang makes matching calls block until their context ends (a deploy
	// that never returns, for stage deadlines).
	Hang bool
}

// Call records one deploy or rollback call to the fleet.
type Call struct {
	// Op is the kind of call, and Target the ID of the target called.
	Op     Op
	Target string
	// Version is the version the call asked for; From the version the
	// target ran when the call began.
	Version, From string
	// Start and End are when the call began and returned.
	Start, End time.Time
	// Err is the call's error in words, empty on success.
	Err string
	// Permanent is set for permanent errors ([rollout.IsPermanent]).
	Permanent bool
}

// OK reports whether the call succeeded.
func (c Call) OK() bool { return c.Err == "" }

// Change records a target switching version.
type Change struct {
	// Time is when the target switched; Target is its ID, and Version
	// the version it runs from then on.
	Time    time.Time
	Target  string
	Version string
	// From is the version the target ran before.
	From string
	// Op is the call that made the change.
	Op Op
}

// Errors of the fleet. Calls that fail because of a [Fault] return an
// error wrapping [ErrFault] (and marked permanent when the fault says so).
var (
	// ErrFault is wrapped by every failure a [Fault] scripts.
	ErrFault = errors.New("rollouttest: scripted fault")
	// ErrUnknownTarget is returned, as a permanent error, for a target
	// the fleet does not have.
	ErrUnknownTarget = errors.New("rollouttest: unknown target")
)

// Fleet is a simulated fleet. It implements [rollout.Deployer],
// [rollout.FastRollbacker] (deploys and rollbacks switch a target's version
// after [Config.DeployTime] and the faults' delays) and
// [rollout.HealthChecker] (healthy unless a fault says otherwise), [alarm.Source] (see
// [Fleet.Query]) and [rollout.Evidence] (see [Fleet.Evidence]), and it
// records every deploy and rollback call ([Fleet.Calls]) and every version
// change ([Fleet.Changes]), from which [Fleet.Blast] measures who was hurt.
//
// A Fleet is safe for concurrent use and bubble-safe under testing/synctest:
// it does no I/O, holds its lock only briefly, and waits with timers that
// honour the caller's context.
//
// To have a deployer without the fast rollback path (so that the driver
// rolls back by deploying the previous version), hide the method:
//
//	var d rollout.Deployer = struct{ rollout.Deployer }{fleet}
type Fleet struct {
	cfg     Config
	targets []wave.Target
	index   map[string]int
	region  []string
	zone    []string
	traffic traffic

	mu       sync.Mutex
	hist     [][]segment // per target, in time order; hist[i][0] starts at the zero time
	calls    []Call
	changes  []Change
	attempts map[attemptKey]int
	clock    func() time.Time // nil: time.Now; set by Simulate
	// points caches computed datapoints: a point's window ends at or
	// before the present, and changes are only ever recorded at the
	// present or later, so a point once computed never changes.
	points   map[pointKey]cachedPoint
	queries  map[string]*parsedQuery
	evidence map[string]evidenceMemo
}

type pointKey struct {
	query      string
	time, step int64
}

type cachedPoint struct {
	p  alarm.Point
	ok bool
}

// maxCachedPoints bounds the point cache; it is emptied when full.
const maxCachedPoints = 1 << 18

// segment is a time from which a target ran a version.
type segment struct {
	from    time.Time
	version string
}

type attemptKey struct {
	target  int
	op      Op
	version string
	fault   int
}

// Validate reports every problem of the configuration, each a
// [*FieldError] naming its field (for example "rollouttest:
// Faults[2].FailRate: 1.5 is outside [0, 1]"), joined.
func (c Config) Validate() error { return c.validate() }

// NewFleet validates c and returns the fleet, every target running
// c.Initial. Every problem of c is reported, each naming its field.
func NewFleet(c Config) (*Fleet, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	f := &Fleet{
		cfg:      c,
		targets:  slices.Clone(c.Targets),
		index:    make(map[string]int, len(c.Targets)),
		attempts: map[attemptKey]int{},
	}
	f.region = make([]string, len(f.targets))
	f.zone = make([]string, len(f.targets))
	f.hist = make([][]segment, len(f.targets))
	for i, t := range f.targets {
		f.index[t.ID] = i
		if len(t.Location) > 0 {
			f.region[i] = t.Location[0]
		}
		if len(t.Location) > 1 {
			f.zone[i] = t.Location[1]
		}
		f.hist[i] = []segment{{version: c.Initial}}
	}
	f.traffic = newTraffic(c.Traffic, c.Seed, f.targets, f.region)
	return f, nil
}

func (c *Config) validate() error {
	var ps problems
	if len(c.Targets) == 0 {
		ps.add("Targets", "empty: a fleet needs targets")
	}
	seen := map[string]int{}
	for i, t := range c.Targets {
		switch j, dup := seen[t.ID]; {
		case t.ID == "":
			ps.add(fmt.Sprintf("Targets[%d].ID", i), "empty")
		case dup:
			ps.add(fmt.Sprintf("Targets[%d].ID", i), "%q is also Targets[%d]", t.ID, j)
		default:
			seen[t.ID] = i
		}
		if len(t.Location) == 0 {
			ps.add(fmt.Sprintf("Targets[%d].Location", i), "empty: a target needs at least its region")
		}
		if w := t.Weight; w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			ps.add(fmt.Sprintf("Targets[%d].Weight", i), "%v is not a finite non-negative number", w)
		}
	}
	if c.Initial == "" {
		ps.add("Initial", "empty: which version does the fleet run?")
	}
	for _, v := range sortedKeys(c.Versions) {
		b := c.Versions[v]
		p := fmt.Sprintf("Versions[%q]", v)
		if v == "" {
			ps.add("Versions", "a version has an empty name")
		}
		rate(&ps, p+".ErrorRate", b.ErrorRate)
		if b.Latency < 0 {
			ps.add(p+".Latency", "%s is negative", b.Latency)
		}
		for i, r := range b.Regressions {
			rp := fmt.Sprintf("%s.Regressions[%d]", p, i)
			rate(&ps, rp+".ErrorRate", r.ErrorRate)
			if r.Latency < 0 {
				ps.add(rp+".Latency", "%s is negative", r.Latency)
			}
			if r.After < 0 {
				ps.add(rp+".After", "%s is negative", r.After)
			}
			if !(r.MinLoad >= 0 && r.MinLoad <= 1) {
				ps.add(rp+".MinLoad", "%v is outside [0, 1]", r.MinLoad)
			}
			if r.ErrorRate == 0 && r.Latency == 0 {
				ps.add(rp, "degrades nothing: set ErrorRate or Latency")
			}
		}
	}
	for i, ft := range c.Faults {
		p := fmt.Sprintf("Faults[%d]", i)
		switch ft.Op {
		case "", OpDeploy, OpRollback, OpVersion, OpHealth:
		default:
			ps.add(p+".Op", "unknown op %q (want %q, %q, %q or %q)", ft.Op, OpDeploy, OpRollback, OpVersion, OpHealth)
		}
		if ft.Delay < 0 {
			ps.add(p+".Delay", "%s is negative", ft.Delay)
		}
		if ft.FailFirst < 0 {
			ps.add(p+".FailFirst", "%d is negative", ft.FailFirst)
		}
		if !(ft.FailRate >= 0 && ft.FailRate <= 1) {
			ps.add(p+".FailRate", "%v is outside [0, 1]", ft.FailRate)
		}
		if ft.Permanent && ft.FailFirst == 0 && ft.FailRate == 0 && !ft.FailAlways {
			ps.add(p+".Permanent", "set, but the fault fails nothing (set FailFirst, FailRate or FailAlways)")
		}
		if ft.Delay == 0 && ft.FailFirst == 0 && ft.FailRate == 0 && !ft.FailAlways && !ft.Hang {
			ps.add(p, "does nothing: set Delay, FailFirst, FailRate, FailAlways or Hang")
		}
	}
	if c.DeployTime < 0 {
		ps.add("DeployTime", "%s is negative", c.DeployTime)
	}
	c.Traffic.validate(&ps)
	return ps.err()
}

func rate(ps *problems, path string, v float64) {
	if !(v >= 0 && v <= 1) {
		ps.add(path, "%v is outside [0, 1]", v)
	}
}

// Targets returns the fleet's targets, in the order of the configuration.
func (f *Fleet) Targets() []wave.Target { return slices.Clone(f.targets) }

// now is the fleet's clock: the simulation's when [Simulate] drives it.
func (f *Fleet) now() time.Time {
	f.mu.Lock()
	c := f.clock
	f.mu.Unlock()
	if c != nil {
		return c()
	}
	return time.Now()
}

// Deploy deploys version to t: after [Config.DeployTime] and the delays of
// the faults that apply, t runs version, unless a fault fails the call.
// Deploying the version t already runs does no harm (and takes no time).
// A cancelled call changes nothing and returns the context's error.
func (f *Fleet) Deploy(ctx context.Context, t wave.Target, version string) error {
	return f.change(ctx, OpDeploy, t.ID, version)
}

// Rollback puts t back on version, like Deploy but as a rollback: faults
// with Op [OpRollback] apply to it.
func (f *Fleet) Rollback(ctx context.Context, t wave.Target, version string) error {
	return f.change(ctx, OpRollback, t.ID, version)
}

// Version reads the version t runs.
func (f *Fleet) Version(ctx context.Context, t wave.Target) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	cp, err := f.begin(f.now(), OpVersion, t.ID, "")
	if err != nil {
		return "", err
	}
	if err := wait(ctx, cp); err != nil {
		return "", err
	}
	if cp.err != nil {
		return "", cp.err
	}
	return f.Current(t.ID), nil
}

// Healthy is the fleet's health check ([rollout.HealthChecker]): it
// passes at once unless faults with Op [OpHealth] delay it or fail it (a
// target that never becomes ready after a deploy of a given version).
func (f *Fleet) Healthy(ctx context.Context, t wave.Target) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cp, err := f.begin(f.now(), OpHealth, t.ID, f.Current(t.ID))
	if err != nil {
		return err
	}
	if err := wait(ctx, cp); err != nil {
		return err
	}
	return cp.err
}

// Current returns the version the target with this ID runs now, or ""
// for an unknown target. Unlike Version it suffers no fault.
func (f *Fleet) Current(id string) string {
	i, ok := f.index[id]
	if !ok {
		return ""
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.hist[i]
	return h[len(h)-1].version
}

// Versions returns the version each target runs now, by ID.
func (f *Fleet) Versions() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]string, len(f.targets))
	for i, t := range f.targets {
		h := f.hist[i]
		out[t.ID] = h[len(h)-1].version
	}
	return out
}

// Calls returns every deploy and rollback call so far, in the order they
// returned.
func (f *Fleet) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Changes returns every version change so far, in time order.
func (f *Fleet) Changes() []Change {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.changes)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// Deployed returns the IDs of the targets that ran version at some time
// since the start, in the order they first got it (Initial: every
// target).
func (f *Fleet) Deployed(version string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	type first struct {
		id string
		at time.Time
	}
	var got []first
	for i, t := range f.targets {
		for _, s := range f.hist[i] {
			if s.version == version {
				got = append(got, first{t.ID, s.from})
				break
			}
		}
	}
	sort.SliceStable(got, func(a, b int) bool { return got[a].at.Before(got[b].at) })
	out := make([]string, len(got))
	for i, g := range got {
		out[i] = g.id
	}
	return out
}

// callPlan is what a call will do, decided when it begins.
type callPlan struct {
	op      Op
	target  int
	version string
	from    string
	start   time.Time
	delay   time.Duration
	hang    bool
	err     error
}

// begin decides, at now, how long a call takes and whether it fails.
func (f *Fleet) begin(now time.Time, op Op, id, version string) (*callPlan, error) {
	i, ok := f.index[id]
	if !ok {
		return nil, rollout.Permanent(fmt.Errorf("%w %q", ErrUnknownTarget, id))
	}
	if op != OpVersion && version == "" {
		return nil, rollout.Permanent(fmt.Errorf("rollouttest: %s of %q: empty version", op, id))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.hist[i]
	cp := &callPlan{op: op, target: i, version: version, from: h[len(h)-1].version, start: now}
	if op != OpVersion && cp.from != version {
		cp.delay = f.cfg.DeployTime
	}
	for fi := range f.cfg.Faults {
		ft := &f.cfg.Faults[fi]
		fop := ft.Op
		if fop == "" {
			fop = OpDeploy
		}
		if fop != op || (op != OpVersion && ft.Version != "" && ft.Version != version) ||
			!selects(ft.Regions, ft.Zones, ft.Targets, f.region[i], f.zone[i], id) {
			continue
		}
		k := attemptKey{target: i, op: op, version: version, fault: fi}
		f.attempts[k]++
		n := f.attempts[k]
		cp.delay += ft.Delay
		cp.hang = cp.hang || ft.Hang
		fail := ft.FailAlways || n <= ft.FailFirst
		if !fail && ft.FailRate > 0 {
			fail = unit(hash(f.cfg.Seed, uint64(i), uint64(fi), uint64(n), strHash(string(op)+"\x00"+version))) < ft.FailRate
		}
		if fail && cp.err == nil {
			err := fmt.Errorf("%w: %s of %q on %s failed (fault %d, call %d)", ErrFault, op, version, id, fi, n)
			switch op {
			case OpVersion:
				err = fmt.Errorf("%w: reading the version of %s failed (fault %d, call %d)", ErrFault, id, fi, n)
			case OpHealth:
				err = fmt.Errorf("%w: %s is not healthy on %q (fault %d, call %d)", ErrFault, id, version, fi, n)
			}
			if ft.Permanent {
				err = rollout.Permanent(err)
			}
			cp.err = err
		}
	}
	return cp, nil
}

// wait waits for the call's delay in real (or bubble) time, honouring ctx.
func wait(ctx context.Context, cp *callPlan) error {
	if cp.hang {
		<-ctx.Done()
		return context.Cause(ctx)
	}
	if cp.delay <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(cp.delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

func (f *Fleet) change(ctx context.Context, op Op, id, version string) error {
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	cp, err := f.begin(f.now(), op, id, version)
	if err != nil {
		return err
	}
	if err := wait(ctx, cp); err != nil {
		f.finish(cp, time.Time{}, err)
		return err
	}
	return f.finish(cp, time.Time{}, cp.err)
}

// finish ends a deploy or rollback call at end (zero: now, read under the
// lock, so that a change is never recorded at a time before a query that
// could not see it): it records the call and, on success, the change of
// version.
func (f *Fleet) finish(cp *callPlan, end time.Time, err error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if end.IsZero() {
		if f.clock != nil {
			end = f.clock()
		} else {
			end = time.Now()
		}
	}
	c := Call{Op: cp.op, Target: f.targets[cp.target].ID, Version: cp.version, From: cp.from, Start: cp.start, End: end}
	if err != nil {
		c.Err = err.Error()
		c.Permanent = rollout.IsPermanent(err)
	}
	f.calls = append(f.calls, c)
	if err != nil {
		return err
	}
	h := f.hist[cp.target]
	if cur := h[len(h)-1]; cur.version != cp.version {
		if !end.After(cur.from) {
			end = cur.from.Add(time.Nanosecond)
		}
		f.hist[cp.target] = append(h, segment{from: end, version: cp.version})
		f.changes = append(f.changes, Change{Time: end, Target: c.Target, Version: cp.version, From: cur.version, Op: cp.op})
	}
	return nil
}

func selects(regions, zones, targets []string, region, zone, id string) bool {
	return (len(regions) == 0 || slices.Contains(regions, region)) &&
		(len(zones) == 0 || slices.Contains(zones, zone)) &&
		(len(targets) == 0 || slices.Contains(targets, id))
}

// problems collects every problem of a configuration.
type problems struct{ list field.List }

func (p *problems) add(path, format string, args ...any) {
	p.list.Add(ErrInvalid, path, format, args...)
}

func (p *problems) err() error { return p.list.Err() }

// ErrInvalid is wrapped by every [FieldError]: a configuration or a
// scenario is malformed.
var ErrInvalid = errors.New("rollouttest: invalid input")

// FieldError is one problem of a [Config] or a [Scenario], with the path
// of the field at fault (for example "Faults[2].FailRate") and
// [ErrInvalid] as its Err. It is the one shape of a validation problem in
// shepherd, [field.Error].
type FieldError = field.Error

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// rewind undoes, for the simulator, what target id's calls made since
// calls0 (an index into the call log) did after t, as if they had been
// cancelled at t: calls that began at or after t are forgotten, a call in
// flight at t ends at t with err, and versions taken after t are undone.
// The fault scripts' call counters are not rewound.
func (f *Fleet) rewind(id string, calls0 int, t time.Time, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, ok := f.index[id]
	if !ok {
		return
	}
	kept := f.calls[:calls0]
	for _, c := range f.calls[calls0:] {
		if c.Target == id {
			if !c.Start.Before(t) {
				continue // never began
			}
			if c.End.After(t) {
				c.End, c.Err, c.Permanent = t, err.Error(), false
			}
		}
		kept = append(kept, c)
	}
	f.calls = kept
	h := f.hist[i]
	n := len(h)
	for n > 1 && h[n-1].from.After(t) {
		n--
	}
	f.hist[i] = h[:n]
	ch := f.changes[:0]
	for _, c := range f.changes {
		if c.Target == id && c.Time.After(t) {
			continue
		}
		ch = append(ch, c)
	}
	f.changes = ch
}

// callCount is the length of the call log.
func (f *Fleet) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}
