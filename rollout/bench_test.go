package rollout_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

// noop is a deployer that does nothing but remember the versions it
// deployed, in two generations of at most noopMemory targets each: the
// driver asks a target's version before its deploy and after it, within
// its batch (the largest batch of these benchmarks has 16,667 targets),
// and forgetting the targets deployed long ago keeps the deployer's own
// bookkeeping, which is not the driver's cost, from growing with the
// fleet (a map of 300,000 targets misses the processor's caches at every
// call).
type noop struct {
	mu         sync.RWMutex
	young, old map[string]string
	deploys    int
}

const noopMemory = 1 << 15

func newNoop(targets int) *noop {
	return &noop{young: make(map[string]string, min(targets, noopMemory)), old: make(map[string]string)}
}

func (n *noop) Deploy(_ context.Context, t wave.Target, v string) error {
	n.mu.Lock()
	if len(n.young) >= noopMemory {
		clear(n.old)
		n.young, n.old = n.old, n.young
	}
	n.young[t.ID] = v
	n.deploys++
	n.mu.Unlock()
	return nil
}

func (n *noop) Version(_ context.Context, t wave.Target) (string, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if v, ok := n.young[t.ID]; ok {
		return v, nil
	}
	if v, ok := n.old[t.ID]; ok {
		return v, nil
	}
	return "v1", nil
}

// check fails the benchmark unless every target was deployed once.
func (n *noop) check(b *testing.B, targets int) {
	if n.deploys != targets {
		b.Fatalf("%d deploys for %d targets", n.deploys, targets)
	}
}

// BenchmarkDriver measures the driver's own overhead on a 100,008-target
// AWS-shaped plan (6 regions x 3 zones x 5,556 hosts, 24 stages, 60
// batches) with a no-op deployer and zero bake, persistence included.
func BenchmarkDriver(b *testing.B) {
	plan := rollouttest.ZeroBake(rollouttest.AWSPlan(6, 3, 5556))
	n := 0
	for _, w := range plan.Waves {
		for _, st := range w.Stages {
			for _, bt := range st.Batches {
				n += len(bt.Targets)
			}
		}
	}
	for _, tc := range []struct {
		name  string
		store func(b *testing.B) rollout.Store
	}{
		{"store=discard", func(*testing.B) rollout.Store { return discard{new(rollout.MemoryStore)} }},
		{"store=memory", func(*testing.B) rollout.Store { return new(rollout.MemoryStore) }},
		{"store=file", func(b *testing.B) rollout.Store { return &rollout.FileStore{Dir: b.TempDir()} }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			saves, size := 0, 0
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				d := newNoop(n)
				s := &countingStore{Store: tc.store(b)}
				var store rollout.Store = s
				if _, ok := s.Store.(rollout.DeltaSaver); ok {
					store = &deltaCounter{*s}
				}
				r, err := rollout.Create(context.Background(), rollout.Spec{ID: "bench", Plan: plan, Version: "v2", Policy: rollout.Policy{}}, d, rollout.Config{Store: store})
				if err != nil {
					b.Fatal(err)
				}
				if err := r.Run(context.Background()); err != nil {
					b.Fatal(err)
				}
				d.check(b, n)
				saves, size = s.n, s.bytes
				if dc, ok := store.(*deltaCounter); ok {
					saves, size = dc.n, dc.bytes
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/target")
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N)/float64(n), "cpu-ns/target")
			b.ReportMetric(float64(saves), "saves/run")
			b.ReportMetric(float64(size)/1e6, "MB/save")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(saves)/1e6, "ms/save")
		})
	}
}

type countingStore struct {
	rollout.Store
	n, bytes int
}

func (c *countingStore) Save(ctx context.Context, id string, token uint64, data []byte) error {
	c.n++
	c.bytes = len(data)
	return c.Store.Save(ctx, id, token, data)
}

// deltaCounter is a countingStore of a store that takes deltas.
type deltaCounter struct{ countingStore }

func (c *deltaCounter) SaveDelta(ctx context.Context, id string, token uint64, d *rollout.Delta) error {
	c.n++
	c.bytes = 0
	for _, s := range d.Changed {
		c.bytes += len(s.Bytes)
	}
	return c.Store.(rollout.DeltaSaver).SaveDelta(ctx, id, token, d)
}

// discard takes leases but throws saved states away: the driver's cost
// with encoding but without keeping the bytes.
type discard struct{ *rollout.MemoryStore }

func (d discard) Save(ctx context.Context, id string, token uint64, data []byte) error {
	return d.MemoryStore.Save(ctx, id, token, nil)
}

// BenchmarkDriverScale measures the driver's cost per target with the
// journal file store as the fleet grows tenfold and more: AWS-shaped plans
// of 10,008 to 300,006 targets (6 regions x 3 zones; the same 24 stages
// and about 60 batches, so batches grow with the fleet). The cost per
// target should not grow with the fleet: a save writes what changed, not
// the whole state.
func BenchmarkDriverScale(b *testing.B) {
	for _, hosts := range []int{556, 1667, 5556, 16667} {
		n := 6 * 3 * hosts
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			plan := rollouttest.ZeroBake(rollouttest.AWSPlan(6, 3, hosts))
			runtime.GC() // the plan's garbage is not the driver's
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for b.Loop() {
				d := newNoop(n)
				r, err := rollout.Create(context.Background(), rollout.Spec{ID: "bench", Plan: plan, Version: "v2"}, d,
					rollout.Config{Store: &rollout.FileStore{Dir: b.TempDir()}})
				if err != nil {
					b.Fatal(err)
				}
				if err := r.Run(context.Background()); err != nil {
					b.Fatal(err)
				}
				d.check(b, n)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/target")
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N)/float64(n), "cpu-ns/target")
		})
	}
	// The same fleets in batches of a fixed size, so that the batches
	// and the saves grow with the fleet (20 to 600 batches): the fixed
	// cost of a save is then spread over the same number of targets at
	// every size, and anything that grew with the fleet at every save
	// would show.
	for _, n := range []int{10000, 30000, 100000, 300000} {
		b.Run(fmt.Sprintf("batch=500/targets=%d", n), func(b *testing.B) {
			plan := sizedBatchPlan(4, n/4, 500)
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for b.Loop() {
				d := newNoop(n)
				r, err := rollout.Create(context.Background(), rollout.Spec{ID: "bench", Plan: plan, Version: "v2"}, d,
					rollout.Config{Store: &rollout.FileStore{Dir: b.TempDir()}})
				if err != nil {
					b.Fatal(err)
				}
				if err := r.Run(context.Background()); err != nil {
					b.Fatal(err)
				}
				d.check(b, n)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/target")
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N)/float64(n), "cpu-ns/target")
		})
	}
}
