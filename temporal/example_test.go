package temporal_test

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/temporal"
	"github.com/shepherd-go/shepherd/wave"
)

// printer is a Deployer that prints its deploys.
type printer map[string]string

func (p printer) Deploy(_ context.Context, t wave.Target, v string) error {
	fmt.Printf("deploy %s to %s\n", v, t.ID)
	p[t.ID] = v
	return nil
}

func (p printer) Version(_ context.Context, t wave.Target) (string, error) { return p[t.ID], nil }

// Run a rollout workflow in the SDK's time-skipping test environment: the
// planner's default bakes (14 hours of workflow time) pass at once. In
// production, start a worker with [temporal.NewWorker] and the rollout with
// [temporal.Client.Start].
func Example() {
	var hosts []wave.Target
	for _, id := range []string{"host-1", "host-2", "host-3"} {
		hosts = append(hosts, wave.Target{ID: id, Location: []string{"eu-west-1", "eu-west-1a"}})
	}
	// One region, one zone: a one-box, then the other hosts, with the
	// planner's default bakes.
	plan, err := wave.Policy{}.Plan(hosts)
	if err != nil {
		fmt.Println(err)
		return
	}
	fleet := printer{"host-1": "v1", "host-2": "v1", "host-3": "v1"}

	env := newEnv()
	temporal.Register(env, &temporal.Activities{Deployer: fleet})
	env.ExecuteWorkflow(temporal.WorkflowName, temporal.Input{ID: "checkout-42", Plan: *plan, Version: "v2"})

	var res temporal.Result
	if err := env.GetWorkflowResult(&res); err != nil {
		fmt.Println(err)
		return
	}
	p := res.Status.Progress
	fmt.Printf("%s: %d deployed, baked %s\n", res.Phase, p.Targets[rollout.TargetDeployed], p.Timings.Baking)
	fmt.Println("workflow ID:", temporal.WorkflowID("checkout-42"))
	// Output:
	// deploy v2 to host-1
	// deploy v2 to host-2
	// deploy v2 to host-3
	// succeeded: 3 deployed, baked 14h0m0s
	// workflow ID: shepherd-rollout-checkout-42
}

// Run rollouts on workers pinned to their build (Worker Deployment
// Versioning): a rollout ends on the build that started it, so a release
// of the workflow or of package rollout never meets a rollout it did not
// start. Deploys run on one task queue and gates on another, so that a
// queue full of long deploys never delays an alarm check; run a worker on
// each.
func ExampleNewWorker() {
	c, err := client.Dial(client.Options{HostPort: "temporal.internal:7233", Namespace: "deploys"})
	if err != nil {
		return
	}
	defer c.Close()
	acts := &temporal.Activities{Deployer: printer{}}
	pinned := worker.Options{DeploymentOptions: worker.DeploymentOptions{
		UseVersioning:             true,
		Version:                   worker.WorkerDeploymentVersion{DeploymentName: "shepherd", BuildID: "2026-12-06.1"},
		DefaultVersioningBehavior: workflow.VersioningBehaviorPinned,
	}}
	deploys := temporal.NewWorker(c, "rollouts", acts, pinned)
	gates := temporal.NewWorker(c, "rollout-gates", acts, pinned)
	for _, w := range []worker.Worker{deploys, gates} {
		if err := w.Start(); err != nil {
			return
		}
		defer w.Stop()
	}
	// Rollouts started with these settings run their gates on the gate
	// queue.
	_ = temporal.Settings{TaskQueue: "rollouts", GateTaskQueue: "rollout-gates"}
}
