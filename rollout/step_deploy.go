package rollout

import (
	"fmt"
	"slices"
	"time"
)

// deployStep deploys the stage's batches in order. For each batch it
// reads what the targets run (what a rollback restores), saves the intent
// to deploy, deploys, and confirms; then it looks at the alarms before the
// next batch. It stops with [SignalFailureBudget] when deploying more would
// leave fewer than the stage's MinHealthy targets healthy (or none could be
// deployed), and with [SignalDeadline] past [DeployPolicy.StageDeadline].
// A dry run says what it would deploy, batch by batch, and touches
// nothing.
type deployStep struct{}

func (deployStep) applies(*State, int) bool              { return true }
func (deployStep) activity(*StageState) (Activity, bool) { return ActivityDeploying, true }

func (deployStep) enter(s *State, now time.Time, si int, out *Output) {
	st := &s.Stages[si]
	st.Deployed = now
	st.Batch = 0
	if d := s.Policy.Deploy.StageDeadline; d > 0 {
		st.Deadline = now.Add(d.Std())
	}
}

func (deployStep) resumed(s *State, now time.Time, si int) {
	// A pause stops the deadline's clock: resume grants a fresh deadline.
	if d := s.Policy.Deploy.StageDeadline; d > 0 {
		s.Stages[si].Deadline = now.Add(d.Std())
	}
}

func (deployStep) run(s *State, now time.Time, si int, out *Output) bool {
	st := &s.Stages[si]
	sp := s.ix.stages[si]
	dry := s.Policy.DryRun
	if !dry && !st.Deadline.IsZero() && !now.Before(st.Deadline) {
		s.raise(SignalDeadline, fmt.Sprintf("stage %s did not finish deploying by its deadline %s (%s after it began)",
			st.Name, st.Deadline.Format(time.RFC3339), s.Policy.Deploy.StageDeadline))
		return true
	}
	if st.Batch >= len(sp.Batches) {
		if !dry && s.ix.ok[si] == 0 && s.ix.failed[si] > 0 {
			s.raise(SignalFailureBudget, fmt.Sprintf("no target of stage %s could be deployed (%d failed)", st.Name, s.ix.failed[si]))
			return true
		}
		s.next(now, si, out)
		return true
	}
	b := st.Batch
	lo, hi := s.ix.batchLo[si][b], s.ix.batchLo[si][b+1]
	if dry {
		s.decide(now, st.Name, GateDryRun, OutcomeWouldDeploy, fmt.Sprintf("batch %d: %d target(s)", b, hi-lo))
		s.stageEvent(out, now, si, Event{Kind: EventDryRun, Batch: b, Targets: hi - lo, Reason: fmt.Sprintf("would deploy %s to %d target(s)", s.Version, hi-lo)})
		st.Batch++
		out.Persist = true
		return true
	}
	// The positions are scratch, kept by the state for the next batch.
	pendingPos, readyPos := s.pendingPos[:0], s.readyPos[:0]
	defer func() { s.pendingPos, s.readyPos = pendingPos[:0], readyPos[:0] }()
	for p := lo; p < hi; p++ {
		switch s.Targets[p].Status {
		case TargetPending:
			pendingPos = append(pendingPos, p)
		case TargetReady:
			readyPos = append(readyPos, p)
		}
	}
	if len(pendingPos) > 0 {
		// Read what the targets run before touching them: that is what a
		// rollback restores. Reads are idempotent; no need to save first.
		s.Round++
		out.Actions = slices.Grow(out.Actions, len(pendingPos))
		for _, p := range pendingPos {
			s.setStatus(p, TargetReading)
			out.Actions = append(out.Actions, s.targetAction(ActionReadVersion, p, ""))
		}
		out.Concurrency = s.Policy.Deploy.Concurrency
		if len(pendingPos) == hi-lo {
			s.stageEvent(out, now, si, Event{Kind: EventBatchStarted, Batch: b, Targets: hi - lo})
		}
		return false
	}
	if len(readyPos) > 0 {
		size, failed := s.ix.size(si), s.ix.failed[si]
		if healthy := size - failed - len(readyPos); healthy < sp.MinHealthy {
			s.raise(SignalFailureBudget, fmt.Sprintf("stage %s: %d target(s) failed; deploying %d more would leave %d of %d healthy, below the minimum of %d",
				st.Name, failed, len(readyPos), healthy, size, sp.MinHealthy))
			return true
		}
		// The intent to deploy is saved before any deploy is issued: after
		// a crash these targets are read again, never blindly redeployed.
		s.Round++
		out.Actions = slices.Grow(out.Actions, len(readyPos))
		for _, p := range readyPos {
			s.setStatus(p, TargetDeploying)
			s.Targets[p].Attempted = true
			s.touch(p)
			out.Actions = append(out.Actions, s.targetAction(ActionDeploy, p, s.Version))
		}
		out.Concurrency = s.Policy.Deploy.Concurrency
		out.Persist = true
		return false
	}
	failed := 0
	for p := lo; p < hi; p++ {
		if s.Targets[p].Status == TargetFailed {
			failed++
		}
	}
	s.stageEvent(out, now, si, Event{Kind: EventBatchFinished, Batch: b, Targets: hi - lo,
		Reason: fmt.Sprintf("%d ok, %d failed", hi-lo-failed, failed)})
	st.Batch++
	if s.Watch.Active {
		s.Watch.Next = now // watch the alarms after every batch
	}
	out.Persist = true
	return true
}
