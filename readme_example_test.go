package shepherd_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/wave"
)

// hosts is a Deployer: it deploys by remembering what each host runs.
// Yours calls your deploy tool.
type hosts struct{ m sync.Map }

func (h *hosts) Deploy(ctx context.Context, t wave.Target, version string) error {
	h.m.Store(t.ID, version)
	return nil
}

func (h *hosts) Version(ctx context.Context, t wave.Target) (string, error) {
	v, _ := h.m.LoadOrStore(t.ID, "v1")
	return v.(string), nil
}

func Example_readme() {
	var fleet []wave.Target // two regions of two zones of five hosts
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		for i := range 10 {
			zone := fmt.Sprintf("%s%c", region, 'a'+i%2)
			fleet = append(fleet, wave.Target{ID: fmt.Sprintf("%s-%d", zone, i), Location: []string{region, zone}})
		}
	}
	none := duration.None // no bakes, for the demo; the defaults bake for hours
	policy := wave.Policy{Bake: wave.BakeSchedule{OneBox: none, Zone: none, FirstWave: none, LaterWaves: none, Final: none}}
	plan, err := policy.Plan(fleet)
	if err != nil {
		panic(err)
	}
	spec := rollout.Spec{ID: "demo", Plan: *plan, Version: "v2"}
	r, err := rollout.Create(context.Background(), spec, &hosts{}, rollout.Config{OnEvent: func(e rollout.Event) {
		if e.Kind == rollout.EventStagePromoted {
			fmt.Println("promoted", e.Stage)
		}
	}})
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Run(context.Background()), r.Progress().Phase)
	// Output:
	// promoted w1/one-box/eu-west-1
	// promoted w1/eu-west-1/eu-west-1a
	// promoted w1/eu-west-1/eu-west-1b
	// promoted w2/one-box/us-east-1
	// promoted w2/us-east-1/us-east-1a
	// promoted w2/us-east-1/us-east-1b
	// <nil> succeeded
}
