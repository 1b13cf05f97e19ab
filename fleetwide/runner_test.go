package fleetwide_test

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shepherd-go/shepherd/fleetwide"
	"github.com/shepherd-go/shepherd/rollout"
)

// The line is stopped from another goroutine while two members run: both
// pause where they are, nothing starts, and both carry on once released.
func TestRunnerStopTheLine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newService(t, "a", regions3, nil)
		b := newService(t, "b", regions3, nil)
		c := newService(t, "c", regions3, nil)
		mc := c.member("v2")
		mc.Start = time.Now().Add(time.Hour)
		var rec recorder
		r, err := fleetwide.Create(t.Context(), fleetwide.Spec{ID: "g", Members: []fleetwide.Member{a.member("v2"), b.member("v2"), mc}},
			fleetwide.Config{Members: handsOf(a, b, c), OnEvent: rec.on})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error)
		go func() { done <- r.Run(t.Context()) }()
		time.Sleep(30 * time.Minute)
		if err := r.StopLine(t.Context(), "ann", "sev2 in checkout"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		p := r.Progress()
		if p.Line == nil {
			t.Fatal("the line is not stopped")
		}
		for _, m := range p.Members {
			switch {
			case m.Name == "c" && m.Status != fleetwide.MemberWaiting:
				t.Errorf("c is %s while the line is stopped, want waiting", m.Status)
			case m.Name != "c" && (m.Rollout == nil || !m.Rollout.Paused):
				t.Errorf("%s is not paused while the line is stopped", m.Name)
			}
		}
		if err := r.Release(t.Context(), "ann"); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Run: %v\n%s", err, &rec)
		}
		st, _ := r.State()
		for _, m := range st.Members {
			if m.Status != fleetwide.MemberSucceeded {
				t.Errorf("%s %s", m.Member.Name, m.Status)
			}
		}
		if paused := st.Member("a").Rollout.Timings.Paused.Std(); paused != 2*time.Hour {
			t.Errorf("a was paused %v, want 2h", paused)
		}
		if started := st.Member("c").Started; started.Before(st.Created.Add(150 * time.Minute)) {
			t.Errorf("c started at %v, while the line was stopped", started)
		}
		if err := r.Release(t.Context(), "ann"); !errors.Is(err, rollout.ErrDone) {
			t.Errorf("a request after the end = %v, want ErrDone", err)
		}
	})
}

func TestCreateOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newService(t, "a", regions3, nil)
		store := &rollout.MemoryStore{}
		cfg := fleetwide.Config{Store: store, Members: handsOf(a)}
		if _, err := fleetwide.Open(t.Context(), "g", cfg); !errors.Is(err, rollout.ErrNotFound) {
			t.Errorf("Open of nothing = %v, want ErrNotFound", err)
		}
		spec := fleetwide.Spec{ID: "g", Members: []fleetwide.Member{a.member("v2")}}
		r, err := fleetwide.Create(t.Context(), spec, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fleetwide.Open(t.Context(), "g", cfg); !errors.Is(err, rollout.ErrLocked) {
			t.Errorf("Open while held = %v, want ErrLocked", err)
		}
		r.Close()
		if _, err := fleetwide.Create(t.Context(), spec, cfg); !errors.Is(err, rollout.ErrExists) {
			t.Errorf("Create again = %v, want ErrExists", err)
		}
		if _, err := fleetwide.Create(t.Context(), spec, fleetwide.Config{}); !errors.Is(err, fleetwide.ErrInvalid) {
			t.Errorf("Create without hands = %v, want ErrInvalid", err)
		}
		store.Put("g", []byte("{garbage"))
		if _, err := fleetwide.Open(t.Context(), "g", cfg); !errors.Is(err, fleetwide.ErrCorrupt) {
			t.Errorf("Open of garbage = %v, want ErrCorrupt", err)
		}
	})
}
