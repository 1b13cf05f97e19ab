package rollout_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/wave"
)

// hosts is a fleet in memory: what a team's deployer would do with real
// hosts.
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
	return h.v[t.ID], nil
}

// fleet makes two regions of two zones of three hosts, all on v1.
func fleet() ([]wave.Target, *hosts) {
	h := &hosts{v: map[string]string{}}
	var ts []wave.Target
	for _, r := range []string{"us-east-1", "eu-west-1"} {
		for z := 1; z <= 2; z++ {
			for i := 1; i <= 3; i++ {
				id := fmt.Sprintf("%s-az%d-%d", r, z, i)
				ts = append(ts, wave.Target{ID: id, Location: []string{r, fmt.Sprintf("%s-az%d", r, z)}})
				h.v[id] = "v1"
			}
		}
	}
	return ts, h
}

// noBakes removes the plan's bakes so that the example runs at once (a
// plan is plain data). Real rollouts bake for hours; tests run them in a
// testing/synctest bubble.
func noBakes(p *wave.Plan) {
	p.FinalBake = 0
	for i := range p.Waves {
		for j := range p.Waves[i].Stages {
			p.Waves[i].Stages[j].Bake = 0
		}
	}
}

// A rollout plans its waves, then deploys them stage by stage, watching
// the alarms after every batch, and persists its place at every step.
func Example() {
	targets, h := fleet()
	plan, err := wave.Policy{}.Plan(targets)
	if err != nil {
		fmt.Println(err)
		return
	}
	noBakes(plan)

	r, err := rollout.Create(context.Background(), rollout.Spec{ID: "api-2030-01-07", Plan: *plan, Version: "v2", Policy: rollout.Policy{}}, h, rollout.Config{
		OnEvent: func(e rollout.Event) {
			if e.Kind == rollout.EventStagePromoted {
				fmt.Println("promoted", e.Stage)
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := r.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	p := r.Progress()
	fmt.Println(p.Phase, p.Targets[rollout.TargetDeployed], "targets on", p.Version)
	// Output:
	// promoted w1/eu-west-1/eu-west-1-az1
	// promoted w1/eu-west-1/eu-west-1-az2
	// promoted w2/us-east-1/us-east-1-az1
	// promoted w2/us-east-1/us-east-1-az2
	// succeeded 12 targets on v2
}

// When a deploy fails for good, the failure budget of the stage runs out
// and everything the rollout changed goes back to its previous version.
func Example_rollback() {
	targets, h := fleet()
	plan, _ := wave.Policy{}.Plan(targets)
	noBakes(plan)
	broken := &failing{hosts: h, bad: "us-east-1-az1-2"}

	r, err := rollout.Create(context.Background(), rollout.Spec{ID: "api-broken", Plan: *plan, Version: "v2", Policy: rollout.Policy{}}, broken, rollout.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = r.Run(context.Background())
	var he *rollout.HaltError
	if errors.As(err, &he) {
		fmt.Println(he.Phase, "on", he.Signal)
	}
	on := map[string]int{}
	for _, v := range h.v {
		on[v]++
	}
	fmt.Println(on)
	// Output:
	// rolled-back on failure-budget
	// map[v1:12]
}

type failing struct {
	*hosts
	bad string
}

func (f *failing) Deploy(ctx context.Context, t wave.Target, v string) error {
	if t.ID == f.bad && v == "v2" {
		return rollout.Permanent(errors.New("image pull failed"))
	}
	return f.hosts.Deploy(ctx, t, v)
}

// The driver's decisions are a pure step function: an executor (here a
// loop that answers every action at once; a workflow engine in
// production) performs the actions and feeds back what it observed.
func ExampleState_Step() {
	targets, _ := fleet()
	plan, _ := wave.Policy{}.Plan(targets[:6]) // one region
	noBakes(plan)
	now := time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	st, err := rollout.NewState("r1", *plan, "v2", rollout.Policy{}, now)
	if err != nil {
		fmt.Println(err)
		return
	}
	var obs []rollout.Observation
	for {
		out, err := st.Step(now, obs...)
		if err != nil {
			fmt.Println(err)
			return
		}
		// (An executor saves the state here when out.Persist is set.)
		if out.Done {
			fmt.Println("done:", st.Phase)
			return
		}
		obs = obs[:0]
		kinds := map[rollout.ActionKind]int{}
		for _, a := range out.Actions {
			kinds[a.Kind]++
			switch a.Kind {
			case rollout.ActionReadVersion:
				obs = append(obs, rollout.ObserveVersion(a, "v1", nil))
			case rollout.ActionDeploy:
				obs = append(obs, rollout.ObserveDeploy(a, a.Version, 1, nil))
			case rollout.ActionCheckBlockers:
				obs = append(obs, rollout.ObserveBlockers(a, nil, time.Time{}, nil))
			case rollout.ActionCheckAlarms:
				obs = append(obs, rollout.ObserveAlarms(a, nil, nil))
			}
		}
		if len(out.Actions) == 0 {
			now = out.WakeAt // nothing to do until then
			continue
		}
		fmt.Println(kinds)
	}
	// Output:
	// map[check-blockers:1]
	// map[read-version:1]
	// map[deploy:1]
	// map[check-alarms:1]
	// map[read-version:1]
	// map[deploy:1]
	// map[check-alarms:1]
	// map[read-version:1]
	// map[deploy:1]
	// map[check-alarms:1]
	// map[check-blockers:1]
	// map[read-version:1]
	// map[deploy:1]
	// map[check-alarms:1]
	// map[read-version:1]
	// map[deploy:1]
	// map[check-alarms:1]
	// map[read-version:1]
	// map[deploy:1]
	// map[check-alarms:1]
	// done: succeeded
}
