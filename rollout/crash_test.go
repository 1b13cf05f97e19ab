package rollout_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

// crashStore wraps a store and "kills the process" at its n-th save:
// before the write (the save is lost) or after it (the actions that follow
// are lost), by cancelling the run's context.
type crashStore struct {
	rollout.Store
	at     int
	after  bool
	n      int
	cancel context.CancelFunc
}

var errCrash = errors.New("simulated crash")

func (c *crashStore) Save(ctx context.Context, id string, token uint64, data []byte) error {
	c.n++
	if c.n != c.at {
		return c.Store.Save(ctx, id, token, data)
	}
	if c.after {
		if err := c.Store.Save(ctx, id, token, data); err != nil {
			return err
		}
	}
	c.cancel()
	return errCrash
}

type scenario struct {
	name    string
	plan    wave.Plan
	policy  rollout.Policy
	options func(f *rollouttest.MemFleet) rollout.Config
	wantErr error
}

func crashScenarios() []scenario {
	plan := rollouttest.AWSPlan(3, 1, 3)
	// Alarms every 15 minutes keep the many runs quick; what is tested is
	// the transitions, which do not depend on it.
	policy := rollout.Policy{
		Alarms: rollout.AlarmPolicy{Interval: duration.Duration(15 * time.Minute)},
		Bake:   bake.Schedule{Base: bake.Policy{PollInterval: duration.Duration(15 * time.Minute)}},
	}
	return []scenario{
		{
			name:   "success",
			plan:   plan,
			policy: policy,
			options: func(f *rollouttest.MemFleet) rollout.Config {
				return rollout.Config{Alarms: regressionAlarm(f, nil, "v2"), Blockers: rollouttest.BusinessHours}
			},
		},
		{
			name:   "regression in wave 2",
			plan:   plan,
			policy: policy,
			options: func(f *rollouttest.MemFleet) rollout.Config {
				return rollout.Config{Alarms: regressionAlarm(f, rollouttest.WaveTargets(plan, 1), "v2")}
			},
			wantErr: rollout.ErrRolledBack,
		},
		{
			name:   "flaky and failing deploys",
			plan:   plan,
			policy: policy,
			options: func(f *rollouttest.MemFleet) rollout.Config {
				f.Fail = func(target, version string, attempt int) error {
					switch {
					case version == "v2" && target == "r1-z0-h2":
						return rollout.Permanent(errors.New("bad artifact for this host"))
					case version == "v2" && attempt == 1 && target[len(target)-1] == '1':
						return errors.New("connection reset")
					}
					return nil
				}
				return rollout.Config{}
			},
		},
	}
}

// runScenario runs sc to the end with at most one crash (at save number
// crashAt; 0 for none), resuming after it, and returns the final versions,
// the fleet's calls and the number of saves made.
func runScenario(t *testing.T, sc scenario, crashAt int, after bool) (map[string]string, []rollouttest.MemCall, int, error) {
	t.Helper()
	f := rollouttest.NewMemFleet(sc.plan, "v1")
	f.Delay = 30 * time.Second
	mem := new(rollout.MemoryStore)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cs := &crashStore{Store: mem, at: crashAt, after: after, cancel: cancel}
	o := sc.options(f)
	o.Store = cs
	r, err := rollout.Create(ctx, rollout.Spec{ID: "crash", Plan: sc.plan, Version: "v2", Policy: sc.policy}, f, o)
	if err != nil {
		if crashAt != 1 || !errors.Is(err, errCrash) {
			return nil, nil, 0, err
		}
		// Crashed while creating: the restarted tool resumes the rollout
		// if it was recorded, and creates it otherwise.
		o.Store = mem
		r, err = rollout.Open(t.Context(), "crash", f, o)
		if errors.Is(err, rollout.ErrNotFound) {
			r, err = rollout.Create(t.Context(), rollout.Spec{ID: "crash", Plan: sc.plan, Version: "v2", Policy: sc.policy}, f, o)
		}
		if err != nil {
			return nil, nil, 0, err
		}
		err = r.Run(t.Context())
		return f.Snapshot(), f.Calls(), cs.n, err
	}
	err = r.Run(ctx)
	if crashAt == 0 || cs.n < crashAt {
		return f.Snapshot(), f.Calls(), cs.n, err
	}
	if !errors.Is(err, errCrash) && !errors.Is(err, context.Canceled) {
		return nil, nil, 0, fmt.Errorf("crashed run returned %v, want the crash", err)
	}
	// A new driver takes over from the store.
	o.Store = mem
	r2, err := rollout.Open(t.Context(), "crash", f, o)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("resume: %w", err)
	}
	err = r2.Run(t.Context())
	return f.Snapshot(), f.Calls(), cs.n, err
}

// TestCrashAtEveryTransition kills the run at every persisted transition
// of each scenario, before and after the write, resumes it from the store,
// and checks that it ends as an uninterrupted run does, without deploying
// (or rolling back) any target twice.
func TestCrashAtEveryTransition(t *testing.T) {
	for _, sc := range crashScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			var want map[string]string
			var saves int
			synctest.Test(t, func(t *testing.T) {
				sleepUntil(monday9)
				var err error
				want, _, saves, err = runScenario(t, sc, 0, false)
				if !errors.Is(err, sc.wantErr) {
					t.Fatalf("uninterrupted run: %v, want %v", err, sc.wantErr)
				}
			})
			if saves < 10 {
				t.Fatalf("only %d saves in the scenario", saves)
			}
			for at := 1; at <= saves; at++ {
				for _, after := range []bool{false, true} {
					synctest.Test(t, func(t *testing.T) {
						sleepUntil(monday9)
						got, calls, _, err := runScenario(t, sc, at, after)
						if !errors.Is(err, sc.wantErr) {
							t.Fatalf("crash at save %d (after=%v): run ended with %v, want %v", at, after, err, sc.wantErr)
						}
						if diff := cmp.Diff(want, got); diff != "" {
							t.Fatalf("crash at save %d (after=%v): final versions (-uninterrupted +resumed):\n%s", at, after, diff)
						}
						seen := map[string]int{}
						for _, c := range calls {
							if !c.OK && sc.name == "flaky and failing deploys" {
								continue // failed attempts are retries, not deploys
							}
							k := c.Target + "@" + c.Version
							seen[k]++
							if seen[k] > 1 {
								t.Fatalf("crash at save %d (after=%v): %s called twice with %s", at, after, c.Target, c.Version)
							}
						}
					})
				}
			}
			t.Logf("%d transitions, each crashed before and after the write", saves)
		})
	}
}
