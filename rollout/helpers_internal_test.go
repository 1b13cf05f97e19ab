// This file holds the helpers of the few internal tests (package rollout:
// gate_test.go, watchdog_test.go and the *_internal_test.go files), which
// read the runner's state or call unexported functions. Package rollout
// cannot import rollouttest (rollouttest imports rollout), so these are a
// copy of the shared fixtures of rollouttest (AWSPlan, StageTargets,
// AllTargets, ZeroBake, EventLog, MemFleet); the external tests use those.

package rollout

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/wave"
)

// fleet is an in-memory Deployer: every target runs a version; deploys
// take Delay of (bubble) time; faults are scripted.
type fleet struct {
	mu       sync.Mutex
	versions map[string]string
	calls    []call
	// Delay is how long a deploy takes.
	Delay time.Duration
	// Fail, if set, decides whether a deploy call fails; attempt counts
	// the calls for this target and version from 1.
	Fail func(target, version string, attempt int) error
	// VersionErr, if set, makes Version fail.
	VersionErr func(target string) error
	attempts   map[string]int
	reads      int
	inflight   int
	maxInfl    int
}

type call struct {
	Kind    string // "deploy"
	Target  string
	Version string
	OK      bool
}

func newFleet(plan wave.Plan, version string) *fleet {
	f := &fleet{versions: map[string]string{}, attempts: map[string]int{}}
	for _, w := range plan.Waves {
		for _, st := range w.Stages {
			for _, b := range st.Batches {
				for _, t := range b.Targets {
					f.versions[t.ID] = version
				}
			}
		}
	}
	return f
}

func (f *fleet) Deploy(ctx context.Context, t wave.Target, v string) error {
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
	f.calls = append(f.calls, call{Kind: "deploy", Target: t.ID, Version: v, OK: err == nil})
	if err != nil {
		return err
	}
	f.versions[t.ID] = v
	return nil
}

func (f *fleet) Version(ctx context.Context, t wave.Target) (string, error) {
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

func (f *fleet) version(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.versions[id]
}

func (f *fleet) snapshot() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]string, len(f.versions))
	for k, v := range f.versions {
		out[k] = v
	}
	return out
}

func (f *fleet) callLog() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// onAny reports whether any of the ids runs version v.
func (f *fleet) onAny(ids []string, v string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		if f.versions[id] == v {
			return true
		}
	}
	return false
}

// awsPlan plans an AWS-shaped fleet with the wave planner: regions r0...
// each with zones of hosts, in waves of 1, 1, 2, 2 regions; a one-box
// before each region's first zone, one zone of a region at a time, a third
// of a zone per batch; the planner's default bakes (1h after a one-box or
// a zone, 12h after the first wave, 2h after later ones, 2h final). Region
// weights grow with the index, so r0 is the lightest and goes first.
func awsPlan(regions, zones, hosts int) wave.Plan {
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

// stageTargets returns the IDs of the targets of the named stage.
func stageTargets(p wave.Plan, name string) []string {
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

// waveTargets returns the IDs of the targets of wave wi.
func waveTargets(p wave.Plan, wi int) []string {
	var out []string
	for _, st := range p.Waves[wi].Stages {
		out = append(out, stageTargets(p, st.Name)...)
	}
	return out
}

// allTargets returns every target ID in plan order.
func allTargets(p wave.Plan) []string {
	var out []string
	for wi := range p.Waves {
		out = append(out, waveTargets(p, wi)...)
	}
	return out
}

// regressionAlarm is an alarm that fires while any of ids runs bad.
func regressionAlarm(f *fleet, ids []string, bad string) Alarms {
	return AlarmsFunc(func(ctx context.Context, s Subject, now time.Time) ([]alarm.Result, error) {
		if f.onAny(ids, bad) {
			return []alarm.Result{{Name: "fault-rate", State: alarm.Alarm, Reason: "5xx rate 12% > 1%", Time: now}}, nil
		}
		return []alarm.Result{{Name: "fault-rate", State: alarm.OK, Reason: "5xx rate 0.1% <= 1%", Time: now}}, nil
	})
}

// businessHours blocks outside 09:00-17:00 UTC on weekdays and says when it
// opens next.
var businessHours = BlockersFunc(func(ctx context.Context, s Subject, now time.Time) ([]BlockReason, time.Time, error) {
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
	return []BlockReason{{Blocker: "business-hours", Reason: "outside 09:00-17:00 UTC on weekdays", Until: next}}, next, nil
})

// zeroBake returns a copy of p without bakes.
func zeroBake(p wave.Plan) wave.Plan {
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

// touched reports whether any call reached the fleet.
func (f *fleet) touched() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads > 0 || len(f.calls) > 0
}

// inflightOn reports whether a deploy is in flight (the fleet counts them
// as a whole; with concurrency 1 that is the one of ids started last).
func (f *fleet) inflightOn(ids []string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inflight == 0 {
		return false
	}
	for _, id := range ids {
		if f.attempts[id+"@v2"] > 0 {
			return true
		}
	}
	return false
}

// events collects events safely.
type eventLog struct {
	mu  sync.Mutex
	evs []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	l.evs = append(l.evs, e)
	l.mu.Unlock()
}

func (l *eventLog) kinds(k EventKind) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for _, e := range l.evs {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// monday9 is a Monday 09:00 UTC.
var monday9 = time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)

// startAt returns a context whose bubble clock has been advanced to t.
func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }
