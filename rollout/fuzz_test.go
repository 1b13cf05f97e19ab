package rollout_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

// FuzzDecodeState feeds arbitrary bytes to the decoder of saved states: it
// must never panic, and a state it accepts must encode and decode again to
// the same bytes and be able to step.
func FuzzDecodeState(f *testing.F) {
	st, _ := rollout.NewState("fz", rollouttest.AWSPlan(1, 2, 3), "v2", rollout.Policy{}, monday9)
	good, _ := rollout.EncodeState(st)
	f.Add(good)
	st.Step(monday9)
	mid, _ := rollout.EncodeState(st)
	f.Add(mid)
	f.Add([]byte(`{"schema":1,"state":{},"checksum":"crc32c:0"}`))
	f.Add([]byte(`{"schema":2}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := rollout.DecodeState(data)
		if err != nil {
			return
		}
		again, err := rollout.EncodeState(s)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		s2, err := rollout.DecodeState(again)
		if err != nil {
			t.Fatalf("decode of a re-encoded state: %v", err)
		}
		if third, _ := rollout.EncodeState(s2); string(third) != string(again) {
			t.Fatal("encoding is not stable")
		}
		if _, err := s2.Step(s2.Updated, rollout.Restarted()); err != nil && !errors.Is(err, rollout.ErrInvalid) {
			t.Fatalf("step of a decoded state: %v", err)
		}
	})
}

// FuzzNewState validates plans and policies from JSON: never a panic, and
// a state that validates runs to its end against an obliging fleet.
func FuzzNewState(f *testing.F) {
	plan, _ := json.Marshal(rollouttest.AWSPlan(2, 2, 3))
	f.Add(plan, []byte(`{}`))
	f.Add(plan, []byte(`{"dryRun":true,"approvals":["w1/*"],"reactions":{"alarm":"pause"}}`))
	f.Add(plan, []byte(`{"deploy":{"concurrency":-1},"reactions":{"abort":"pause"}}`))
	f.Add([]byte(`{"levels":["region"],"waves":[{"index":0,"regions":["r"],"stages":[{"name":"s","kind":"region","regions":["r"],"batches":[{"targets":[{"id":"a","location":["r"]}]}],"minHealthy":0}]}]}`), []byte(`{"bake":{"base":{"minDuration":"1h"}}}`))
	f.Add([]byte(`{"levels":[],"waves":[{"stages":[{"batches":[{"targets":[{"id":"a"}]}]}]}]}`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, planJSON, policyJSON []byte) {
		var p wave.Plan
		var pol rollout.Policy
		if json.Unmarshal(planJSON, &p) != nil || json.Unmarshal(policyJSON, &pol) != nil {
			return
		}
		if len(rollouttest.AllTargets(p)) > 200 {
			return
		}
		st, err := rollout.NewState("fz", p, "v2", pol, monday9)
		if err != nil {
			if !errors.Is(err, rollout.ErrInvalid) {
				t.Fatalf("NewState error %v does not wrap ErrInvalid", err)
			}
			return
		}
		fl := newPureFleet(p)
		now := monday9
		var obs []rollout.Observation
		for i := 0; i < 5000; i++ {
			out, err := st.Step(now, obs...)
			if err != nil {
				t.Fatal(err)
			}
			if out.Done {
				return
			}
			obs = nil
			for _, a := range out.Actions {
				obs = append(obs, fl.answer(a, now))
			}
			if len(out.Actions) == 0 {
				if out.WakeAt.IsZero() {
					// Waiting for a human (an approval): approve all.
					for _, name := range pol.Approvals {
						obs = append(obs, rollout.ObserveControl(rollout.Control{Kind: rollout.ControlApprove, Actor: "fuzz", Stage: name}))
					}
					if st.Hold != nil {
						obs = append(obs, rollout.ObserveControl(rollout.Control{Kind: rollout.ControlAbort, Actor: "fuzz", Reason: "held"}))
					}
					for _, s := range st.Stages {
						obs = append(obs, rollout.ObserveControl(rollout.Control{Kind: rollout.ControlApprove, Actor: "fuzz", Stage: s.Name}))
					}
					continue
				}
				if !out.WakeAt.After(now) {
					t.Fatalf("wake-up %v not after %v", out.WakeAt, now)
				}
				now = out.WakeAt
			}
		}
	})
}

// FuzzStep throws arbitrary observations at a running state: Step must
// never panic, must refuse only malformed observations, and must keep its
// state encodable.
func FuzzStep(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{3, 3, 3, 3, 200, 17, 4, 4, 9, 9, 1})
	f.Add([]byte("restart pause abort approve"))
	f.Fuzz(func(t *testing.T, script []byte) {
		plan := rollouttest.AWSPlan(2, 1, 3)
		st, err := rollout.NewState("fz", plan, "v2", rollout.Policy{}, monday9)
		if err != nil {
			t.Fatal(err)
		}
		ids := rollouttest.AllTargets(plan)
		now := monday9
		var last []rollout.Action
		for i := 0; i+1 < len(script); i += 2 {
			op, arg := script[i], int(script[i+1])
			var o rollout.Observation
			var a rollout.Action
			if len(last) > 0 {
				a = last[arg%len(last)]
			}
			id := ids[arg%len(ids)]
			switch op % 12 {
			case 0:
				o = rollout.ObserveVersion(a, []string{"v1", "v2", ""}[arg%3], nil)
				o.Target = id
			case 1:
				o = rollout.ObserveDeploy(a, "v2", 1, []error{nil, errors.New("x"), rollout.Permanent(errors.New("p"))}[arg%3])
				o.Target = id
			case 2:
				o = rollout.ObserveRollback(a, "v1", 1, []error{nil, errors.New("x")}[arg%2])
				o.Target = id
			case 3:
				o = rollout.ObserveBlockers(a, []rollout.BlockReason{{Blocker: "b", Reason: "r"}}[:arg%2], now.Add(time.Duration(arg)*time.Minute), nil)
			case 4:
				o = rollout.ObserveAlarms(a, []alarm.Result{{Name: "a", State: alarm.State(arg % 4)}}, nil)
			case 5:
				o = rollout.ObserveAlarms(a, nil, errors.New("down"))
			case 6:
				o = rollout.ObserveEvidence(a, []float64{float64(arg)}, nil)
			case 7:
				o = rollout.ObserveVerdict(a, rollout.Verdict{Outcome: []rollout.VerdictOutcome{rollout.VerdictPass, rollout.VerdictFail, "weird"}[arg%3]}, nil)
			case 8:
				o = rollout.Restarted()
			case 9:
				kinds := []rollout.ControlKind{rollout.ControlPause, rollout.ControlResume, rollout.ControlAbort, rollout.ControlApprove, rollout.ControlSkipBake, "nope"}
				o = rollout.ObserveControl(rollout.Control{Kind: kinds[arg%len(kinds)], Actor: "f", Stage: st.Stages[arg%len(st.Stages)].Name, Reason: "r"})
			case 10:
				now = now.Add(time.Duration(arg) * time.Minute)
				o = rollout.Restarted()
				o.Kind = rollout.ObsRestarted
			default:
				now = now.Add(-time.Duration(arg) * time.Second) // time going backwards
				o = rollout.ObserveBlockers(a, nil, time.Time{}, nil)
			}
			if arg%5 == 0 {
				o.Round += uint64(arg) // stale or future
			}
			out, err := st.Step(now, o)
			if err != nil {
				if !errors.Is(err, rollout.ErrInvalid) {
					t.Fatalf("step: %v", err)
				}
				continue
			}
			if len(out.Actions) > 0 {
				last = out.Actions
			}
			if out.Done {
				break
			}
		}
		data, err := rollout.EncodeState(st)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rollout.DecodeState(data); err != nil {
			t.Fatalf("a stepped state does not decode: %v", err)
		}
	})
}
