package rollouttest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/wave"
)

// This file holds the fixtures the tests of rollout, rollouttest and
// temporal share: an AWS-shaped plan, the target IDs of a plan, a plan
// without bakes, an event log and a small in-memory deployer.

// AWSPlan plans an AWS-shaped fleet with the wave planner: regions r0...
// each with zones of hosts (target IDs r<region>-z<zone>-h<host>, Location
// [r<region>, r<region>-z<zone>, h<host>]), in waves of 1, 1, 2, 2 regions;
// a one-box before each region's first zone, one zone of a region at a
// time, a third of a zone per batch; the planner's default bakes (1h after
// a one-box or a zone, 12h after the first wave, 2h after later ones, 2h
// final). Region weights grow with the index (r+1), so r0 is the lightest
// and goes first. It panics if the planner refuses the fleet.
func AWSPlan(regions, zones, hosts int) wave.Plan {
	var ts []wave.Target
	for r := range regions {
		for z := range zones {
			for h := range hosts {
				ts = append(ts, wave.Target{
					ID:       fmt.Sprintf("r%d-z%d-h%d", r, z, h),
					Location: []string{fmt.Sprintf("r%d", r), fmt.Sprintf("r%d-z%d", r, z), fmt.Sprintf("h%d", h)},
					Weight:   float64(r + 1),
				})
			}
		}
	}
	p, err := wave.Policy{Waves: wave.Sizing{Sizes: []int{1, 1, 2, 2}}}.Plan(ts)
	if err != nil {
		panic(err)
	}
	return *p
}

// StageTargets returns the IDs of the targets of the named stage of p, in
// plan order.
func StageTargets(p wave.Plan, name string) []string {
	var out []string
	for _, w := range p.Waves {
		for _, st := range w.Stages {
			if st.Name != name {
				continue
			}
			for _, b := range st.Batches {
				for _, t := range b.Targets {
					out = append(out, t.ID)
				}
			}
		}
	}
	return out
}

// WaveTargets returns the IDs of the targets of wave wi of p, in plan order.
func WaveTargets(p wave.Plan, wi int) []string {
	var out []string
	for _, st := range p.Waves[wi].Stages {
		out = append(out, StageTargets(p, st.Name)...)
	}
	return out
}

// AllTargets returns the ID of every target of p, in plan order.
func AllTargets(p wave.Plan) []string {
	var out []string
	for wi := range p.Waves {
		out = append(out, WaveTargets(p, wi)...)
	}
	return out
}

// ZeroBake returns a copy of p without bakes: every stage's Bake and the
// FinalBake are zero. p is not modified.
func ZeroBake(p wave.Plan) wave.Plan {
	out := p
	out.FinalBake = 0
	out.Waves = make([]wave.Wave, len(p.Waves))
	for i, w := range p.Waves {
		w.Stages = append([]wave.Stage(nil), w.Stages...)
		for j := range w.Stages {
			w.Stages[j].Bake = 0
		}
		out.Waves[i] = w
	}
	return out
}

// EventLog collects rollout events; it is safe for concurrent use. Pass
// its Add method where a rollout wants an event subscriber.
type EventLog struct {
	mu  sync.Mutex
	evs []rollout.Event
}

// Add records e.
func (l *EventLog) Add(e rollout.Event) {
	l.mu.Lock()
	l.evs = append(l.evs, e)
	l.mu.Unlock()
}

// Events returns a copy of every event recorded so far, in order.
func (l *EventLog) Events() []rollout.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]rollout.Event(nil), l.evs...)
}

// Kinds returns the events of kind k recorded so far, in order.
func (l *EventLog) Kinds(k rollout.EventKind) []rollout.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []rollout.Event
	for _, e := range l.evs {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// MemFleet is a small in-memory [rollout.Deployer] for tests that need
// scripted faults rather than a simulated fleet ([Fleet]): every target
// runs a version; deploys take Delay of (bubble) time; Fail and
// VersionErr script failures. It is safe for concurrent use; set its
// fields before the rollout starts.
type MemFleet struct {
	// Delay is how long a deploy takes.
	Delay time.Duration
	// Fail, if set, decides whether a deploy call fails; attempt counts
	// the calls for this target and version from 1.
	Fail func(target, version string, attempt int) error
	// VersionErr, if set, makes Version fail for the targets it returns
	// an error for.
	VersionErr func(target string) error

	mu       sync.Mutex
	versions map[string]string
	calls    []MemCall
	attempts map[string]int
	reads    int
	inflight int
	maxInfl  int
}

// MemCall records one deploy call to a [MemFleet].
type MemCall struct {
	Kind    string // "deploy"
	Target  string
	Version string
	OK      bool
}

// NewMemFleet returns a MemFleet whose every target of plan runs version.
func NewMemFleet(plan wave.Plan, version string) *MemFleet {
	f := &MemFleet{versions: map[string]string{}, attempts: map[string]int{}}
	for _, id := range AllTargets(plan) {
		f.versions[id] = version
	}
	return f
}

// Deploy deploys version v to t: it waits Delay (or until ctx ends), then
// asks Fail, and switches the target to v unless Fail returned an error.
func (f *MemFleet) Deploy(ctx context.Context, t wave.Target, v string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	f.inflight++
	f.maxInfl = max(f.maxInfl, f.inflight)
	key := t.ID + "@" + v
	f.attempts[key]++
	n := f.attempts[key]
	fail := f.Fail
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inflight--
		f.mu.Unlock()
	}()
	if f.Delay > 0 {
		tm := time.NewTimer(f.Delay)
		select {
		case <-ctx.Done():
			tm.Stop()
			return ctx.Err()
		case <-tm.C:
		}
	}
	var err error
	if fail != nil {
		err = fail(t.ID, v, n)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, MemCall{Kind: "deploy", Target: t.ID, Version: v, OK: err == nil})
	if err != nil {
		return err
	}
	f.versions[t.ID] = v
	return nil
}

// Version returns the version t runs.
func (f *MemFleet) Version(ctx context.Context, t wave.Target) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if f.VersionErr != nil {
		if err := f.VersionErr(t.ID); err != nil {
			return "", err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	v, ok := f.versions[t.ID]
	if !ok {
		return "", fmt.Errorf("no target %q", t.ID)
	}
	return v, nil
}

// Running returns the version target id runs, empty for an unknown id.
func (f *MemFleet) Running(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.versions[id]
}

// Set makes target id run version v, as if deployed out of band.
func (f *MemFleet) Set(id, v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.versions[id] = v
}

// Snapshot returns the version of every target.
func (f *MemFleet) Snapshot() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]string, len(f.versions))
	for k, v := range f.versions {
		out[k] = v
	}
	return out
}

// Calls returns the deploy calls that returned so far, in order.
func (f *MemFleet) Calls() []MemCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]MemCall(nil), f.calls...)
}

// OnAny reports whether any of the ids runs version v.
func (f *MemFleet) OnAny(ids []string, v string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		if f.versions[id] == v {
			return true
		}
	}
	return false
}

// Touched reports whether any call (a read or a deploy) reached the fleet.
func (f *MemFleet) Touched() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads > 0 || len(f.calls) > 0
}

// MaxInflight returns the largest number of deploys that were in flight
// at once.
func (f *MemFleet) MaxInflight() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxInfl
}

// InflightOn reports whether a deploy is in flight and any of ids has had
// a deploy of version v started (the fleet counts in-flight deploys as a
// whole; with concurrency 1 that is the one of ids started last).
func (f *MemFleet) InflightOn(ids []string, v string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inflight == 0 {
		return false
	}
	for _, id := range ids {
		if f.attempts[id+"@"+v] > 0 {
			return true
		}
	}
	return false
}

// BusinessHours is a blocker that holds a stage outside 09:00-17:00 UTC on
// weekdays and says when it opens next. It reads the time it is given,
// never the clock, so it works in simulated time.
var BusinessHours = rollout.BlockersFunc(func(ctx context.Context, s rollout.Subject, now time.Time) ([]rollout.BlockReason, time.Time, error) {
	t := now.UTC()
	open := func(t time.Time) bool {
		wd := t.Weekday()
		return wd != time.Saturday && wd != time.Sunday && t.Hour() >= 9 && t.Hour() < 17
	}
	if open(t) {
		return nil, time.Time{}, nil
	}
	next := time.Date(t.Year(), t.Month(), t.Day(), 9, 0, 0, 0, time.UTC)
	if !next.After(t) {
		next = next.AddDate(0, 0, 1)
	}
	for !open(next) {
		next = next.AddDate(0, 0, 1)
	}
	return []rollout.BlockReason{{Blocker: "business-hours", Reason: "outside 09:00-17:00 UTC on weekdays", Until: next}}, next, nil
})
