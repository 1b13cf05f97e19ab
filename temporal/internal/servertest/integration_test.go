package servertest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/temporaltest"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/temporal"
	"github.com/shepherd-go/shepherd/temporal/internal/testfleet"
)

// TestWorkerLostMidBake runs a rollout on a real Temporal server in this
// process with two workers on one task queue: worker a deploys the one-box
// and starts its bake; a is stopped in the middle of the bake; worker b
// picks the rollout up from the workflow's history when the bake's timers
// fire and finishes it. Every target is deployed exactly once. On the way,
// the workflow continues as new (a small MaxHistory), a second start of the
// same rollout is refused, and the recorded history replays without
// non-determinism.
func TestWorkerLostMidBake(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	const queue = "rollouts"
	plan := testfleet.ZonePlan(7, 2, 6*time.Second, 2*time.Second)
	f := testfleet.New(plan, "v1")
	acts := func(name string) func(worker.Registry) {
		return func(r worker.Registry) {
			temporal.Register(r, &temporal.Activities{
				Deployer: f.On(name),
				Alarms:   testfleet.RegressionAlarm(f, nil, "v2"),
			})
		}
	}
	a := ts.NewWorkerWithOptions(queue, acts("a"), worker.Options{Identity: "worker-a"})
	c := temporal.NewClient(ts.GetDefaultClient(), queue)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	pol := rollout.Policy{Alarms: rollout.AlarmPolicy{Interval: duration.Duration(500 * time.Millisecond)}}
	set := temporal.Settings{MaxHistory: 40, HeartbeatTimeout: duration.Duration(5 * time.Second)}
	if err := c.Start(ctx, "handover", plan, "v2", pol, set); err != nil {
		t.Fatal(err)
	}
	// Wait for the one-box bake to be under way on worker a.
	for {
		p, err := c.Progress(ctx, "handover")
		if err != nil {
			t.Fatal(err)
		}
		if p.Stage == "one-box" && p.Step == rollout.StepBaking && p.Baked > time.Second {
			break
		}
		if p.StageIndex > 0 || p.Phase != rollout.Running {
			t.Fatalf("the bake ended before worker a could be stopped: %+v", p)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := c.Start(ctx, "handover", plan, "v2", pol, set); !errors.Is(err, rollout.ErrExists) {
		t.Fatalf("second Start while running = %v, want ErrExists", err)
	}
	// No worker answers queries now: the rollout is only in the server's
	// history, with its bake's timers.
	a.Stop()
	ts.NewWorkerWithOptions(queue, acts("b"), worker.Options{Identity: "worker-b"})
	res, err := c.Wait(ctx, "handover")
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if res.Phase != rollout.Succeeded {
		t.Fatalf("phase %s", res.Phase)
	}

	// Each target deployed once: the one-box by a, the zone by b.
	byWorker := map[string][]string{}
	for _, cl := range f.Calls() {
		byWorker[cl.Worker] = append(byWorker[cl.Worker], cl.Target+"@"+cl.Version)
	}
	if diff := cmp.Diff([]string{"ob@v2"}, byWorker["a"]); diff != "" {
		t.Errorf("worker a's deploys (-want +got):\n%s", diff)
	}
	for id, calls := range f.History() {
		if len(calls) != 1 || calls[0] != "v2" {
			t.Errorf("%s: calls %v, want one deploy of v2", id, calls)
		}
	}
	if got := len(byWorker["b"]); got != 6 {
		t.Errorf("worker b deployed %d targets, want the zone's 6: %v", got, byWorker["b"])
	}

	// Watch of an ended rollout delivers the events the workflow kept, in
	// order, and returns the same outcome as Wait.
	var kinds []rollout.EventKind
	if _, err := c.Watch(ctx, "handover", 0, func(e rollout.Event) { kinds = append(kinds, e.Kind) }); err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if len(kinds) < 10 || kinds[0] != rollout.EventStarted || kinds[len(kinds)-1] != rollout.EventSucceeded {
		t.Errorf("watched events %v, want started ... succeeded", kinds)
	}

	// A rollout ID is used once, also after it ended.
	if err := c.Start(ctx, "handover", plan, "v2", pol, set); !errors.Is(err, rollout.ErrExists) {
		t.Errorf("Start after the end = %v, want ErrExists", err)
	}
	if err := c.Pause(ctx, "handover", "alice", "too late"); !errors.Is(err, rollout.ErrDone) {
		t.Errorf("Pause after the end = %v, want ErrDone", err)
	}
	if err := c.Pause(ctx, "no-such-rollout", "alice", ""); !errors.Is(err, rollout.ErrNotFound) {
		t.Errorf("Pause of an unknown rollout = %v, want ErrNotFound", err)
	}

	// The workflow continued as new at least once, and every run's
	// history replays.
	tc := ts.GetDefaultClient()
	d, err := tc.DescribeWorkflowExecution(ctx, temporal.WorkflowID("handover"), "")
	if err != nil {
		t.Fatal(err)
	}
	info := d.GetWorkflowExecutionInfo()
	if info.GetFirstRunId() == info.GetExecution().GetRunId() {
		var types []string
		it := tc.GetWorkflowHistory(ctx, temporal.WorkflowID("handover"), "", false, 0)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				break
			}
			types = append(types, fmt.Sprintf("%d:%s", e.GetEventId(), strings.TrimPrefix(e.GetEventType().String(), "EVENT_TYPE_")))
		}
		t.Errorf("the workflow never continued as new: %v", types)
	}
	replayer := worker.NewWorkflowReplayer()
	replayer.RegisterWorkflowWithOptions(temporal.Workflow, workflow.RegisterOptions{Name: temporal.WorkflowName})
	// The first run (which worker a ran, then b) and the last one.
	for _, runID := range []string{info.GetFirstRunId(), info.GetExecution().GetRunId()} {
		exec := workflow.Execution{ID: temporal.WorkflowID("handover"), RunID: runID}
		if err := replayer.ReplayWorkflowExecution(ctx, tc.WorkflowService(), nil, ts.GetDefaultNamespace(), exec); err != nil {
			t.Fatalf("replay of run %s: %v", runID, err)
		}
	}
	t.Logf("worker a deployed %v, worker b %v", byWorker["a"], byWorker["b"])
}
