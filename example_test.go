package shepherd_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

// The packages together: plan waves over a fleet of three regions, then run
// a good and a bad version through the whole driver against a simulated
// fleet, in simulated time. The bad version is caught on its first box and
// rolled back; the good one goes everywhere.
func Example() {
	fleet, err := rollouttest.NewFleet(rollouttest.Config{
		Targets: rollouttest.Hosts([]string{"us-east-1", "eu-west-1", "ap-south-1"}, 2, 10),
		Initial: "v1",
		Versions: map[string]rollouttest.Behavior{
			"v3": {Regressions: []rollouttest.Regression{{ErrorRate: 0.2}}},
		},
		DeployTime: 2 * time.Minute,
		Seed:       1,
	})
	if err != nil {
		panic(err)
	}
	plan, err := wave.Policy{}.Plan(fleet.Targets())
	if err != nil {
		panic(err)
	}
	stages := 0
	for _, w := range plan.Waves {
		stages += len(w.Stages)
	}
	fmt.Printf("plan: %d waves, %d stages, first %s\n", len(plan.Waves), stages, plan.Waves[0].Stages[0].Name)
	monday := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for _, version := range []string{"v2", "v3"} {
		out, err := rollouttest.Simulate(context.Background(), fleet, rollouttest.Scenario{
			Plan: *plan, Version: version, Start: monday,
		})
		if err != nil {
			panic(err)
		}
		where := ""
		if out.Stage != "" {
			where = " in " + out.Stage
		}
		fmt.Printf("%s: %s%s; %d targets ran it, %d run it now\n",
			version, out.Phase, where, len(out.Blast.Targets), len(out.Running(version)))
	}
	// Output:
	// plan: 2 waves, 6 stages, first w1/one-box/ap-south-1
	// v2: succeeded; 60 targets ran it, 60 run it now
	// v3: rolled-back in w1/one-box/ap-south-1; 1 targets ran it, 0 run it now
}
