package rollout

import (
	"fmt"
	"sort"
	"time"

	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/wave"
)

// ValidatePlan reports every problem that keeps the driver from running
// plan, each with its field path: every invariant of [wave.Plan.Validate]
// (no waves, unnamed or duplicate stages, empty batches, duplicate target
// IDs, two zones of a region in one stage, a MinHealthy that a batch
// breaks, a negative bake, ...) and the driver's own.
func ValidatePlan(plan wave.Plan) error {
	var ps problems
	validatePlan(&ps, plan)
	return ps.err()
}

func validatePlan(ps *problems, plan wave.Plan) {
	// The planner's invariants first (one region in the first wave, no two
	// zones of a region in a stage, MinHealthy respected, ...), then the
	// driver's own.
	// wave's problems are passed on as wave reports them, so that
	// errors.Is(err, wave.ErrPlan) holds for the caller.
	if err := plan.Validate(); err != nil {
		ps.merge("", err)
		return
	}
	if len(plan.Waves) == 0 {
		ps.add("plan.Waves", "empty: nothing to deploy")
	}
	stages := map[string]string{}
	total := 0
	for wi, w := range plan.Waves {
		wp := fmt.Sprintf("plan.Waves[%d]", wi)
		if len(w.Stages) == 0 {
			ps.add(wp+".Stages", "empty")
		}
		for si, st := range w.Stages {
			sp := fmt.Sprintf("%s.Stages[%d]", wp, si)
			switch {
			case st.Name == "":
				ps.add(sp+".Name", "empty")
			case stages[st.Name] != "":
				ps.add(sp+".Name", "%q is also the name of %s", st.Name, stages[st.Name])
			case st.Name == FinalStage && plan.FinalBake > 0:
				ps.add(sp+".Name", "%q names the final bake's stage; rename the stage", st.Name)
			default:
				stages[st.Name] = sp
			}
			switch st.Kind {
			case wave.OneBox, wave.Zone, wave.Region:
			default:
				ps.add(sp+".Kind", "unknown stage kind %q", st.Kind)
			}
			if st.Bake < 0 {
				ps.add(sp+".Bake", "%s is negative", st.Bake)
			}
			if len(st.Batches) == 0 {
				ps.add(sp+".Batches", "empty")
			}
			size := 0
			for _, b := range st.Batches {
				size += len(b.Targets)
			}
			if st.MinHealthy < 0 || st.MinHealthy > size {
				ps.add(sp+".MinHealthy", "%d is outside [0, %d] (the stage's size)", st.MinHealthy, size)
			}
			for bi, b := range st.Batches {
				bp := fmt.Sprintf("%s.Batches[%d]", sp, bi)
				if len(b.Targets) == 0 {
					ps.add(bp+".Targets", "empty")
				}
				if st.MinHealthy >= 0 && st.MinHealthy <= size && len(b.Targets) > size-st.MinHealthy {
					ps.add(bp+".Targets", "%d targets at once would leave %d of %d healthy, below MinHealthy %d",
						len(b.Targets), size-len(b.Targets), size, st.MinHealthy)
				}
				// Empty and duplicate target IDs are the plan's own
				// problems, reported by its Validate above.
				total += len(b.Targets)
			}
		}
	}
}

// validateBakes checks the bake policy of every stage, and of the final
// bake, against the plan's durations: a maximum duration shorter than the
// bake the plan gives a stage is reported once per layer of the schedule
// that sets it, naming the first stage it is too short for.
func validateBakes(ps *problems, plan wave.Plan, p Policy) {
	if ps.len() > 0 {
		return // the plan or the schedule is already wrong
	}
	reported := map[string]bool{}
	check := func(path, what string, wi int, kind wave.StageKind, d duration.Duration) {
		bp, ok := p.stageBake(wi, kind, d)
		if !ok {
			return
		}
		if d.Std() > bake.MaxBake {
			ps.add(path, "%s is longer than a bake may last (%s)", d, bake.MaxBake)
			return
		}
		if bp.MaxDuration != 0 && bp.MaxDuration < d {
			layer := "policy.Bake." + p.maxDurationFrom(wi, kind) + ".MaxDuration"
			if !reported[layer] {
				reported[layer] = true
				ps.add(layer, "%s is less than the %s bake of %s (%s)", bp.MaxDuration, d, what, path)
			}
			return
		}
		// Every field was checked on its own and the bounds above: what
		// is left would be a bug here, reported rather than run.
		ps.merge("policy.Bake", bp.Validate())
	}
	for wi, w := range plan.Waves {
		for si, st := range w.Stages {
			check(fmt.Sprintf("plan.Waves[%d].Stages[%d].Bake", wi, si), fmt.Sprintf("stage %q", st.Name), wi, st.Kind, st.Bake)
		}
	}
	check("plan.FinalBake", "the final bake", len(plan.Waves)-1, "", plan.FinalBake)
}

// index is derived from the plan and the targets' statuses; it is rebuilt
// after decoding and kept up to date by setStatus.
type index struct {
	// stageLo[i] is the plan position of stage i's first target;
	// stageLo[len(stages)] is the number of targets.
	stageLo []int
	// batchLo[i][b] is the position of batch b of stage i;
	// batchLo[i][len(batches)] is stageLo[i+1].
	batchLo [][]int
	stages  []*wave.Stage
	targets []*wave.Target
	pos     map[string]int
	byName  map[string]int
	// next is the position after the target last observed: where the
	// next answer of a round most likely is.
	next int
	// counts by status, overall and per stage for the budget
	count    map[TargetStatus]int
	failed   []int
	ok       []int
	subjects []*Subject
	// final is the plan stage of the final bake, when the plan has one:
	// no targets, the plan's FinalBake.
	final wave.Stage
}

// planSize is the number of targets in plan.
func planSize(plan *wave.Plan) int {
	n := 0
	for wi := range plan.Waves {
		for si := range plan.Waves[wi].Stages {
			for bi := range plan.Waves[wi].Stages[si].Batches {
				n += len(plan.Waves[wi].Stages[si].Batches[bi].Targets)
			}
		}
	}
	return n
}

func newIndex(plan *wave.Plan) *index {
	ix := &index{pos: make(map[string]int, planSize(plan)), byName: map[string]int{}, count: map[TargetStatus]int{}}
	p := 0
	for wi := range plan.Waves {
		w := &plan.Waves[wi]
		for si := range w.Stages {
			st := &w.Stages[si]
			ix.byName[st.Name] = len(ix.stages)
			ix.stages = append(ix.stages, st)
			ix.stageLo = append(ix.stageLo, p)
			var lo []int
			for bi := range st.Batches {
				lo = append(lo, p)
				for ti := range st.Batches[bi].Targets {
					t := &st.Batches[bi].Targets[ti]
					ix.targets = append(ix.targets, t)
					ix.pos[t.ID] = p
					p++
				}
			}
			ix.batchLo = append(ix.batchLo, append(lo, p))
		}
	}
	if plan.FinalBake > 0 && len(ix.stages) > 0 {
		// The final bake is a stage with no targets, so that it runs
		// through the same pipeline as any other.
		last := ix.stages[len(ix.stages)-1]
		ix.final = wave.Stage{Name: FinalStage, Kind: KindFinal, Regions: last.Regions, Zones: last.Zones, Bake: plan.FinalBake,
			Reason: "the change is everywhere; it stays watched for the final bake"}
		ix.byName[FinalStage] = len(ix.stages)
		ix.stages = append(ix.stages, &ix.final)
		ix.stageLo = append(ix.stageLo, p)
		ix.batchLo = append(ix.batchLo, []int{p})
	}
	ix.stageLo = append(ix.stageLo, p)
	ix.failed = make([]int, len(ix.stages))
	ix.ok = make([]int, len(ix.stages))
	ix.subjects = make([]*Subject, len(ix.stages))
	return ix
}

// stageOf returns the stage index of plan position p.
func (ix *index) stageOf(p int) int {
	return sort.Search(len(ix.stages), func(i int) bool { return ix.stageLo[i+1] > p })
}

func (ix *index) size(si int) int { return ix.stageLo[si+1] - ix.stageLo[si] }

// NewState validates everything and returns the initial state of a rollout
// of version over plan, created at now. Every problem (an empty ID or
// version, an invalid plan or policy) is reported, each as a
// [*FieldError], before anything is touched.
func NewState(id string, plan wave.Plan, version string, policy Policy, now time.Time) (*State, error) {
	var ps problems
	if id == "" {
		ps.add("id", "empty")
	}
	if version == "" {
		ps.add("version", "empty: which version should be deployed?")
	}
	validatePlan(&ps, plan)
	policy.validate(&ps, "policy")
	validateBakes(&ps, plan, policy)
	if err := ps.err(); err != nil {
		return nil, err
	}
	s := &State{
		Schema:  SchemaVersion,
		ID:      id,
		Version: version,
		Plan:    plan,
		Policy:  policy,
		Phase:   Running,
		Created: now,
		Updated: now,
	}
	ix := newIndex(&s.Plan)
	s.Targets = make([]TargetState, len(ix.targets))
	for i, t := range ix.targets {
		s.Targets[i] = TargetState{ID: t.ID, Status: TargetPending}
	}
	for wi, w := range plan.Waves {
		for _, st := range w.Stages {
			s.Stages = append(s.Stages, StageState{Name: st.Name, Kind: st.Kind, Wave: wi, Step: StepPending})
		}
	}
	if len(ix.stages) > len(s.Stages) {
		s.Stages = append(s.Stages, StageState{Name: FinalStage, Kind: KindFinal, Wave: len(plan.Waves) - 1, Step: StepPending})
	}
	s.ix = ix
	s.recount()
	return s, nil
}

// recount rebuilds the status counts of the index.
func (s *State) recount() {
	ix := s.ix
	clear(ix.count)
	clear(ix.failed)
	clear(ix.ok)
	si := 0
	for p := range s.Targets {
		for ix.stageLo[si+1] <= p {
			si++
		}
		st := s.Targets[p].Status
		ix.count[st]++
		switch st {
		case TargetFailed:
			ix.failed[si]++
		case TargetDeployed, TargetUnchanged:
			ix.ok[si]++
		}
	}
}

// check verifies a state before a step: right schema, consistent with its
// plan. It builds the index of a decoded state.
func (s *State) check() error {
	if s == nil {
		return fmt.Errorf("%w: nil state", ErrInvalid)
	}
	if s.Schema != SchemaVersion {
		return &SchemaError{Got: s.Schema, Want: SchemaVersion}
	}
	if s.ix != nil {
		return nil
	}
	var ps problems
	validatePlan(&ps, s.Plan)
	s.Policy.validate(&ps, "policy")
	validateBakes(&ps, s.Plan, s.Policy)
	if s.Version == "" {
		ps.add("version", "empty")
	}
	if err := ps.err(); err != nil {
		return err
	}
	ix := newIndex(&s.Plan)
	if len(s.Targets) != len(ix.targets) || len(s.Stages) != len(ix.stages) {
		return fmt.Errorf("%w: state has %d targets and %d stages, its plan %d and %d",
			ErrCorrupt, len(s.Targets), len(s.Stages), len(ix.targets), len(ix.stages))
	}
	for i, t := range s.Targets {
		if t.ID != ix.targets[i].ID {
			return fmt.Errorf("%w: target %d is %q in the state, %q in the plan", ErrCorrupt, i, t.ID, ix.targets[i].ID)
		}
		if !knownStatus(t.Status) {
			return fmt.Errorf("%w: target %q has unknown status %q", ErrCorrupt, t.ID, t.Status)
		}
	}
	if s.Stage < 0 || s.Stage > len(s.Stages) {
		return fmt.Errorf("%w: stage cursor %d is outside [0, %d]", ErrCorrupt, s.Stage, len(s.Stages))
	}
	for i := range s.Stages {
		st := &s.Stages[i]
		if st.Name != ix.stages[i].Name {
			return fmt.Errorf("%w: stage %d is %q in the state, %q in the plan", ErrCorrupt, i, st.Name, ix.stages[i].Name)
		}
		if st.Step == StepPending || st.Step == StepPromoted {
			continue
		}
		steps := s.steps0(i, st.Kind)
		if st.Pos < 0 || st.Pos >= len(steps) || steps[st.Pos] != st.Step {
			return fmt.Errorf("%w: stage %q is at step %q (position %d), which its pipeline %v does not have there", ErrCorrupt, st.Name, st.Step, st.Pos, steps)
		}
	}
	switch s.Phase {
	case Running, RollingBack, Succeeded, RolledBack, RollbackFailed:
	default:
		return fmt.Errorf("%w: unknown phase %q", ErrCorrupt, s.Phase)
	}
	if s.Phase == RollingBack && (s.Rollback == nil || s.Rollback.Cursor < 0 || s.Rollback.Cursor > len(s.Targets)) {
		return fmt.Errorf("%w: rolling back without a valid rollback record", ErrCorrupt)
	}
	s.ix = ix
	s.recount()
	return nil
}

func knownStatus(st TargetStatus) bool {
	switch st {
	case TargetPending, TargetReading, TargetReady, TargetDeploying, TargetDeployed, TargetUnchanged,
		TargetFailed, TargetRollingBack, TargetRolledBack, TargetRollbackFailed:
		return true
	}
	return false
}

// setStatus moves the target at plan position p to status to, keeping the
// counts right.
func (s *State) setStatus(p int, to TargetStatus) {
	t := &s.Targets[p]
	s.touch(p)
	from := t.Status
	if from == to {
		return
	}
	ix := s.ix
	ix.count[from]--
	ix.count[to]++
	if from == TargetFailed || to == TargetFailed || from == TargetDeployed || to == TargetDeployed ||
		from == TargetUnchanged || to == TargetUnchanged {
		si := ix.stageOf(p)
		switch from {
		case TargetFailed:
			ix.failed[si]--
		case TargetDeployed, TargetUnchanged:
			ix.ok[si]--
		}
		switch to {
		case TargetFailed:
			ix.failed[si]++
		case TargetDeployed, TargetUnchanged:
			ix.ok[si]++
		}
	}
	t.Status = to
}

func (s *State) inflight() int {
	c := s.ix.count
	return c[TargetReading] + c[TargetDeploying] + c[TargetRollingBack]
}

// subject describes stage si to gates.
func (s *State) subject(si int) *Subject {
	if sub := s.ix.subjects[si]; sub != nil {
		return sub
	}
	st := s.ix.stages[si]
	if st.Kind == KindFinal {
		// The final bake watches what the last stage watched.
		sub := *s.subject(si - 1)
		s.ix.subjects[si] = &sub
		return &sub
	}
	sub := &Subject{
		Rollout: s.ID,
		Version: s.Version,
		Stage:   st.Name,
		Kind:    st.Kind,
		Wave:    s.Stages[si].Wave,
		Regions: st.Regions,
		Zones:   st.Zones,
	}
	n := 0
	for _, b := range st.Batches {
		n += len(b.Targets)
	}
	if n > 0 {
		sub.Targets = make([]string, 0, n)
	}
	for _, b := range st.Batches {
		for _, t := range b.Targets {
			sub.Targets = append(sub.Targets, t.ID)
		}
	}
	s.ix.subjects[si] = sub
	return sub
}
