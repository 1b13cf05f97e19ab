package fleetwide_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/fleetwide"
	"github.com/shepherd-go/shepherd/rollouttest"
)

func TestTrialWatch(t *testing.T) {
	p := fleetwide.HealthPolicy{} // detection 3m, checks every minute: settles in 6m
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	type check struct {
		min    int
		firing bool
	}
	tests := []struct {
		name   string
		checks []check
		want   fleetwide.TrialOutcome
		asks   []bool // drains (true) and restores (false) asked for
	}{
		{"culprit", []check{{1, true}, {3, false}, {6, true}, {9, false}}, fleetwide.TrialCulprit, []bool{false, true}},
		{"innocent", []check{{1, true}, {3, true}, {6, true}}, fleetwide.TrialInnocent, []bool{false}},
		{"noise clears too soon", []check{{1, false}}, fleetwide.TrialNoise, []bool{false}},
		{"noise does not come back", []check{{3, false}, {6, false}, {9, false}}, fleetwide.TrialNoise, []bool{false}},
		{"comes back too soon", []check{{3, false}, {4, true}}, fleetwide.TrialInconclusive, []bool{false}},
		{"does not clear again", []check{{3, false}, {6, true}, {12, true}}, fleetwide.TrialInconclusive, []bool{false, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := fleetwide.Trial{Member: "a", Phase: fleetwide.TrialDraining, Since: t0}
			tr.Done(t0, nil)
			var asks []bool
			for _, c := range tt.checks {
				if on, ok := tr.Watch(at(c.min), c.firing, p); ok {
					asks = append(asks, on)
					tr.Done(at(c.min), nil)
				}
			}
			if tr.Outcome != tt.want {
				t.Errorf("outcome %q, want %q (%+v)", tr.Outcome, tt.want, tr)
			}
			if diff := cmp.Diff(tt.asks, asks); diff != "" {
				t.Errorf("asks (-want +got):\n%s", diff)
			}
		})
	}
	tr := fleetwide.Trial{Member: "a", Phase: fleetwide.TrialDraining}
	if tr.Done(t0, fmt.Errorf("the load balancer said no")); tr.Outcome != fleetwide.TrialFailed {
		t.Errorf("a failed drain: outcome %q, want failed", tr.Outcome)
	}
}

// drains records when members' traffic was drained in which zones and
// restored; the zone alarms leave a drained member's requests out from
// then on, as a load balancer does, not from before.
type drains struct {
	mu  sync.Mutex
	on  map[string][]time.Time // "member zone": drain, restore, drain...
	log []string
}

func (d *drains) of(member string) fleetwide.Drainer {
	return fleetwide.DrainerFunc(func(ctx context.Context, sc fleetwide.Scope, on bool) error {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.on == nil {
			d.on = map[string][]time.Time{}
		}
		k := member + " " + sc.Zone
		if on == (len(d.on[k])%2 == 0) {
			d.on[k] = append(d.on[k], time.Now())
		}
		verb := "restore"
		if on {
			verb = "drain"
		}
		d.log = append(d.log, fmt.Sprintf("%s %s %s", verb, member, sc.Zone))
		return nil
	})
}

// drained reports whether member's traffic in zone was drained at t.
func (d *drains) drained(member, zone string, t time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	in := false
	for _, x := range d.on[member+" "+zone] {
		if x.After(t) {
			break
		}
		in = !in
	}
	return in
}

// drainedHealth is zoneHealth, but a minute of a service's requests in a
// zone where its traffic was drained when the minute began goes to the old
// version: no errors. (A point stamped t counts the minute before t, so a
// drain at t changes the points from t+1m on, as a load balancer would.)
func drainedHealth(d *drains, ss ...service) fleetwide.Health {
	return fleetwide.HealthFunc(func(ctx context.Context, scopes []fleetwide.Scope, now time.Time) ([]alarm.Result, error) {
		end := now.Truncate(time.Minute)
		r := alarm.Range{Start: end.Add(-4 * time.Minute), End: end, Step: time.Minute}
		var out []alarm.Result
		for _, sc := range scopes {
			req := make([]float64, 5)
			errs := make([]float64, 5)
			for _, s := range ss {
				for k, q := range map[string][]float64{"requests": req, "errors": errs} {
					ser, err := s.fleet.Query(ctx, fmt.Sprintf(`%s{zone=%q}`, k, sc.Zone), r)
					if err != nil {
						continue
					}
					for _, p := range ser.Points {
						if i := int(p.Time.Sub(r.Start) / time.Minute); i >= 0 && i < 5 && (k == "requests" || !d.drained(s.name, sc.Zone, p.Time.Add(-time.Minute))) {
							q[i] += p.Value
						}
					}
				}
			}
			breach := 0
			for i := range req {
				if req[i] > 0 && errs[i]/req[i] > 0.02 {
					breach++
				}
			}
			st := alarm.OK
			if breach >= 3 {
				st = alarm.Alarm
			}
			out = append(out, alarm.Result{Name: sc.Alarm, State: st, Time: now, Reason: fmt.Sprintf("error rate above 2%% in %d of the last 5 minutes", breach)})
		}
		return out, nil
	})
}

// Two services reach every zone within a minute of each other, and one of
// them fails 30% of its requests there an hour after it lands: the timing
// cannot tell them apart, but draining them can. The group drains the
// likelier one, sees the alarm keep firing, drains the other, sees the
// alarm clear, come back on its restore and clear again on its second
// drain, and stops it alone.
func TestDrainTestFindsTheCulprit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := map[string]rollouttest.Behavior{"v5": {Regressions: []rollouttest.Regression{{After: time.Hour, ErrorRate: 0.3}}}}
		culprit := newService(t, "billing", regions3, slow)
		twin := newService(t, "search", regions3, nil)
		mc, mt := culprit.member("v5"), twin.member("v7")
		mt.Start = time.Now().Add(time.Minute)
		mc.Drain, mt.Drain = true, true
		var d drains
		errs := drainedHealth(&d, culprit, twin)
		spec := fleetwide.Spec{ID: "g", Members: []fleetwide.Member{mc, mt},
			Policy: fleetwide.Policy{Health: fleetwide.HealthPolicy{Scopes: zoneScopes(regions3)}}}
		var rec recorder
		onEvent := rec.on
		st, _ := run(t, spec, fleetwide.Config{Members: handsOf(culprit, twin), Health: errs, OnEvent: onEvent,
			Drainers: map[string]fleetwide.Drainer{"billing": d.of("billing"), "search": d.of("search")}})
		want := map[string]fleetwide.MemberStatus{"billing": fleetwide.MemberRolledBack, "search": fleetwide.MemberSucceeded}
		if diff := cmp.Diff(want, statuses(st)); diff != "" {
			t.Fatalf("statuses (-want +got):\n%s\n%s", diff, &rec)
		}
		culprits := rec.of(fleetwide.EventCulprit)
		if len(culprits) != 1 || culprits[0].Member != "billing" {
			t.Fatalf("culprit events %v, want one naming billing\n%s", culprits, &rec)
		}
		if why := culprits[0].Reason; !strings.Contains(why, "after billing v5's traffic there was drained, fired again") {
			t.Errorf("the culprit's reason does not tell the drain test:\n%s", why)
		}
		d.mu.Lock()
		log := strings.Join(d.log, "\n")
		d.mu.Unlock()
		if !strings.Contains(log, "drain billing") || !strings.Contains(log, "restore billing") {
			t.Errorf("drains:\n%s", log)
		}
		// The restore brings the alarm back as a new incident of the
		// zone: search, found innocent there, is not drained again.
		if n := strings.Count(log, "drain search"); n != 1 {
			t.Errorf("search was drained %d times, want once:\n%s", n, log)
		}
		if n := len(rec.of(fleetwide.EventTrial)); n < 4 {
			t.Errorf("%d trial events, want the drain, the clear, the return and more:\n%s", n, &rec)
		}
	})
}
