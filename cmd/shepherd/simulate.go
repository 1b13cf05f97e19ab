package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shepherd-go/shepherd/canary"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/policyfile"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/timeline"
	"github.com/shepherd-go/shepherd/wave"
)

// simulation is one simulated rollout and what came of it.
type simulation struct {
	plan     *wave.Plan
	outcome  *rollouttest.Outcome
	timeline *timeline.Timeline
}

// simulateRollout rolls version out in the scenario's simulated fleet,
// printing progress to progress (nil: none).
func simulateRollout(ctx context.Context, s *scenarioFile, pol *policyfile.Policy, version string, controls []controlFile, progress io.Writer) (*simulation, error) {
	fleet, err := s.fleet()
	if err != nil {
		return nil, err
	}
	plan, err := pol.PlanFleet(fleet.Targets())
	if err != nil {
		return nil, err
	}
	name := s.Name
	if name == "" {
		name = "rollout"
	}
	tl := &timeline.Timeline{Title: fmt.Sprintf("%s: %s (simulated)", name, version)}
	rec := timeline.NewRecorder(tl, version, plan)
	pr := &printer{w: progress}
	cfg, err := pol.Wire(rollout.Config{OnEvent: func(e rollout.Event) {
		rec.Event(e)
		pr.event(e)
	}}, fleet, name)
	if err != nil {
		return nil, err
	}
	if pol.Rollout.Canary.Enabled && pol.Canary != nil {
		cfg.Judge = rollout.SequentialJudge{Policy: *pol.Canary, Source: fleet, Queries: fleetQueries(pol.Canary)}
	}
	horizon := s.Horizon.Std()
	out, err := rollouttest.Simulate(ctx, fleet, rollouttest.Scenario{
		ID:       strings.Map(idRune, name),
		Plan:     *plan,
		Version:  version,
		Policy:   pol.Rollout,
		Options:  cfg,
		Start:    s.start(),
		Controls: s.controls(controls),
		Horizon:  horizon,
	})
	if err != nil {
		return nil, err
	}
	if err := rec.Err(); err != nil {
		return nil, err
	}
	tl.Now = out.Ended
	return &simulation{plan: plan, outcome: out, timeline: tl}, nil
}

// idRune keeps the runes a rollout ID may hold.
func idRune(r rune) rune {
	if r == '-' || r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
		return r
	}
	return '-'
}

// simulateReport is simulate's --json output.
type simulateReport struct {
	Scenario string            `json:"scenario"`
	Version  string            `json:"version"`
	Phase    rollout.Phase     `json:"phase"`
	Signal   rollout.Signal    `json:"signal,omitempty"`
	Reason   string            `json:"reason,omitempty"`
	Stage    string            `json:"stage,omitempty"`
	Reached  []string          `json:"reached"`
	Promoted []string          `json:"promoted"`
	Started  time.Time         `json:"started"`
	Ended    time.Time         `json:"ended"`
	Duration duration.Duration `json:"duration"`
	Timings  rollout.Timings   `json:"timings"`
	Blast    blastReport       `json:"blast"`
	Running  map[string]int    `json:"running"`
	Warnings []wave.Warning    `json:"warnings,omitempty"`
	HTML     string            `json:"html,omitempty"`
}

// blastReport is the blast radius in --json output.
type blastReport struct {
	Targets  int     `json:"targets"`
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	Share    float64 `json:"share"`
	// TargetTime is the time the version ran, summed over targets.
	TargetTime duration.Duration `json:"targetTime"`
}

func (sim *simulation) report(name, version string) simulateReport {
	o := sim.outcome
	return simulateReport{
		Scenario: name, Version: version, Phase: o.Phase, Signal: o.Signal, Reason: o.Reason, Stage: o.Stage,
		Reached: o.Reached, Promoted: o.Promoted, Started: o.Started, Ended: o.Ended,
		Duration: duration.Duration(o.Duration()), Timings: o.Timings,
		Blast: blastReport{Targets: len(o.Blast.Targets), Requests: o.Blast.Requests, Errors: o.Blast.Errors,
			Share: o.Blast.Share, TargetTime: duration.Duration(o.Blast.TargetTime)},
		Running: running(o), Warnings: sim.plan.Warnings,
	}
}

// running counts targets by the version they run at the end.
func running(o *rollouttest.Outcome) map[string]int {
	m := map[string]int{}
	for _, v := range o.Versions {
		m[v]++
	}
	return m
}

// simulateCmd simulates one rollout of a scenario.
func simulateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("simulate", stderr)
	asJSON := fs.Bool("json", false, "print the outcome as JSON")
	quiet := fs.Bool("quiet", false, "print no progress on standard error")
	html := fs.String("html", "", "write the timeline as an HTML page to this file")
	files, err := parse(fs, args)
	if err != nil {
		return exitInput
	}
	if len(files) != 1 {
		fmt.Fprintln(stderr, "shepherd simulate: usage: shepherd simulate [--json] [--quiet] [--html FILE] SCENARIO")
		return exitInput
	}
	s, pol, err := loadScenario(files[0])
	if err != nil {
		problems(stderr, files[0], err)
		return exitInput
	}
	if s.Version == "" {
		fmt.Fprintf(stderr, "%s: version: empty: say which version to roll out\n", files[0])
		return exitInput
	}
	var progress io.Writer
	if !*quiet {
		progress = stderr
	}
	sim, err := simulateRollout(ctx, s, pol, s.Version, s.Controls, progress)
	if err != nil {
		problems(stderr, files[0], err)
		return exitInput
	}
	name := s.Name
	if name == "" {
		name = files[0]
	}
	rep := sim.report(name, s.Version)
	if *html != "" {
		f, err := os.Create(*html)
		if err == nil {
			err = sim.timeline.WriteHTML(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "shepherd simulate: %v\n", err)
			return exitInput
		}
		rep.HTML = *html
	}
	if *asJSON {
		if err := writeJSON(stdout, rep); err != nil {
			return exitInput
		}
	} else {
		sim.print(stdout, rep)
	}
	if sim.outcome.Phase != rollout.Succeeded {
		return exitFailed
	}
	return exitOK
}

// print writes the outcome, where the time went and the timeline.
func (sim *simulation) print(w io.Writer, rep simulateReport) {
	o := sim.outcome
	fmt.Fprintf(w, "%s: %s of %s: %s after %s\n", rep.Scenario, "rollout", rep.Version, o.Phase, o.Duration().Round(time.Minute))
	if o.Stage != "" {
		fmt.Fprintf(w, "stopped in %s", o.Stage)
		if o.Signal != "" {
			fmt.Fprintf(w, " on %s", o.Signal)
		}
		fmt.Fprintln(w)
	}
	if o.Reason != "" {
		fmt.Fprintf(w, "why: %s\n", o.Reason)
	}
	for _, wn := range sim.plan.Warnings {
		fmt.Fprintf(w, "plan warning: %s\n", wn)
	}
	fmt.Fprintf(w, "blast radius: %s\n", o.Blast)
	var vs []string
	for v, n := range rep.Running {
		vs = append(vs, fmt.Sprintf("%s on %d", v, n))
	}
	sort.Strings(vs)
	fmt.Fprintf(w, "at the end: %s\n", strings.Join(vs, ", "))
	fmt.Fprintln(w, "where the time went:")
	for _, a := range rollout.Activities {
		if d := o.Timings.Get(a); d > 0 {
			fmt.Fprintf(w, "  %-13s %s\n", a, d.Round(time.Minute))
		}
	}
	fmt.Fprintln(w)
	if err := sim.timeline.WriteText(w, 100); err != nil {
		fmt.Fprintf(w, "(no timeline: %v)\n", err)
	}
	if rep.HTML != "" {
		fmt.Fprintf(w, "\ntimeline written to %s\n", rep.HTML)
	}
}

// printer prints a line per event a person follows, in simulated time.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) event(e rollout.Event) {
	if p.w == nil {
		return
	}
	var what string
	switch e.Kind {
	case rollout.EventStarted:
		what = fmt.Sprintf("rollout of %s started: %d targets", e.Version, e.Targets)
	case rollout.EventStageStarted:
		what = fmt.Sprintf("stage %s (%s)", e.Stage, plural(e.Targets, "target"))
	case rollout.EventBlocked:
		what = "  blocked: " + e.Reason
	case rollout.EventUnblocked:
		what = fmt.Sprintf("  unblocked after %s", e.Duration.Round(time.Minute))
	case rollout.EventAwaitingApproval:
		what = "  waiting for approval"
	case rollout.EventApproved:
		what = "  approved by " + e.Actor
	case rollout.EventBakeStarted:
		what = fmt.Sprintf("  baking for %s", e.Duration)
	case rollout.EventSignal:
		what = fmt.Sprintf("  STOP on %s: %s", e.Signal, e.Reason)
	case rollout.EventStagePromoted:
		what = fmt.Sprintf("  promoted after %s", e.Duration.Round(time.Minute))
	case rollout.EventRollbackStarted:
		what = fmt.Sprintf("rolling back %s", plural(e.Targets, "target"))
	case rollout.EventRollbackFinished:
		what = "rollback finished: " + string(e.Phase)
	case rollout.EventSucceeded:
		what = "rollout succeeded"
	case rollout.EventPaused:
		what = "  paused: " + e.Reason
	default:
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%s  %s\n", e.Time.Format("Mon 02 Jan 15:04"), what)
}

// plural writes n things.
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// fleetQueries finds the canary's metrics in the simulated fleet: a metric
// named as one of the fleet's (errors, error_rate, latency_mean_seconds...)
// read over the targets that run the version (the canary) and over those
// that do not (the baseline); a count metric's requests are the same
// scopes' requests.
func fleetQueries(p *canary.Policy) func(rollout.Subject) []canary.Query {
	return func(s rollout.Subject) []canary.Query {
		var qs []canary.Query
		for _, m := range p.Metrics {
			q := canary.Query{
				Metric:   m.Name,
				Canary:   fmt.Sprintf("%s{version=%q}", m.Name, s.Version),
				Baseline: fmt.Sprintf("%s{version!=%q}", m.Name, s.Version),
			}
			if m.Kind == canary.Count {
				q.CanaryRequests = fmt.Sprintf("requests{version=%q}", s.Version)
				q.BaselineRequests = fmt.Sprintf("requests{version!=%q}", s.Version)
			}
			qs = append(qs, q)
		}
		return qs
	}
}
