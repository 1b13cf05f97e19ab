package rollout

import (
	"time"

	"github.com/shepherd-go/shepherd/traffic"
)

// Progress is a snapshot of a rollout for humans and dashboards.
type Progress struct {
	// ID is the rollout's ID, Version the version it deploys.
	ID      string
	Version string
	// Phase is where the rollout is in its life.
	Phase Phase
	// DryRun is set for a dry run.
	DryRun bool
	// Paused is set while the rollout is held; Hold says who and why.
	Paused bool
	Hold   *Hold
	// Stage is the name of the stage in progress ("" once all are done),
	// Step what it is doing, StageIndex its position among Stages.
	Stage string
	// Step is what the stage is doing.
	Step StageStep
	// StageIndex is the stage's position, Stages their number.
	StageIndex int
	Stages     int
	// Batch is the batch being deployed.
	Batch int
	// Targets counts targets by status.
	Targets map[TargetStatus]int
	// Failed names targets whose deploy failed, and Unrolled those whose
	// rollback failed.
	Failed []string
	// Unrolled names the targets whose rollback failed.
	Unrolled []string
	// Blocked lists what holds the stage in progress.
	Blocked []BlockReason
	// AwaitingApproval is set while the stage waits for a manual approval.
	AwaitingApproval bool
	// Baked is the stage's bake time so far (pauses excluded), Bake its
	// minimum, BakeStatus the bake's phase and, once ended, why.
	Baked, Bake time.Duration
	// BakeStatus is the bake's phase and, once ended, why.
	BakeStatus string
	// Evidence is the stage's bake evidence last counted, by requirement.
	Evidence map[string]float64
	// Firing describes the alarms last seen not OK.
	Firing []string
	// Signal and Reason say why a rollback started.
	Signal Signal
	// Reason is the signal's reason, in plain words.
	Reason string
	// Exposure is each ramped scope's share of traffic and blast radius,
	// in stage order; Blast sums them.
	Exposure []ScopeExposure
	Blast    traffic.Blast
	// Timings is the time per activity so far.
	Timings Timings
	// Started is when the rollout was created, Updated its last step,
	// Ended when it reached its final phase (zero before).
	Started time.Time
	Updated time.Time
	Ended   time.Time
}

// Progress summarises the state.
func (s *State) Progress() Progress {
	p := Progress{
		ID:      s.ID,
		Version: s.Version,
		Phase:   s.Phase,
		DryRun:  s.Policy.DryRun,
		Stages:  len(s.Stages),
		Targets: map[TargetStatus]int{},
		Timings: s.Timings,
		Started: s.Created,
		Updated: s.Updated,
		Ended:   s.Ended,
		Firing:  append([]string(nil), s.Watch.Firing...),
	}
	if s.Hold != nil {
		h := *s.Hold
		p.Paused, p.Hold = true, &h
	}
	if s.ix != nil {
		for k, v := range s.ix.count {
			if v > 0 {
				p.Targets[k] = v
			}
		}
	}
	for _, t := range s.Targets {
		switch t.Status {
		case TargetFailed:
			p.Failed = append(p.Failed, t.ID)
		case TargetRollbackFailed:
			p.Unrolled = append(p.Unrolled, t.ID)
		}
	}
	p.StageIndex = s.Stage
	if st := s.current(); st != nil {
		p.Stage, p.Step, p.Batch = st.Name, st.Step, st.Batch
		p.Blocked = append([]BlockReason(nil), st.Blocked...)
		p.AwaitingApproval = st.Step == StepApproval && !st.AskedAt.IsZero() && st.Approval == nil
		if x := st.Exposure; st.Step == StepExposure && x != nil && x.Until != "" && x.Gate == "" && x.Promoted == nil {
			p.AwaitingApproval = true
		}
		if tr := st.Bake; tr != nil {
			p.Bake = tr.Policy.MinDuration.Std()
			end := s.Updated
			if !tr.Ended.IsZero() {
				end = tr.Ended
			}
			paused := tr.PausedFor.Std()
			if !tr.PausedAt.IsZero() {
				paused += end.Sub(tr.PausedAt)
			}
			p.Baked = max(0, end.Sub(tr.Started)-paused)
			p.BakeStatus = tr.Phase.String()
			if tr.Reason != "" {
				p.BakeStatus += ": " + tr.Reason
			}
			if len(st.Evidence) == len(tr.Policy.Evidence) && len(st.Evidence) > 0 {
				p.Evidence = map[string]float64{}
				for i, r := range tr.Policy.Evidence {
					name := r.Name
					if name == "" {
						name = r.Query
					}
					p.Evidence[name] = st.Evidence[i]
				}
			}
		}
	}
	if rb := s.Rollback; rb != nil {
		p.Signal, p.Reason = rb.Signal, rb.Reason
	}
	p.Exposure = s.exposures()
	for _, e := range p.Exposure {
		p.Blast = p.Blast.Add(e.Blast)
	}
	return p
}
