package traffic_test

import (
	"fmt"
	"time"

	"github.com/shepherd-go/shepherd/traffic"
)

// A CodeDeploy preset expands into explicit steps that can be read,
// diffed and changed.
func ExamplePreset() {
	s, err := traffic.Preset("CodeDeployDefault.LambdaCanary10Percent5Minutes")
	if err != nil {
		panic(err)
	}
	fmt.Println(s)
	fmt.Print(s.Explain())
	// Output:
	// weight 10% > hold 5m0s > weight 100%
	// +0s      10%  hold 5m0s
	// +5m     100%
}

// Flagger's linear analysis with a maximum that is not a multiple of the
// step still promotes.
func ExampleFlagger() {
	s, err := traffic.Flagger{StepWeight: 20, MaxWeight: 50}.Schedule()
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Weights())
	// Output:
	// [20 40 60 100]
}

// Validate names the step at fault.
func ExampleSchedule_Validate() {
	s := traffic.Schedule{Steps: []traffic.Step{
		traffic.Weight(10), {Kind: traffic.KindHold}, traffic.Weight(5), traffic.Weight(150),
	}}
	fmt.Println(s.Validate())
	// Output:
	// traffic: Steps[1]: a hold with no exit: give it a Duration or Until "approval"
	// traffic: Steps[2].Percent: 5% is lower than the earlier 10% (set AllowDecrease if the schedule means it)
	// traffic: Steps[3].Percent: 150% is over 100%
	// traffic: Steps[3].Percent: the schedule ends at 150%: it must end with the new version at 100%
}

// A flag's cohort is sticky: the entities exposed at 5% are still exposed
// at 20%.
func ExampleExposed() {
	n5, n20, kept := 0, 0, 0
	for i := range 10000 {
		id := fmt.Sprint("account-", i)
		a, b := traffic.Exposed("dark-mode", id, 5), traffic.Exposed("dark-mode", id, 20)
		if a {
			n5++
		}
		if b {
			n20++
		}
		if a && b {
			kept++
		}
	}
	fmt.Println(n5 == kept, n5 > 400 && n5 < 600, n20 > 1800 && n20 < 2200)
	// Output:
	// true true true
}

// An exposure account gives the blast radius by share of requests.
func ExampleExposure() {
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	var e traffic.Exposure
	e.Set(t0, 10)                   // 10% of the requests
	e.Set(t0.Add(7*time.Minute), 0) // the alarm fires: back to 0%
	fmt.Println(e.Blast(t0.Add(time.Hour)))
	// Output:
	// peak 10% of requests, exposed 7m0s, as much as 42s of all requests
}
