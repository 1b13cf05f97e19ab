// Package testfleet holds the fixtures that the temporal adapter's tests
// and its server tests (a module of their own, so that the adapter's users
// do not inherit the Temporal server) share: an in-memory fleet that
// records who deployed what, a small hand-made plan and alarms scripted
// on the fleet.
package testfleet

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

// Fleet is an in-memory [rollout.Deployer]. Deploys are instant: the SDK's
// time-skipping environment skips timers, not the time activities take.
type Fleet struct {
	mu       sync.Mutex
	versions map[string]string
	calls    []Call
}

// Call is one deploy or rollback call: which worker made it, to which
// target, with which version.
type Call struct {
	Worker  string
	Target  string
	Version string
}

// New returns a fleet of the plan's targets, each running version.
func New(plan wave.Plan, version string) *Fleet {
	f := &Fleet{versions: map[string]string{}}
	for _, id := range rollouttest.AllTargets(plan) {
		f.versions[id] = version
	}
	return f
}

// On returns a Deployer that records its calls as made by worker.
func (f *Fleet) On(worker string) rollout.Deployer { return fleetOn{f, worker} }

type fleetOn struct {
	f      *Fleet
	worker string
}

func (d fleetOn) Deploy(ctx context.Context, t wave.Target, v string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.f.mu.Lock()
	defer d.f.mu.Unlock()
	d.f.calls = append(d.f.calls, Call{Worker: d.worker, Target: t.ID, Version: v})
	d.f.versions[t.ID] = v
	return nil
}

func (d fleetOn) Version(ctx context.Context, t wave.Target) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	d.f.mu.Lock()
	defer d.f.mu.Unlock()
	v, ok := d.f.versions[t.ID]
	if !ok {
		return "", fmt.Errorf("no target %q", t.ID)
	}
	return v, nil
}

// Set makes target id run version v, as if deployed out of band: no call
// is recorded.
func (f *Fleet) Set(id, v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.versions[id] = v
}

// Snapshot returns the version every target runs.
func (f *Fleet) Snapshot() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.versions)
}

// History returns each target's deploy and rollback calls, in order.
func (f *Fleet) History() map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]string{}
	for _, c := range f.calls {
		out[c.Target] = append(out[c.Target], c.Version)
	}
	return out
}

// Calls returns every deploy and rollback call, in order.
func (f *Fleet) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// OnAny reports whether any of ids runs v.
func (f *Fleet) OnAny(ids []string, v string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		if f.versions[id] == v {
			return true
		}
	}
	return false
}

// Hanging is a [rollout.Deployer] whose deploys to some targets hang:
// they run until their context is cancelled (and answer the
// cancellation), or, if nothing cancels them, for a while and then
// deploy. Deploys to the other targets, and every version read, go to the
// Deployer it wraps at once.
type Hanging struct {
	rollout.Deployer
	hang    map[string]bool
	hangFor time.Duration
	release chan struct{}
	once    sync.Once
	hung    chan string

	mu                            sync.Mutex
	started, cancelled, completed []string
}

// NewHanging returns a Hanging over d whose deploys to ids run for
// hangFor unless cancelled.
func NewHanging(d rollout.Deployer, hangFor time.Duration, ids ...string) *Hanging {
	h := &Hanging{Deployer: d, hang: map[string]bool{}, hangFor: hangFor, release: make(chan struct{}), hung: make(chan string, 16)}
	for _, id := range ids {
		h.hang[id] = true
	}
	return h
}

// Deploy deploys v to t, hanging if t is one of the hanging targets.
func (h *Hanging) Deploy(ctx context.Context, t wave.Target, v string) error {
	if !h.hang[t.ID] {
		return h.Deployer.Deploy(ctx, t, v)
	}
	h.note(&h.started, t.ID)
	select {
	case h.hung <- t.ID:
	default: // nobody listens
	}
	timer := time.NewTimer(h.hangFor)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		h.note(&h.cancelled, t.ID)
		return ctx.Err()
	case <-h.release:
		return context.Canceled
	case <-timer.C:
		h.note(&h.completed, t.ID)
		return h.Deployer.Deploy(ctx, t, v)
	}
}

// Hung receives the target of every hanging deploy as it begins (the
// first 16 that nobody took).
func (h *Hanging) Hung() <-chan string { return h.hung }

// Release ends the deploys still hanging, with an error and no change:
// call it when the test ends, so that no deploy outlives it.
func (h *Hanging) Release() { h.once.Do(func() { close(h.release) }) }

// Calls returns the hanging deploys that began, those whose context was
// cancelled, and those that ran to the end and deployed.
func (h *Hanging) Calls() (started, cancelled, completed []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.started), slices.Clone(h.cancelled), slices.Clone(h.completed)
}

func (h *Hanging) note(list *[]string, id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	*list = append(*list, id)
}

// ZonePlan is a hand-made plan of one region and one zone: a one-box stage
// (ob) that bakes for bake, then the zone's other targets (h1, h2...) in
// batches of batch that bake for zoneBake. It is valid (wave.Plan.Validate).
func ZonePlan(targets, batch int, bake, zoneBake time.Duration) wave.Plan {
	t := func(id string) wave.Target { return wave.Target{ID: id, Location: []string{"r0", "r0-z0"}} }
	var batches []wave.Batch
	for i := 1; i < targets; i += batch {
		var b wave.Batch
		for j := i; j < min(i+batch, targets); j++ {
			b.Targets = append(b.Targets, t(fmt.Sprintf("h%d", j)))
		}
		batches = append(batches, b)
	}
	in := []string{"r0"}
	zs := []string{"r0-z0"}
	return wave.Plan{Levels: []string{"region", "zone"}, Waves: []wave.Wave{{Index: 0, Regions: in, Stages: []wave.Stage{
		{Name: "one-box", Kind: wave.OneBox, Regions: in, Zones: zs, Bake: duration.Duration(bake),
			Batches: []wave.Batch{{Targets: []wave.Target{t("ob")}}}},
		{Name: "zone", Kind: wave.Zone, Regions: in, Zones: zs, Bake: duration.Duration(zoneBake), Batches: batches},
	}}}}
}

// RegressionAlarm fires while any of ids runs bad (with ids nil it stays
// OK).
func RegressionAlarm(f *Fleet, ids []string, bad string) rollout.Alarms {
	return rollout.AlarmsFunc(func(ctx context.Context, s rollout.Subject, now time.Time) ([]alarm.Result, error) {
		if f.OnAny(ids, bad) {
			return []alarm.Result{{Name: "fault-rate", State: alarm.Alarm, Reason: "5xx rate 12% > 1%", Time: now}}, nil
		}
		return []alarm.Result{{Name: "fault-rate", State: alarm.OK, Reason: "5xx rate 0.1% <= 1%", Time: now}}, nil
	})
}

// Unreadable fails its first n reads, then reads OK.
func Unreadable(n int) rollout.Alarms {
	var mu sync.Mutex
	failed := 0
	return rollout.AlarmsFunc(func(ctx context.Context, s rollout.Subject, now time.Time) ([]alarm.Result, error) {
		mu.Lock()
		defer mu.Unlock()
		if failed < n {
			failed++
			return nil, fmt.Errorf("metrics backend: 503")
		}
		return []alarm.Result{{Name: "fault-rate", State: alarm.OK, Reason: "5xx rate 0.1% <= 1%", Time: now}}, nil
	})
}

// Monday9 is a Monday 09:00 UTC.
var Monday9 = time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
