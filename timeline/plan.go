package timeline

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/wave"
)

// DefaultBatchDeploy is the time [FromPlan] assumes one batch takes to
// deploy when [Estimate.BatchDeploy] is zero.
const DefaultBatchDeploy = 10 * time.Minute

// Estimate is what [FromPlan] assumes to place a plan's stages in time.
type Estimate struct {
	// Start is when the first stage starts. It must be set.
	Start time.Time
	// BatchDeploy is how long one batch takes to deploy; zero means
	// [DefaultBatchDeploy]. A stage then takes its batches' deploy time
	// plus its bake, and starts when the previous stage's bake ends.
	BatchDeploy time.Duration
}

// FromPlan draws a plan before it runs: one row per stage, grouped by wave,
// with a deploying span for its batches and a baking span for its bake,
// placed one after the other from e.Start. The timeline is marked
// [Timeline.Estimated]; real runs wait for blockers, approvals and slow
// batches that an estimate cannot know.
func FromPlan(p *wave.Plan, e Estimate) (*Timeline, error) {
	if p == nil {
		return nil, errors.New("timeline: from plan: nil plan")
	}
	var errs []error
	if e.Start.IsZero() {
		errs = append(errs, errors.New("timeline: from plan: Estimate.Start: zero"))
	}
	if e.BatchDeploy < 0 {
		errs = append(errs, fmt.Errorf("timeline: from plan: Estimate.BatchDeploy: %s is negative", e.BatchDeploy))
	}
	for _, w := range p.Waves {
		for _, s := range w.Stages {
			if s.Bake < 0 {
				errs = append(errs, fmt.Errorf("timeline: from plan: stage %q: negative bake %s", s.Name, s.Bake))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	batch := e.BatchDeploy
	if batch == 0 {
		batch = DefaultBatchDeploy
	}
	t := &Timeline{Title: planTitle(p), Estimated: true, Rows: PlanRows(p)}
	at := e.Start
	i := 0
	for _, w := range p.Waves {
		for _, s := range w.Stages {
			r := &t.Rows[i]
			i++
			if n := len(s.Batches); n > 0 {
				end := at.Add(time.Duration(n) * batch)
				r.Spans = append(r.Spans, Span{Kind: Deploying, Start: at, End: end, Label: plural(n, "batch", "batches")})
				at = end
			}
			if bake := s.Bake.Std(); bake > 0 {
				end := at.Add(bake)
				r.Spans = append(r.Spans, Span{Kind: Baking, Start: at, End: end, Label: "bake " + human(bake)})
				at = end
			}
		}
	}
	if err := t.Validate(); err != nil {
		// Duplicate stage names in the plan.
		return nil, fmt.Errorf("timeline: from plan: %w", err)
	}
	return t, nil
}

// PlanRows returns one row per stage of the plan, in order, with no spans:
// Name is the stage's name, Group its wave ("wave 1: us-east-1") and Detail
// its kind, size and reason. A timeline built from a run's events starts
// from these rows, so that stages not reached yet show as pending.
func PlanRows(p *wave.Plan) []Row {
	if p == nil {
		return nil
	}
	var rows []Row
	for _, w := range p.Waves {
		group := fmt.Sprintf("wave %d", w.Index+1)
		if len(w.Regions) > 0 {
			group += ": " + strings.Join(w.Regions, ", ")
		}
		for _, s := range w.Stages {
			targets := 0
			for _, b := range s.Batches {
				targets += len(b.Targets)
			}
			detail := fmt.Sprintf("%s, %s in %s", s.Kind, plural(targets, "target", "targets"), plural(len(s.Batches), "batch", "batches"))
			if s.Reason != "" {
				detail += ": " + s.Reason
			}
			rows = append(rows, Row{Name: s.Name, Group: group, Detail: detail})
		}
	}
	return rows
}

func planTitle(p *wave.Plan) string {
	stages, targets := 0, 0
	for _, w := range p.Waves {
		stages += len(w.Stages)
		for _, s := range w.Stages {
			for _, b := range s.Batches {
				targets += len(b.Targets)
			}
		}
	}
	return fmt.Sprintf("Plan: %s, %s, %s", plural(len(p.Waves), "wave", "waves"),
		plural(stages, "stage", "stages"), plural(targets, "target", "targets"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
