package rollout

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/wave"
)

// FuzzDecodeState feeds arbitrary bytes to the decoder of saved states: it
// must never panic, and a state it accepts must encode and decode again to
// the same bytes and be able to step.
func FuzzDecodeState(f *testing.F) {
	st, _ := NewState("fz", awsPlan(1, 2, 3), "v2", Policy{}, monday9)
	good, _ := EncodeState(st)
	f.Add(good)
	st.Step(monday9)
	mid, _ := EncodeState(st)
	f.Add(mid)
	f.Add([]byte(`{"schema":1,"state":{},"checksum":"crc32c:0"}`))
	f.Add([]byte(`{"schema":2}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeState(data)
		if err != nil {
			return
		}
		again, err := EncodeState(s)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		s2, err := DecodeState(again)
		if err != nil {
			t.Fatalf("decode of a re-encoded state: %v", err)
		}
		if third, _ := EncodeState(s2); string(third) != string(again) {
			t.Fatal("encoding is not stable")
		}
		if _, err := s2.Step(s2.Updated, Restarted()); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("step of a decoded state: %v", err)
		}
	})
}

// FuzzNewState validates plans and policies from JSON: never a panic, and
// a state that validates runs to its end against an obliging fleet.
func FuzzNewState(f *testing.F) {
	plan, _ := json.Marshal(awsPlan(2, 2, 3))
	f.Add(plan, []byte(`{}`))
	f.Add(plan, []byte(`{"dryRun":true,"approvals":["w1/*"],"reactions":{"alarm":"pause"}}`))
	f.Add(plan, []byte(`{"deploy":{"concurrency":-1},"reactions":{"abort":"pause"}}`))
	f.Add([]byte(`{"levels":["region"],"waves":[{"index":0,"regions":["r"],"stages":[{"name":"s","kind":"region","regions":["r"],"batches":[{"targets":[{"id":"a","location":["r"]}]}],"minHealthy":0}]}]}`), []byte(`{"bake":{"base":{"minDuration":"1h"}}}`))
	f.Add([]byte(`{"levels":[],"waves":[{"stages":[{"batches":[{"targets":[{"id":"a"}]}]}]}]}`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, planJSON, policyJSON []byte) {
		var p wave.Plan
		var pol Policy
		if json.Unmarshal(planJSON, &p) != nil || json.Unmarshal(policyJSON, &pol) != nil {
			return
		}
		if len(allTargets(p)) > 200 {
			return
		}
		st, err := NewState("fz", p, "v2", pol, monday9)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("NewState error %v does not wrap ErrInvalid", err)
			}
			return
		}
		fl := newPureFleet(p)
		now := monday9
		var obs []Observation
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
						obs = append(obs, ObserveControl(Control{Kind: ControlApprove, Actor: "fuzz", Stage: name}))
					}
					if st.Hold != nil {
						obs = append(obs, ObserveControl(Control{Kind: ControlAbort, Actor: "fuzz", Reason: "held"}))
					}
					for _, s := range st.Stages {
						obs = append(obs, ObserveControl(Control{Kind: ControlApprove, Actor: "fuzz", Stage: s.Name}))
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
		plan := awsPlan(2, 1, 3)
		st, err := NewState("fz", plan, "v2", Policy{}, monday9)
		if err != nil {
			t.Fatal(err)
		}
		ids := allTargets(plan)
		now := monday9
		var last []Action
		for i := 0; i+1 < len(script); i += 2 {
			op, arg := script[i], int(script[i+1])
			var o Observation
			var a Action
			if len(last) > 0 {
				a = last[arg%len(last)]
			}
			id := ids[arg%len(ids)]
			switch op % 12 {
			case 0:
				o = ObserveVersion(a, []string{"v1", "v2", ""}[arg%3], nil)
				o.Target = id
			case 1:
				o = ObserveDeploy(a, "v2", 1, []error{nil, errors.New("x"), Permanent(errors.New("p"))}[arg%3])
				o.Target = id
			case 2:
				o = ObserveRollback(a, "v1", 1, []error{nil, errors.New("x")}[arg%2])
				o.Target = id
			case 3:
				o = ObserveBlockers(a, []BlockReason{{Blocker: "b", Reason: "r"}}[:arg%2], now.Add(time.Duration(arg)*time.Minute), nil)
			case 4:
				o = ObserveAlarms(a, []alarm.Result{{Name: "a", State: alarm.State(arg % 4)}}, nil)
			case 5:
				o = ObserveAlarms(a, nil, errors.New("down"))
			case 6:
				o = ObserveEvidence(a, []float64{float64(arg)}, nil)
			case 7:
				o = ObserveVerdict(a, Verdict{Outcome: []VerdictOutcome{VerdictPass, VerdictFail, "weird"}[arg%3]}, nil)
			case 8:
				o = Restarted()
			case 9:
				kinds := []ControlKind{ControlPause, ControlResume, ControlAbort, ControlApprove, ControlSkipBake, "nope"}
				o = ObserveControl(Control{Kind: kinds[arg%len(kinds)], Actor: "f", Stage: st.Stages[arg%len(st.Stages)].Name, Reason: "r"})
			case 10:
				now = now.Add(time.Duration(arg) * time.Minute)
				o = Restarted()
				o.Kind = ObsRestarted
			default:
				now = now.Add(-time.Duration(arg) * time.Second) // time going backwards
				o = ObserveBlockers(a, nil, time.Time{}, nil)
			}
			if arg%5 == 0 {
				o.Round += uint64(arg) // stale or future
			}
			out, err := st.Step(now, o)
			if err != nil {
				if !errors.Is(err, ErrInvalid) {
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
		data, err := EncodeState(st)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeState(data); err != nil {
			t.Fatalf("a stepped state does not decode: %v", err)
		}
	})
}
