package rollout_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

// deferWatch is a journal store that remembers whether the last save it
// took may be made durable later (Delta.Deferrable), and a deployer that
// checks, at every deploy and rollback, that it may not: a change to the
// world is made only after a durable save of the intent to make it.
type deferWatch struct {
	rollout.FileStore
	t *testing.T

	mu                sync.Mutex
	lastDeferred      bool
	deferred, durable int
	v                 map[string]string
	changes           int
}

func (w *deferWatch) SaveDelta(ctx context.Context, id string, token uint64, d *rollout.Delta) error {
	w.mu.Lock()
	w.lastDeferred = d.Deferrable
	if d.Deferrable {
		w.deferred++
	} else {
		w.durable++
	}
	w.mu.Unlock()
	return w.FileStore.SaveDelta(ctx, id, token, d)
}

func (w *deferWatch) Save(ctx context.Context, id string, token uint64, data []byte) error {
	w.mu.Lock()
	w.lastDeferred = false
	w.durable++
	w.mu.Unlock()
	return w.FileStore.Save(ctx, id, token, data)
}

func (w *deferWatch) Deploy(_ context.Context, t wave.Target, v string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lastDeferred {
		w.t.Errorf("deploy of %s to %s after a deferrable save: the intent was not durable", v, t.ID)
	}
	w.changes++
	w.v[t.ID] = v
	return nil
}

func (w *deferWatch) Version(_ context.Context, t wave.Target) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if v, ok := w.v[t.ID]; ok {
		return v, nil
	}
	return "v1", nil
}

// TestDeferrableSaves: the saves followed only by reads are deferrable
// (the results of a batch, before the next batch's versions are read),
// and no deploy or rollback ever follows a deferrable save, in a rollout
// that succeeds and in one that rolls back.
func TestDeferrableSaves(t *testing.T) {
	for _, bad := range []bool{false, true} {
		name := "succeeds"
		if bad {
			name = "rolls back"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				plan := rollouttest.AWSPlan(2, 3, 6)
				w := &deferWatch{FileStore: rollout.FileStore{Dir: t.TempDir()}, t: t, v: map[string]string{}}
				cfg := rollout.Config{Store: w}
				if bad {
					// The alarm fires once the second region runs v2.
					cfg.Alarms = rollout.AlarmsFunc(func(ctx context.Context, s rollout.Subject, now time.Time) ([]alarm.Result, error) {
						w.mu.Lock()
						defer w.mu.Unlock()
						for id, v := range w.v {
							if v == "v2" && id[:2] == "r1" {
								return []alarm.Result{{Name: "errors", State: alarm.Alarm, Reason: "5xx", Time: now}}, nil
							}
						}
						return nil, nil
					})
				}
				r, err := rollout.Create(t.Context(), rollout.Spec{ID: "d", Plan: plan, Version: "v2"}, w, cfg)
				if err != nil {
					t.Fatal(err)
				}
				err = r.Run(t.Context())
				var he *rollout.HaltError
				switch {
				case !bad && err != nil:
					t.Fatalf("Run = %v", err)
				case bad && !(errors.As(err, &he) && he.Phase == rollout.RolledBack):
					t.Fatalf("Run = %v, want a rollback", err)
				}
				w.mu.Lock()
				defer w.mu.Unlock()
				if w.deferred == 0 || w.durable == 0 || w.changes == 0 {
					t.Fatalf("%d deferrable saves, %d durable, %d deploys and rollbacks: want some of each", w.deferred, w.durable, w.changes)
				}
				if w.lastDeferred {
					t.Error("the last save of an ended rollout is deferrable")
				}
				t.Logf("%d deferrable saves, %d durable", w.deferred, w.durable)
			})
		})
	}
}
