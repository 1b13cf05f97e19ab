//go:build unix

package pgstore_test

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"testing"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollout/pgstore"
	"github.com/shepherd-go/shepherd/wave"
)

// BenchmarkStoreBytes measures what PostgreSQL writes for a whole rollout
// through the store, per target: the growth of its write-ahead log
// (pg_current_wal_lsn), which holds every row written, the records and
// the lease row's updates, with their overhead. The plan is the one of
// rollout's BenchmarkStoreBytes: 100,008 targets in 52 batches.
func BenchmarkStoreBytes(b *testing.B) {
	srv := startPostgres(b)
	pool := srv.pool(b)
	s, err := pgstore.New(context.Background(), pool, pgstore.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var ts []wave.Target
	for r := range 6 {
		for z := range 3 {
			for h := range 5556 {
				ts = append(ts, wave.Target{
					ID:       fmt.Sprintf("r%d-z%d-h%d", r, z, h),
					Location: []string{fmt.Sprintf("r%d", r), fmt.Sprintf("r%d-z%d", r, z), fmt.Sprintf("h%d", h)},
				})
			}
		}
	}
	none := wave.BakeSchedule{OneBox: duration.None, Zone: duration.None, FirstWave: duration.None, LaterWaves: duration.None, Final: duration.None}
	plan, err := wave.Policy{Waves: wave.Sizing{Sizes: []int{1, 1, 2, 2}}, Bake: none}.Plan(ts)
	if err != nil {
		b.Fatal(err)
	}
	lsn := func() int64 {
		var n int64
		if err := pool.QueryRow(context.Background(), `SELECT pg_current_wal_lsn() - '0/0'::pg_lsn`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	var wal int64
	i := 0
	for b.Loop() {
		i++
		start := lsn()
		d := newDeployer(io.Discard, "")
		r, err := rollout.Create(context.Background(), rollout.Spec{ID: "bench-" + strconv.Itoa(i), Plan: *plan, Version: "v2"}, d, rollout.Config{Store: s})
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
		wal = lsn() - start
	}
	b.ReportMetric(float64(wal)/float64(len(ts)), "B-WAL/target")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(ts)), "ns/target")
}
