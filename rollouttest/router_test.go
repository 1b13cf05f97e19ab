package rollouttest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/traffic"
	"github.com/shepherd-go/shepherd/wave"
)

// A policy with exposure steps, unit-tested in simulated time: the
// simulated router's error rate follows the share the bad version gets,
// so the alarm fires at 10% and the share goes back to 0% before the
// targets are rolled back.
func ExampleRouter() {
	fleet, err := rollouttest.NewFleet(rollouttest.Config{
		Targets: []wave.Target{{ID: "fn-1", Location: []string{"us-east-1"}}, {ID: "fn-2", Location: []string{"us-east-1"}}},
		Initial: "v1",
		Seed:    1,
	})
	if err != nil {
		panic(err)
	}
	none := duration.None
	plan, err := wave.Policy{Levels: []string{"region"}, OneBox: wave.OneBoxRule{Off: true},
		Bake: wave.BakeSchedule{OneBox: none, Zone: none, FirstWave: none, LaterWaves: none, Final: none}}.Plan(fleet.Targets())
	if err != nil {
		panic(err)
	}
	router := &rollouttest.Router{ErrorRates: map[string]float64{"v2": 0.2}}
	out, err := rollouttest.Simulate(context.Background(), fleet, rollouttest.Scenario{
		Plan: *plan, Version: "v2",
		Policy: rollout.Policy{Steps: rollout.ExposureSteps, Exposure: rollout.ExposurePolicy{
			Schedule: traffic.CodeDeployCanary(10, 5*time.Minute)}},
		Options: rollout.Config{Router: router, Alarms: router.Alarms(0.01, time.Minute)},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(out.Phase, out.Signal)
	for _, c := range router.Calls() {
		fmt.Printf("%s +%s %g%%\n", c.Scope, c.At.Sub(out.Started), c.Route.Percent)
	}
	fmt.Println(out.Exposure[0].Blast)
	// Output:
	// rolled-back alarm
	// w1/us-east-1 +0s 10%
	// w1/us-east-1 +1m0s 0%
	// peak 10% of requests, exposed 1m0s, as much as 6s of all requests
}
