package servertest_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/temporal"
	"github.com/shepherd-go/shepherd/temporal/internal/testfleet"
)

// TestAlarmDuringLongDeployOnServer: on a real server, an alarm that fires
// while a deploy hangs in the middle of a batch (h1 deployed and watched,
// h2 hanging, h3 queued, one at a time) is seen at the next alarm
// interval; the rollback starts at once: the server carries the
// cancellation to h2's deploy through its heartbeat and the workflow waits
// for the deploy to stop before it rolls back; h3 is never deployed, and
// every target ends on v1.
func TestAlarmDuringLongDeployOnServer(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	const queue = "midround"
	plan := testfleet.ZonePlan(4, 3, 0, 0)
	f := testfleet.New(plan, "v1")
	// 2 minutes: longer than the test may take on a loaded machine, so
	// that a workflow that waited for h2's deploy could not pass.
	const hangFor = 2 * time.Minute
	d := testfleet.NewHanging(f.On("w"), hangFor, "h2")
	t.Cleanup(d.Release)
	ts.NewWorker(queue, func(r worker.Registry) {
		temporal.Register(r, &temporal.Activities{Deployer: d, Alarms: testfleet.RegressionAlarm(f, []string{"h1"}, "v2")})
	})
	c := temporal.NewClient(ts.GetDefaultClient(), queue)
	ctx, cancel := context.WithTimeout(t.Context(), hangFor)
	defer cancel()
	pol := rollout.Policy{
		Deploy: rollout.DeployPolicy{Concurrency: 1},
		Alarms: rollout.AlarmPolicy{Interval: duration.Duration(time.Second)},
	}
	// A heartbeat every second carries the cancellation to the deploy.
	set := temporal.Settings{HeartbeatTimeout: duration.Duration(3 * time.Second), GateTimeout: duration.Duration(15 * time.Second)}
	if err := c.Start(ctx, "midround", plan, "v2", pol, set); err != nil {
		t.Fatal(err)
	}
	_, err := c.Wait(ctx, "midround")
	var he *rollout.HaltError
	if !errors.As(err, &he) || he.Phase != rollout.RolledBack || he.Signal != rollout.SignalAlarm {
		t.Fatalf("Wait = %v, want rolled back on the alarm", err)
	}
	// The workflow waited for h2's deploy to answer its cancellation
	// (WaitForCancellation) before it went on: by now it has.
	started, cancelled, completed := d.Calls()
	if !slices.Equal(started, []string{"h2"}) || !slices.Equal(cancelled, []string{"h2"}) || len(completed) > 0 {
		t.Errorf("h2's deploy: started %v, cancelled %v, ran to the end %v; want started and cancelled", started, cancelled, completed)
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
