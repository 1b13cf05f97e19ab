// Package runview prints rollouts for the examples: one line per event
// for a terminal. (Timelines of a run are drawn by timeline.Recorder.)
package runview

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/shepherd-go/shepherd/rollout"
)

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
