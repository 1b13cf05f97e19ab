package fleetwide_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/duration"

	"github.com/shepherd-go/shepherd/fleetwide"
	"github.com/shepherd-go/shepherd/rollouttest"
)

// fiveServices is five services on a release train, one leaving every 20
// minutes; payments v42 fails 30% of its requests wherever it runs, and
// no member watches alarms of its own: only the shared zone alarms can see
// it.
func fiveServices(t testing.TB) ([]service, fleetwide.Spec) {
	bad := map[string]rollouttest.Behavior{"v42": {ErrorRate: 0.3}}
	names := []string{"search", "ads", "payments", "profile", "cart"}
	var ss []service
	var ms []fleetwide.Member
	t0 := time.Now()
	for i, n := range names {
		var s service
		if n == "payments" {
			s = newService(t, n, regions3, bad)
		} else {
			s = newService(t, n, regions3, nil)
		}
		ss = append(ss, s)
		m := s.member("v42")
		if n != "payments" {
			m = s.member("v7")
		}
		m.Start = t0.Add(time.Duration(i) * 20 * time.Minute)
		ms = append(ms, m)
	}
	return ss, fleetwide.Spec{ID: "train", Members: ms, Policy: fleetwide.Policy{Health: fleetwide.HealthPolicy{Scopes: zoneScopes(regions3)}}}
}

func TestRegionalAlarmAmongFive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ss, spec := fiveServices(t)
		var rec recorder
		st, _ := run(t, spec, fleetwide.Config{Members: handsOf(ss...), Health: zoneHealth(ss...), OnEvent: rec.on})
		want := map[string]fleetwide.MemberStatus{
			"search": fleetwide.MemberSucceeded, "ads": fleetwide.MemberSucceeded, "payments": fleetwide.MemberRolledBack,
			"profile": fleetwide.MemberSucceeded, "cart": fleetwide.MemberSucceeded,
		}
		if diff := cmp.Diff(want, statuses(st)); diff != "" {
			t.Fatalf("statuses (-want +got):\n%s\n%s", diff, &rec)
		}
		culprits := rec.of(fleetwide.EventCulprit)
		if len(culprits) != 1 || culprits[0].Member != "payments" {
			t.Fatalf("culprit events %v, want one naming payments\n%s", culprits, &rec)
		}
		why := culprits[0].Reason
		for _, w := range []string{"after payments v42 reached it", "ads v7 reached ap-south-1a 23m0s before", "search v7 reached ap-south-1a 43m0s before"} {
			if !strings.Contains(why, w) {
				t.Errorf("the culprit's reason does not say %q:\n%s", w, why)
			}
		}
		if rolled := rec.of(fleetwide.EventAborted); len(rolled) != 1 {
			t.Errorf("the group stopped %d members, want payments alone:\n%s", len(rolled), &rec)
		}
		// The others in the scope were paused while the alarm fired, and
		// resumed once it cleared.
		var paused, resumed []string
		for _, e := range rec.of(fleetwide.EventPaused) {
			if e.Member != "payments" {
				paused = append(paused, e.Member)
			}
		}
		for _, e := range rec.of(fleetwide.EventResumed) {
			resumed = append(resumed, e.Member)
		}
		if diff := cmp.Diff([]string{"search", "ads"}, paused); diff != "" {
			t.Errorf("paused (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(paused, resumed); diff != "" {
			t.Errorf("resumed (-paused +resumed):\n%s", diff)
		}
	})
}

// With RollbackTeam, the culprit takes down every member of its team that
// touched the alarm's region; other teams' members are only paused.
func TestTeamRollback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bad := map[string]rollouttest.Behavior{"v42": {ErrorRate: 0.3}}
		api := newService(t, "pay-api", regions3, bad)
		worker := newService(t, "pay-worker", regions3, nil)
		search := newService(t, "search", regions3, nil)
		t0 := time.Now()
		mw, ms, ma := worker.member("v8"), search.member("v7"), api.member("v42")
		mw.Team, ma.Team = "payments", "payments"
		ms.Start = t0.Add(20 * time.Minute)
		ma.Start = t0.Add(40 * time.Minute)
		spec := fleetwide.Spec{ID: "g", Members: []fleetwide.Member{mw, ms, ma},
			Policy: fleetwide.Policy{Rollback: fleetwide.RollbackTeam, Health: fleetwide.HealthPolicy{Scopes: zoneScopes(regions3)}}}
		var rec recorder
		st, _ := run(t, spec, fleetwide.Config{Members: handsOf(api, worker, search), Health: zoneHealth(api, worker, search), OnEvent: rec.on})
		want := map[string]fleetwide.MemberStatus{"pay-api": fleetwide.MemberRolledBack, "pay-worker": fleetwide.MemberRolledBack, "search": fleetwide.MemberSucceeded}
		if diff := cmp.Diff(want, statuses(st)); diff != "" {
			t.Fatalf("statuses (-want +got):\n%s\n%s", diff, &rec)
		}
		if why := st.Member("pay-worker").Stopped; !strings.Contains(why, "its team payments changed ap-south-1") {
			t.Errorf("pay-worker stopped because %q", why)
		}
	})
}

// Regional noise that no change of the group explains stops nobody; new
// stages in its zone wait until it clears.
func TestRegionalNoise(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newService(t, "search", regions3, nil)
		b := newService(t, "ads", regions3, nil)
		t0 := time.Now()
		noisy := fleetwide.Scope{Alarm: "ap-south-1b-errors", Region: "ap-south-1", Zone: "ap-south-1b"}
		from, until := t0.Add(50*time.Minute), t0.Add(80*time.Minute)
		inner := zoneHealth(a, b)
		health := fleetwide.HealthFunc(func(ctx context.Context, scopes []fleetwide.Scope, now time.Time) ([]alarm.Result, error) {
			res, err := inner.Health(ctx, scopes, now)
			for i := range res {
				if res[i].Name == noisy.Alarm && !now.Before(from) && now.Before(until) {
					res[i].State, res[i].Reason = alarm.Alarm, "a network blip in the zone, nobody's change"
				}
			}
			return res, err
		})
		mb := b.member("v9")
		mb.Start = t0.Add(10 * time.Minute)
		spec := fleetwide.Spec{ID: "g", Members: []fleetwide.Member{a.member("v7"), mb},
			Policy: fleetwide.Policy{Health: fleetwide.HealthPolicy{Scopes: zoneScopes(regions3)}}}
		var rec recorder
		st, err := run(t, spec, fleetwide.Config{Members: handsOf(a, b), Health: health, OnEvent: rec.on})
		if err != nil {
			t.Fatalf("Run: %v\n%s", err, &rec)
		}
		if n := len(rec.of(fleetwide.EventAborted)); n != 0 {
			t.Errorf("the group stopped %d members for noise:\n%s", n, &rec)
		}
		if n := len(rec.of(fleetwide.EventNoSuspect)); n != 1 {
			t.Errorf("%d no-suspect events, want 1:\n%s", n, &rec)
		}
		held := false
		for _, m := range st.Members {
			for _, s := range m.Rollout.Stages {
				if s.Name == "w1/ap-south-1/ap-south-1b" {
					if s.Deployed.Before(until) {
						t.Errorf("%s deployed %s at %v, while the zone's alarm fired", m.Member.Name, s.Name, s.Deployed)
					}
					held = held || s.Timings.Blocked > 0
				}
			}
		}
		if !held {
			t.Error("no member waited for the noisy zone: the scenario tests nothing")
		}
	})
}

// A fault that shows half an hour after its version lands, in a zone where
// an innocent change landed minutes before the alarm: the group stops the
// innocent first (the evidence points at it), sees the alarm outlive its
// rollback, judges again without it and stops the real culprit.
func TestWrongCulpritJudgedAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := map[string]rollouttest.Behavior{"v5": {Regressions: []rollouttest.Regression{{After: 30 * time.Minute, ErrorRate: 0.3}}}}
		culprit := newService(t, "billing", regions3, slow)
		innocent := newService(t, "search", regions3, nil)
		mi := innocent.member("v7")
		mi.Start = time.Now().Add(25 * time.Minute)
		spec := fleetwide.Spec{ID: "g", Members: []fleetwide.Member{culprit.member("v5"), mi},
			Policy: fleetwide.Policy{Health: fleetwide.HealthPolicy{Scopes: zoneScopes(regions3)}}}
		var rec recorder
		st, _ := run(t, spec, fleetwide.Config{Members: handsOf(culprit, innocent), Health: zoneHealth(culprit, innocent), OnEvent: rec.on})
		var stopped []string
		for _, e := range rec.of(fleetwide.EventCulprit) {
			stopped = append(stopped, e.Member)
		}
		if diff := cmp.Diff([]string{"search", "billing"}, stopped); diff != "" {
			t.Errorf("culprits named (-want +got):\n%s\n%s", diff, &rec)
		}
		var inc *fleetwide.Incident
		for i := range st.Incidents {
			if st.Incidents[i].Scope.Zone == "ap-south-1a" {
				inc = &st.Incidents[i]
			}
		}
		if inc == nil || inc.Culprit != "billing" || !slices.Equal(inc.Exonerated, []string{"search"}) {
			t.Errorf("incident %+v, want billing the culprit, search exonerated\n%s", inc, &rec)
		}
	})
}

// Two services reach every zone within a minute of each other, one fails
// 20 minutes after it lands, and neither can be drained: the timing cannot
// tell them apart at the first alarm. The group holds the likelier one
// alone and lets the other go on outside the zone; the alarms that follow
// tell them apart, and the culprit alone is rolled back.
func TestCloseCallHoldsTheTopSuspectAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := map[string]rollouttest.Behavior{"v5": {Regressions: []rollouttest.Regression{{After: 20 * time.Minute, ErrorRate: 0.3}}}}
		culprit := newService(t, "billing", regions3, slow)
		twin := newService(t, "search", regions3, nil)
		// Bakes of 30 minutes, longer than the fault's delay: the first
		// alarm fires while both bake in the first zone.
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
		var rec recorder
		st, _ := run(t, spec, fleetwide.Config{Members: handsOf(culprit, twin), Health: zoneHealth(culprit, twin), OnEvent: rec.on})
		want := map[string]fleetwide.MemberStatus{"billing": fleetwide.MemberRolledBack, "search": fleetwide.MemberSucceeded}
		if diff := cmp.Diff(want, statuses(st)); diff != "" {
			t.Fatalf("statuses (-want +got):\n%s\n%s", diff, &rec)
		}
		sus := rec.of(fleetwide.EventSuspects)
		if len(sus) == 0 {
			t.Fatalf("no suspects event: the call was not close, the scenario tests nothing\n%s", &rec)
		}
		if why := sus[0].Reason; !strings.Contains(why, "is paused, and the others go on outside") {
			t.Errorf("the suspects event does not say who is held:\n%s", why)
		}
		culprits := rec.of(fleetwide.EventCulprit)
		if len(culprits) == 0 || culprits[0].Member != "billing" {
			t.Fatalf("culprit events %v, want the first naming billing\n%s", culprits, &rec)
		}
		// billing went on into the next zone while search was held there,
		// and the next zone's alarm told them apart.
		if why := culprits[0].Reason; !strings.Contains(why, "search v7 reached ap-south-1a") || !strings.Contains(why, "it never reached ap-south-1b, which fired as well") {
			t.Errorf("the culprit's reason does not tell the evidence that going on made:\n%s", why)
		}
		if n := len(rec.of(fleetwide.EventAborted)); n != 1 {
			t.Errorf("the group stopped %d members, want billing alone:\n%s", n, &rec)
		}
	})
}
