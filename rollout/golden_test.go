package rollout_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
)

var update = flag.Bool("update", false, "rewrite the golden files of the current schema")

// goldenRun drives a small rollout (two regions of two zones of two hosts,
// wave 1 approved by hand) with every action answered at once, and stops
// where stop says, returning the state.
func goldenRun(t *testing.T, stop func(*rollout.State) bool) *rollout.State {
	t.Helper()
	plan := rollouttest.AWSPlan(2, 2, 2)
	f := newPureFleet(plan)
	st, err := rollout.NewState("golden", plan, "v2", rollout.Policy{Approvals: []string{"w1/*"}}, monday9)
	if err != nil {
		t.Fatal(err)
	}
	now := monday9
	var obs []rollout.Observation
	for range 100000 {
		if stop(st) {
			return st
		}
		if cur := current(st); cur != nil && cur.Step == rollout.StepApproval && cur.Approval == nil && !cur.AskedAt.IsZero() {
			obs = append(obs, rollout.ObserveControl(rollout.Control{Kind: rollout.ControlApprove, Actor: "alice", Stage: cur.Name}))
		}
		out, err := st.Step(now, obs...)
		if err != nil {
			t.Fatal(err)
		}
		obs = nil
		for _, a := range out.Actions {
			obs = append(obs, f.answer(a, now))
		}
		if len(out.Actions) == 0 && len(obs) == 0 {
			now = out.WakeAt
		}
	}
	t.Fatal("the golden run never reached its stop")
	return nil
}

var goldenStops = map[string]func(*rollout.State) bool{
	"baking": func(s *rollout.State) bool {
		return s.Stage == 2 && s.Stages[2].Step == rollout.StepBake && s.Stages[2].BakeNote != ""
	},
	"final": func(s *rollout.State) bool {
		st := current(s)
		return st != nil && st.Kind == rollout.KindFinal && st.BakeNote != ""
	},
}

// TestGoldenStatesOfSchema1 decodes states saved by the schema-1 driver
// (the final bake in a field of its own, steps named "baking"): they
// migrate, and a restarted driver carries them to the end.
func TestGoldenStatesOfSchema1(t *testing.T) {
	for name := range goldenStops {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "state-v1-"+name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(data, []byte(`{"schema":1,`)) {
				t.Fatal("the golden file is not of schema 1")
			}
			st, err := rollout.DecodeState(data)
			if err != nil {
				t.Fatal(err)
			}
			if st.Schema != rollout.SchemaVersion {
				t.Errorf("schema %d after decoding, want %d", st.Schema, rollout.SchemaVersion)
			}
			last := st.Stages[len(st.Stages)-1]
			if last.Name != rollout.FinalStage || last.Kind != rollout.KindFinal {
				t.Fatalf("last stage %q of kind %q, want the final bake", last.Name, last.Kind)
			}
			if name == "final" && (last.Step != rollout.StepBake || last.Bake == nil || current(st) != &st.Stages[len(st.Stages)-1]) {
				t.Fatalf("the final bake in progress was not carried over: %+v", last)
			}
			finish(t, st)
		})
	}
}

// TestGoldenStatesOfThisSchema pins the saved form: a change to the layout
// shows here, and must come with a new schema version and a migration.
// Run with -update to rewrite the files after such a change.
func TestGoldenStatesOfThisSchema(t *testing.T) {
	for name, stop := range goldenStops {
		t.Run(name, func(t *testing.T) {
			got, err := rollout.EncodeState(goldenRun(t, stop))
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join("testdata", "state-v2-"+name+".json")
			if *update {
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("the saved form changed (%s); bump SchemaVersion, migrate, and rerun with -update", file)
			}
			st, err := rollout.DecodeState(want)
			if err != nil {
				t.Fatal(err)
			}
			finish(t, st)
		})
	}
}

// finish restarts a decoded state and drives it to success.
func finish(t *testing.T, st *rollout.State) {
	t.Helper()
	f := newPureFleet(st.Plan)
	for i, ts := range st.Targets {
		if ts.Current != "" {
			f.v[st.Targets[i].ID] = ts.Current
		}
	}
	obs := []rollout.Observation{rollout.Restarted()}
	now := st.Updated
	for range 100000 {
		out, err := st.Step(now, obs...)
		if err != nil {
			t.Fatal(err)
		}
		if out.Done {
			if st.Phase != rollout.Succeeded {
				t.Fatalf("ended %s: %+v", st.Phase, st.Rollback)
			}
			return
		}
		obs = nil
		if cur := current(st); cur != nil && cur.Step == rollout.StepApproval && cur.Approval == nil && !cur.AskedAt.IsZero() {
			obs = append(obs, rollout.ObserveControl(rollout.Control{Kind: rollout.ControlApprove, Actor: "alice", Stage: cur.Name}))
		}
		for _, a := range out.Actions {
			obs = append(obs, f.answer(a, now))
		}
		if len(out.Actions) == 0 && len(obs) == 0 {
			now = out.WakeAt
		}
	}
	t.Fatal("never ended")
}
