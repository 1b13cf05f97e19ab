package rollout_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

// noop is a deployer that does nothing but remember the versions it
// deployed, in two generations of at most memory targets each, twice the
// plan's largest batch: the driver asks a target's version before its
// deploy and after it, within its batch, and forgetting the targets
// deployed in earlier batches keeps the deployer's own bookkeeping, which
// is not the driver's cost, from growing with the fleet (a map of 300,000
// targets misses the processor's caches at every call).
type noop struct {
	mu         sync.RWMutex
	memory     int
	young, old map[string]string
	deploys    int
}

func newNoop(plan wave.Plan) *noop {
	largest := 0
	for _, w := range plan.Waves {
		for _, st := range w.Stages {
			for _, bt := range st.Batches {
				largest = max(largest, len(bt.Targets))
			}
		}
	}
	m := max(2*largest, 256)
	return &noop{memory: m, young: make(map[string]string, m), old: make(map[string]string, m)}
}

func (n *noop) Deploy(_ context.Context, t wave.Target, v string) error {
	n.mu.Lock()
	if len(n.young) >= n.memory {
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
// AWS-shaped plan (6 regions x 3 zones x 5,556 hosts, 16 stages, 52
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
				d := newNoop(plan)
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
// of 10,008 to 300,006 targets (6 regions x 3 zones; the same 16 stages
// and 52 batches, so batches grow with the fleet). The cost per
// target should not grow with the fleet: a save writes what changed, not
// the whole state.
func BenchmarkDriverScale(b *testing.B) {
	type shape struct {
		name string
		n    int
		plan func() wave.Plan
	}
	var shapes []shape
	for _, hosts := range []int{556, 1667, 5556, 16667} {
		shapes = append(shapes, shape{fmt.Sprintf("targets=%d", 6*3*hosts), 6 * 3 * hosts,
			func() wave.Plan { return rollouttest.ZeroBake(rollouttest.AWSPlan(6, 3, hosts)) }})
	}
	// The same fleets in batches of a fixed size, so that the batches
	// and the saves grow with the fleet (20 to 600 batches): the fixed
	// cost of a save is then spread over the same number of targets at
	// every size, and anything that grew with the fleet at every save
	// would show.
	for _, n := range []int{10000, 30000, 100000, 300000} {
		shapes = append(shapes, shape{fmt.Sprintf("batch=500/targets=%d", n), n,
			func() wave.Plan { return sizedBatchPlan(4, n/4, 500) }})
	}
	for _, sh := range shapes {
		// disk: the journal on the test's temporary directory, where a
		// save's fsync waits for the device (about 0.2 ms here), a cost
		// per save, not per target; memory: the journal on a tmpfs
		// (/dev/shm), where fsync costs nothing, which leaves the
		// driver's and the encoding's own costs.
		for _, where := range []string{"disk", "memory"} {
			b.Run(sh.name+"/journal="+where, func(b *testing.B) {
				dir := func() string { return b.TempDir() }
				if where == "memory" {
					dir = func() string { return shmDir(b) }
				}
				plan := sh.plan()
				runtime.GC() // the plan's garbage is not the driver's
				b.ReportAllocs()
				b.ResetTimer()
				cpu0 := cpuTime()
				for b.Loop() {
					d := newNoop(plan)
					r, err := rollout.Create(context.Background(), rollout.Spec{ID: "bench", Plan: plan, Version: "v2"}, d,
						rollout.Config{Store: &rollout.FileStore{Dir: dir()}})
					if err != nil {
						b.Fatal(err)
					}
					if err := r.Run(context.Background()); err != nil {
						b.Fatal(err)
					}
					d.check(b, sh.n)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(sh.n), "ns/target")
				b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N)/float64(sh.n), "cpu-ns/target")
			})
		}
	}
}

// shmDir returns a new directory on /dev/shm, a tmpfs, removed when b
// ends; b is skipped on a system without one.
func shmDir(b *testing.B) string {
	if fi, err := os.Stat("/dev/shm"); err != nil || !fi.IsDir() {
		b.Skip("no /dev/shm: the tmpfs variant needs one")
	}
	dir, err := os.MkdirTemp("/dev/shm", "shepherd-bench-")
	if err != nil {
		b.Skipf("no tmpfs directory: %v", err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
