package haproxy_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/traffic"
	"github.com/shepherd-go/shepherd/traffic/haproxy"
	"github.com/shepherd-go/shepherd/wave"
)

// fixedFleet is a Deployer for backends whose versions are fixed: the
// canary's servers already run it, so a deploy only records it.
type fixedFleet struct {
	mu sync.Mutex
	v  map[string]string
}

func (f *fixedFleet) Deploy(_ context.Context, t wave.Target, v string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.v[t.ID] = v
	return nil
}

func (f *fixedFleet) Version(_ context.Context, t wave.Target) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.v[t.ID], nil
}

// timedRouter records when the canary's share was last set to 0 and
// confirmed by HAProxy's state.
type timedRouter struct {
	*haproxy.Router
	mu   sync.Mutex
	zero time.Time
	log  []string
}

func (r *timedRouter) SetRoute(ctx context.Context, scope string, rt traffic.Route) error {
	err := r.Router.SetRoute(ctx, scope, rt)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, fmt.Sprintf("%g%%", rt.Percent))
	if err == nil && rt.Percent == 0 && r.zero.IsZero() {
		if got, rerr := r.Router.Route(ctx, scope); rerr == nil && got.Percent == 0 && len(r.log) > 1 {
			r.zero = time.Now()
		}
	}
	return err
}

// TestDriverRampOnHAProxy runs the rollout driver with an exposure
// schedule (10%, hold, 50%, hold, 100%) against a real haproxy in front
// of real backends, with an alarm on the error ratio of real requests.
// A good version ramps to 100%; a bad one is caught at 10% and its share
// is back to 0 within one alarm interval of the alarm firing, read back
// from HAProxy.
func TestDriverRampOnHAProxy(t *testing.T) {
	for _, bad := range []bool{false, true} {
		t.Run(fmt.Sprintf("bad=%v", bad), func(t *testing.T) {
			versions := map[string][]string{"v1": {"v1a", "v1b"}, "v2": {"v2a"}}
			a := newApp(t, versions)
			if bad {
				a.bad.Store("v2", true)
			}
			l := startHAProxy(t, a, "")
			plan, err := wave.Policy{Levels: []string{"region"}, OneBox: wave.OneBoxRule{Off: true},
				Bake: wave.BakeSchedule{OneBox: duration.None, Zone: duration.None, FirstWave: duration.None,
					LaterWaves: duration.None, Final: duration.None}}.Plan([]wave.Target{{ID: "v2a", Location: []string{"local"}}})
			if err != nil {
				t.Fatal(err)
			}
			stage := plan.Waves[0].Stages[0].Name
			hr, err := haproxy.New(haproxy.Config{Socket: l.socket, Scopes: map[string]haproxy.Scope{stage: {Backend: "app", Versions: versions}}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := hr.SetRoute(ctx, stage, traffic.Route{Stable: "v1", Canary: "v2"}); err != nil {
				t.Fatal(err)
			}
			router := &timedRouter{Router: hr}

			// Load: four clients; the error ratio of the answers since the
			// last alarm check is what the alarm reads.
			var sent, failed atomic.Int64
			var load sync.WaitGroup
			c := client(4)
			for range 4 {
				load.Go(func() {
					for ctx.Err() == nil {
						resp, err := get(c, "http://"+l.front+"/")
						if err != nil {
							if ctx.Err() == nil {
								t.Errorf("request through haproxy: %v", err)
							}
							return
						}
						sent.Add(1)
						if resp.status >= 500 {
							failed.Add(1)
						}
					}
				})
			}
			defer load.Wait()
			defer cancel()

			const interval = 500 * time.Millisecond
			var fired atomic.Int64 // Unix ns of the first check that saw the alarm
			alarms := rollout.AlarmsFunc(func(context.Context, rollout.Subject, time.Time) ([]alarm.Result, error) {
				n, f := sent.Swap(0), failed.Swap(0)
				r := alarm.Result{Name: "errors", State: alarm.OK, Time: time.Now(),
					Reason: fmt.Sprintf("%d of %d requests failed", f, n)}
				if n > 0 && float64(f)/float64(n) > 0.02 {
					r.State = alarm.Alarm
					fired.CompareAndSwap(0, time.Now().UnixNano())
				}
				return []alarm.Result{r}, nil
			})
			hold := traffic.Hold(2 * time.Second)
			policy := rollout.Policy{
				Steps:    []rollout.StepKind{rollout.StepDeploy, rollout.StepExposure},
				Exposure: rollout.ExposurePolicy{Schedule: traffic.Schedule{Steps: []traffic.Step{traffic.Weight(10), hold, traffic.Weight(50), hold, traffic.Weight(100)}}},
				Alarms:   rollout.AlarmPolicy{Interval: duration.Duration(interval)},
			}
			fleet := &fixedFleet{v: map[string]string{"v2a": "v1"}}
			r, err := rollout.Create(ctx, rollout.Spec{ID: "ramp", Plan: *plan, Version: "v2", Policy: policy}, fleet,
				rollout.Config{Router: router, Alarms: alarms})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = r.Run(ctx)
			took := time.Since(start)
			got, rerr := hr.Route(ctx, stage)
			if rerr != nil {
				t.Fatal(rerr)
			}
			router.mu.Lock()
			defer router.mu.Unlock()
			t.Logf("routes set: %v; final route %+v; %s", router.log, got, took.Round(time.Millisecond))
			if !bad {
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				if got.Percent != 100 || got.Canary != "v2" && got.Stable != "v2" {
					t.Errorf("final route %+v, want v2 at 100%%", got)
				}
				if took < 4*time.Second {
					t.Errorf("the ramp took %s, less than its two holds", took)
				}
				return
			}
			if !errors.Is(err, rollout.ErrRolledBack) {
				t.Fatalf("Run: %v, want rolled back", err)
			}
			if got.Percent != 0 {
				t.Errorf("final route %+v, want the canary at 0%%", got)
			}
			at := time.Unix(0, fired.Load())
			if fired.Load() == 0 || router.zero.IsZero() {
				t.Fatalf("alarm fired at %v, share back to 0 at %v: want both", at, router.zero)
			}
			d := router.zero.Sub(at)
			t.Logf("share read back as 0 from HAProxy %s after the alarm fired (bound: one alarm interval, %s)", d.Round(time.Microsecond), interval)
			if d > interval {
				t.Errorf("share back to 0 %s after the alarm fired; want within one alarm interval (%s)", d, interval)
			}
			if p := r.Progress(); len(p.Exposure) == 0 || p.Exposure[0].Blast.Peak != 10 {
				t.Errorf("blast radius %+v, want a peak of 10%%", p.Exposure)
			}
		})
	}
}
