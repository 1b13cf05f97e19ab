package servertest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"
	"golang.org/x/sync/errgroup"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/temporal"
	"github.com/shepherd-go/shepherd/temporal/internal/testfleet"
	"github.com/shepherd-go/shepherd/wave"
)

// noop is a Deployer that does nothing and keeps no per-target state:
// targets run v1 until their deploy, whose read-back says v2.
type noop struct {
	deploys atomic.Int64
}

func (n *noop) Deploy(context.Context, wave.Target, string) error {
	n.deploys.Add(1)
	return nil
}

// Version answers v1 before a deploy and v2 after: a deploy is confirmed by
// reading the version back, and every deploy here is of v2.
func (n *noop) Version(ctx context.Context, t wave.Target) (string, error) {
	if activityIsDeploy(ctx) {
		return "v2", nil
	}
	return "v1", nil
}

func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkConcurrentRollouts starts SHEPHERD_BENCH_ROLLOUTS rollouts
// (default 1000) of SHEPHERD_BENCH_TARGETS targets (default 50) with no-op
// deploys on one worker against the in-process server, waits until all of
// them are baking their one-box at once, measures the heap they hold, then
// skips every bake and waits for all to finish. Run it once:
//
//	go test -run '^$' -bench ConcurrentRollouts -benchtime 1x -timeout 60m .
func BenchmarkConcurrentRollouts(b *testing.B) {
	n := envInt("SHEPHERD_BENCH_ROLLOUTS", 1000)
	targets := envInt("SHEPHERD_BENCH_TARGETS", 50)
	for range b.N {
		benchRollouts(b, n, targets)
	}
}

func benchRollouts(b *testing.B, n, targets int) {
	ts := temporaltest.NewServer()
	defer ts.Stop()
	const queue = "bench"
	d := &noop{}
	ts.NewWorkerWithOptions(queue, func(r worker.Registry) {
		temporal.Register(r, &temporal.Activities{Deployer: d})
	}, worker.Options{})
	c := temporal.NewClient(ts.GetDefaultClient(), queue)
	ctx := context.Background()
	// A one-box that bakes for an hour (every rollout parks there, so that
	// all are in flight at once), then the rest in batches of seven.
	plan := testfleet.ZonePlan(targets, 7, time.Hour, 0)
	h0 := heapInuse()
	g0 := runtime.NumGoroutine()
	start := time.Now()

	var g errgroup.Group
	g.SetLimit(32)
	for i := range n {
		g.Go(func() error {
			return c.Start(ctx, fmt.Sprintf("r%d", i), plan, "v2", rollout.Policy{}, temporal.Settings{})
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	// Wait until every rollout bakes its one-box.
	for {
		if d.deploys.Load() >= int64(n) {
			var baking atomic.Int64
			var q errgroup.Group
			q.SetLimit(32)
			for i := range n {
				q.Go(func() error {
					p, err := c.Progress(ctx, fmt.Sprintf("r%d", i))
					if err == nil && p.Step == rollout.StepBaking {
						baking.Add(1)
					}
					return err
				})
			}
			if err := q.Wait(); err != nil {
				b.Fatal(err)
			}
			if int(baking.Load()) == n {
				break
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	parked := time.Since(start)
	h1 := heapInuse()
	g1 := runtime.NumGoroutine()
	worker.PurgeStickyWorkflowCache()
	h2 := heapInuse()

	// Skip every bake and wait for all to finish (or, with
	// SHEPHERD_BENCH_END=abort, abort them all: each rolls its one-box
	// back).
	abort := os.Getenv("SHEPHERD_BENCH_END") == "abort"
	for i := range n {
		g.Go(func() error {
			if abort {
				return c.Abort(ctx, fmt.Sprintf("r%d", i), "bench", "benchmark")
			}
			return c.SkipBake(ctx, fmt.Sprintf("r%d", i), "one-box", "bench", "benchmark")
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		g.Go(func() error {
			_, err := c.Wait(ctx, fmt.Sprintf("r%d", i))
			if abort && errors.Is(err, rollout.ErrRolledBack) {
				return nil
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	total := time.Since(start)
	want := int64(n * targets)
	if abort {
		// The one-box of each; its rollback reads v1 back from the no-op
		// fleet and has nothing to do.
		want = int64(n)
	}
	if got := d.deploys.Load(); got != want {
		b.Fatalf("%d deploys, want %d", got, want)
	}
	b.ReportMetric(float64(n), "rollouts")
	b.ReportMetric(parked.Seconds(), "s-to-park-all")
	b.ReportMetric(total.Seconds(), "s-total")
	b.ReportMetric(float64(want)/total.Seconds(), "deploys/s")
	b.ReportMetric(float64(int64(h1)-int64(h0))/float64(n)/1024, "KiB-heap/rollout")
	b.ReportMetric(float64(int64(h1)-int64(h2))/float64(n)/1024, "KiB-worker-cache/rollout")
	b.ReportMetric(float64(g1-g0)/float64(n), "goroutines/rollout")
}

// activityIsDeploy reports whether ctx is a deploy activity's.
func activityIsDeploy(ctx context.Context) bool {
	return activity.GetInfo(ctx).ActivityType.Name == temporal.ActivityDeploy
}
