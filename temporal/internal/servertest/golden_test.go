package servertest_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/temporaltest"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/temporal"
	"github.com/shepherd-go/shepherd/temporal/internal/testfleet"
)

var recordHistories = flag.Bool("record-histories", false, "record the golden histories of this build in testdata/histories from the in-process server")

// goldenBuild names the histories this build records: v1 before rounds
// were watched, v2 since (see temporal.Workflow). Change it with the
// workflow, so that the histories of earlier builds stay beside.
const goldenBuild = "v2"

// TestGoldenHistories replays the workflow histories committed in
// testdata/histories, recorded by earlier builds: a change to the
// workflow that would break rollouts in flight (another order of
// activities, a timer more or less) fails it with a non-determinism error.
// Keep the files of every release; add new ones with -record-histories
// (which records them first from the in-process server).
func TestGoldenHistories(t *testing.T) {
	dir := filepath.Join("testdata", "histories")
	if *recordHistories {
		recordGolden(t, dir)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden histories: record them with -record-histories")
	}
	logger := log.NewStructuredLogger(slog.New(slog.DiscardHandler))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(temporal.Workflow, workflow.RegisterOptions{Name: temporal.WorkflowName})
			if err := r.ReplayWorkflowHistoryFromJSONFile(logger, f); err != nil {
				t.Errorf("replay: %v", err)
			}
		})
	}
}

// recordGolden runs rollouts that cover the workflow's paths on the
// in-process server and writes every run's history: a round cut by
// continue-as-new, requests by update and by signal, a refused request,
// notifications, an alarm's rollback, and a cancellation's rollback.
func recordGolden(t *testing.T, dir string) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	const queue = "golden"
	plan := testfleet.ZonePlan(12, 11, time.Second, 0)
	f := testfleet.New(plan, "v1")
	ts.NewWorker(queue, func(r worker.Registry) {
		temporal.Register(r, &temporal.Activities{
			Deployer: f.On("w"),
			Alarms:   testfleet.RegressionAlarm(f, []string{"h11"}, "v3"),
			Authorize: func(_ context.Context, c rollout.Control) error {
				if c.Actor == "mallory" {
					return errors.New("mallory is not on the release team")
				}
				return nil
			},
			OnEvent: func(context.Context, []rollout.Event) error { return nil },
		})
	})
	tc := ts.GetDefaultClient()
	c := temporal.NewClient(tc, queue)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	pol := rollout.Policy{Approvals: []string{"zone"}, Alarms: rollout.AlarmPolicy{Interval: duration.Duration(500 * time.Millisecond)}}

	// 1. Approval by update after a refused one and a signalled pause and
	// resume; the zone's batch of 11 is cut by continue-as-new.
	if err := c.Start(ctx, "requests", plan, "v2", pol, temporal.Settings{MaxHistory: 60, MaxInFlight: 4, Notify: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, c, "requests", func(p rollout.Progress) bool { return p.AwaitingApproval })
	if err := c.Approve(ctx, "requests", "zone", "mallory"); !errors.Is(err, rollout.ErrNotAuthorised) {
		t.Fatalf("mallory's approval = %v", err)
	}
	if err := c.Signal(ctx, "requests", rollout.Control{Kind: rollout.ControlPause, Actor: "alice", Reason: "lunch"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Signal(ctx, "requests", rollout.Control{Kind: rollout.ControlResume, Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Approve(ctx, "requests", "zone", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(ctx, "requests"); err != nil {
		t.Fatal(err)
	}

	// 2. An alarm in the zone rolls back (v3 is bad on h11).
	if err := c.Start(ctx, "alarm", plan, "v3", rollout.Policy{Alarms: pol.Alarms}, temporal.Settings{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(ctx, "alarm"); !errors.Is(err, rollout.ErrRolledBack) {
		t.Fatalf("alarm rollout = %v, want rolled back", err)
	}

	// 3. A cancellation while the one-box bakes rolls back.
	long := testfleet.ZonePlan(3, 2, time.Hour, 0)
	for _, id := range rollouttest.AllTargets(long) {
		f.Set(id, "v1")
	}
	if err := c.Start(ctx, "cancel", long, "v4", rollout.Policy{}, temporal.Settings{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, c, "cancel", func(p rollout.Progress) bool { return p.Step == rollout.StepBaking })
	if err := tc.CancelWorkflow(ctx, temporal.WorkflowID("cancel"), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(ctx, "cancel"); !errors.Is(err, rollout.ErrRolledBack) {
		t.Fatalf("cancelled rollout = %v, want rolled back", err)
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"requests", "alarm", "cancel"} {
		for i, h := range histories(t, tc, temporal.WorkflowID(id)) {
			data, err := protojson.MarshalOptions{Indent: " "}.Marshal(h)
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Join(dir, fmt.Sprintf("%s-%s-run%d.json", goldenBuild, id, i+1))
			if err := os.WriteFile(name, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// histories returns the history of every run of a workflow, first to last.
func histories(t *testing.T, c client.Client, wfID string) []*historypb.History {
	t.Helper()
	ctx := context.Background()
	d, err := c.DescribeWorkflowExecution(ctx, wfID, "")
	if err != nil {
		t.Fatal(err)
	}
	var out []*historypb.History
	run := d.GetWorkflowExecutionInfo().GetFirstRunId()
	for run != "" {
		h := &historypb.History{}
		it := c.GetWorkflowHistory(ctx, wfID, run, false, 0)
		next := ""
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			h.Events = append(h.Events, e)
			if a := e.GetWorkflowExecutionContinuedAsNewEventAttributes(); a != nil {
				next = a.GetNewExecutionRunId()
			}
		}
		out = append(out, h)
		run = next
	}
	return out
}
