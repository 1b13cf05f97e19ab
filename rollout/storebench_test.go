package rollout_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

// journalMeter is a file store that counts the bytes its saves write to
// the journal: what an append adds, or a whole new file when it compacts.
// (The lock file's few bytes, once per lease, are left out.)
type journalMeter struct {
	*rollout.FileStore
	written, saves, payload int64
}

func (m *journalMeter) Save(ctx context.Context, id string, token uint64, data []byte) error {
	m.payload += int64(len(data))
	return m.measure(id, func() error { return m.FileStore.Save(ctx, id, token, data) })
}

// SaveDelta is the way the Runner saves to a file store; the whole state's
// size is taken for the comparison only.
func (m *journalMeter) SaveDelta(ctx context.Context, id string, token uint64, d *rollout.Delta) error {
	whole, err := d.Whole()
	if err != nil {
		return err
	}
	m.payload += int64(len(whole))
	return m.measure(id, func() error { return m.FileStore.SaveDelta(ctx, id, token, d) })
}

func (m *journalMeter) measure(id string, save func() error) error {
	path := filepath.Join(m.Dir, id+".journal")
	var before int64
	if fi, err := os.Stat(path); err == nil {
		before = fi.Size()
	}
	if err := save(); err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Size() > before {
		m.written += fi.Size() - before
	} else {
		m.written += fi.Size() // compacted: a new file
	}
	m.saves++
	return nil
}

// batchPlan is a one-wave plan of zones of hosts each, in batches of 10
// targets (a minimum of all but 10 healthy), with zero bakes.
func batchPlan(zones, hosts int) wave.Plan { return sizedBatchPlan(zones, hosts, 10) }

// sizedBatchPlan is batchPlan in batches of size targets.
func sizedBatchPlan(zones, hosts, size int) wave.Plan {
	var ts []wave.Target
	for z := range zones {
		for h := range hosts {
			ts = append(ts, wave.Target{
				ID:       fmt.Sprintf("r0-z%d-h%d", z, h),
				Location: []string{"r0", fmt.Sprintf("r0-z%d", z), fmt.Sprintf("h%d", h)},
			})
		}
	}
	p, err := wave.Policy{
		OneBox: wave.OneBoxRule{Off: true},
		Batch:  wave.Batching{MinHealthy: &wave.MinHealthy{Count: hosts - size}},
	}.Plan(ts)
	if err != nil {
		panic(err)
	}
	return rollouttest.ZeroBake(*p)
}

// BenchmarkStoreBytes measures the bytes the file store (the journal)
// writes for a whole rollout, per target, against what rewriting the
// whole state at every save (the earlier file store, and any store that
// keeps whole states) would write: on the 100,008-target plan of
// BenchmarkDriver, and on plans of 2,000, 6,000 and 18,000 targets in
// batches of 10, where the number of saves grows with the fleet.
func BenchmarkStoreBytes(b *testing.B) {
	for _, tc := range []struct {
		name string
		plan wave.Plan
	}{
		{"targets=100008", rollouttest.ZeroBake(rollouttest.AWSPlan(6, 3, 5556))},
		{"targets=2000/batch=10", batchPlan(4, 500)},
		{"targets=6000/batch=10", batchPlan(4, 1500)},
		{"targets=18000/batch=10", batchPlan(4, 4500)},
	} {
		n, batches := 0, 0
		for _, w := range tc.plan.Waves {
			for _, st := range w.Stages {
				batches += len(st.Batches)
				for _, bt := range st.Batches {
					n += len(bt.Targets)
				}
			}
		}
		b.Run(tc.name, func(b *testing.B) {
			var m *journalMeter
			for b.Loop() {
				m = &journalMeter{FileStore: &rollout.FileStore{Dir: b.TempDir()}}
				d := newNoop(tc.plan)
				r, err := rollout.Create(context.Background(), rollout.Spec{ID: "bench", Plan: tc.plan, Version: "v2", Policy: rollout.Policy{}}, d, rollout.Config{Store: m})
				if err != nil {
					b.Fatal(err)
				}
				if err := r.Run(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(batches), "batches")
			b.ReportMetric(float64(m.saves), "saves/run")
			b.ReportMetric(float64(m.written)/float64(n), "B-written/target")
			b.ReportMetric(float64(m.payload)/float64(n), "B-whole-states/target")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/target")
		})
	}
}
