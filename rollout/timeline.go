package rollout

import (
	"fmt"
	"sync"

	"github.com/shepherd-go/shepherd/timeline"
	"github.com/shepherd-go/shepherd/wave"
)

// TimelineRecorder draws a rollout's events on a [timeline.Timeline], as
// they happen: pass its Event method as [Options.OnEvent] (directly or
// with others). Its rows are the plan's stages ([timeline.PlanRows]), plus
// a row for the final bake when the plan has one; a batch opens a
// deploying span, a bake a baking span, a blocker or an approval a
// waiting span, alarms, verdicts and signals are marks, and a rollback
// draws on every stage that deployed something. Several recorders may
// share a timeline (one rollout each, told apart by their labels) when
// their events come one at a time. Its methods are safe for concurrent
// use.
type TimelineRecorder struct {
	mu     sync.Mutex
	tl     *timeline.Timeline
	prefix string
	rows   []string // the rollout's rows, in plan order
	final  string   // the final bake's row, "" when the plan has none
	// touched lists the rows that deployed something, in order: a
	// rollback draws on them.
	touched []string
	seen    map[string]bool
	err     error
}

// NewTimelineRecorder appends the plan's stages to tl as the rows of one
// rollout and returns the recorder that draws its events there. A
// non-empty label names the rollout on a shared timeline: its rows are
// then named "label stage" ("v2 w1/one-box/eu-west-1") and grouped under
// "label · wave N".
func NewTimelineRecorder(tl *timeline.Timeline, label string, plan *wave.Plan) *TimelineRecorder {
	r := &TimelineRecorder{tl: tl, seen: map[string]bool{}}
	group := func(g string) string { return g }
	if label != "" {
		r.prefix = label + " "
		group = func(g string) string { return label + " · " + g }
	}
	for _, row := range timeline.PlanRows(plan) {
		row.Name = r.prefix + row.Name
		row.Group = group(row.Group)
		tl.Rows = append(tl.Rows, row)
		r.rows = append(r.rows, row.Name)
	}
	if plan != nil && plan.FinalBake > 0 {
		r.final = r.prefix + FinalStage
		tl.Rows = append(tl.Rows, timeline.Row{
			Name: r.final, Group: group("final bake"),
			Detail: fmt.Sprintf("the change is everywhere and still watched for %s", plan.FinalBake),
		})
		r.rows = append(r.rows, r.final)
	}
	return r
}

// Err returns the first event the timeline refused (one out of time
// order), or nil.
func (r *TimelineRecorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *TimelineRecorder) try(err error) {
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("rollout: timeline: %w", err)
	}
}

// Event draws one event. Events without a stage (the rollout's start, a
// control request) draw nothing, except those that end the rollout.
func (r *TimelineRecorder) Event(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	row := r.prefix + e.Stage
	staged := e.Stage != ""
	switch e.Kind {
	case EventBlocked:
		r.try(r.tl.Open(row, timeline.Blocked, e.Time, e.Reason))
	case EventUnblocked:
		r.try(r.tl.Close(row, e.Time))
	case EventAwaitingApproval:
		r.try(r.tl.Open(row, timeline.WaitingApproval, e.Time, "waiting for approval"))
	case EventApproved:
		r.try(r.tl.Close(row, e.Time))
		r.try(r.tl.AddMark(row, timeline.Mark{Kind: timeline.Note, Time: e.Time, Label: "approved by " + e.Actor}))
	case EventBatchStarted:
		if !r.seen[row] {
			r.seen[row] = true
			r.touched = append(r.touched, row)
		}
		r.try(r.tl.Open(row, timeline.Deploying, e.Time, fmt.Sprintf("batch %d: %d target(s)", e.Batch+1, e.Targets)))
	case EventBakeStarted:
		r.try(r.tl.Open(row, timeline.Baking, e.Time, "bake "+e.Duration.String()))
	case EventAlarm:
		if staged {
			r.try(r.tl.AddMark(row, timeline.Mark{Kind: timeline.Alarm, Time: e.Time, Label: e.Reason, Severity: timeline.Warning}))
		}
	case EventCanaryVerdict:
		sev := timeline.Info
		if e.Verdict != nil && e.Verdict.Outcome == VerdictFail {
			sev = timeline.Critical
		}
		r.try(r.tl.AddMark(row, timeline.Mark{Kind: timeline.Verdict, Time: e.Time, Label: e.Reason, Severity: sev}))
	case EventSignal:
		if staged {
			r.try(r.tl.AddMark(row, timeline.Mark{Kind: timeline.Alarm, Time: e.Time, Label: string(e.Signal) + ": " + e.Reason, Severity: timeline.Critical}))
		}
	case EventPaused, EventResumed:
		if staged {
			r.try(r.tl.AddMark(row, timeline.Mark{Kind: timeline.Note, Time: e.Time, Label: string(e.Kind) + " by " + e.Actor}))
		}
	case EventStagePromoted:
		r.try(r.tl.Finish(row, e.Time, timeline.Succeeded))
	case EventSucceeded:
		if r.final != "" && r.started(r.final) {
			r.try(r.tl.Finish(r.final, e.Time, timeline.Succeeded))
		}
	case EventRollbackStarted:
		// A final bake that was under way ends here; the stages roll back.
		if r.final != "" && r.started(r.final) {
			r.try(r.tl.Finish(r.final, e.Time, timeline.Failed))
		}
		for _, t := range r.touched {
			r.try(r.tl.Open(t, timeline.RollingBack, e.Time, "rolling back: "+string(e.Signal)))
		}
	case EventRollbackFinished:
		o := timeline.RolledBack
		if e.Phase == RollbackFailed {
			o = timeline.Failed
		}
		for _, t := range r.touched {
			r.try(r.tl.Finish(t, e.Time, o))
		}
		// The stages the rollout never reached will not run.
		for _, name := range r.rows {
			if row := r.tl.Row(name); row != nil && len(row.Spans) == 0 && row.Outcome == timeline.Unfinished {
				row.Outcome = timeline.Skipped
			}
		}
	}
}

// started reports whether the row has a span and no outcome yet.
func (r *TimelineRecorder) started(name string) bool {
	row := r.tl.Row(name)
	return row != nil && len(row.Spans) > 0 && row.Outcome == timeline.Unfinished
}

// Timeline draws one finished (or interrupted) rollout of plan from its
// events, in the order they were reported, with the plan's description
// as its title. It returns the first event the timeline refused, if any,
// together with the timeline drawn so far.
func Timeline(plan *wave.Plan, events []Event) (*timeline.Timeline, error) {
	if plan == nil {
		return nil, fmt.Errorf("rollout: timeline: nil plan: %w", ErrInvalid)
	}
	tl := &timeline.Timeline{}
	if len(events) > 0 {
		tl.Title = fmt.Sprintf("rollout %q of %s", events[0].Rollout, events[0].Version)
	}
	r := NewTimelineRecorder(tl, "", plan)
	for _, e := range events {
		r.Event(e)
	}
	if err := r.Err(); err != nil {
		return tl, err
	}
	return tl, tl.Validate()
}
