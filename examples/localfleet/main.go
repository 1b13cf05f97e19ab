// Command localfleet shows the whole mechanism on real processes: it builds
// a small HTTP service, starts a fleet of it on loopback laid out as two
// regions of two zones of three hosts, watches every host with continuous
// canaries and alarm rules, rolls a good version across the fleet wave by
// wave, then a bad version that the first one-box catches and that is
// rolled back by itself. It prints its progress as it goes, the timeline
// at the end, and writes the timeline as an HTML page.
//
//	go run ./examples/localfleet
//
// It takes about two minutes (the bakes are seconds long instead of
// hours) and stops every process it started when it ends, Ctrl-C
// included.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/alarm/probe"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/examples/internal/runview"
	"github.com/shepherd-go/shepherd/examples/localfleet/fleet"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/timeline"
	"github.com/shepherd-go/shepherd/wave"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "localfleet:", err)
		os.Exit(1)
	}
}

// The versions: v1 runs at the start, v2 is good, v3 fails 40% of its
// requests and is slow.
var versions = map[string]fleet.Behaviour{
	"v1": {Latency: 2 * time.Millisecond},
	"v2": {Latency: 2 * time.Millisecond},
	"v3": {ErrorRate: 0.4, Latency: 500 * time.Millisecond},
}

// layout is two regions of two zones of three hosts.
func layout() []wave.Target {
	var ts []wave.Target
	for _, r := range []string{"eu-west-1", "us-east-1"} {
		for _, z := range []string{"a", "b"} {
			for h := 1; h <= 3; h++ {
				id := fmt.Sprintf("%s%s-%d", r, z, h)
				ts = append(ts, wave.Target{ID: id, Location: []string{r, r + z, id}})
			}
		}
	}
	return ts
}

// The wave policy is the published practice with bakes of seconds: a
// one-box (a third of a three-host zone, so the share allowed is raised)
// before each region's first zone, one zone at a time, one region per wave.
var wavePolicy = wave.Policy{
	OneBox: wave.OneBoxRule{MaxFraction: 0.34},
	Waves:  wave.Sizing{Growth: 1},
	Bake: wave.BakeSchedule{
		OneBox:     sec(10),
		Zone:       sec(6),
		FirstWave:  sec(10),
		LaterWaves: sec(6),
		Final:      sec(5),
		// The first one-box bakes longest: it is where a bad change
		// should be caught.
		Waves: []wave.WaveBake{{OneBox: sec(25)}},
	},
}

// The driver checks alarms every second and retries a failed deploy
// twice.
var policy = rollout.Policy{
	Alarms: rollout.AlarmPolicy{Interval: sec(1)},
	Deploy: rollout.DeployPolicy{
		Retry:         rollout.Retry{MaxAttempts: 3, Initial: duration.Duration(200 * time.Millisecond), Max: sec(1)},
		StageDeadline: sec(60),
	},
	Rollback: rollout.RollbackPolicy{
		Retry: rollout.Retry{MaxAttempts: 5, Initial: duration.Duration(200 * time.Millisecond), Max: sec(1)},
	},
}

func sec(n int) duration.Duration { return duration.Duration(time.Duration(n) * time.Second) }

// The continuous canaries call every host once a second; a datapoint is
// five seconds of calls.
const (
	probeInterval = time.Second
	probePeriod   = 5 * time.Second
)

// rules are the alarms on the canaries: for each host, failures above 25%
// or a p90 latency above 300ms in 2 of the last 3 periods. A host the
// canaries cannot reach breaches: silence is not health.
func rules(targets []wave.Target) []alarm.Rule {
	ev := alarm.Evaluation{
		Period:            duration.Duration(probePeriod),
		EvaluationPeriods: 3,
		DatapointsToAlarm: 2,
		TreatMissingData:  alarm.Breaching,
	}
	var rs []alarm.Rule
	for _, t := range targets {
		rs = append(rs,
			alarm.Rule{Name: t.ID + " failures", Threshold: &alarm.Threshold{
				Query: "probe:" + t.ID + ":failure_rate", Comparison: alarm.GreaterThan, Threshold: 0.25, Evaluation: ev,
			}},
			alarm.Rule{Name: t.ID + " latency", Threshold: &alarm.Threshold{
				Query: "probe:" + t.ID + ":latency_p90_seconds", Comparison: alarm.GreaterThan, Threshold: 0.3, Evaluation: ev,
			}},
		)
	}
	return rs
}

func run(ctx context.Context, w io.Writer) error {
	start := time.Now()
	dir, err := os.MkdirTemp("", "shepherd-localfleet-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	fmt.Fprintln(w, "building the service...")
	bin, err := fleet.Build(ctx, dir)
	if err != nil {
		return err
	}
	targets := layout()
	logs, err := os.Create(filepath.Join(dir, "service.log"))
	if err != nil {
		return err
	}
	defer logs.Close()
	f, err := fleet.Start(ctx, fleet.Config{Binary: bin, Targets: targets, Versions: versions, Initial: "v1", Logs: logs})
	if err != nil {
		return err
	}
	defer func() {
		f.Close()
		fmt.Fprintln(w, "every process stopped")
	}()
	fmt.Fprintf(w, "started %d processes of v1 on 127.0.0.1:\n", len(targets))
	for _, t := range targets {
		if strings.HasSuffix(t.ID, "-1") {
			fmt.Fprintf(w, "  %-10s %-11s", t.Location[0], t.Location[1])
		}
		fmt.Fprintf(w, " %s", strings.TrimPrefix(f.URL(t.ID), "http://"))
		if strings.HasSuffix(t.ID, "-3") {
			fmt.Fprintln(w)
		}
	}

	// Continuous canaries: one endpoint per host, probed while the
	// program runs.
	var eps []probe.Endpoint
	for _, t := range targets {
		eps = append(eps, probe.Endpoint{Name: t.ID, URL: f.URL(t.ID) + "/", Timeout: duration.Duration(900 * time.Millisecond)})
	}
	prober, err := probe.New(probe.Policy{
		Interval:  duration.Duration(probeInterval),
		Period:    duration.Duration(probePeriod),
		Retention: duration.Duration(10 * time.Minute),
		Endpoints: eps,
	})
	if err != nil {
		return err
	}
	pctx, stopProbes := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		prober.Run(pctx)
	}()
	defer func() {
		stopProbes()
		wg.Wait()
	}()
	set, err := alarm.NewSet(prober, rules(targets)...)
	if err != nil {
		return err
	}
	alarms := rollout.AlarmsFunc(func(ctx context.Context, _ rollout.Subject, now time.Time) ([]alarm.Result, error) {
		var rs []alarm.Result
		for _, o := range set.CheckAll(ctx, now) {
			if o.Err != nil {
				return rs, o.Err
			}
			rs = append(rs, o.Result)
		}
		return rs, nil
	})
	fmt.Fprintf(w, "continuous canaries: every host every %s; alarms on failures and p90 latency per %s\n", probeInterval, probePeriod)
	if err := warmUp(ctx, w, set); err != nil {
		return err
	}

	plan, err := wavePolicy.Plan(targets)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nthe plan: %d stages\n", len(plan.Waves[0].Stages)+len(plan.Waves[1].Stages))
	for _, wv := range plan.Waves {
		for _, st := range wv.Stages {
			var ids []string
			for _, b := range st.Batches {
				for _, t := range b.Targets {
					ids = append(ids, t.ID)
				}
			}
			fmt.Fprintf(w, "  %-26s bake %-4s %s\n", st.Name, st.Bake, strings.Join(ids, " "))
		}
	}

	tl := &timeline.Timeline{Title: "localfleet: v2 across the fleet, then v3"}
	pr := &runview.Printer{W: w, Start: start, Targets: true}
	roll := func(version string) error {
		fmt.Fprintf(w, "\n== rolling out %s\n", version)
		view := timeline.NewRecorder(tl, version, plan)
		r, err := rollout.Create(ctx, rollout.Spec{ID: "localfleet-" + version, Plan: *plan, Version: version, Policy: policy}, f, rollout.Config{
			Alarms: alarms,
			OnEvent: func(e rollout.Event) {
				pr.Event(e)
				view.Event(e)
			},
		})
		if err != nil {
			return err
		}
		err = r.Run(ctx)
		if err := view.Err(); err != nil {
			fmt.Fprintln(w, "timeline:", err)
		}
		return err
	}
	if err := roll("v2"); err != nil {
		return fmt.Errorf("the good version did not roll out: %w", err)
	}
	err = roll("v3")
	var he *rollout.HaltError
	if !errors.As(err, &he) || he.Phase != rollout.RolledBack {
		return fmt.Errorf("the bad version was not rolled back: %v", err)
	}

	// What every host serves now, read from the hosts themselves.
	fmt.Fprintln(w, "\nevery host now serves:")
	bad := 0
	for _, t := range targets {
		v, err := f.Version(ctx, t)
		if err != nil {
			return err
		}
		if v != "v2" {
			bad++
		}
		fmt.Fprintf(w, "  %s %s\n", t.ID, v)
	}
	if bad > 0 {
		return fmt.Errorf("%d host(s) do not serve v2", bad)
	}

	fmt.Fprintln(w)
	tl.CloseAll(time.Now())
	if err := tl.WriteText(w, 100); err != nil {
		return err
	}
	out, err := os.CreateTemp("", "shepherd-localfleet-*.html")
	if err != nil {
		return err
	}
	if err := tl.WriteHTML(out); err != nil {
		out.Close()
		os.Remove(out.Name())
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\ntimeline written to %s\n", out.Name())
	fmt.Fprintf(w, "done in %s: v2 on every host; v3 stopped at %s on %s and rolled back\n",
		time.Since(start).Round(time.Second), plan.Waves[0].Stages[0].Name, he.Signal)
	return nil
}

// warmUp waits until the canaries have seen every host healthy, so that
// the rollout starts from a clean bill of health.
func warmUp(ctx context.Context, w io.Writer, set *alarm.Set) error {
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		ok, n := 0, 0
		var firing []string
		for _, o := range set.CheckAll(ctx, time.Now()) {
			n++
			if o.Err == nil && o.Result.State == alarm.OK {
				ok++
			} else {
				firing = append(firing, o.Result.Name)
			}
		}
		if ok == n {
			fmt.Fprintf(w, "canaries: all %d alarms OK\n", n)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the canaries did not see a healthy fleet within a minute: %s", strings.Join(firing, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
