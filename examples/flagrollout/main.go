// Command flagrollout rolls out a configuration value by share of users,
// the way a feature flag or an AppConfig deployment does: each user (an
// entity) is placed by a sticky hash of its ID, so the users who see the
// new value at 10% still see it at 20%, whichever server answers them.
// The share follows AppConfig's Canary10Percent20Minutes steps, alarms
// watch the error rate of the users' requests, and a bad value is sent
// back to 0% on its own, with its blast radius in share of requests.
//
// It runs in simulated time (rollouttest.Simulate): both rollouts, half
// an hour each, take milliseconds.
//
//	go run ./examples/flagrollout
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/traffic"
	"github.com/shepherd-go/shepherd/wave"
)

// flags serves a configuration value per user: the new value to the
// users whose bucket lies below the route's share, the old one to the
// rest. It is the rollout's traffic.Router; yours is your flag service.
type flags struct {
	mu     sync.Mutex
	route  traffic.Route
	values map[string]string // version -> the value it carries
}

func (f *flags) SetRoute(ctx context.Context, scope string, r traffic.Route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.route = r
	return nil
}

func (f *flags) Route(ctx context.Context, scope string) (traffic.Route, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.route, nil
}

// Value is what user sees: sticky, because the bucket is a hash of the
// flag's salt and the user's ID.
func (f *flags) Value(user string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.route.Stable
	if traffic.Exposed("checkout-timeout", user, f.route.Percent) {
		v = f.route.Canary
	}
	return f.values[v]
}

// alarms sends a minute of requests from 2,000 users and fails those
// that get a bad value: the rollback alarm is their error rate above 1%.
func alarms(f *flags, bad map[string]bool) rollout.Alarms {
	return rollout.AlarmsFunc(func(ctx context.Context, _ rollout.Subject, now time.Time) ([]alarm.Result, error) {
		failed := 0
		const users = 2000
		for u := range users {
			if bad[f.Value(fmt.Sprint("user-", u))] {
				failed += 15 // a bad value fails 15% of its requests
			}
		}
		rate := float64(failed) / users
		r := alarm.Result{Name: "checkout errors", State: alarm.OK, Time: now, Reason: fmt.Sprintf("%.2f%% of requests failed", rate)}
		if rate > 1 {
			r.State = alarm.Alarm
		}
		return []alarm.Result{r}, nil
	})
}

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(w io.Writer) error {
	steps, err := traffic.Preset("AppConfig.Canary10Percent20Minutes")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "steps: %s\n\n", steps)
	for _, c := range []struct{ version, value string }{{"v2", "timeout=3s"}, {"v3", "timeout=50ms"}} {
		if err := rollOut(w, steps, c.version, c.value); err != nil {
			return err
		}
	}
	return nil
}

// rollOut rolls the value out as version, in simulated time.
func rollOut(w io.Writer, steps traffic.Schedule, version, value string) error {
	// The configuration is one target: the flag's store, which holds
	// the candidate value (deployed) before any user sees it (routed).
	fleet, err := rollouttest.NewFleet(rollouttest.Config{
		Targets: []wave.Target{{ID: "flag/checkout-timeout", Location: []string{"global"}}},
		Initial: "v1",
		Seed:    1,
	})
	if err != nil {
		return err
	}
	none := duration.None
	plan, err := wave.Policy{Levels: []string{"region"}, OneBox: wave.OneBoxRule{Off: true},
		Bake: wave.BakeSchedule{OneBox: none, Zone: none, FirstWave: none, LaterWaves: none, Final: none}}.Plan(fleet.Targets())
	if err != nil {
		return err
	}
	f := &flags{values: map[string]string{"v1": "timeout=2s", version: value}}
	bad := map[string]bool{"timeout=50ms": true}
	out, err := rollouttest.Simulate(context.Background(), fleet, rollouttest.Scenario{
		ID: "checkout-timeout-" + version, Plan: *plan, Version: version,
		Policy: rollout.Policy{
			Steps:    []rollout.StepKind{rollout.StepDeploy, rollout.StepExposure},
			Exposure: rollout.ExposurePolicy{Schedule: steps},
		},
		Options: rollout.Config{Router: f, Alarms: alarms(f, bad)},
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s (%s): %s\n", version, value, out.Phase)
	for _, e := range out.Events {
		if e.Kind == rollout.EventExposure && e.Share != nil {
			fmt.Fprintf(w, "  +%-6s %4g%%  user-7 sees %s\n", e.Time.Sub(out.Started), *e.Share, valueAt(f, e, version, value))
		}
		if e.Kind == rollout.EventAlarm {
			fmt.Fprintf(w, "  +%-6s alarm: %s\n", e.Time.Sub(out.Started), e.Reason)
		}
	}
	if len(out.Exposure) > 0 {
		fmt.Fprintf(w, "  blast radius: %s\n\n", out.Exposure[0].Blast)
	}
	return nil
}

// valueAt is what user-7 saw at the share of event e.
func valueAt(f *flags, e rollout.Event, version, value string) string {
	if traffic.Exposed("checkout-timeout", "user-7", *e.Share) {
		return value
	}
	return f.values["v1"]
}
