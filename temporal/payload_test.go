package temporal_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/temporal"
	"github.com/shepherd-go/shepherd/temporal/internal/testfleet"
)

// TestPayloadSizes measures what the workflow carries across
// continue-as-new for a finished rollout of 10,000 and 20,000 targets
// (every target deployed, run in memory through the same hands, 1,000
// events kept, 100 refused requests), in the form of earlier releases (the
// state as base64 in JSON) and in the packed form, and the packed start
// input. The packed input must fit under half the default MaxPayload.
func TestPayloadSizes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two large rollouts in memory")
	}
	for _, n := range []int{10000, 20000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			plan := rollouttest.AWSPlan(10, 10, n/100)
			f := testfleet.New(plan, "v1")
			now := testfleet.Monday9
			st, err := rollout.NewState("big", plan, "v2", rollout.Policy{}, now)
			if err != nil {
				t.Fatal(err)
			}
			h := rollout.Hands{Deployer: f.On("w"), Policy: st.Policy, Rollout: st.ID}
			var events []temporal.Record
			var seq uint64
			var obs []rollout.Observation
			for steps := 0; ; steps++ {
				out, err := st.Step(now, obs...)
				if err != nil {
					t.Fatal(err)
				}
				obs = nil
				for _, e := range out.Events {
					seq++
					events = append(events, temporal.Record{Seq: seq, Event: e})
				}
				if out.Done {
					break
				}
				for _, a := range out.Actions {
					obs = append(obs, h.Do(t.Context(), a, now))
				}
				if len(out.Actions) == 0 {
					if out.WakeAt.IsZero() {
						t.Fatalf("stuck at step %d: %+v", steps, st.Progress())
					}
					now = out.WakeAt
				}
			}
			if st.Phase != rollout.Succeeded {
				t.Fatalf("phase %s", st.Phase)
			}
			events = events[max(0, len(events)-temporal.DefaultKeepEvents):]
			var refused []rollout.AuditEntry
			for i := range temporal.DefaultKeepRefused {
				refused = append(refused, rollout.AuditEntry{
					Time: now, Kind: rollout.ControlAbort, Actor: fmt.Sprintf("mallory-%d", i), Reason: "chaos",
					Ignored: "not authorised: mallory is not on the release team",
				})
			}
			state, err := rollout.EncodeState(st)
			if err != nil {
				t.Fatal(err)
			}
			// The form of earlier releases: the state as []byte (base64).
			legacy, err := json.Marshal(struct {
				ID        string `json:"id"`
				Continued any    `json:"continued"`
			}{"big", struct {
				State   []byte               `json:"state"`
				Refused []rollout.AuditEntry `json:"refused"`
				Events  []temporal.Record    `json:"events"`
				Seq     uint64               `json:"seq"`
			}{state, refused, events, seq}})
			if err != nil {
				t.Fatal(err)
			}
			in, err := temporal.PackInput(temporal.Input{ID: "big", Continued: &temporal.Continued{
				State: state, Refused: refused, Events: events, Seq: seq,
			}}, 0)
			if err != nil {
				t.Fatalf("PackInput: %v", err)
			}
			packed, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			start, err := temporal.PackInput(temporal.Input{ID: "big", Plan: plan, Version: "v2"}, 0)
			if err != nil {
				t.Fatalf("PackInput at start: %v", err)
			}
			startJSON, _ := json.Marshal(start)
			planJSON, _ := json.Marshal(plan)
			t.Logf("%d targets: state %d B; continue-as-new input %d B before, %d B packed (%.1f B/target, %.1fx smaller); start input %d B plain, %d B packed",
				n, len(state), len(legacy), len(packed), float64(len(packed))/float64(n), float64(len(legacy))/float64(len(packed)), len(planJSON), len(startJSON))
			if len(packed) > temporal.DefaultMaxPayload/2 {
				t.Errorf("packed input %d B: over half the default MaxPayload", len(packed))
			}
		})
	}
}

// TestOversizedPlanRefused: a plan whose packed input is over MaxPayload
// is refused before anything starts, with ErrTooLarge (an ErrInvalid).
func TestOversizedPlanRefused(t *testing.T) {
	plan := rollouttest.AWSPlan(2, 2, 50)
	_, err := temporal.PackInput(temporal.Input{ID: "big", Plan: plan, Version: "v2"}, 1000)
	if !errors.Is(err, temporal.ErrTooLarge) || !errors.Is(err, rollout.ErrInvalid) {
		t.Fatalf("PackInput = %v, want ErrTooLarge and ErrInvalid", err)
	}
	if _, err := temporal.PackInput(temporal.Input{ID: "big", Plan: plan, Version: "v2"}, 0); err != nil {
		t.Fatalf("PackInput with the default limit = %v", err)
	}
}
