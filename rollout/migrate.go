package rollout

import (
	"encoding/json"
	"fmt"
	"slices"
)

// migrate brings a state decoded from an older schema (raw is its JSON) to
// [SchemaVersion]. It changes only what the layout changed; the decisions
// the state records stay as they were.
func migrate(s *State, raw json.RawMessage) error {
	if s.Schema == 1 {
		if err := migrate1(s, raw); err != nil {
			return fmt.Errorf("%w: migrating from schema 1: %v", ErrCorrupt, err)
		}
		s.Schema = 2
	}
	return nil
}

// migrate1: the final bake moves from State.Final to a trailing stage, and
// steps are named by kind with their position in the default pipeline
// (schema 1 had no other).
func migrate1(s *State, raw json.RawMessage) error {
	var v1 struct {
		Final *StageState `json:"final"`
	}
	if err := json.Unmarshal(raw, &v1); err != nil {
		return err
	}
	renamed := map[StepKind]StepKind{"deploying": StepDeploy, "baking": StepBake, "judging": StepJudge}
	fix := func(st *StageState, steps []StepKind) {
		if k, ok := renamed[st.Step]; ok {
			st.Step = k
		}
		switch st.Step {
		case StepPending:
		case StepPromoted:
			st.Pos = len(steps)
		default:
			st.Pos = max(0, slices.Index(steps, st.Step))
		}
	}
	for i := range s.Stages {
		fix(&s.Stages[i], DefaultSteps)
	}
	if s.Plan.FinalBake <= 0 || len(s.Plan.Waves) == 0 {
		return nil
	}
	final := StageState{Name: FinalStage, Kind: KindFinal, Wave: len(s.Plan.Waves) - 1, Step: StepPending}
	if v1.Final != nil {
		final = *v1.Final
		final.Name, final.Kind = FinalStage, KindFinal
		fix(&final, finalSteps)
	}
	s.Stages = append(s.Stages, final)
	return nil
}
