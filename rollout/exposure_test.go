package rollout_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/traffic"
	"github.com/shepherd-go/shepherd/wave"
)

// regionPlan is one region stage per wave, each of two hosts (the new
// version's set behind the region's router), no bakes. Its stages are
// named "w1/us-east-1" and so on; the scopes take their names.
func regionPlan(regions ...string) wave.Plan {
	var ts []wave.Target
	for _, r := range regions {
		for h := range 2 {
			ts = append(ts, wave.Target{ID: fmt.Sprintf("%s-h%d", r, h), Location: []string{r}})
		}
	}
	none := duration.None
	sizes := make([]int, len(regions))
	for i := range sizes {
		sizes[i] = 1
	}
	p, err := wave.Policy{Levels: []string{"region"}, OneBox: wave.OneBoxRule{Off: true}, Waves: wave.Sizing{Sizes: sizes},
		Bake: wave.BakeSchedule{OneBox: none, Zone: none, FirstWave: none, LaterWaves: none, Final: none}}.Plan(ts)
	if err != nil {
		panic(err)
	}
	return *p
}

func exposurePolicy(s traffic.Schedule) rollout.Policy {
	return rollout.Policy{Steps: rollout.ExposureSteps, Exposure: rollout.ExposurePolicy{Schedule: s}}
}

// runExposure runs a rollout of v2 over plan through router, alarms on
// the router's error rate above 1% over a minute, in a synctest bubble.
func runExposure(t *testing.T, plan wave.Plan, pol rollout.Policy, router *rollouttest.Router, cfg rollout.Config) (*rollout.Runner, *rollouttest.MemFleet, *rollouttest.EventLog, error) {
	t.Helper()
	fleet := rollouttest.NewMemFleet(plan, "v1")
	log := new(rollouttest.EventLog)
	cfg.Router = router
	if cfg.Alarms == nil {
		cfg.Alarms = router.Alarms(0.01, time.Minute)
	}
	cfg.OnEvent = log.Add
	r, err := rollout.Create(t.Context(), rollout.Spec{ID: "ramp", Plan: plan, Version: "v2", Policy: pol}, fleet, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, fleet, log, r.Run(t.Context())
}

// TestBadVersionAtTenPercentGoesBackToZero: a bad version ramped by
// CodeDeploy's canary is caught at 10% by the scope's error rate; the
// share goes back to 0% before any target is rolled back, and the blast
// radius is reported in share of requests: 10% for the one minute before
// the alarm, six seconds' worth of all the requests.
func TestBadVersionAtTenPercentGoesBackToZero(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		router := &rollouttest.Router{ErrorRates: map[string]float64{"v1": 0.001, "v2": 0.20}}
		plan := regionPlan("us-east-1")
		r, fleet, log, err := runExposure(t, plan, exposurePolicy(traffic.CodeDeployCanary(10, 5*time.Minute)), router, rollout.Config{})
		var he *rollout.HaltError
		if !errors.As(err, &he) || he.Phase != rollout.RolledBack || he.Signal != rollout.SignalAlarm {
			t.Fatalf("run: %v", err)
		}
		var shares []float64
		for _, c := range router.Calls() {
			shares = append(shares, c.Route.Percent)
		}
		if !slices.Equal(shares, []float64{10, 0}) {
			t.Errorf("router calls set %v, want [10 0]", shares)
		}
		// Traffic first: the share is back to 0 before any target moves.
		zero, firstRollback := -1, -1
		for i, e := range log.Events() {
			if e.Kind == rollout.EventExposure && e.Share != nil && *e.Share == 0 && zero < 0 {
				zero = i
			}
			if e.Kind == rollout.EventTargetRolledBack && firstRollback < 0 {
				firstRollback = i
			}
		}
		if zero < 0 || firstRollback < 0 || zero > firstRollback {
			t.Errorf("share back to 0 at event %d, first target rolled back at %d", zero, firstRollback)
		}
		for _, id := range rollouttest.AllTargets(plan) {
			if v := fleet.Running(id); v != "v1" {
				t.Errorf("%s runs %s after the rollback", id, v)
			}
		}
		want := traffic.Blast{Peak: 10, Exposed: time.Minute, Full: 6 * time.Second}
		p := r.Progress()
		if p.Blast != want {
			t.Errorf("progress blast %+v, want %+v", p.Blast, want)
		}
		scope := plan.Waves[0].Stages[0].Name
		if len(p.Exposure) != 1 || p.Exposure[0].Percent != 0 || p.Exposure[0].Scope != scope {
			t.Errorf("progress exposure %+v", p.Exposure)
		}
		fin := log.Kinds(rollout.EventRollbackFinished)
		if len(fin) != 1 || fin[0].Blast == nil || *fin[0].Blast != want {
			t.Fatalf("rollback-finished event %+v, want blast %+v", fin, want)
		}
		t.Log(fin[0].Reason)
		// The router's own records agree with the driver's account.
		if got := router.Exposure(scope, "v2", time.Now()); got != want {
			t.Errorf("router's account %+v, driver's %+v", got, want)
		}
	})
}

// TestGoodVersionRampsAcrossTwoRegions: exposure steps inside waves, each
// region's scope ramping in turn (the second starts once the first is at
// 100% and promoted); the blast radius of a good version is its whole
// ramp.
func TestGoodVersionRampsAcrossTwoRegions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		router := &rollouttest.Router{ErrorRates: map[string]float64{"v1": 0.001, "v2": 0.001}}
		plan := regionPlan("us-east-1", "eu-west-1")
		sched := traffic.Schedule{Steps: []traffic.Step{traffic.Weight(10), traffic.Hold(5 * time.Minute), traffic.Weight(50), traffic.Hold(10 * time.Minute), traffic.Weight(100)}}
		r, _, log, err := runExposure(t, plan, exposurePolicy(sched), router, rollout.Config{})
		if err != nil {
			t.Fatal(err)
		}
		var seq []string
		for _, c := range router.Calls() {
			seq = append(seq, fmt.Sprintf("%s:%g", c.Scope, c.Route.Percent))
		}
		first, second := plan.Waves[0].Stages[0].Name, plan.Waves[1].Stages[0].Name
		var want []string
		for _, sc := range []string{first, second} {
			for _, w := range []int{10, 50, 100} {
				want = append(want, fmt.Sprintf("%s:%d", sc, w))
			}
		}
		if !slices.Equal(seq, want) {
			t.Errorf("router saw %v, want %v", seq, want)
		}
		us, eu := router.History(first), router.History(second)
		if d := us[1].At.Sub(us[0].At); d != 5*time.Minute {
			t.Errorf("us-east-1 held 10%% for %s, want 5m", d)
		}
		if !eu[0].At.After(us[2].At) && !eu[0].At.Equal(us[2].At) {
			t.Errorf("eu-west-1 started at %s, before us-east-1 reached 100%% at %s", eu[0].At, us[2].At)
		}
		for _, h := range append(us, eu...) {
			if h.Route.Stable != "v1" || h.Route.Canary != "v2" {
				t.Errorf("route %+v, want v1 -> v2", h.Route)
			}
		}
		p := r.Progress()
		if p.Phase != rollout.Succeeded || len(p.Exposure) != 2 || p.Exposure[0].Percent != 100 || p.Exposure[1].Percent != 100 {
			t.Errorf("progress %s %+v", p.Phase, p.Exposure)
		}
		if ok := log.Kinds(rollout.EventSucceeded); len(ok) != 1 || ok[0].Blast == nil || ok[0].Blast.Peak != 100 {
			t.Errorf("succeeded event %+v", ok)
		}
		if got := p.Timings.Baking; got != duration2(30*time.Minute) {
			t.Errorf("holds charged %s to baking, want 30m", got)
		}
	})
}

// TestBlueGreenSwitchBackInsideTheWindow: a blue/green switch whose new
// set turns bad inside the rollback window is switched back in one call,
// and the previous set is never retired; a good one is retired once the
// window ends.
func TestBlueGreenSwitchBackInsideTheWindow(t *testing.T) {
	verifier := rollout.VerifierFunc(func(context.Context, rollout.Subject, time.Time) (rollout.VerifyResult, error) {
		return rollout.VerifyResult{Outcome: rollout.VerifyPass, Reason: "smoke tests pass on the idle set"}, nil
	})
	t.Run("bad", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			router := &rollouttest.Router{ErrorRates: map[string]float64{"v2": 0.05}}
			_, fleet, _, err := runExposure(t, regionPlan("us-east-1"), exposurePolicy(traffic.BlueGreen(time.Hour)), router, rollout.Config{Verifier: verifier})
			if !errors.Is(err, rollout.ErrRolledBack) {
				t.Fatalf("run: %v", err)
			}
			calls := router.Calls()
			if len(calls) != 2 || calls[0].Route.Percent != 100 || calls[1].Route.Percent != 0 || calls[1].Route.Stable != "v1" {
				t.Fatalf("router calls %+v: want the switch, then one switch back", calls)
			}
			if d := calls[1].At.Sub(calls[0].At); d > time.Hour {
				t.Errorf("switched back %s after the switch, outside the window", d)
			}
			if r := router.Retired(router.Scopes()[0]); len(r) != 0 {
				t.Errorf("retired %v inside the window", r)
			}
			if fleet.OnAny(rollouttest.AllTargets(regionPlan("us-east-1")), "v2") {
				t.Error("the new set still runs v2 after the rollback")
			}
		})
	})
	t.Run("good", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			router := &rollouttest.Router{}
			start := time.Now()
			_, _, log, err := runExposure(t, regionPlan("us-east-1"), exposurePolicy(traffic.BlueGreen(time.Hour)), router, rollout.Config{Verifier: verifier})
			if err != nil {
				t.Fatal(err)
			}
			calls := router.Calls()
			if len(calls) != 2 || calls[0].Op != "set" || calls[1].Op != "retire" || calls[1].Version != "v1" {
				t.Fatalf("router calls %+v: want the switch, then the retirement of v1", calls)
			}
			if d := calls[1].At.Sub(start); d < time.Hour {
				t.Errorf("retired %s after the start, inside the window", d)
			}
			if len(log.Kinds(rollout.EventVerifyResult)) != 1 {
				t.Error("the idle set was not verified before the switch")
			}
		})
	})
}

// TestExposureHoldWaitsForPromotion: Argo's pause{} waits for a human;
// Promote moves it on.
func TestExposureHoldWaitsForPromotion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		router := &rollouttest.Router{}
		plan := regionPlan("us-east-1")
		fleet := rollouttest.NewMemFleet(plan, "v1")
		sched := traffic.Schedule{Steps: []traffic.Step{traffic.Weight(20), traffic.HoldForApproval(), traffic.Weight(100)}}
		r, err := rollout.Create(t.Context(), rollout.Spec{ID: "argo", Plan: plan, Version: "v2", Policy: exposurePolicy(sched)}, fleet, rollout.Config{Router: router})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- r.Run(t.Context()) }()
		time.Sleep(3 * time.Hour)
		synctest.Wait()
		p := r.Progress()
		if !p.AwaitingApproval || p.Exposure[0].Percent != 20 {
			t.Fatalf("after 3h: awaiting %v, exposure %+v", p.AwaitingApproval, p.Exposure)
		}
		if err := r.Promote(t.Context(), plan.Waves[0].Stages[0].Name, "alice"); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := r.Progress().Exposure[0].Percent; got != 100 {
			t.Errorf("share %v after the promotion", got)
		}
	})
}

// TestExposureResumesAfterACrash: a driver stopped in the middle of a
// hold is reopened; it reads the route back before it goes on, and the
// ramp ends where it should without setting a share twice.
func TestExposureResumesAfterACrash(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		router := &rollouttest.Router{}
		plan := regionPlan("us-east-1")
		fleet := rollouttest.NewMemFleet(plan, "v1")
		store := new(rollout.MemoryStore)
		sched := traffic.CodeDeployLinear(25, 10*time.Minute)
		spec := rollout.Spec{ID: "crash", Plan: plan, Version: "v2", Policy: exposurePolicy(sched)}
		r, err := rollout.Create(t.Context(), spec, fleet, rollout.Config{Router: router, Store: store})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
		if err := r.Run(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("first run: %v", err)
		}
		cancel()
		log := new(rollouttest.EventLog)
		r2, err := rollout.Open(t.Context(), "crash", fleet, rollout.Config{Router: router, Store: store, OnEvent: log.Add})
		if err != nil {
			t.Fatal(err)
		}
		if err := r2.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		var shares []float64
		for _, c := range router.Calls() {
			shares = append(shares, c.Route.Percent)
		}
		if !slices.Equal(shares, []float64{25, 50, 75, 100}) {
			t.Errorf("router set %v, want each share once", shares)
		}
		read := false
		for _, e := range log.Kinds(rollout.EventExposure) {
			read = read || (e.Share != nil && *e.Share == 50 && e.Reason == "scope w1/us-east-1 read back after a restart: 50% (last known 50%)")
		}
		if !read {
			t.Errorf("no read-back after the restart in %+v", log.Kinds(rollout.EventExposure))
		}
	})
}

// TestExposureFailsClosed: without a router, or with one that keeps
// failing, the rollout stops with SignalExposure and rolls back.
func TestExposureFailsClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := regionPlan("us-east-1")
		fleet := rollouttest.NewMemFleet(plan, "v1")
		r, err := rollout.Create(t.Context(), rollout.Spec{ID: "norouter", Plan: plan, Version: "v2", Policy: exposurePolicy(traffic.CodeDeployAllAtOnce())}, fleet, rollout.Config{})
		if err != nil {
			t.Fatal(err)
		}
		var he *rollout.HaltError
		if err := r.Run(t.Context()); !errors.As(err, &he) || he.Signal != rollout.SignalExposure || he.Phase != rollout.RolledBack {
			t.Fatalf("no router: %v", err)
		}
		router := &rollouttest.Router{FailSet: 100}
		_, _, _, err = runExposure(t, plan, exposurePolicy(traffic.CodeDeployAllAtOnce()), router, rollout.Config{})
		if !errors.As(err, &he) || he.Signal != rollout.SignalExposure {
			t.Fatalf("failing router: %v", err)
		}
		// Ten attempts of the forward change, then ten of the way back,
		// which gives up: a human must look at the scope.
		if n := len(router.Calls()); n != 20 {
			t.Errorf("%d router calls, want 20", n)
		}
		if he.Phase != rollout.RollbackFailed || !slices.Contains(he.Failed, "route:w1/us-east-1") {
			t.Errorf("phase %s, failed %v", he.Phase, he.Failed)
		}
	})
}

func TestExposurePolicyValidation(t *testing.T) {
	plan := regionPlan("us-east-1")
	for name, pol := range map[string]rollout.Policy{
		"bad schedule":     exposurePolicy(traffic.Schedule{Steps: []traffic.Step{traffic.Weight(10)}}),
		"no schedule":      {Steps: rollout.ExposureSteps},
		"schedule no step": {Exposure: rollout.ExposurePolicy{Schedule: traffic.CodeDeployAllAtOnce()}},
		"before deploy":    {Steps: []rollout.StepKind{rollout.StepExposure, rollout.StepDeploy}, Exposure: rollout.ExposurePolicy{Schedule: traffic.CodeDeployAllAtOnce()}},
	} {
		_, err := rollout.NewState("x", plan, "v2", pol, time.Now())
		if !errors.Is(err, rollout.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func duration2(d time.Duration) duration.Duration { return duration.Duration(d) }

// exposureDrive steps a rollout of v2 with an exposure schedule at fixed
// instants through the shared hands, until stop says, and returns the
// state.
func exposureDrive(t *testing.T, st *rollout.State, router *rollouttest.Router, fleet rollout.Deployer, stop func(*rollout.State) bool, obs ...rollout.Observation) *rollout.State {
	return exposureDriveWith(t, st, router, fleet, nil, stop, obs...)
}

// exposureDriveAlarms is exposureDrive with the router's alarms watched
// (error rate above 1% over a minute), to the end.
func exposureDriveAlarms(t *testing.T, st *rollout.State, router *rollouttest.Router, fleet rollout.Deployer) *rollout.State {
	return exposureDriveWith(t, st, router, fleet, router.Alarms(0.01, time.Minute), nil)
}

func exposureDriveWith(t *testing.T, st *rollout.State, router *rollouttest.Router, fleet rollout.Deployer, alarms rollout.Alarms, stop func(*rollout.State) bool, obs ...rollout.Observation) *rollout.State {
	now := st.Updated
	router.Clock = func() time.Time { return now }
	h := rollout.Hands{Deployer: fleet, Router: router, Alarms: alarms, Policy: st.Policy, Rollout: st.ID, Sync: true}
	for range 10000 {
		if stop != nil && stop(st) {
			return st
		}
		out, err := st.Step(now, obs...)
		if err != nil {
			t.Fatal(err)
		}
		if out.Done {
			return st
		}
		obs = nil
		for _, a := range out.Actions {
			obs = append(obs, h.Do(context.Background(), a, now))
		}
		if len(out.Actions) == 0 {
			now = out.WakeAt
		}
	}
	panic("the rollout never reached its stop")
}

// TestGoldenStateWithExposure pins the saved form of a stage in the middle
// of its exposure (at 50%, holding), and resumes it: the route is read
// back, and the ramp ends at 100%.
func TestGoldenStateWithExposure(t *testing.T) {
	plan := regionPlan("us-east-1")
	pol := exposurePolicy(traffic.CodeDeployLinear(25, 10*time.Minute))
	st, err := rollout.NewState("golden-exposure", plan, "v2", pol, monday9)
	if err != nil {
		t.Fatal(err)
	}
	router := &rollouttest.Router{}
	fleet := rollouttest.NewMemFleet(plan, "v1")
	at50 := func(s *rollout.State) bool {
		x := s.Stages[0].Exposure
		return x != nil && x.Account.Percent == 50 && x.Kind == traffic.KindHold
	}
	got, err := rollout.EncodeState(exposureDrive(t, st, router, fleet, at50))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join("testdata", "state-v2-exposure.json")
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the saved form changed (%s); bump SchemaVersion, migrate, and rerun with -update", file)
	}
	back, err := rollout.DecodeState(want)
	if err != nil {
		t.Fatal(err)
	}
	end := exposureDrive(t, back, router, fleet, nil, rollout.Restarted())
	if end.Phase != rollout.Succeeded || end.Stages[0].Exposure.Account.Percent != 100 {
		t.Fatalf("resumed golden state ended %s at %v%%", end.Phase, end.Stages[0].Exposure.Account.Percent)
	}
	if n := len(router.Calls()); n != 4 {
		t.Errorf("%d route changes, want 4 (25, 50, 75, 100, each once)", n)
	}
}

// badRouter hangs (ignoring its context) or panics on every SetRoute.
type badRouter struct {
	rollouttest.Router
	hang    bool
	release chan struct{} // closed at the test's end, so the bubble can
}

func (b *badRouter) SetRoute(ctx context.Context, scope string, r traffic.Route) error {
	if b.hang {
		<-b.release // ignores ctx: abandoned after the gate call's deadline and grace
		return nil
	}
	panic("router bug")
}

// TestExposureRouterHangsOrPanics: a router that never answers is
// abandoned at the call's deadline plus grace, and one that panics fails
// its action closed; either way the rollout ends in bounded time, the
// route unconfirmed, and never reports success.
func TestExposureRouterHangsOrPanics(t *testing.T) {
	for _, hang := range []bool{true, false} {
		t.Run(fmt.Sprintf("hang=%v", hang), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				plan := regionPlan("us-east-1")
				fleet := rollouttest.NewMemFleet(plan, "v1")
				router := &badRouter{hang: hang, release: make(chan struct{})}
				defer close(router.release)
				r, err := rollout.Create(t.Context(), rollout.Spec{ID: "badrouter", Plan: plan, Version: "v2", Policy: exposurePolicy(traffic.CodeDeployAllAtOnce())}, fleet, rollout.Config{Router: router})
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				err = r.Run(t.Context())
				took := time.Since(start)
				var he *rollout.HaltError
				if !errors.As(err, &he) || he.Signal != rollout.SignalExposure {
					t.Fatalf("Run = %v, want a halt on the exposure", err)
				}
				// Twenty calls at most (ten forward, ten back), each bounded
				// by the gate call's minute and the grace, plus the waits.
				if bound := 20*(rollout.DefaultGateCall+rollout.DefaultGrace) + time.Hour; took > bound {
					t.Errorf("took %s, more than %s", took, bound)
				}
				t.Logf("ended %s on %s after %s", he.Phase, he.Signal, took)
			})
		})
	}
}
