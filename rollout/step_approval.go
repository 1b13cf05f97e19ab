package rollout

import (
	"fmt"
	"time"
)

// approvalStep waits for a manual approval when the stage's name matches
// [Policy.Approvals]; an approval given before the stage gets here counts.
// A dry run says it would wait, and goes on.
type approvalStep struct{}

func (approvalStep) applies(*State, int) bool              { return true }
func (approvalStep) enter(*State, time.Time, int, *Output) {}
func (approvalStep) activity(*StageState) (Activity, bool) { return ActivityApproval, true }
func (approvalStep) resumed(*State, time.Time, int)        {}

func (approvalStep) run(s *State, now time.Time, si int, out *Output) bool {
	st := &s.Stages[si]
	needs := s.Policy.NeedsApproval(st.Name)
	switch {
	case st.Approval != nil:
		s.decide(now, st.Name, GateApproval, OutcomeProceed, fmt.Sprintf("approved by %s", st.Approval.Actor))
	case !needs:
	case s.Policy.DryRun:
		s.decide(now, st.Name, GateApproval, OutcomeWouldWait, "the stage needs a manual approval")
		s.stageEvent(out, now, si, Event{Kind: EventDryRun, Reason: "would wait for a manual approval"})
	default:
		if st.AskedAt.IsZero() {
			st.AskedAt = now
			s.decide(now, st.Name, GateApproval, OutcomeWait, "the stage needs a manual approval")
			s.stageEvent(out, now, si, Event{Kind: EventAwaitingApproval})
			out.Persist = true
		}
		return false
	}
	s.next(now, si, out)
	return true
}
