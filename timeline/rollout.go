package timeline

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/wave"
)

// This file draws a rollout's events. The dependency points from timeline
// to rollout, never the reverse: the driver reports events, and a
// [Recorder] is one of their subscribers.

// Recorder draws a rollout's events on a [Timeline] as they happen: pass
// its Event method as [rollout.Config.OnEvent] (directly or with others).
// Its rows are the plan's stages ([PlanRows]), plus a row for the final
// bake ([rollout.FinalStage]) when the plan has one; a batch opens a
// deploying span, a verification a verifying span, a bake a baking span, a blocker or an approval a waiting
// span, alarms, verdicts and signals are marks, and a rollback draws on
// every stage that deployed something. Several recorders may
// share a timeline (one rollout each, told apart by their labels) when
// their events come one at a time. Its methods are safe for concurrent
// use.
type Recorder struct {
	mu     sync.Mutex
	tl     *Timeline
	prefix string
	rows   []string // the rollout's rows, in plan order
	final  string   // the final bake's row, "" when the plan has none
	// touched lists the rows that deployed something, in order: a
	// rollback draws on them.
	touched []string
	seen    map[string]bool
	err     error
}

// NewRecorder appends the plan's stages to tl as the rows of one
// rollout and returns the recorder that draws its events there. A
// non-empty label names the rollout on a shared timeline: its rows are
// then named "label stage" ("v2 w1/one-box/eu-west-1") and grouped under
// "label · wave N".
func NewRecorder(tl *Timeline, label string, plan *wave.Plan) *Recorder {
	r := &Recorder{tl: tl, seen: map[string]bool{}}
	group := func(g string) string { return g }
	if label != "" {
		r.prefix = label + " "
		group = func(g string) string { return label + " · " + g }
	}
	for _, row := range PlanRows(plan) {
		row.Name = r.prefix + row.Name
		row.Group = group(row.Group)
		tl.Rows = append(tl.Rows, row)
		r.rows = append(r.rows, row.Name)
	}
	if plan != nil && plan.FinalBake > 0 {
		r.final = r.prefix + rollout.FinalStage
		tl.Rows = append(tl.Rows, Row{
			Name: r.final, Group: group("final bake"),
			Detail: fmt.Sprintf("the change is everywhere and still watched for %s", plan.FinalBake),
		})
		r.rows = append(r.rows, r.final)
	}
	return r
}

// Err returns the first event the timeline refused (one out of time
// order), or nil.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *Recorder) try(err error) {
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("timeline: recorder: %w", err)
	}
}

// Event draws one event. Events without a stage (the rollout's start, a
// control request) draw nothing, except those that end the rollout.
func (r *Recorder) Event(e rollout.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	row := r.prefix + e.Stage
	staged := e.Stage != ""
	switch e.Kind {
	case rollout.EventBlocked:
		r.try(r.tl.Open(row, Blocked, e.Time, e.Reason))
	case rollout.EventUnblocked:
		r.try(r.tl.Close(row, e.Time))
	case rollout.EventAwaitingApproval:
		r.try(r.tl.Open(row, WaitingApproval, e.Time, "waiting for approval"))
	case rollout.EventApproved:
		r.try(r.tl.Close(row, e.Time))
		r.try(r.tl.AddMark(row, Mark{Kind: Note, Time: e.Time, Label: "approved by " + e.Actor}))
	case rollout.EventBatchStarted:
		if !r.seen[row] {
			r.seen[row] = true
			r.touched = append(r.touched, row)
		}
		r.try(r.tl.Open(row, Deploying, e.Time, fmt.Sprintf("batch %d: %d target(s)", e.Batch+1, e.Targets)))
	case rollout.EventVerifyStarted:
		r.try(r.tl.Open(row, Verifying, e.Time, fmt.Sprintf("verify %d target(s)", e.Targets)))
	case rollout.EventVerifyResult:
		sev := Info
		switch {
		case strings.HasPrefix(e.Reason, string(rollout.VerifyFail)):
			sev = Critical
		case strings.HasPrefix(e.Reason, string(rollout.VerifyError)):
			sev = Warning
		}
		r.try(r.tl.AddMark(row, Mark{Kind: Verdict, Time: e.Time, Label: "verify " + e.Reason, Severity: sev}))
	case rollout.EventExposure:
		// A scope's share of traffic: a note at each change, so that the
		// row reads as the ramp ("10%", "50%", "100%", "0%" on rollback).
		if e.Share != nil {
			label := fmt.Sprintf("%g%% of traffic", *e.Share)
			if e.Blast != nil && *e.Share == 0 {
				label += "; " + e.Blast.String()
			}
			r.try(r.tl.AddMark(row, Mark{Kind: Note, Time: e.Time, Label: label}))
		}
	case rollout.EventBakeStarted:
		r.try(r.tl.Open(row, Baking, e.Time, "bake "+e.Duration.String()))
	case rollout.EventAlarm:
		if staged {
			r.try(r.tl.AddMark(row, Mark{Kind: Alarm, Time: e.Time, Label: e.Reason, Severity: Warning}))
		}
	case rollout.EventCanaryVerdict:
		sev := Info
		if e.Verdict != nil && e.Verdict.Outcome == rollout.VerdictFail {
			sev = Critical
		}
		r.try(r.tl.AddMark(row, Mark{Kind: Verdict, Time: e.Time, Label: e.Reason, Severity: sev}))
	case rollout.EventSignal:
		if staged {
			r.try(r.tl.AddMark(row, Mark{Kind: Alarm, Time: e.Time, Label: string(e.Signal) + ": " + e.Reason, Severity: Critical}))
		}
	case rollout.EventPaused, rollout.EventResumed:
		if staged {
			r.try(r.tl.AddMark(row, Mark{Kind: Note, Time: e.Time, Label: string(e.Kind) + " by " + e.Actor}))
		}
	case rollout.EventStagePromoted:
		r.try(r.tl.Finish(row, e.Time, Succeeded))
	case rollout.EventSucceeded:
		if r.final != "" && r.started(r.final) {
			r.try(r.tl.Finish(r.final, e.Time, Succeeded))
		}
	case rollout.EventRollbackStarted:
		// A final bake that was under way ends here; the stages roll back.
		if r.final != "" && r.started(r.final) {
			r.try(r.tl.Finish(r.final, e.Time, Failed))
		}
		for _, t := range r.touched {
			r.try(r.tl.Open(t, RollingBack, e.Time, "rolling back: "+string(e.Signal)))
		}
	case rollout.EventRollbackFinished:
		o := RolledBack
		if e.Phase == rollout.RollbackFailed {
			o = Failed
		}
		for _, t := range r.touched {
			r.try(r.tl.Finish(t, e.Time, o))
		}
		// The stages the rollout never reached will not run.
		for _, name := range r.rows {
			if row := r.tl.Row(name); row != nil && len(row.Spans) == 0 && row.Outcome == Unfinished {
				row.Outcome = Skipped
			}
		}
	}
}

// started reports whether the row has a span and no outcome yet.
func (r *Recorder) started(name string) bool {
	row := r.tl.Row(name)
	return row != nil && len(row.Spans) > 0 && row.Outcome == Unfinished
}

// FromEvents draws one finished (or interrupted) rollout of plan from its
// events, in the order they were reported, with the plan's description as
// its title. It returns the first event the timeline refused, if any,
// together with the timeline drawn so far.
func FromEvents(plan *wave.Plan, events []rollout.Event) (*Timeline, error) {
	if plan == nil {
		return nil, errors.New("timeline: from events: nil plan")
	}
	tl := &Timeline{}
	if len(events) > 0 {
		tl.Title = fmt.Sprintf("rollout %q of %s", events[0].Rollout, events[0].Version)
	}
	r := NewRecorder(tl, "", plan)
	for _, e := range events {
		r.Event(e)
	}
	if err := r.Err(); err != nil {
		return tl, err
	}
	return tl, tl.Validate()
}
