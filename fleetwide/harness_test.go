package fleetwide_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/fleetwide"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

// A service is one member's fleet: a simulated fleet of its own over the
// group's regions, and the plan the wave planner makes for it.
type service struct {
	name  string
	fleet *rollouttest.Fleet
	plan  wave.Plan
}

var regions3 = []string{"ap-south-1", "eu-west-1", "us-east-1"}

func newService(t testing.TB, name string, regions []string, versions map[string]rollouttest.Behavior, faults ...rollouttest.Fault) service {
	t.Helper()
	f, err := rollouttest.NewFleet(rollouttest.Config{
		Targets:    rollouttest.Hosts(regions, 2, 2),
		Initial:    "v1",
		Versions:   versions,
		Faults:     faults,
		DeployTime: time.Minute,
		Seed:       uint64(len(name)),
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := wave.Policy{}.Plan(f.Targets())
	if err != nil {
		t.Fatal(err)
	}
	return service{name: name, fleet: f, plan: *p}
}

// policy is a member policy whose blockers are asked again every minute,
// so that a stage the group held goes as soon as the group lets it.
func policy() rollout.Policy {
	return rollout.Policy{Blockers: rollout.BlockerPolicy{Recheck: duration.Duration(time.Minute)}}
}

func (s service) member(version string, after ...fleetwide.Dependency) fleetwide.Member {
	return fleetwide.Member{Name: s.name, Team: "team-" + s.name, After: after,
		Rollout: rollout.Spec{ID: s.name + "-" + version, Plan: s.plan, Version: version, Policy: policy()}}
}

func handsOf(ss ...service) map[string]rollout.Hands {
	h := map[string]rollout.Hands{}
	for _, s := range ss {
		h[s.name] = rollout.Hands{Deployer: s.fleet, Evidence: s.fleet}
	}
	return h
}

// zoneScopes makes one shared alarm per zone of the regions.
func zoneScopes(regions []string) []fleetwide.Scope {
	var out []fleetwide.Scope
	for _, r := range regions {
		for _, z := range []string{"a", "b"} {
			out = append(out, fleetwide.Scope{Alarm: r + z + "-errors", Region: r, Zone: r + z})
		}
	}
	return out
}

// zoneHealth is the shared alarm of every zone: the error rate of every
// service there together above 2% in 3 of the last 5 minutes.
func zoneHealth(ss ...service) fleetwide.Health {
	return fleetwide.HealthFunc(func(ctx context.Context, scopes []fleetwide.Scope, now time.Time) ([]alarm.Result, error) {
		end := now.Truncate(time.Minute)
		r := alarm.Range{Start: end.Add(-4 * time.Minute), End: end, Step: time.Minute}
		var out []alarm.Result
		for _, sc := range scopes {
			req := make([]float64, 5)
			errs := make([]float64, 5)
			for _, s := range ss {
				for k, q := range map[string][]float64{"requests": req, "errors": errs} {
					ser, err := s.fleet.Query(ctx, fmt.Sprintf(`%s{zone=%q}`, k, sc.Zone), r)
					if err != nil {
						continue // a service with no target there
					}
					for _, p := range ser.Points {
						if i := int(p.Time.Sub(r.Start) / time.Minute); i >= 0 && i < 5 {
							q[i] += p.Value
						}
					}
				}
			}
			breach := 0
			worst := 0.0
			for i := range req {
				if req[i] > 0 && errs[i]/req[i] > 0.02 {
					breach++
					worst = max(worst, errs[i]/req[i])
				}
			}
			st := alarm.OK
			if breach >= 3 {
				st = alarm.Alarm
			}
			out = append(out, alarm.Result{Name: sc.Alarm, State: st, Time: now,
				Reason: fmt.Sprintf("error rate above 2%% in %d of the last 5 minutes (worst %.1f%%)", breach, 100*worst)})
		}
		return out, nil
	})
}

// recorder keeps the group's events.
type recorder struct {
	mu     sync.Mutex
	events []fleetwide.Event
}

func (r *recorder) on(e fleetwide.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) of(kinds ...fleetwide.EventKind) []fleetwide.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []fleetwide.Event
	for _, e := range r.events {
		for _, k := range kinds {
			if e.Kind == k {
				out = append(out, e)
			}
		}
	}
	return out
}

// memberEvents returns "member kind" for the member events of the kinds.
func (r *recorder) memberEvents(kinds ...rollout.EventKind) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.Kind != fleetwide.EventMember {
			continue
		}
		for _, k := range kinds {
			if e.Rollout.Kind == k {
				out = append(out, e.Member+" "+string(k))
			}
		}
	}
	return out
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, e := range r.events {
		if e.Kind == fleetwide.EventMember && e.Rollout.Kind != rollout.EventStagePromoted && e.Rollout.Kind != rollout.EventRollbackStarted && e.Rollout.Kind != rollout.EventSignal {
			continue
		}
		b.WriteString(e.String() + "\n")
	}
	return b.String()
}

// statuses returns every member's status.
func statuses(st *fleetwide.State) map[string]fleetwide.MemberStatus {
	out := map[string]fleetwide.MemberStatus{}
	for _, m := range st.Members {
		out[m.Member.Name] = m.Status
	}
	return out
}

// run creates and runs a group, returning its final state.
func run(t *testing.T, spec fleetwide.Spec, cfg fleetwide.Config) (*fleetwide.State, error) {
	t.Helper()
	r, err := fleetwide.Create(t.Context(), spec, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A group that never ends fails the test rather than hang it: in a
	// bubble, this deadline is simulated time.
	ctx, cancel := context.WithTimeout(t.Context(), 30*24*time.Hour)
	defer cancel()
	runErr := r.Run(ctx)
	if errors.Is(runErr, context.DeadlineExceeded) {
		t.Fatalf("the group was still running after 30 days")
	}
	st, err := r.State()
	if err != nil {
		t.Fatal(err)
	}
	return st, runErr
}
