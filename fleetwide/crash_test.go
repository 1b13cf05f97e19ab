package fleetwide_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/fleetwide"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
)

var errCrash = errors.New("the coordinator crashed")

// crashStore is a store whose process dies at its nth save: the save is
// lost and the runner stops.
type crashStore struct {
	rollout.MemoryStore
	mu    sync.Mutex
	saves int
	at    int // 0: never
}

func (c *crashStore) Save(ctx context.Context, id string, token uint64, data []byte) error {
	c.mu.Lock()
	c.saves++
	crash := c.saves == c.at
	c.mu.Unlock()
	if crash {
		return errCrash
	}
	return c.MemoryStore.Save(ctx, id, token, data)
}

// outcome is what a run of a crash scenario ends with: every member's
// status, every fleet's versions, the order of the rollbacks, and what
// the group made of each shared alarm.
type outcome struct {
	Statuses  map[string]fleetwide.MemberStatus
	Versions  map[string]map[string]string
	Order     []string
	Incidents []string
	Drains    []string
}

// crashCase is a group to crash: build makes its spec and wiring (every
// field of the config but Store and OnEvent) afresh for each run.
type crashCase struct {
	name  string
	build func(t *testing.T) (fleetwide.Spec, fleetwide.Config, []service, *drains)
}

// crashRun runs a case, crashing the coordinator at save number at (0:
// never) and resuming it with Open, and returns the outcome and the number
// of saves (-1 when the run ended before save at).
func crashRun(t *testing.T, c crashCase, at int) (outcome, int) {
	spec, cfg, ss, d := c.build(t)
	store := &crashStore{at: at}
	var rec recorder
	cfg.Store, cfg.OnEvent = store, rec.on
	r, err := fleetwide.Create(t.Context(), spec, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*24*time.Hour)
	defer cancel()
	crashes := 0
	for {
		err := r.Run(ctx)
		if !errors.Is(err, errCrash) {
			if err != nil && !errors.Is(err, fleetwide.ErrFailed) {
				t.Fatalf("crash at save %d: Run = %v\n%s", at, err, &rec)
			}
			break
		}
		crashes++
		if crashes > 1 {
			t.Fatalf("crashed twice")
		}
		if r, err = fleetwide.Open(t.Context(), spec.ID, cfg); err != nil {
			t.Fatalf("crash at save %d: Open: %v", at, err)
		}
	}
	st, err := fleetwide.DecodeState(store.Get(spec.ID))
	if err != nil {
		t.Fatal(err)
	}
	o := outcome{Statuses: statuses(st), Versions: map[string]map[string]string{}}
	for _, s := range ss {
		o.Versions[s.name] = s.fleet.Versions()
	}
	seen := map[string]bool{}
	for _, e := range rec.memberEvents(rollout.EventRollbackFinished) {
		if !seen[e] {
			o.Order = append(o.Order, e)
		}
		seen[e] = true
	}
	for _, inc := range st.Incidents {
		o.Incidents = append(o.Incidents, fmt.Sprintf("%s at %s: culprit %q, exonerated %v, drained %v, untestable %v",
			inc.Scope, inc.Onset.Format("15:04"), inc.Culprit, inc.Exonerated, inc.Drained, inc.Untestable))
	}
	if d != nil {
		// The drains asked for, once each: after a crash the group asks
		// again for a drain whose answer it lost, as it must.
		d.mu.Lock()
		o.Drains = slices.Compact(slices.Clone(d.log))
		d.mu.Unlock()
	}
	if at > 0 && crashes == 0 {
		return o, -1
	}
	return o, store.saves
}

var crashCases = []crashCase{
	{
		// a, then b wave after wave, atomic; b's v2 cannot be deployed
		// in its second wave, so the group rolls back, b then a.
		name: "atomic rollback",
		build: func(t *testing.T) (fleetwide.Spec, fleetwide.Config, []service, *drains) {
			regions := []string{"eu-west-1", "us-east-1"}
			a := newService(t, "a", regions, nil)
			b := newService(t, "b", regions, nil, rollouttest.Fault{Version: "v2", Regions: []string{"us-east-1"}, FailAlways: true, Permanent: true})
			spec := fleetwide.Spec{ID: "g", Policy: fleetwide.Policy{Rollback: fleetwide.RollbackAtomic}, Members: []fleetwide.Member{
				a.member("v2"),
				b.member("v2", fleetwide.Dependency{Member: "a", Kind: fleetwide.AfterWave}),
			}}
			return spec, fleetwide.Config{Members: handsOf(a, b)}, []service{a, b}, nil
		},
	},
	{
		// Three services on a train; payments fails wherever it goes and
		// only the shared zone alarms see it: the group ranks the
		// suspects by timing, stops payments, pauses the others in the
		// zone and resumes them once the alarm clears.
		name: "alarm attributed by timing",
		build: func(t *testing.T) (fleetwide.Spec, fleetwide.Config, []service, *drains) {
			regions := regions3[:2]
			bad := map[string]rollouttest.Behavior{"v42": {ErrorRate: 0.3}}
			t0 := time.Now()
			var ss []service
			var ms []fleetwide.Member
			for i, n := range []string{"search", "ads", "payments"} {
				var s service
				m := fleetwide.Member{}
				if n == "payments" {
					s = newService(t, n, regions, bad)
					m = s.member("v42")
				} else {
					s = newService(t, n, regions, nil)
					m = s.member("v7")
				}
				m.Start = t0.Add(time.Duration(i) * 20 * time.Minute)
				ss, ms = append(ss, s), append(ms, m)
			}
			spec := fleetwide.Spec{ID: "g", Members: ms, Policy: fleetwide.Policy{Health: fleetwide.HealthPolicy{Scopes: zoneScopes(regions)}}}
			return spec, fleetwide.Config{Members: handsOf(ss...), Health: zoneHealth(ss...)}, ss, nil
		},
	},
	{
		// TestCloseCallHoldsTheTopSuspectAlone's group: too close to call
		// at first, the likeliest suspect held alone while the other goes
		// on, then told apart by the next zone's alarm.
		name: "close call held, then attributed",
		build: func(t *testing.T) (fleetwide.Spec, fleetwide.Config, []service, *drains) {
			slow := map[string]rollouttest.Behavior{"v5": {Regressions: []rollouttest.Regression{{After: 20 * time.Minute, ErrorRate: 0.3}}}}
			culprit := newService(t, "billing", regions3, slow)
			twin := newService(t, "search", regions3, nil)
			for _, s := range []*service{&culprit, &twin} {
				s.plan.FinalBake = 0
				for i := range s.plan.Waves {
					for j := range s.plan.Waves[i].Stages {
						s.plan.Waves[i].Stages[j].Bake = duration.Duration(30 * time.Minute)
					}
				}
			}
			mc, mt := culprit.member("v5"), twin.member("v7")
			mt.Start = time.Now().Add(time.Minute)
			spec := fleetwide.Spec{ID: "g", Members: []fleetwide.Member{mc, mt},
				Policy: fleetwide.Policy{Health: fleetwide.HealthPolicy{Scopes: zoneScopes(regions3)}}}
			return spec, fleetwide.Config{Members: handsOf(culprit, twin), Health: zoneHealth(culprit, twin)}, []service{culprit, twin}, nil
		},
	},
	{
		// TestDrainTestFindsTheCulprit's group: two suspects the timing
		// cannot tell apart, found by draining them.
		name: "alarm attributed by drain tests",
		build: func(t *testing.T) (fleetwide.Spec, fleetwide.Config, []service, *drains) {
			slow := map[string]rollouttest.Behavior{"v5": {Regressions: []rollouttest.Regression{{After: time.Hour, ErrorRate: 0.3}}}}
			culprit := newService(t, "billing", regions3, slow)
			twin := newService(t, "search", regions3, nil)
			mc, mt := culprit.member("v5"), twin.member("v7")
			mt.Start = time.Now().Add(time.Minute)
			mc.Drain, mt.Drain = true, true
			d := &drains{}
			spec := fleetwide.Spec{ID: "g", Members: []fleetwide.Member{mc, mt},
				Policy: fleetwide.Policy{Health: fleetwide.HealthPolicy{Scopes: zoneScopes(regions3)}}}
			cfg := fleetwide.Config{Members: handsOf(culprit, twin), Health: drainedHealth(d, culprit, twin),
				Drainers: map[string]fleetwide.Drainer{"billing": d.of("billing"), "search": d.of("search")}}
			return spec, cfg, []service{culprit, twin}, d
		},
	},
}

// TestCrashAtEveryTransition crashes the coordinator at every save of
// each case (every transition the group persists: members' rounds, holds,
// incidents, rankings, verdicts, drains and restores) and resumes it with
// Open: each run must end as the run without a crash did.
func TestCrashAtEveryTransition(t *testing.T) {
	for _, c := range crashCases {
		t.Run(c.name, func(t *testing.T) {
			var want outcome
			var saves int
			synctest.Test(t, func(t *testing.T) { want, saves = crashRun(t, c, 0) })
			if saves < 10 {
				t.Fatalf("the scenario saved only %d times", saves)
			}
			step := 1
			if testing.Short() {
				step = 7
			}
			// Each crash run builds its own world: they run in parallel,
			// the race detector's cost spread over the machine's cores.
			var mu sync.Mutex
			crashed, runs := 0, 0
			t.Run("at", func(t *testing.T) {
				for at := 2; at <= saves; at += step { // save 1 is Create's: a crash there is a failed Create
					t.Run(fmt.Sprint(at), func(t *testing.T) {
						t.Parallel()
						synctest.Test(t, func(t *testing.T) {
							got, n := crashRun(t, c, at)
							mu.Lock()
							runs++
							if n != -1 {
								crashed++
							}
							mu.Unlock()
							if n == -1 {
								// Results that arrive at the same instant are
								// stepped together or apart as the goroutines
								// happen to run, so the count of saves varies
								// by a few: this run ended sooner, uncrashed.
								t.Logf("the run ended before save %d of %d", at, saves)
							}
							if diff := cmp.Diff(want, got); diff != "" {
								t.Errorf("outcome after a crash at save %d of %d (-want +got):\n%s", at, saves, diff)
							}
						})
					})
				}
			})
			// The runs that ended uncrashed are those whose save number at
			// came after their last; a handful at the end.
			if crashed < runs*9/10 {
				t.Errorf("only %d of %d runs crashed", crashed, runs)
			}
			t.Logf("%s: %d runs crashed and resumed, one at each save number from 2 to %d (%d ended first); outcome %+v", c.name, crashed, saves, runs-crashed, want)
		})
	}
}
