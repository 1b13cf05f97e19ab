package rollout

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/duration"
)

// blockersStep waits until no blocker holds the stage: it evaluates the
// blockers ([ActionCheckBlockers]), sleeps until they say they clear (or
// [BlockerPolicy.Recheck]), and gives up with [SignalBlocked] after
// [BlockerPolicy.MaxWait], or at once when a blocker clears only after
// that wait or never. A dry run evaluates them once and goes on.
type blockersStep struct{}

func (blockersStep) applies(*State, int) bool              { return true }
func (blockersStep) enter(*State, time.Time, int, *Output) {}
func (blockersStep) activity(st *StageState) (Activity, bool) {
	return ActivityBlocked, len(st.Blocked) > 0
}
func (blockersStep) resumed(s *State, now time.Time, si int) {
	if st := &s.Stages[si]; len(st.Blocked) > 0 {
		st.BlockedSince = now // a pause grants a fresh wait
	}
}

func (blockersStep) run(s *State, now time.Time, si int, out *Output) bool {
	st := &s.Stages[si]
	if o := s.inbox.take(ObsBlockers); o != nil {
		s.onBlockers(now, si, o, out)
		return true
	}
	if !now.Before(st.Next) {
		s.emitGates(out, s.gateAction(ActionCheckBlockers, si))
		return false
	}
	s.wake(out, st.Next)
	return false
}

func (s *State) onBlockers(now time.Time, si int, o *Observation, out *Output) {
	st := &s.Stages[si]
	reasons := append([]BlockReason(nil), o.Blocked...)
	if o.Err != "" {
		reasons = append(reasons, BlockReason{Blocker: "error", Reason: "blockers could not be evaluated: " + o.Err})
	}
	// Charge the time since the last check to the blockers that held the
	// stage then.
	if len(st.Blocked) > 0 && !st.BlockedCheck.IsZero() {
		d := duration.Duration(now.Sub(st.BlockedCheck))
		if st.BlockedBy == nil {
			st.BlockedBy = map[string]duration.Duration{}
		}
		for _, name := range blockerNames(st.Blocked) {
			st.BlockedBy[name] += d
		}
	}
	st.BlockedCheck = now
	if len(reasons) == 0 {
		if len(st.Blocked) > 0 {
			by := map[string]time.Duration{}
			for k, v := range st.BlockedBy {
				by[k] = v.Std()
			}
			s.stageEvent(out, now, si, Event{Kind: EventUnblocked, Duration: now.Sub(st.BlockedSince), Blockers: by})
		}
		s.decide(now, st.Name, GateBlockers, OutcomeClear, "no blocker holds the stage")
		st.Blocked = nil
		st.BlockedSince = time.Time{}
		s.next(now, si, out)
		return
	}
	words := reasonWords(reasons, o.Until)
	if s.Policy.DryRun {
		s.decide(now, st.Name, GateBlockers, OutcomeWouldWait, words)
		s.stageEvent(out, now, si, Event{Kind: EventDryRun, Reason: "would wait: " + words})
		s.next(now, si, out)
		return
	}
	if len(st.Blocked) == 0 {
		st.BlockedSince = now
	}
	if !sameBlockers(st.Blocked, reasons) {
		by := map[string]time.Duration{}
		for _, n := range blockerNames(reasons) {
			by[n] = 0
		}
		s.decide(now, st.Name, GateBlockers, OutcomeBlocked, words)
		s.stageEvent(out, now, si, Event{Kind: EventBlocked, Reason: words, Blockers: by})
		out.Persist = true
	}
	st.Blocked = reasons
	limit := s.Policy.maxBlocked()
	if waited := now.Sub(st.BlockedSince); waited >= limit {
		s.raise(SignalBlocked, fmt.Sprintf("blocked for %s (limit %s): %s", waited, limit, words))
		return
	}
	// Waiting is futile when a blocker says it clears only after the
	// limit, or never: give up now instead of days later.
	if why := hopeless(reasons, o.Until, st.BlockedSince.Add(limit), limit); why != "" {
		s.raise(SignalBlocked, why+": "+words)
		return
	}
	next := now.Add(s.Policy.recheck())
	if o.Until.After(now) && o.Err == "" {
		next = o.Until // sleep until the known opening
	}
	if end := st.BlockedSince.Add(limit); next.After(end) {
		next = end
	}
	st.Next = next
}

// hopeless says why the stage cannot start by end, the end of its
// blocked wait of limit, or returns "": a blocker that never clears within
// its horizon, or one (or the blockers together) that clears only after
// end.
func hopeless(rs []BlockReason, until, end time.Time, limit time.Duration) string {
	for _, r := range rs {
		if r.Never {
			return fmt.Sprintf("blocker %s never clears within its horizon; giving up at once", r.Blocker)
		}
	}
	after := func(who string, at time.Time) string {
		return fmt.Sprintf("%s at %s, after the maximum blocked wait of %s ends at %s; giving up at once",
			who, at.Format(time.RFC3339), limit, end.Format(time.RFC3339))
	}
	for _, r := range rs {
		if r.Until.After(end) {
			return after("blocker "+r.Blocker+" clears", r.Until)
		}
	}
	if until.After(end) {
		return after("blockers "+strings.Join(blockerNames(rs), ", ")+" clear", until)
	}
	return ""
}

// reasonWords lists the reasons. The time the blockers may clear together
// is added only when no reason already names it, so that one calendar
// does not print its opening twice.
func reasonWords(rs []BlockReason, until time.Time) string {
	parts := make([]string, len(rs))
	named := false
	for i, r := range rs {
		parts[i] = r.String()
		named = named || r.Until.Equal(until) || mentions(r.Reason, until)
	}
	w := strings.Join(parts, "; ")
	if !until.IsZero() && !named {
		w += " (may clear at " + until.Format(time.RFC3339) + ")"
	}
	return w
}

func blockerNames(rs []BlockReason) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range rs {
		if !seen[r.Blocker] {
			seen[r.Blocker] = true
			out = append(out, r.Blocker)
		}
	}
	sort.Strings(out)
	return out
}

func sameBlockers(a, b []BlockReason) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Blocker != b[i].Blocker || a[i].Reason != b[i].Reason {
			return false
		}
	}
	return true
}
