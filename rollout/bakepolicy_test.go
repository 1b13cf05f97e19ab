package rollout

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
	"github.com/shepherd-go/shepherd/wave"
)

// The plan owns bake durations: a bake setting of the driver's policy
// takes effect or is rejected, never silently ignored.
func TestBakePolicyOneSourceOfTruth(t *testing.T) {
	h := func(n float64) duration.Duration { return duration.Duration(n * float64(time.Hour)) }
	plan := awsPlan(2, 2, 3) // the first wave ends with a 12h bake, the others bake 1h or 2h, the final bake 2h
	tests := []struct {
		name   string
		policy Policy
		// validate is what Policy.Validate reports; newState what NewState
		// reports on top (both "path: problem" lines without the package).
		validate, newState []string
		sentinels          []error
	}{
		{
			name:   "a minimum in any layer is rejected, not overwritten",
			policy: Policy{Bake: bake.Schedule{OneBox: bake.Policy{MinDuration: h(5)}, Waves: map[int]bake.Policy{1: {MinDuration: h(1)}}}},
			validate: []string{
				"policy.Bake.OneBox.MinDuration: 5h0m0s: the plan sets how long each stage bakes (its Stage.Bake and FinalBake, from wave.Policy.Bake); leave it zero here",
				"policy.Bake.Waves[1].MinDuration: 1h0m0s: the plan sets how long each stage bakes (its Stage.Bake and FinalBake, from wave.Policy.Bake); leave it zero here",
			},
			sentinels: []error{ErrInvalid},
		},
		{
			name:   "a maximum is compared with the plan's bakes, not bake's defaults",
			policy: Policy{Bake: bake.Schedule{Base: bake.Policy{MaxDuration: h(3)}}},
			newState: []string{
				`policy.Bake.Base.MaxDuration: 3h0m0s is less than the 12h0m0s bake of stage "w1/r0/r0-z1" (plan.Waves[0].Stages[1].Bake)`,
			},
			sentinels: []error{ErrInvalid},
		},
		{
			name:   "a maximum long enough for every bake of the plan runs",
			policy: Policy{Bake: bake.Schedule{Base: bake.Policy{MaxDuration: h(3)}, FirstWave: bake.Policy{MaxDuration: h(24)}}},
		},
		{
			name:   "the final bake has its own layer",
			policy: Policy{Bake: bake.Schedule{Final: bake.Policy{MaxDuration: h(1)}}},
			newState: []string{
				"policy.Bake.Final.MaxDuration: 1h0m0s is less than the 2h0m0s bake of the final bake (plan.FinalBake)",
			},
			sentinels: []error{ErrInvalid},
		},
		{
			name:   "bake's own problems pass through with their sentinel",
			policy: Policy{Bake: bake.Schedule{Base: bake.Policy{Evidence: []bake.Requirement{{Min: 1}}}}},
			validate: []string{
				"policy.Bake.Base.Evidence[0].Query: empty; a requirement needs a query to count its evidence",
			},
			sentinels: []error{ErrInvalid, bake.ErrInvalid},
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
			_, err = NewState("r", plan, "v2", tt.policy, time.Unix(0, 0))
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

// "Final" means one thing: the bake after the last stage. The stages of
// the last wave are a later wave's.
func TestStageBakeFinal(t *testing.T) {
	ev := func(q string) []bake.Requirement { return []bake.Requirement{{Query: q, Min: 1}} }
	p := Policy{Bake: bake.Schedule{
		OneBox:     bake.Policy{Evidence: ev("one-box")},
		FirstWave:  bake.Policy{Evidence: ev("first")},
		LaterWaves: bake.Policy{Evidence: ev("later")},
		Final:      bake.Policy{Evidence: ev("final")},
	}}
	d := duration.Duration(time.Hour)
	tests := []struct {
		wave int
		kind wave.StageKind
		want string
	}{
		{0, wave.OneBox, "one-box"},
		{0, wave.Zone, "first"},
		{1, wave.Zone, "later"},
		{3, wave.Region, "later"}, // the last of four waves
		{3, "", "final"},          // the final bake
		{3, KindFinal, "final"},   // the final bake's stage
	}
	for _, tt := range tests {
		bp, ok := p.stageBake(tt.wave, tt.kind, d)
		if !ok || bp.MinDuration != d || len(bp.Evidence) != 1 || bp.Evidence[0].Query != tt.want {
			t.Errorf("stageBake(%d, %q) = %+v, %t; want the %s layer with the plan's %s", tt.wave, tt.kind, bp, ok, tt.want, d)
		}
	}
	if _, ok := p.stageBake(0, wave.Zone, 0); ok {
		t.Error("a stage the plan does not bake bakes")
	}
}

// A plan that the planner rejects is rejected with the planner's own
// problems: errors.Is finds wave's sentinel, nothing is re-stringed.
func TestNewStatePassesPlanErrorsThrough(t *testing.T) {
	plan := awsPlan(1, 2, 3)
	plan.Waves[0].Stages[1].Name = plan.Waves[0].Stages[0].Name
	_, err := NewState("r", plan, "v2", Policy{}, time.Unix(0, 0))
	if !errors.Is(err, wave.ErrPlan) || !errors.Is(err, ErrInvalid) {
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
	var p Policy
	in := `{"reactions": {"alarm": "roll-back", "canary": "hold", "deadline": "pause", "blocked": "rollback"}}`
	if err := json.Unmarshal([]byte(in), &p); err != nil {
		t.Fatal(err)
	}
	want := map[Signal]Reaction{SignalAlarm: RollBack, SignalCanary: Pause, SignalDeadline: Pause, SignalBlocked: RollBack}
	if diff := cmp.Diff(want, p.Reactions); diff != "" {
		t.Errorf("reactions (-want +got):\n%s", diff)
	}
	if string(RollBack) != string(bake.RollBack) || string(Pause) != string(bake.Pause) {
		t.Errorf("rollout says %q and %q, bake %q and %q", RollBack, Pause, bake.RollBack, bake.Pause)
	}
}
