// Command coordinated runs three services' rollouts as one group, across
// three regions, in simulated time: a schema change first, the api wave
// by wave behind it, and the web front end on a release-train slot of its
// own. The api's new version is bad; no service's own alarms see it, but
// the shared zone alarms do. The group ranks the changes in flight by how
// they line up with the alarm in space and time, rolls the api back, pauses
// the schema change and the web front end (whose changes were in the zone
// too) and holds new stages there until the alarm clears, then resumes
// them.
//
//	go run ./examples/coordinated
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
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

// world is every service's hosts in memory: what the teams' deployers
// would do with real ones. A version listed in bad fails requests wherever
// it runs.
type world struct {
	mu    sync.Mutex
	v     map[string]map[string]string // service > target > version
	zone  map[string]string            // target > zone
	bad   map[string]bool              // "service@version"
	since map[string]time.Time         // zone > when a bad version was first seen there
}

type deployer struct {
	w       *world
	service string
}

func (d deployer) Deploy(ctx context.Context, t wave.Target, version string) error {
	d.w.mu.Lock()
	defer d.w.mu.Unlock()
	d.w.v[d.service][t.ID] = version
	return nil
}

func (d deployer) Version(ctx context.Context, t wave.Target) (string, error) {
	d.w.mu.Lock()
	defer d.w.mu.Unlock()
	return d.w.v[d.service][t.ID], nil
}

// health is the shared alarm of every zone: ALARM once a bad version has
// served there for three minutes (3 of 5 one-minute points), OK once none
// does.
func (w *world) health(ctx context.Context, scopes []fleetwide.Scope, now time.Time) ([]alarm.Result, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []alarm.Result
	for _, sc := range scopes {
		var culprits []string
		for svc, vs := range w.v {
			for id, v := range vs {
				if w.zone[id] == sc.Zone && w.bad[svc+"@"+v] && !slices.Contains(culprits, svc) {
					culprits = append(culprits, svc)
				}
			}
		}
		r := alarm.Result{Name: sc.Alarm, State: alarm.OK, Time: now, Reason: "5xx rate normal"}
		if len(culprits) == 0 {
			delete(w.since, sc.Zone)
		} else {
			if _, ok := w.since[sc.Zone]; !ok {
				w.since[sc.Zone] = now
			}
			if now.Sub(w.since[sc.Zone]) >= 3*time.Minute {
				r.State, r.Reason = alarm.Alarm, "5xx rate above 2% in 3 of the last 5 minutes"
			}
		}
		out = append(out, r)
	}
	return out, nil
}

func run(ctx context.Context, out io.Writer) error {
	regions := []string{"ap-south-1", "eu-west-1", "us-east-1"}
	targets := rollouttest.Hosts(regions, 2, 3)
	plan, err := wave.Policy{}.Plan(targets)
	if err != nil {
		return err
	}
	w := &world{v: map[string]map[string]string{}, zone: map[string]string{}, bad: map[string]bool{"api@v7": true}, since: map[string]time.Time{}}
	for _, t := range targets {
		w.zone[t.ID] = t.Location[1]
	}
	start := time.Date(2030, 1, 7, 6, 0, 0, 0, time.UTC)
	hands := map[string]rollout.Hands{}
	member := func(service, version string, after ...fleetwide.Dependency) fleetwide.Member {
		w.v[service] = map[string]string{}
		for _, t := range targets {
			w.v[service][t.ID] = "v1"
		}
		hands[service] = rollout.Hands{Deployer: deployer{w, service}}
		return fleetwide.Member{Name: service, Team: service, After: after, Rollout: rollout.Spec{
			ID: service + "-" + version, Plan: *plan, Version: version,
			// Blockers are asked again every minute, so that a stage the
			// group held goes as soon as the group lets it.
			Policy: rollout.Policy{Blockers: rollout.BlockerPolicy{Recheck: duration.Duration(time.Minute)}},
		}}
	}
	web := member("web", "v3")
	web.Start = start.Add(12 * time.Hour) // the evening train
	var scopes []fleetwide.Scope
	for _, r := range regions {
		for _, z := range []string{"a", "b"} {
			scopes = append(scopes, fleetwide.Scope{Alarm: r + z + "-5xx", Region: r, Zone: r + z})
		}
	}
	spec := fleetwide.Spec{
		ID: "release-2030-01-07",
		Members: []fleetwide.Member{
			member("schema", "v2"),
			member("api", "v7", fleetwide.Dependency{Member: "schema", Kind: fleetwide.AfterWave}),
			web,
		},
		// A change is suspected for a day after it reaches a zone (the
		// default is 3 hours): the schema change, which reached the
		// zone half a day before the alarm, is a suspect too, though a
		// faint one, and is paused with the web front end while the
		// alarm fires.
		Policy: fleetwide.Policy{Health: fleetwide.HealthPolicy{Scopes: scopes, Window: duration.Duration(24 * time.Hour)}},
	}
	at := func(t time.Time) string { return "+" + t.Sub(start).Round(time.Minute).String() }
	st, err := fleetwide.Simulate(ctx, fleetwide.Simulation{
		Spec:  spec,
		Start: start,
		Config: fleetwide.Config{Members: hands, Health: fleetwide.HealthFunc(w.health), OnEvent: func(e fleetwide.Event) {
			switch e.Kind {
			case fleetwide.EventMember, fleetwide.EventControl:
				return
			}
			fmt.Fprintf(out, "%-8s %-16s %-7s %s\n", at(e.Time), e.Kind, e.Member, wrap(e.Reason))
		}},
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(out)
	for _, m := range st.Members {
		versions := map[string]int{}
		for _, v := range w.v[m.Member.Name] {
			versions[v]++
		}
		var vs []string
		for v, n := range versions {
			vs = append(vs, fmt.Sprintf("%d on %s", n, v))
		}
		sort.Strings(vs)
		fmt.Fprintf(out, "%-7s %-10s targets: %s\n", m.Member.Name, m.Status, strings.Join(vs, ", "))
	}
	fmt.Fprintf(out, "\n%s", st.Timeline())
	return nil
}

// wrap breaks a long reason after its semicolons.
func wrap(s string) string {
	return strings.ReplaceAll(s, "; ", ";\n                                  ")
}
