// Command pipeline composes a whole deployment pipeline in code, as the
// practice describes it, and runs it in simulated time: alpha and beta
// environments gated by integration tests (the verify step), gamma in two
// regions with a one-box, continuous canaries and a manual approval, then
// the production waves. Each environment is a member of one group that
// starts only after the previous one succeeded; one stop-the-line holds
// all of them (here, for two hours while beta's test environment is
// broken); and the timeline of the whole pipeline, with its sum by
// activity, shows where the lead time went.
//
//	go run ./examples/pipeline
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/fleetwide"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// hosts is every environment's hosts in memory: what the team's deployer
// would do with real ones.
type hosts struct {
	mu sync.Mutex
	v  map[string]string
}

func (h *hosts) Deploy(ctx context.Context, t wave.Target, version string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.v[t.ID] = version
	return nil
}

func (h *hosts) Version(ctx context.Context, t wave.Target) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if v, ok := h.v[t.ID]; ok {
		return v, nil
	}
	return "v1", nil
}

func run(ctx context.Context, out io.Writer) error {
	const version = "v42"
	start := time.Date(2030, 1, 7, 8, 0, 0, 0, time.UTC) // a Monday
	h := &hosts{v: map[string]string{}}

	// The integration tests of alpha and beta, and gamma's continuous
	// canaries (synthetic traffic every minute) and canary judge.
	tests := rollout.VerifierFunc(func(ctx context.Context, s rollout.Subject, now time.Time) (rollout.VerifyResult, error) {
		return rollout.VerifyResult{Outcome: rollout.VerifyPass, Reason: "412 integration tests passed against " + s.Stage}, nil
	})
	var (
		mu     sync.Mutex
		probes = map[string]int{} // continuous canary checks, by rollout
	)
	canaries := rollout.AlarmsFunc(func(ctx context.Context, s rollout.Subject, now time.Time) ([]alarm.Result, error) {
		mu.Lock()
		probes[s.Rollout]++
		mu.Unlock()
		return []alarm.Result{{Name: "continuous-canary", State: alarm.OK, Time: now, Reason: "synthetic Create/Get/Delete every minute all pass"}}, nil
	})
	judge := rollout.JudgeFunc(func(ctx context.Context, s rollout.Subject, since, now time.Time) (rollout.Verdict, error) {
		return rollout.Verdict{Outcome: rollout.VerdictPass, Score: 98, Reason: "no metric of the one-box differs from the baseline", Time: now}, nil
	})
	hands := rollout.Hands{Deployer: h, Verifier: tests, Alarms: canaries, Judge: judge}

	recheck := rollout.BlockerPolicy{Recheck: duration.Duration(time.Minute)}
	plan := func(regions []string, zones, perZone int, bake time.Duration) (wave.Plan, error) {
		p, err := wave.Policy{}.Plan(rollouttest.Hosts(regions, zones, perZone))
		if err != nil {
			return wave.Plan{}, fmt.Errorf("plan of %v: %w", regions, err)
		}
		if bake > 0 { // pre-production bakes briefly; production keeps the published bakes
			p.FinalBake = 0
			for i := range p.Waves {
				for j := range p.Waves[i].Stages {
					p.Waves[i].Stages[j].Bake = duration.Duration(bake)
				}
			}
		}
		return *p, nil
	}
	testEnv := func(name string, after ...string) (fleetwide.Member, error) {
		p, err := plan([]string{name}, 1, 2, 30*time.Minute)
		m := fleetwide.Member{Name: name, Rollout: rollout.Spec{
			ID: "api-" + name + "-" + version, Version: version,
			Plan: p,
			Policy: rollout.Policy{
				Steps:    []rollout.StepKind{rollout.StepBlockers, rollout.StepDeploy, rollout.StepVerify, rollout.StepBake},
				Blockers: recheck,
			},
		}}
		for _, a := range after {
			m.After = append(m.After, fleetwide.Dependency{Member: a})
		}
		return m, err
	}
	alpha, err := testEnv("alpha")
	if err != nil {
		return err
	}
	beta, err := testEnv("beta", "alpha")
	if err != nil {
		return err
	}
	gammaPlan, err := plan([]string{"gamma-us-east-1", "gamma-eu-west-1"}, 2, 6, time.Hour)
	if err != nil {
		return err
	}
	prodPlan, err := plan([]string{"us-east-1", "eu-west-1", "ap-south-1", "sa-east-1"}, 3, 12, 0)
	if err != nil {
		return err
	}
	firstGamma := gammaPlan.Waves[0].Stages[0].Name
	spec := fleetwide.Spec{ID: "api-" + version, Members: []fleetwide.Member{
		alpha,
		beta,
		{Name: "gamma", After: []fleetwide.Dependency{{Member: "beta"}}, Rollout: rollout.Spec{
			ID: "api-gamma-" + version, Version: version, Plan: gammaPlan,
			Policy: rollout.Policy{
				Blockers:  recheck,
				Approvals: []string{firstGamma},
				Canary:    rollout.CanaryPolicy{Enabled: true, Interval: duration.Duration(10 * time.Minute)},
			},
		}},
		{Name: "prod", After: []fleetwide.Dependency{{Member: "gamma"}}, Rollout: rollout.Spec{
			ID: "api-prod-" + version, Version: version,
			Plan:   prodPlan,
			Policy: rollout.Policy{Blockers: recheck},
		}},
	}}
	members := map[string]rollout.Hands{}
	for _, m := range spec.Members {
		members[m.Name] = hands
	}
	at := func(t time.Time) string { return t.Format("Mon 15:04") }
	verdicts := map[string][]string{} // canary verdicts' outcomes, by member
	st, err := fleetwide.Simulate(ctx, fleetwide.Simulation{
		Spec:  spec,
		Start: start,
		Controls: []fleetwide.Timed{
			{At: start.Add(40 * time.Minute), Control: fleetwide.Control{Kind: fleetwide.ControlStop, Actor: "dana", Reason: "beta's test database is down"}},
			{At: start.Add(160 * time.Minute), Control: fleetwide.Control{Kind: fleetwide.ControlRelease, Actor: "dana"}},
			{At: start.Add(26 * time.Hour), Control: fleetwide.Control{Kind: fleetwide.ControlApprove, Member: "gamma", Stage: firstGamma, Actor: "release-manager"}},
		},
		Config: fleetwide.Config{Members: members, OnEvent: func(e fleetwide.Event) {
			switch {
			case e.Kind == fleetwide.EventMember && e.Rollout.Kind == rollout.EventVerifyResult:
				fmt.Fprintf(out, "%s  %-6s verify %s: %s\n", at(e.Time), e.Member, e.Rollout.Stage, e.Rollout.Reason)
			case e.Kind == fleetwide.EventMember && (e.Rollout.Kind == rollout.EventAwaitingApproval || e.Rollout.Kind == rollout.EventApproved):
				fmt.Fprintf(out, "%s  %-6s %s %s\n", at(e.Time), e.Member, e.Rollout.Kind, e.Rollout.Stage)
			case e.Kind == fleetwide.EventMember && e.Rollout.Kind == rollout.EventCanaryVerdict && e.Rollout.Verdict != nil:
				verdicts[e.Member] = append(verdicts[e.Member], string(e.Rollout.Verdict.Outcome))
			case e.Kind == fleetwide.EventMember, e.Kind == fleetwide.EventControl:
				return
			default:
				fmt.Fprintf(out, "%s  %-6s %s %s\n", at(e.Time), e.Member, e.Kind, e.Reason)
			}
		}},
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(out)
	for _, m := range st.Members {
		mu.Lock()
		n := probes[m.Member.Rollout.ID]
		mu.Unlock()
		v := verdicts[m.Member.Name]
		fmt.Fprintf(out, "%-6s continuous canaries checked %d times, all OK", m.Member.Name, n)
		if len(v) > 0 {
			fmt.Fprintf(out, "; %d canary verdicts: %s", len(v), summary(v))
		}
		fmt.Fprintln(out)
	}
	lead := st.Ended.Sub(start)
	fmt.Fprintf(out, "\nLead time %v, from %s to %s.\n\n", lead, at(start), at(st.Ended))
	fmt.Fprint(out, st.Timeline())

	// Where the lead time went: the environments run one after the
	// other, so their activities add up to the whole.
	fmt.Fprintf(out, "\nWhere the lead time went:\n")
	for _, a := range []struct {
		act  rollout.Activity
		what string
	}{
		{rollout.ActivityBaking, "baking (continuous canaries and alarms watched)"},
		{rollout.ActivityApproval, "waiting for the manual approval of gamma's one-box"},
		{rollout.ActivityPaused, "held by the stopped line"},
		{rollout.ActivityBlocked, "blocked (time windows, the group's holds)"},
		{rollout.ActivityDeploying, "deploying"},
		{rollout.ActivityVerifying, "integration tests"},
		{rollout.ActivityJudging, "canary judgement"},
	} {
		var d time.Duration
		for _, m := range st.Members {
			if m.Rollout != nil {
				d += m.Rollout.Timings.Get(a.act)
			}
		}
		if d > 0 {
			fmt.Fprintf(out, "  %-52s %8v  %3.0f%%\n", a.what, d, 100*d.Seconds()/lead.Seconds())
		}
	}
	return nil
}

// summary counts the outcomes: "6 pass".
func summary(outcomes []string) string {
	n := map[string]int{}
	var order []string
	for _, o := range outcomes {
		if n[o] == 0 {
			order = append(order, o)
		}
		n[o]++
	}
	var parts []string
	for _, o := range order {
		parts = append(parts, fmt.Sprintf("%d %s", n[o], o))
	}
	return strings.Join(parts, ", ")
}
