package rollouttest_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

// A policy test: a version that fails 5% of requests in one zone only must
// be caught before it leaves its first region. Simulate runs the rollout
// in simulated time; inside testing/synctest, Run does the same with the
// real driver.
func Example() {
	fleet, err := rollouttest.NewFleet(rollouttest.Config{
		Targets: rollouttest.Hosts([]string{"us-east-1", "eu-west-1", "ap-south-1"}, 2, 10),
		Initial: "v1",
		Versions: map[string]rollouttest.Behavior{"v2": {Regressions: []rollouttest.Regression{
			{Zones: []string{"ap-south-1b"}, ErrorRate: 0.05},
		}}},
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
	out, err := rollouttest.Simulate(context.Background(), fleet, rollouttest.Scenario{
		Plan:    *plan,
		Version: "v2",
		Start:   time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), // a Monday morning
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(out.Phase, "on", out.Signal, "in", out.Stage)
	fmt.Println("promoted:", out.Promoted)
	fmt.Printf("v2 reached %d targets and served %.2f%% of requests for %s\n",
		len(out.Blast.Targets), 100*out.Blast.Share, out.Blast.Exposure())
	fmt.Println("still on v2:", out.Running("v2"))
	// Output:
	// rolled-back on alarm in w1/ap-south-1/ap-south-1b
	// promoted: [w1/one-box/ap-south-1 w1/ap-south-1/ap-south-1a]
	// v2 reached 16 targets and served 10.16% of requests for 2h23m0s
	// still on v2: []
}

// A fleet records what the driver (or a test) does to it.
func ExampleFleet() {
	fleet, err := rollouttest.NewFleet(rollouttest.Config{
		Targets: rollouttest.Hosts([]string{"eu"}, 1, 2),
		Initial: "v1",
		Faults: []rollouttest.Fault{
			{Targets: []string{"eua-2"}, FailFirst: 1},                                 // flaky once
			{Op: rollouttest.OpRollback, Targets: []string{"eua-1"}, FailAlways: true}, // refuses rollback
		},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for _, t := range fleet.Targets() {
		err := fleet.Deploy(ctx, t, "v2")
		fmt.Printf("deploy %s: %v (permanent: %t)\n", t.ID, err, rollout.IsPermanent(err))
	}
	eua1 := fleet.Targets()[0]
	fmt.Println("rollback eua-1:", fleet.Rollback(ctx, eua1, "v1"))
	fmt.Println("versions:", fleet.Versions())
	fmt.Println("ran v2:", fleet.Deployed("v2"))
	// Output:
	// deploy eua-1: <nil> (permanent: false)
	// deploy eua-2: rollouttest: scripted fault: deploy of "v2" on eua-2 failed (fault 0, call 1) (permanent: false)
	// rollback eua-1: rollouttest: scripted fault: rollback of "v1" on eua-1 failed (fault 1, call 1)
	// versions: map[eua-1:v2 eua-2:v1]
	// ran v2: [eua-1]
}

// The fleet is a metric source: queries name a metric and a scope.
func ExampleFleet_Query() {
	fleet, err := rollouttest.NewFleet(rollouttest.Config{
		Targets: rollouttest.Hosts([]string{"eu", "us"}, 2, 2),
		Initial: "v1",
		// Flat traffic without noise: every target serves 10 requests a
		// second all day, and a healthy version fails none.
		Traffic: rollouttest.Traffic{Trough: 1, Noise: -1, ErrorRate: -1},
	})
	if err != nil {
		panic(err)
	}
	end := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	r := alarm.Range{Start: end.Add(-2 * time.Minute), End: end, Step: time.Minute}
	for _, q := range []string{
		"requests",
		`requests{region="eu"}`,
		`requests{zone="eua",target!="eua-1"}`,
		`error_rate{version="v2"}`, // v2 runs nowhere: no data
	} {
		s, err := fleet.Query(context.Background(), q, r)
		if err != nil {
			panic(err)
		}
		line := fmt.Sprintf("%-36s", q)
		for _, p := range s.Points {
			line += fmt.Sprintf(" %s=%g", p.Time.Format("15:04"), p.Value)
		}
		fmt.Println(strings.TrimSpace(line))
	}
	_, err = fleet.Query(context.Background(), `requests{zone="eu-c"}`, r)
	fmt.Println(err)
	// Output:
	// requests                             08:58=4800 08:59=4800 09:00=4800
	// requests{region="eu"}                08:58=2400 08:59=2400 09:00=2400
	// requests{zone="eua",target!="eua-1"} 08:58=600 08:59=600 09:00=600
	// error_rate{version="v2"}
	// rollouttest: bad query "requests{zone=\"eu-c\"}": no zone "eu-c" in the fleet
}

// A team runs the conformance suite against its own deployer. Here, a
// deployer that forgets to honour cancellation and loses the class of its
// errors.
func ExampleTestDeployer() {
	fleet, err := rollouttest.NewFleet(rollouttest.Config{
		Targets: rollouttest.Hosts([]string{"eu"}, 1, 2),
		Initial: "v1",
		Faults:  []rollouttest.Fault{{Version: "missing-artifact", FailAlways: true, Permanent: true}},
	})
	if err != nil {
		panic(err)
	}
	suite := rollouttest.DeployerSuite{
		Targets: fleet.Targets(),
		New:     "v2",
		Broken:  "missing-artifact",
	}

	suite.Deployer = fleet
	fmt.Println("fleet:", rollouttest.TestDeployer(context.Background(), suite))

	suite.Deployer = careless{fleet}
	fmt.Println("careless:", rollouttest.TestDeployer(context.Background(), suite))
	// Output:
	// fleet: <nil>
	// careless: rollouttest: deployer conformance: cancelled: Deploy(eua-1, "v2") with a cancelled context returned nil
	// after a Deploy with a cancelled context, Version(eua-1) = "v2", want "v1"
	// rollouttest: deployer conformance: permanent: Deploy(eua-1, "missing-artifact") of a broken version returned "deploy failed", which is not permanent (wrap it with rollout.Permanent so the driver does not retry)
}

// careless deploys whatever its context says and reports every failure
// in the same words.
type careless struct{ f *rollouttest.Fleet }

func (c careless) Deploy(_ context.Context, t wave.Target, v string) error {
	if err := c.f.Deploy(context.Background(), t, v); err != nil {
		return fmt.Errorf("deploy failed")
	}
	return nil
}

func (c careless) Version(ctx context.Context, t wave.Target) (string, error) {
	return c.f.Version(ctx, t)
}

// Blast measures who a version hurt over any span of time.
func ExampleFleet_Blast() {
	fleet, err := rollouttest.NewFleet(rollouttest.Config{
		Targets:  rollouttest.Hosts([]string{"eu"}, 2, 5),
		Initial:  "v1",
		Versions: map[string]rollouttest.Behavior{"v2": {ErrorRate: 0.2}},
		Traffic:  rollouttest.Traffic{Trough: 1, Noise: -1, ErrorRate: -1},
	})
	if err != nil {
		panic(err)
	}
	plan, err := wave.Policy{OneBox: wave.OneBoxRule{MaxFraction: 0.2}}.Plan(fleet.Targets())
	if err != nil {
		panic(err)
	}
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	out, err := rollouttest.Simulate(context.Background(), fleet, rollouttest.Scenario{Plan: *plan, Version: "v2", Start: start})
	if err != nil {
		panic(err)
	}
	fmt.Println(out.Blast)
	// Output:
	// v2: 1 target(s), 1800 of 18000 requests (10.000%), 360 errors, for 3m0s (3m0s of target time)
}
