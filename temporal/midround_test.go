package temporal_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	sdktemporal "go.temporal.io/sdk/temporal"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/temporal"
	"github.com/shepherd-go/shepherd/temporal/internal/testfleet"
)

// hangFor is how long a hanging deploy runs if nothing cancels it: far
// longer than the alarm interval of the test, far shorter than its
// timeout, so that a workflow that waits for the batch fails the test
// instead of hanging it.
const hangFor = 20 * time.Second

// TestAlarmDuringLongBatchStopsIt: the workflow watches the alarms while a
// batch deploys, as the Runner does. The zone's batch (h1, h2, h3, one at a
// time) deploys h1, which the alarm watches, and then hangs in h2's
// deploy: at the next alarm interval the workflow checks the alarms in
// the middle of the round, the alarm fires, the rollback starts at once,
// h2's deploy is cancelled and h3's never starts; every target ends on v1.
// A workflow that waited for the batch would let h2's deploy run its
// hangFor and deploy it.
func TestAlarmDuringLongBatchStopsIt(t *testing.T) {
	plan := testfleet.ZonePlan(4, 3, 0, 0)
	f := testfleet.New(plan, "v1")
	d := testfleet.NewHanging(f.On("w"), hangFor, "h2")
	t.Cleanup(d.Release)
	env := newEnv()
	// The environment fails a test whose workflow waits on activities
	// for 3 s of wall time: a workflow that waited for h2's deploy should
	// fail the checks below instead.
	env.SetTestTimeout(3 * hangFor)
	env.SetStartTime(testfleet.Monday9)
	temporal.Register(env, &temporal.Activities{Deployer: d, Alarms: testfleet.RegressionAlarm(f, []string{"h1"}, "v2")})
	interval := time.Second
	pol := rollout.Policy{
		Deploy: rollout.DeployPolicy{Concurrency: 1},
		Alarms: rollout.AlarmPolicy{Interval: duration.Duration(interval)},
	}
	// Heartbeats (every third of the timeout) carry the cancellation to
	// the hanging deploy.
	set := temporal.Settings{HeartbeatTimeout: duration.Duration(3 * time.Second)}
	env.ExecuteWorkflow(temporal.WorkflowName, temporal.Input{ID: "long-batch", Plan: plan, Version: "v2", Policy: pol, Settings: set})
	var res temporal.Result
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Phase != rollout.RolledBack || res.Signal != rollout.SignalAlarm {
		t.Fatalf("result %s (%s: %s), want rolled back on the alarm", res.Phase, res.Signal, res.Reason)
	}
	started, _, completed := d.Calls()
	if !slices.Equal(started, []string{"h2"}) || len(completed) > 0 {
		t.Errorf("h2's deploy: started %v, ran to the end %v; want started and stopped by the rollback", started, completed)
	}
	hist := f.History()
	if calls := hist["h3"]; len(calls) > 0 {
		t.Errorf("h3 (queued behind h2) was called %v, want never", calls)
	}
	if !slices.Equal(hist["h1"], []string{"v2", "v1"}) {
		t.Errorf("h1's calls %v, want deployed then rolled back", hist["h1"])
	}
	for id, v := range f.Snapshot() {
		if v != "v1" {
			t.Errorf("%s runs %s after the rollback", id, v)
		}
	}
	// The rollback started one alarm interval or so into the batch, not
	// after it: in the environment's time, well before h2's deploy could
	// have ended.
	v, err := env.QueryWorkflow(temporal.QueryEvents, uint64(0))
	if err != nil {
		t.Fatal(err)
	}
	var recs []temporal.Record
	if err := v.Get(&recs); err != nil {
		t.Fatal(err)
	}
	var batchStart, rollbackAt time.Time
	for _, r := range recs {
		e := r.Event
		switch {
		case e.Kind == rollout.EventBatchStarted && e.Stage == "zone" && batchStart.IsZero():
			batchStart = e.Time
		case e.Kind == rollout.EventRollbackStarted:
			rollbackAt = e.Time
		}
	}
	if batchStart.IsZero() || rollbackAt.IsZero() {
		t.Fatalf("no zone batch or no rollback in the events: %v", recs)
	}
	if took := rollbackAt.Sub(batchStart); took >= hangFor {
		t.Errorf("the rollback started %s into the batch, want before h2's deploy (%s) could end", took, hangFor)
	}
}

// TestCancelDuringLongBatch: cancelling the workflow while a deploy hangs
// in the middle of a batch is an abort taken at once: the hung deploy is
// cancelled, the target queued behind it never starts, the rollout rolls
// back (h1 restored) and the workflow ends cancelled with the result.
func TestCancelDuringLongBatch(t *testing.T) {
	plan := testfleet.ZonePlan(4, 3, 0, 0)
	f := testfleet.New(plan, "v1")
	d := testfleet.NewHanging(f.On("w"), hangFor, "h2")
	t.Cleanup(d.Release)
	env := newEnv()
	env.SetTestTimeout(3 * hangFor) // see TestAlarmDuringLongBatchStopsIt
	env.SetStartTime(testfleet.Monday9)
	temporal.Register(env, &temporal.Activities{Deployer: d})
	go func() {
		<-d.Hung()
		env.CancelWorkflow()
	}()
	pol := rollout.Policy{Deploy: rollout.DeployPolicy{Concurrency: 1}}
	set := temporal.Settings{HeartbeatTimeout: duration.Duration(3 * time.Second)}
	env.ExecuteWorkflow(temporal.WorkflowName, temporal.Input{ID: "cancel-batch", Plan: plan, Version: "v2", Policy: pol, Settings: set})
	var ce *sdktemporal.CanceledError
	if err := env.GetWorkflowError(); !errors.As(err, &ce) {
		t.Fatalf("workflow error %v, want cancelled", err)
	}
	var res temporal.Result
	if err := ce.Details(&res); err != nil {
		t.Fatal(err)
	}
	if res.Phase != rollout.RolledBack || res.Signal != rollout.SignalAbort || !res.Cancelled {
		t.Errorf("result %s (%s: %s, cancelled %t), want rolled back on the abort", res.Phase, res.Signal, res.Reason, res.Cancelled)
	}
	if _, _, completed := d.Calls(); len(completed) > 0 {
		t.Errorf("h2's deploy ran to the end: the cancellation waited for the batch")
	}
	hist := f.History()
	if calls := hist["h3"]; len(calls) > 0 {
		t.Errorf("h3 (queued behind h2) was called %v, want never", calls)
	}
	if !slices.Equal(hist["h1"], []string{"v2", "v1"}) {
		t.Errorf("h1's calls %v, want deployed then rolled back", hist["h1"])
	}
	for id, v := range f.Snapshot() {
		if v != "v1" {
			t.Errorf("%s runs %s after the rollback", id, v)
		}
	}
}
