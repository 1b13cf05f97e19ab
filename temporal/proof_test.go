package temporal

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/temporaltest"
)

// proofWorkflow waits for a durable timer or a "go" signal, whichever comes
// first, then runs one activity and returns what it and the wait saw.
func proofWorkflow(ctx workflow.Context, wait time.Duration) (string, error) {
	how := ""
	timer := workflow.NewTimer(ctx, wait)
	sel := workflow.NewSelector(ctx)
	sel.AddFuture(timer, func(workflow.Future) { how = "timer" })
	sel.AddReceive(workflow.GetSignalChannel(ctx, "go"), func(c workflow.ReceiveChannel, _ bool) {
		var s string
		c.Receive(ctx, &s)
		how = "signal:" + s
	})
	sel.Select(ctx)
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var who string
	if err := workflow.ExecuteActivity(ctx, "proofActivity").Get(ctx, &who); err != nil {
		return "", err
	}
	return how + " by " + who, nil
}

type proofActivities struct{ name string }

func (a proofActivities) ProofActivity(context.Context) (string, error) { return a.name, nil }

func TestProofTimeSkipping(t *testing.T) {
	for _, tc := range []struct {
		name   string
		signal bool
		want   string
	}{
		{"timer", false, "timer by w"},
		{"signal", true, "signal:now by w"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.RegisterWorkflow(proofWorkflow)
			env.RegisterActivityWithOptions(proofActivities{"w"}.ProofActivity, activityName("proofActivity"))
			if tc.signal {
				env.RegisterDelayedCallback(func() { env.SignalWorkflow("go", "now") }, time.Hour)
			}
			env.ExecuteWorkflow(proofWorkflow, 48*time.Hour)
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			var got string
			if err := env.GetWorkflowResult(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestProofTwoWorkers(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	c := ts.GetDefaultClient()
	register := func(name string) func(worker.Registry) {
		return func(r worker.Registry) {
			r.RegisterWorkflow(proofWorkflow)
			r.RegisterActivityWithOptions(proofActivities{name}.ProofActivity, activityName("proofActivity"))
		}
	}
	a := ts.NewWorker("proof", register("a"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "proof-1", TaskQueue: "proof"}, proofWorkflow, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Wait until worker a has run the first workflow task (the timer is
	// started), then stop it and start b.
	for {
		d, err := c.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
		if err != nil {
			t.Fatal(err)
		}
		if d.GetWorkflowExecutionInfo().GetHistoryLength() >= 5 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.Stop()
	ts.NewWorker("proof", register("b"))
	var got string
	if err := run.Get(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if got != "timer by b" {
		t.Fatalf("got %q, want %q", got, "timer by b")
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("timed out")
	}
}

func activityName(n string) activity.RegisterOptions { return activity.RegisterOptions{Name: n} }
