package rollout_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/field"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

// The plan owns bake durations: a bake setting of the driver's policy
// takes effect or is rejected, never silently ignored.
func TestBakePolicyOneSourceOfTruth(t *testing.T) {
	h := func(n float64) duration.Duration { return duration.Duration(n * float64(time.Hour)) }
	plan := rollouttest.AWSPlan(2, 2, 3) // the first wave ends with a 12h bake, the others bake 1h or 2h, the final bake 2h
	tests := []struct {
		name   string
		policy rollout.Policy
		// validate is what Policy.Validate reports; newState what NewState
		// reports on top (both "path: problem" lines without the package).
		validate, newState []string
		sentinels          []error
	}{
		{
			name:   "a minimum in any layer is rejected, not overwritten",
			policy: rollout.Policy{Bake: bake.Schedule{OneBox: bake.Policy{MinDuration: h(5)}, Waves: map[int]bake.Policy{1: {MinDuration: h(1)}}}},
			validate: []string{
				"policy.Bake.OneBox.MinDuration: 5h0m0s: the plan sets how long each stage bakes (its Stage.Bake and FinalBake, from wave.Policy.Bake); leave it zero here",
				"policy.Bake.Waves[1].MinDuration: 1h0m0s: the plan sets how long each stage bakes (its Stage.Bake and FinalBake, from wave.Policy.Bake); leave it zero here",
			},
			sentinels: []error{rollout.ErrInvalid},
		},
		{
			name:   "a maximum is compared with the plan's bakes, not bake's defaults",
			policy: rollout.Policy{Bake: bake.Schedule{Base: bake.Policy{MaxDuration: h(3)}}},
			newState: []string{
				`policy.Bake.Base.MaxDuration: 3h0m0s is less than the 12h0m0s bake of stage "w1/r0/r0-z1" (plan.Waves[0].Stages[1].Bake)`,
			},
			sentinels: []error{rollout.ErrInvalid},
		},
		{
			name:   "a maximum long enough for every bake of the plan runs",
			policy: rollout.Policy{Bake: bake.Schedule{Base: bake.Policy{MaxDuration: h(3)}, FirstWave: bake.Policy{MaxDuration: h(24)}}},
		},
		{
			name:   "the final bake has its own layer",
			policy: rollout.Policy{Bake: bake.Schedule{Final: bake.Policy{MaxDuration: h(1)}}},
			newState: []string{
				"policy.Bake.Final.MaxDuration: 1h0m0s is less than the 2h0m0s bake of the final bake (plan.FinalBake)",
			},
			sentinels: []error{rollout.ErrInvalid},
		},
		{
			name:   "bake's own problems pass through with their sentinel",
			policy: rollout.Policy{Bake: bake.Schedule{Base: bake.Policy{Evidence: []bake.Requirement{{Min: 1}}}}},
			validate: []string{
				"policy.Bake.Base.Evidence[0].Query: empty; a requirement needs a query to count its evidence",
			},
			sentinels: []error{rollout.ErrInvalid, bake.ErrInvalid},
		},
	}
	lines := func(err error) []string {
		var out []string
		for _, fe := range field.All(err) {
			out = append(out, fe.Path+": "+fe.Problem)
		}
		return out
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Validate()
			if diff := cmp.Diff(tt.validate, lines(err)); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
			_, err = rollout.NewState("r", plan, "v2", tt.policy, time.Unix(0, 0))
			if diff := cmp.Diff(append(tt.validate, tt.newState...), lines(err)); diff != "" {
				t.Errorf("NewState (-want +got):\n%s", diff)
			}
			for _, s := range tt.sentinels {
				if !errors.Is(err, s) {
					t.Errorf("NewState = %v, does not wrap %v", err, s)
				}
			}
		})
	}
}

// A plan that the planner rejects is rejected with the planner's own
// problems: errors.Is finds wave's sentinel, nothing is re-stringed.
func TestNewStatePassesPlanErrorsThrough(t *testing.T) {
	plan := rollouttest.AWSPlan(1, 2, 3)
	plan.Waves[0].Stages[1].Name = plan.Waves[0].Stages[0].Name
	_, err := rollout.NewState("r", plan, "v2", rollout.Policy{}, time.Unix(0, 0))
	if !errors.Is(err, wave.ErrPlan) || !errors.Is(err, rollout.ErrInvalid) {
		t.Fatalf("NewState = %v, want wave.ErrPlan and ErrInvalid", err)
	}
	var we *wave.FieldError
	if !errors.As(err, &we) || !strings.HasPrefix(err.Error(), "wave: plan.") {
		t.Errorf("NewState = %v, want wave's own field errors", err)
	}
}

// One vocabulary for policy data: a reaction is "rollback" or "pause",
// the same words as bake's consequences, and bake's former spellings
// decode too.
func TestReactionSpellings(t *testing.T) {
	var p rollout.Policy
	in := `{"reactions": {"alarm": "roll-back", "canary": "hold", "deadline": "pause", "blocked": "rollback"}}`
	if err := json.Unmarshal([]byte(in), &p); err != nil {
		t.Fatal(err)
	}
	want := map[rollout.Signal]rollout.Reaction{rollout.SignalAlarm: rollout.RollBack, rollout.SignalCanary: rollout.Pause, rollout.SignalDeadline: rollout.Pause, rollout.SignalBlocked: rollout.RollBack}
	if diff := cmp.Diff(want, p.Reactions); diff != "" {
		t.Errorf("reactions (-want +got):\n%s", diff)
	}
	if string(rollout.RollBack) != string(bake.RollBack) || string(rollout.Pause) != string(bake.Pause) {
		t.Errorf("rollout says %q and %q, bake %q and %q", rollout.RollBack, rollout.Pause, bake.RollBack, bake.Pause)
	}
}
