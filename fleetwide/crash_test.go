package fleetwide_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"

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

// outcome is what a run of the crash scenario ends with.
type outcome struct {
	Statuses map[string]fleetwide.MemberStatus
	Versions map[string]map[string]string
	Order    []string
}

// crashScenario: a, then b wave after wave, atomic; b's v2 cannot be
// deployed in its second wave, so the group rolls back, b then a. It
// crashes the coordinator at save number at (0: never) and resumes it with
// Open, as often as it takes.
func crashScenario(t *testing.T, at int) (outcome, int) {
	regions := []string{"eu-west-1", "us-east-1"}
	a := newService(t, "a", regions, nil)
	b := newService(t, "b", regions, nil, rollouttest.Fault{Version: "v2", Regions: []string{"us-east-1"}, FailAlways: true, Permanent: true})
	store := &crashStore{at: at}
	var rec recorder
	cfg := fleetwide.Config{Store: store, Members: handsOf(a, b), OnEvent: rec.on}
	spec := fleetwide.Spec{ID: "g", Policy: fleetwide.Policy{Rollback: fleetwide.RollbackAtomic}, Members: []fleetwide.Member{
		a.member("v2"),
		b.member("v2", fleetwide.Dependency{Member: "a", Kind: fleetwide.AfterWave}),
	}}
	r, err := fleetwide.Create(t.Context(), spec, cfg)
	if err != nil {
		t.Fatal(err)
	}
	crashes := 0
	for {
		err := r.Run(t.Context())
		if !errors.Is(err, errCrash) {
			if !errors.Is(err, fleetwide.ErrFailed) {
				t.Fatalf("crash at save %d: Run = %v", at, err)
			}
			break
		}
		crashes++
		if crashes > 1 {
			t.Fatalf("crashed twice")
		}
		if r, err = fleetwide.Open(t.Context(), "g", cfg); err != nil {
			t.Fatalf("crash at save %d: Open: %v", at, err)
		}
	}
	st, err := fleetwide.DecodeState(store.Get("g"))
	if err != nil {
		t.Fatal(err)
	}
	o := outcome{Statuses: statuses(st), Versions: map[string]map[string]string{"a": a.fleet.Versions(), "b": b.fleet.Versions()}}
	seen := map[string]bool{}
	for _, e := range rec.memberEvents(rollout.EventRollbackFinished) {
		if !seen[e] {
			o.Order = append(o.Order, e)
		}
		seen[e] = true
	}
	if at > 0 && crashes == 0 {
		return o, -1
	}
	return o, store.saves
}

func TestCrashAtEveryTransition(t *testing.T) {
	var want outcome
	var saves int
	synctest.Test(t, func(t *testing.T) { want, saves = crashScenario(t, 0) })
	if saves < 10 {
		t.Fatalf("the scenario saved only %d times", saves)
	}
	step := 1
	if testing.Short() {
		step = 7
	}
	for at := 2; at <= saves; at += step { // save 1 is Create's: a crash there is a failed Create
		t.Run(fmt.Sprint(at), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				got, n := crashScenario(t, at)
				if n == -1 {
					t.Skip("the run ended before this save")
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("outcome after a crash at save %d of %d (-want +got):\n%s", at, saves, diff)
				}
			})
		})
	}
	t.Logf("crashed and resumed at each of %d saves", saves-1)
}
