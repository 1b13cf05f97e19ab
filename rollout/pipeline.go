package rollout

import (
	"fmt"
	"path"
	"time"

	"github.com/shepherd-go/shepherd/wave"
)

// StepKind names a kind of step of a stage's pipeline ([Policy.Steps]).
type StepKind string

// The step kinds. Each is one small type in a file of its own
// (step_KIND.go) registered in the kinds table below.
const (
	// StepBlockers waits until no blocker holds the stage.
	StepBlockers StepKind = "blockers"
	// StepApproval waits for a manual approval when the stage needs one
	// ([Policy.Approvals]).
	StepApproval StepKind = "approval"
	// StepDeploy deploys the stage's batches.
	StepDeploy StepKind = "deploy"
	// StepVerify runs the stage's verification ([Verifier],
	// [VerifyPolicy]).
	StepVerify StepKind = "verify"
	// StepBake bakes the stage: a minimum time AND a minimum amount of
	// evidence, alarms watched.
	StepBake StepKind = "bake"
	// StepJudge asks the canary judge for the deciding verdict
	// ([CanaryPolicy]).
	StepJudge StepKind = "judge"
)

// DefaultSteps is the pipeline of a stage when [Policy.Steps] is empty.
var DefaultSteps = []StepKind{StepBlockers, StepApproval, StepDeploy, StepBake, StepJudge}

// FinalStage names the rollout's final bake: a trailing stage with no
// targets whose pipeline is a bake alone, present when the plan has a
// FinalBake. Its gates are asked about the plan's last stage.
const FinalStage = "final"

// KindFinal is the [wave.StageKind] of the [FinalStage].
const KindFinal wave.StageKind = "final"

// finalSteps is the final stage's pipeline.
var finalSteps = []StepKind{StepBake}

// A stepper is one kind of step: its decisions, its dry run, the activity
// its time is charged to, and its events. The pipeline calls it; it never
// calls the next step itself but [State.next].
type stepper interface {
	// applies reports whether the step does anything for stage si. A step
	// that does not apply is passed over without a trace.
	applies(s *State, si int) bool
	// enter begins the step for stage si.
	enter(s *State, now time.Time, si int, out *Output)
	// run advances the step. It returns true when the rollout moved on
	// (the caller decides again at once), false when it waits: for the
	// observations of the actions it put in out, or until out.WakeAt.
	run(s *State, now time.Time, si int, out *Output) bool
	// activity says what time spent in the step is charged to, if
	// anything.
	activity(st *StageState) (Activity, bool)
	// resumed adjusts the step when a pause is lifted.
	resumed(s *State, now time.Time, si int)
}

// kinds is the table of step kinds: adding a kind is one file with its
// stepper and one line here.
var kinds = map[StepKind]stepper{
	StepBlockers: blockersStep{},
	StepApproval: approvalStep{},
	StepDeploy:   deployStep{},
	StepVerify:   verifyStep{},
	StepBake:     bakeStep{},
	StepJudge:    judgeStep{},
	StepExposure: exposureStep{},
}

// steps returns the pipeline of stage si.
func (s *State) steps(si int) []StepKind { return s.steps0(si, s.Stages[si].Kind) }

func (s *State) steps0(si int, k wave.StageKind) []StepKind {
	if k == KindFinal {
		return finalSteps
	}
	if len(s.Policy.Steps) > 0 {
		return s.Policy.Steps
	}
	return DefaultSteps
}

// validateSteps checks a pipeline: known kinds, each at most once, a
// deploy, and nothing that needs deployed targets before the deploy.
func validateSteps(ps *problems, prefix string, steps []StepKind) {
	if len(steps) == 0 {
		return
	}
	seen := map[StepKind]int{}
	for i, k := range steps {
		p := fmt.Sprintf("%s[%d]", prefix, i)
		if _, ok := kinds[k]; !ok {
			ps.add(p, "unknown step kind %q (known: blockers, approval, deploy, verify, exposure, bake, judge)", k)
			continue
		}
		if j, dup := seen[k]; dup {
			ps.add(p, "step %q appears twice (first at %d)", k, j)
			continue
		}
		seen[k] = i
	}
	d, ok := seen[StepDeploy]
	if !ok {
		ps.add(prefix, "no %q step: a stage must deploy its targets", StepDeploy)
		return
	}
	for _, k := range []StepKind{StepVerify, StepExposure, StepBake, StepJudge} {
		if i, ok := seen[k]; ok && i < d {
			ps.add(fmt.Sprintf("%s[%d]", prefix, i), "step %q comes before %q: it needs the stage's targets deployed", k, StepDeploy)
		}
	}
}

// stageStep advances the stage in progress through its pipeline.
func (s *State) stageStep(now time.Time, out *Output) bool {
	si := s.Stage
	st := &s.Stages[si]
	switch st.Step {
	case StepPending:
		if si == 0 {
			s.event(out, now, Event{Kind: EventStarted, Version: s.Version, Targets: len(s.Targets)})
		}
		st.Started = now
		st.Next = now
		s.stageEvent(out, now, si, Event{Kind: EventStageStarted, Targets: s.ix.size(si), Reason: s.ix.stages[si].Reason})
		out.Persist = true
		s.enterFrom(now, si, 0, out)
		return true
	case StepPromoted:
		s.Stage++
		return true
	}
	k, ok := kinds[st.Step]
	if !ok { // check refuses such states; never here
		s.raise(SignalFailureBudget, fmt.Sprintf("stage %s is at an unknown step %q", st.Name, st.Step))
		return true
	}
	return k.run(s, now, si, out)
}

// next ends the step in progress of stage si and enters the next one that
// applies, or promotes the stage after its last.
func (s *State) next(now time.Time, si int, out *Output) {
	if s.exposureNext(now, si, out) {
		return // a gate of the exposure's schedule ended: the schedule goes on
	}
	s.enterFrom(now, si, s.Stages[si].Pos+1, out)
	out.Persist = true
}

func (s *State) enterFrom(now time.Time, si, pos int, out *Output) {
	st := &s.Stages[si]
	steps := s.steps(si)
	for ; pos < len(steps); pos++ {
		k := kinds[steps[pos]]
		if !k.applies(s, si) {
			continue
		}
		st.Step, st.Pos = steps[pos], pos
		st.Next = now
		k.enter(s, now, si, out)
		return
	}
	s.promote(now, si, out)
}

func (s *State) promote(now time.Time, si int, out *Output) {
	st := &s.Stages[si]
	st.Step = StepPromoted
	st.Pos = len(s.steps(si))
	st.Finished = now
	tm := st.Timings
	s.stageEvent(out, now, si, Event{Kind: EventStagePromoted, Duration: now.Sub(st.Started), Timings: &tm})
	s.Stage = si + 1
	out.Persist = true
}

// matches reports whether name matches one of the patterns ([path.Match]).
func matches(patterns []string, name string) bool {
	for _, pat := range patterns {
		if ok, _ := path.Match(pat, name); ok {
			return true
		}
	}
	return false
}
