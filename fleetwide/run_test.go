package fleetwide_test

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/fleetwide"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
)

func TestAThenB(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newService(t, "a", regions3, nil)
		b := newService(t, "b", regions3, nil)
		var rec recorder
		st, err := run(t, fleetwide.Spec{ID: "g", Members: []fleetwide.Member{
			b.member("v2", fleetwide.Dependency{Member: "a"}),
			a.member("v2"),
		}}, fleetwide.Config{Members: handsOf(a, b), OnEvent: rec.on})
		if err != nil {
			t.Fatalf("Run: %v\n%s", err, &rec)
		}
		want := map[string]fleetwide.MemberStatus{"a": fleetwide.MemberSucceeded, "b": fleetwide.MemberSucceeded}
		if diff := cmp.Diff(want, statuses(st)); diff != "" {
			t.Errorf("statuses (-want +got):\n%s", diff)
		}
		ma, mb := st.Member("a"), st.Member("b")
		if mb.Started.Before(ma.Ended) {
			t.Errorf("b started at %v, before a ended at %v", mb.Started, ma.Ended)
		}
	})
}

func TestBWaveAfterAWave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newService(t, "a", regions3, nil)
		b := newService(t, "b", regions3, nil)
		var rec recorder
		st, err := run(t, fleetwide.Spec{ID: "g", Members: []fleetwide.Member{
			a.member("v2"),
			b.member("v2", fleetwide.Dependency{Member: "a", Kind: fleetwide.AfterWave}),
		}}, fleetwide.Config{Members: handsOf(a, b), OnEvent: rec.on})
		if err != nil {
			t.Fatalf("Run: %v\n%s", err, &rec)
		}
		ra, rb := st.Member("a").Rollout, st.Member("b").Rollout
		finished := map[int]time.Time{} // a's last promotion of each wave
		for _, s := range ra.Stages {
			if s.Name != rollout.FinalStage && s.Finished.After(finished[s.Wave]) {
				finished[s.Wave] = s.Finished
			}
		}
		for _, s := range rb.Stages {
			if s.Name == rollout.FinalStage {
				continue
			}
			if s.Deployed.Before(finished[s.Wave]) {
				t.Errorf("b deployed %s (wave %d) at %v, before a finished that wave at %v", s.Name, s.Wave+1, s.Deployed, finished[s.Wave])
			}
		}
		if len(rec.of(fleetwide.EventMember)) == 0 {
			t.Fatal("no member events")
		}
	})
}

func TestLockstep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ss := []service{newService(t, "a", regions3, nil), newService(t, "b", regions3, nil), newService(t, "c", regions3[:2], nil)}
		var ms []fleetwide.Member
		for _, s := range ss {
			ms = append(ms, s.member("v2"))
		}
		var rec recorder
		st, err := run(t, fleetwide.Spec{ID: "g", Members: ms, Policy: fleetwide.Policy{Lockstep: true}},
			fleetwide.Config{Members: handsOf(ss...), OnEvent: rec.on})
		if err != nil {
			t.Fatalf("Run: %v\n%s", err, &rec)
		}
		// Every member's first deploy of wave k comes after every member
		// promoted its last stage of wave k-1.
		done := map[int]time.Time{}
		first := map[int]time.Time{}
		for _, m := range st.Members {
			for _, s := range m.Rollout.Stages {
				if s.Name == rollout.FinalStage {
					continue
				}
				if s.Finished.After(done[s.Wave]) {
					done[s.Wave] = s.Finished
				}
				if f, ok := first[s.Wave]; !ok || s.Deployed.Before(f) {
					first[s.Wave] = s.Deployed
				}
			}
		}
		for w := 1; w < len(first); w++ {
			if first[w].Before(done[w-1]) {
				t.Errorf("a member deployed wave %d at %v, before the group finished wave %d at %v", w+1, first[w], w, done[w-1])
			}
		}
	})
}

func TestAtomicRollbackInReverseOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newService(t, "a", regions3, nil)
		// b's v2 cannot be deployed in eu-west-1: its second wave fails.
		b := newService(t, "b", regions3, nil, rollouttest.Fault{Version: "v2", Regions: []string{"eu-west-1"}, FailAlways: true, Permanent: true})
		c := newService(t, "c", regions3, nil)
		var rec recorder
		st, err := run(t, fleetwide.Spec{ID: "g", Policy: fleetwide.Policy{Rollback: fleetwide.RollbackAtomic}, Members: []fleetwide.Member{
			a.member("v2"),
			b.member("v2", fleetwide.Dependency{Member: "a", Kind: fleetwide.AfterWave}),
			c.member("v2", fleetwide.Dependency{Member: "b", Kind: fleetwide.AfterWave}),
		}}, fleetwide.Config{Members: handsOf(a, b, c), OnEvent: rec.on})
		if !errors.Is(err, fleetwide.ErrFailed) {
			t.Fatalf("Run = %v, want ErrFailed\n%s", err, &rec)
		}
		want := map[string]fleetwide.MemberStatus{"a": fleetwide.MemberRolledBack, "b": fleetwide.MemberRolledBack, "c": fleetwide.MemberRolledBack}
		if diff := cmp.Diff(want, statuses(st)); diff != "" {
			t.Errorf("statuses (-want +got):\n%s\n%s", diff, &rec)
		}
		// Every target of every fleet runs v1 again.
		for _, s := range []service{a, b, c} {
			for id, v := range s.fleet.Versions() {
				if v != "v1" {
					t.Errorf("%s: %s runs %s", s.name, id, v)
				}
			}
		}
		// Dependents first: c, which depends on b, finished rolling back
		// before a, on which b depends, started.
		var order []string
		for _, e := range rec.memberEvents(rollout.EventRollbackStarted) {
			order = append(order, e)
		}
		if diff := cmp.Diff([]string{"b rollback-started", "c rollback-started", "a rollback-started"}, order); diff != "" {
			t.Errorf("rollback order (-want +got):\n%s", diff)
		}
		if cend, astart := st.Member("c").Ended, rollbackStart(st.Member("a").Rollout); astart.Before(cend) {
			t.Errorf("a started rolling back at %v, before c finished at %v", astart, cend)
		}
	})
}

func rollbackStart(st *rollout.State) time.Time {
	if st.Rollback == nil {
		return time.Time{}
	}
	return st.Rollback.Started
}
