// Package runview draws rollouts for the examples: it turns a run's
// events into rows of a timeline, and prints one line per event for a
// terminal.
package runview

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/timeline"
	"github.com/shepherd-go/shepherd/wave"
)

// Run draws one rollout on a timeline that may hold others: its rows are
// the plan's stages, named after the rollout ("v2 w1/one-box/eu-west-1").
type Run struct {
	tl     *timeline.Timeline
	prefix string
	rows   []string // the rollout's rows, in plan order
	// touched lists the rows that deployed something, in order: a
	// rollback draws on them.
	touched []string
	seen    map[string]bool
	// Err is the first event the timeline refused, if any.
	Err error
}

// Add appends the plan's stages to tl as the rows of the rollout named
// label, and returns the Run that draws its events there.
func Add(tl *timeline.Timeline, label string, plan *wave.Plan) *Run {
	r := &Run{tl: tl, prefix: label + " ", seen: map[string]bool{}}
	for _, row := range timeline.PlanRows(plan) {
		row.Name = r.prefix + row.Name
		row.Group = label + " · " + row.Group
		tl.Rows = append(tl.Rows, row)
		r.rows = append(r.rows, row.Name)
	}
	return r
}

func (r *Run) row(stage string) string { return r.prefix + stage }

func (r *Run) try(err error) {
	if err != nil && r.Err == nil {
		r.Err = err
	}
}

// Event draws one event.
func (r *Run) Event(e rollout.Event) {
	row := r.row(e.Stage)
	switch e.Kind {
	case rollout.EventBlocked:
		r.try(r.tl.Open(row, timeline.Blocked, e.Time, e.Reason))
	case rollout.EventUnblocked:
		r.try(r.tl.Close(row, e.Time))
	case rollout.EventAwaitingApproval:
		r.try(r.tl.Open(row, timeline.WaitingApproval, e.Time, "waiting for approval"))
	case rollout.EventApproved:
		r.try(r.tl.Close(row, e.Time))
		r.try(r.tl.AddMark(row, timeline.Mark{Kind: timeline.Note, Time: e.Time, Label: "approved by " + e.Actor}))
	case rollout.EventBatchStarted:
		if !r.seen[row] {
			r.seen[row] = true
			r.touched = append(r.touched, row)
		}
		r.try(r.tl.Open(row, timeline.Deploying, e.Time, fmt.Sprintf("batch %d: %d target(s)", e.Batch+1, e.Targets)))
	case rollout.EventBakeStarted:
		r.try(r.tl.Open(row, timeline.Baking, e.Time, "bake "+e.Duration.String()))
	case rollout.EventAlarm:
		r.try(r.tl.AddMark(row, timeline.Mark{Kind: timeline.Alarm, Time: e.Time, Label: e.Reason, Severity: timeline.Warning}))
	case rollout.EventCanaryVerdict:
		sev := timeline.Info
		if e.Verdict != nil && e.Verdict.Outcome == rollout.VerdictFail {
			sev = timeline.Critical
		}
		r.try(r.tl.AddMark(row, timeline.Mark{Kind: timeline.Verdict, Time: e.Time, Label: e.Reason, Severity: sev}))
	case rollout.EventSignal:
		r.try(r.tl.AddMark(row, timeline.Mark{Kind: timeline.Alarm, Time: e.Time, Label: string(e.Signal) + ": " + e.Reason, Severity: timeline.Critical}))
	case rollout.EventPaused, rollout.EventResumed:
		r.try(r.tl.AddMark(row, timeline.Mark{Kind: timeline.Note, Time: e.Time, Label: string(e.Kind) + " by " + e.Actor}))
	case rollout.EventStagePromoted:
		r.try(r.tl.Finish(row, e.Time, timeline.Succeeded))
	case rollout.EventRollbackStarted:
		for _, t := range r.touched {
			r.try(r.tl.Open(t, timeline.RollingBack, e.Time, "rolling back: "+string(e.Signal)))
		}
	case rollout.EventRollbackFinished:
		o := timeline.RolledBack
		if e.Phase == rollout.RollbackFailed {
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

// Printer prints one line per event worth a human's attention, with the
// time since start.
type Printer struct {
	mu sync.Mutex
	// W receives the lines.
	W io.Writer
	// Start is the instant offsets are counted from.
	Start time.Time
	// Clock formats times as dates ("Mon 02 Jan 15:04") instead of
	// offsets from Start: for simulated rollouts that last days.
	Clock bool
	// Targets prints a line per target deployed or rolled back, not only
	// per stage.
	Targets bool
}

// Event prints e if it says something a person follows.
func (p *Printer) Event(e rollout.Event) {
	var what string
	switch e.Kind {
	case rollout.EventStarted:
		what = fmt.Sprintf("rollout %s of %s started: %d targets", e.Rollout, e.Version, e.Targets)
	case rollout.EventStageStarted:
		what = fmt.Sprintf("stage %s (%s)", e.Stage, plural(e.Targets, "target"))
	case rollout.EventBlocked:
		what = fmt.Sprintf("  blocked: %s", e.Reason)
	case rollout.EventUnblocked:
		what = fmt.Sprintf("  unblocked after %s", e.Duration.Round(time.Second))
	case rollout.EventAwaitingApproval:
		what = "  waiting for approval"
	case rollout.EventApproved:
		what = "  approved by " + e.Actor
	case rollout.EventTargetDeployed:
		if !p.Targets {
			return
		}
		what = fmt.Sprintf("  %s now runs %s", e.Target, e.Version)
	case rollout.EventTargetFailed:
		what = fmt.Sprintf("  %s failed: %s", e.Target, e.Reason)
	case rollout.EventBatchFinished:
		if p.Targets {
			return
		}
		what = fmt.Sprintf("  deployed batch %d (%s)", e.Batch+1, plural(e.Targets, "target"))
	case rollout.EventBakeStarted:
		what = fmt.Sprintf("  baking for %s", e.Duration)
	case rollout.EventAlarm:
		what = "  alarm: " + shorten(e.Reason, 160)
	case rollout.EventSignal:
		what = fmt.Sprintf("  STOP on %s", e.Signal)
	case rollout.EventStagePromoted:
		what = fmt.Sprintf("  promoted after %s", e.Duration.Round(time.Second))
	case rollout.EventRollbackStarted:
		what = fmt.Sprintf("rolling back %s", plural(e.Targets, "target"))
	case rollout.EventTargetRolledBack:
		if !p.Targets {
			return
		}
		what = fmt.Sprintf("  %s back on %s", e.Target, e.Version)
	case rollout.EventRollbackError:
		what = fmt.Sprintf("  %s could not be rolled back: %s", e.Target, e.Reason)
	case rollout.EventRollbackFinished:
		what = fmt.Sprintf("rollback finished: %s", e.Phase)
	case rollout.EventSucceeded:
		what = fmt.Sprintf("rollout of %s succeeded", e.Version)
	default:
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Clock {
		fmt.Fprintf(p.W, "%s  %s\n", e.Time.Format("Mon 02 Jan 15:04"), what)
		return
	}
	fmt.Fprintf(p.W, "%6.1fs  %s\n", e.Time.Sub(p.Start).Seconds(), what)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
