package fleetwide

import (
	"fmt"
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/rollout"
)

// Progress is a snapshot of a group for humans and dashboards.
type Progress struct {
	// ID and Phase are the group's.
	ID    string
	Phase Phase
	// Line is set while the line is stopped.
	Line *Stop
	// Members are the members' snapshots, in the spec's order.
	Members []MemberProgress
	// Firing names the shared alarms in ALARM, with their scopes.
	Firing []string
	// Incidents are the shared alarms that fired and what was made of
	// them.
	Incidents []Incident
	// Stages and Promoted count the stages of every started member, and
	// those promoted: the group's share done is Promoted/Stages.
	Stages, Promoted int
	// Started, Updated and Ended are the group's times.
	Started, Updated, Ended time.Time
}

// MemberProgress is one member in a [Progress].
type MemberProgress struct {
	Name   string
	Status MemberStatus
	// Holds say why the group holds it; Stopped why it stopped it.
	Holds   []string
	Stopped string
	// Rollout is its rollout's snapshot, once started.
	Rollout *rollout.Progress
}

// Progress summarises the state.
func (s *State) Progress() Progress {
	p := Progress{ID: s.ID, Phase: s.Phase, Started: s.Created, Updated: s.Updated, Ended: s.Ended, Incidents: append([]Incident(nil), s.Incidents...)}
	if s.Line != nil {
		l := *s.Line
		p.Line = &l
	}
	for _, m := range s.Members {
		mp := MemberProgress{Name: m.Member.Name, Status: m.Status, Holds: append([]string(nil), m.Holds...), Stopped: m.Stopped}
		if m.Rollout != nil {
			rp := m.Rollout.Progress()
			mp.Rollout = &rp
			for _, st := range m.Rollout.Stages {
				p.Stages++
				if st.Step == rollout.StepPromoted {
					p.Promoted++
				}
			}
		}
		p.Members = append(p.Members, mp)
	}
	for _, sc := range s.Health.Scopes {
		if sc.Firing {
			p.Firing = append(p.Firing, fmt.Sprintf("%s in %s", sc.Scope.Alarm, sc.Scope))
		}
	}
	return p
}

// Timeline draws the group as text: one row per member stage, with when
// it started and how long it spent waiting for its blockers (the group's
// holds included), on approval, deploying, verifying, baking and paused,
// then one row per member with its totals, so that a team sees where the
// lead time went. Times are relative to the group's creation.
func (s *State) Timeline() string {
	var b strings.Builder
	rel := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Sub(s.Created).Round(time.Minute).String()
	}
	dur := func(d time.Duration) string {
		if d == 0 {
			return "-"
		}
		return d.Round(time.Minute).String()
	}
	fmt.Fprintf(&b, "%-10s %-46s %9s %9s %9s %9s %9s %9s %9s %9s\n", "member", "stage", "start", "end", "blocked", "approval", "deploy", "verify", "bake", "paused")
	for _, m := range s.Members {
		if m.Rollout == nil {
			fmt.Fprintf(&b, "%-10s %-46s\n", m.Member.Name, "("+string(m.Status)+")")
			continue
		}
		for _, st := range m.Rollout.Stages {
			if st.Started.IsZero() {
				continue
			}
			t := st.Timings
			fmt.Fprintf(&b, "%-10s %-46s %9s %9s %9s %9s %9s %9s %9s %9s\n", m.Member.Name, st.Name, rel(st.Started), rel(st.Finished),
				dur(t.Get(rollout.ActivityBlocked)), dur(t.Get(rollout.ActivityApproval)), dur(t.Get(rollout.ActivityDeploying)),
				dur(t.Get(rollout.ActivityVerifying)), dur(t.Get(rollout.ActivityBaking)), dur(t.Get(rollout.ActivityPaused)))
		}
		t := m.Rollout.Timings
		fmt.Fprintf(&b, "%-10s %-46s %9s %9s %9s %9s %9s %9s %9s %9s\n", m.Member.Name, "= "+string(m.Status), rel(m.Started), rel(m.Ended),
			dur(t.Get(rollout.ActivityBlocked)), dur(t.Get(rollout.ActivityApproval)), dur(t.Get(rollout.ActivityDeploying)),
			dur(t.Get(rollout.ActivityVerifying)), dur(t.Get(rollout.ActivityBaking)), dur(t.Get(rollout.ActivityPaused)))
	}
	return b.String()
}
