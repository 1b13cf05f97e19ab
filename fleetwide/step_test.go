package fleetwide_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/field"
	"github.com/shepherd-go/shepherd/fleetwide"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

var t0 = time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)

func smallPlan(t testing.TB) wave.Plan {
	p, err := wave.Policy{}.Plan(rollouttest.Hosts([]string{"eu-west-1", "us-east-1"}, 2, 1))
	if err != nil {
		t.Fatal(err)
	}
	return *p
}

func spec(t testing.TB, ms ...fleetwide.Member) fleetwide.Spec {
	p := smallPlan(t)
	for i := range ms {
		if ms[i].Rollout.ID == "" {
			ms[i].Rollout = rollout.Spec{ID: ms[i].Name + "-v2", Plan: p, Version: "v2"}
		}
	}
	return fleetwide.Spec{ID: "g", Members: ms}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		spec  fleetwide.Spec
		paths []string
	}{
		{"empty", fleetwide.Spec{}, []string{"id", "members"}},
		{"unknown dependency", spec(t, fleetwide.Member{Name: "a", After: []fleetwide.Dependency{{Member: "zz"}}}), []string{"members[0].after[0].member"}},
		{"duplicate names", spec(t, fleetwide.Member{Name: "a"}, fleetwide.Member{Name: "a", Rollout: rollout.Spec{ID: "other", Plan: smallPlan(t), Version: "v2"}}), []string{"members[1].name"}},
		{"bad kind", spec(t, fleetwide.Member{Name: "a"}, fleetwide.Member{Name: "b", After: []fleetwide.Dependency{{Member: "a", Kind: "soon"}}}), []string{"members[1].after[0].kind"}},
		{"cycle", spec(t, fleetwide.Member{Name: "a", After: []fleetwide.Dependency{{Member: "b"}}}, fleetwide.Member{Name: "b", After: []fleetwide.Dependency{{Member: "a"}}}), []string{"members"}},
		{"blockers not first", func() fleetwide.Spec {
			s := spec(t, fleetwide.Member{Name: "a"})
			s.Members[0].Rollout.Policy.Steps = []rollout.StepKind{rollout.StepDeploy, rollout.StepBlockers, rollout.StepBake}
			return s
		}(), []string{"members[0].rollout.Policy.Steps"}},
		{"member's own problem", func() fleetwide.Spec {
			s := spec(t, fleetwide.Member{Name: "a"})
			s.Members[0].Rollout.Version = ""
			return s
		}(), []string{"members[0].version"}},
		{"health", func() fleetwide.Spec {
			s := spec(t, fleetwide.Member{Name: "a"})
			s.Policy.Health = fleetwide.HealthPolicy{Margin: 0.5, Scopes: []fleetwide.Scope{{Alarm: "x"}, {Alarm: "x", Region: "r"}}}
			return s
		}(), []string{"policy.health.margin", "policy.health.scopes[0].region", "policy.health.scopes[1].alarm"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.Validate()
			var got []string
			for _, e := range field.All(err) {
				got = append(got, e.Path)
			}
			if diff := cmp.Diff(tt.paths, got); diff != "" {
				t.Errorf("paths (-want +got):\n%s\n%v", diff, err)
			}
			if !errors.Is(err, fleetwide.ErrInvalid) && !errors.Is(err, rollout.ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

// kinds lists the kinds of the actions, "member:kind" for member actions.
func kinds(out fleetwide.Output) []string {
	var ks []string
	for _, a := range out.Actions {
		if a.Kind == fleetwide.ActionMember {
			ks = append(ks, a.Member+":"+string(a.Rollout.Kind))
		} else {
			ks = append(ks, string(a.Kind))
		}
	}
	return ks
}

// answer answers every member action as a healthy fleet would, with
// nothing blocking.
func answer(out fleetwide.Output) []fleetwide.Observation {
	var obs []fleetwide.Observation
	for _, a := range out.Actions {
		if a.Kind != fleetwide.ActionMember {
			continue
		}
		var o rollout.Observation
		switch a.Rollout.Kind {
		case rollout.ActionReadVersion:
			o = rollout.ObserveVersion(a.Rollout, "v1", nil)
		case rollout.ActionDeploy:
			o = rollout.ObserveDeploy(a.Rollout, a.Rollout.Version, 1, nil)
		case rollout.ActionCheckBlockers:
			o = rollout.ObserveBlockers(a.Rollout, nil, time.Time{}, nil)
		case rollout.ActionCheckAlarms:
			o = rollout.ObserveAlarms(a.Rollout, nil, nil)
		default:
			continue
		}
		obs = append(obs, fleetwide.ObserveMember(a, o))
	}
	return obs
}

func TestStep(t *testing.T) {
	type step struct {
		at    time.Duration
		obs   func(prev fleetwide.Output) []fleetwide.Observation
		kinds []string
		check func(t *testing.T, st *fleetwide.State, out fleetwide.Output)
	}
	stop := fleetwide.Control{Kind: fleetwide.ControlStop, Actor: "ann", Reason: "sev2 in payments"}
	tests := []struct {
		name  string
		spec  fleetwide.Spec
		steps []step
	}{{
		name: "a train slot starts the member on time",
		spec: func() fleetwide.Spec {
			s := spec(t, fleetwide.Member{Name: "a"})
			s.Members[0].Start = t0.Add(time.Hour)
			return s
		}(),
		steps: []step{
			{at: 0, kinds: nil, check: func(t *testing.T, st *fleetwide.State, out fleetwide.Output) {
				if !out.WakeAt.Equal(t0.Add(time.Hour)) {
					t.Errorf("WakeAt = %v, want the slot", out.WakeAt)
				}
			}},
			{at: time.Hour, kinds: []string{"a:check-blockers"}},
		},
	}, {
		name: "b waits for a to succeed",
		spec: spec(t, fleetwide.Member{Name: "a"}, fleetwide.Member{Name: "b", After: []fleetwide.Dependency{{Member: "a"}}}),
		steps: []step{
			{at: 0, kinds: []string{"a:check-blockers"}, check: func(t *testing.T, st *fleetwide.State, _ fleetwide.Output) {
				if st.Member("b").Status != fleetwide.MemberWaiting {
					t.Errorf("b is %s", st.Member("b").Status)
				}
			}},
		},
	}, {
		name: "a stopped line holds a stage and starts nothing",
		spec: spec(t, fleetwide.Member{Name: "a"}),
		steps: []step{
			{at: 0, obs: func(fleetwide.Output) []fleetwide.Observation {
				return []fleetwide.Observation{fleetwide.ObserveControl(stop)}
			}, kinds: nil,
				check: func(t *testing.T, st *fleetwide.State, _ fleetwide.Output) {
					if st.Line == nil || st.Member("a").Status != fleetwide.MemberWaiting {
						t.Errorf("line %v, a %s", st.Line, st.Member("a").Status)
					}
				}},
			{at: time.Minute, obs: func(fleetwide.Output) []fleetwide.Observation {
				return []fleetwide.Observation{fleetwide.ObserveControl(fleetwide.Control{Kind: fleetwide.ControlRelease, Actor: "ann"})}
			}, kinds: []string{"a:check-blockers"}},
		},
	}, {
		name: "a wave dependency blocks the stage with a reason",
		spec: spec(t, fleetwide.Member{Name: "a", Start: t0.Add(time.Hour)}, fleetwide.Member{Name: "b", After: []fleetwide.Dependency{{Member: "a", Kind: fleetwide.AfterWave}}}),
		steps: []step{
			{at: 0, kinds: []string{"b:check-blockers"}},
			{at: 0, obs: answer, kinds: nil, check: func(t *testing.T, st *fleetwide.State, _ fleetwide.Output) {
				b := st.Member("b").Rollout
				blocked := b.Stages[b.Stage].Blocked
				if len(blocked) != 1 || blocked[0].Blocker != "fleetwide/after/a" || !strings.Contains(blocked[0].Reason, "waits for a to finish wave 1") {
					t.Errorf("b's stage is blocked by %v", blocked)
				}
			}},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := fleetwide.NewState(tt.spec, t0)
			if err != nil {
				t.Fatal(err)
			}
			var out fleetwide.Output
			for i, s := range tt.steps {
				var obs []fleetwide.Observation
				if s.obs != nil {
					obs = s.obs(out)
				}
				if out, err = st.Step(t0.Add(s.at), obs...); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if diff := cmp.Diff(s.kinds, kinds(out)); diff != "" {
					t.Errorf("step %d: actions (-want +got):\n%s", i, diff)
				}
				if s.check != nil {
					s.check(t, st, out)
				}
			}
		})
	}
}

// A state that went through JSON steps exactly as the original.
func TestStepThroughJSON(t *testing.T) {
	s := spec(t, fleetwide.Member{Name: "a"}, fleetwide.Member{Name: "b", After: []fleetwide.Dependency{{Member: "a", Kind: fleetwide.AfterWave}}})
	s.Policy.Health.Scopes = []fleetwide.Scope{{Alarm: "euw1", Region: "eu-west-1"}}
	for i := range s.Members {
		noBakes(&s.Members[i].Rollout.Plan)
	}
	a, _ := fleetwide.NewState(s, t0)
	var outA fleetwide.Output
	now := t0
	for i := 0; i < 2000 && !outA.Done; i++ {
		data, err := fleetwide.EncodeState(a)
		if err != nil {
			t.Fatal(err)
		}
		b, err := fleetwide.DecodeState(data)
		if err != nil {
			t.Fatal(err)
		}
		obs := answer(outA)
		for _, x := range outA.Actions {
			if x.Kind == fleetwide.ActionCheckHealth {
				obs = append(obs, fleetwide.ObserveHealth(x, []alarm.Result{{Name: "euw1", State: alarm.OK}}, nil))
			}
		}
		outA, err = a.Step(now, obs...)
		if err != nil {
			t.Fatal(err)
		}
		outB, err := b.Step(now, obs...)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(outA, outB); diff != "" {
			t.Fatalf("step %d: outputs differ after JSON (-original +decoded):\n%s", i, diff)
		}
		if len(outA.Actions) == 0 {
			if outA.WakeAt.IsZero() {
				break
			}
			now = outA.WakeAt
		}
	}
	if a.Phase != fleetwide.Succeeded {
		t.Errorf("phase %s, want succeeded", a.Phase)
	}
}

func TestRank(t *testing.T) {
	zone := func(z string) fleetwide.Scope { return fleetwide.Scope{Alarm: z, Region: "eu-west-1", Zone: z} }
	onset := t0.Add(time.Hour)
	touch := func(z string, before time.Duration) fleetwide.Touch {
		at := onset.Add(-before)
		return fleetwide.Touch{Region: "eu-west-1", Zone: z, First: at, Last: at, Targets: 1}
	}
	p := fleetwide.HealthPolicy{}
	tests := []struct {
		name    string
		e       fleetwide.Evidence
		cands   []fleetwide.Candidate
		want    []string // members with a weight, best first
		verdict fleetwide.Verdict
	}{{
		name:    "the only change there",
		e:       fleetwide.Evidence{Fired: fleetwide.Onset{Scope: zone("b"), Time: onset}, Now: onset},
		cands:   []fleetwide.Candidate{{Member: "pay", Touches: []fleetwide.Touch{touch("b", 5*time.Minute)}}, {Member: "search", Touches: []fleetwide.Touch{touch("a", 5*time.Minute)}}},
		want:    []string{"pay"},
		verdict: fleetwide.VerdictStop,
	}, {
		name:    "nobody there",
		e:       fleetwide.Evidence{Fired: fleetwide.Onset{Scope: zone("b"), Time: onset}, Now: onset},
		cands:   []fleetwide.Candidate{{Member: "search", Touches: []fleetwide.Touch{touch("a", 5*time.Minute)}}},
		want:    nil,
		verdict: fleetwide.VerdictNone,
	}, {
		name:    "a change that landed after the onset is no suspect",
		e:       fleetwide.Evidence{Fired: fleetwide.Onset{Scope: zone("b"), Time: onset}, Now: onset},
		cands:   []fleetwide.Candidate{{Member: "pay", Touches: []fleetwide.Touch{touch("b", -time.Minute)}}},
		want:    nil,
		verdict: fleetwide.VerdictNone,
	}, {
		name: "a few minutes after landing beats hours after",
		e:    fleetwide.Evidence{Fired: fleetwide.Onset{Scope: zone("b"), Time: onset}, Now: onset},
		cands: []fleetwide.Candidate{
			{Member: "old", Touches: []fleetwide.Touch{touch("b", 2*time.Hour)}},
			{Member: "new", Touches: []fleetwide.Touch{touch("b", 6*time.Minute)}},
		},
		want:    []string{"new", "old"},
		verdict: fleetwide.VerdictStop,
	}, {
		name: "close calls wait",
		e:    fleetwide.Evidence{Fired: fleetwide.Onset{Scope: zone("b"), Time: onset}, Now: onset},
		cands: []fleetwide.Candidate{
			{Member: "x", Touches: []fleetwide.Touch{touch("b", 6*time.Minute)}},
			{Member: "y", Touches: []fleetwide.Touch{touch("b", 7*time.Minute)}},
		},
		want:    []string{"x", "y"},
		verdict: fleetwide.VerdictWait,
	}, {
		name: "another zone that fired after the change reached it decides",
		e: fleetwide.Evidence{Fired: fleetwide.Onset{Scope: zone("b"), Time: onset},
			Others: []fleetwide.Onset{{Scope: zone("a"), Time: onset.Add(-30 * time.Minute)}}, Now: onset},
		cands: []fleetwide.Candidate{
			{Member: "x", Touches: []fleetwide.Touch{touch("b", 6*time.Minute)}},
			{Member: "y", Touches: []fleetwide.Touch{touch("a", 36*time.Minute), touch("b", 7*time.Minute)}},
		},
		want:    []string{"y", "x"},
		verdict: fleetwide.VerdictStop,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ranked, noise := fleetwide.Rank(tt.e, tt.cands, p)
			var got []string
			for _, s := range ranked {
				if s.Weight > 0 {
					got = append(got, s.Member)
				}
				if s.Reason == "" {
					t.Errorf("%s has no reason", s.Member)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ranking (-want +got):\n%s", diff)
			}
			if v := fleetwide.Judge(ranked, noise, 0, p); v != tt.verdict {
				t.Errorf("Judge = %v, want %v (%+v, noise %g)", v, tt.verdict, ranked, noise)
			}
		})
	}
}

// noBakes removes a plan's bakes (a plan is plain data).
func noBakes(p *wave.Plan) {
	p.FinalBake = 0
	for i := range p.Waves {
		for j := range p.Waves[i].Stages {
			p.Waves[i].Stages[j].Bake = 0
		}
	}
}

// Past the patience, the top suspect is stopped if it is likelier than
// noise, however close the runner-up.
func TestJudgePatience(t *testing.T) {
	p := fleetwide.HealthPolicy{} // patience 2h, margin 3
	two := func(a, b float64) []fleetwide.Suspect {
		return []fleetwide.Suspect{{Member: "a", Weight: a}, {Member: "b", Weight: b}}
	}
	tests := []struct {
		name    string
		ranked  []fleetwide.Suspect
		noise   float64
		waited  time.Duration
		verdict fleetwide.Verdict
	}{
		{"clear at once", two(4, 1), 0.1, 0, fleetwide.VerdictStop},
		{"close, before the patience", two(1.5, 1), 0.1, 119 * time.Minute, fleetwide.VerdictWait},
		{"close, at the patience", two(1.5, 1), 0.1, 2 * time.Hour, fleetwide.VerdictStop},
		{"no likelier than noise, ever", two(1.5, 1), 1, 10 * time.Hour, fleetwide.VerdictWait},
		{"nobody", two(0, 0), 1, 0, fleetwide.VerdictNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v := fleetwide.Judge(tt.ranked, tt.noise, tt.waited, p); v != tt.verdict {
				t.Errorf("Judge(%v, waited %v) = %v, want %v", tt.ranked, tt.waited, v, tt.verdict)
			}
		})
	}
}
