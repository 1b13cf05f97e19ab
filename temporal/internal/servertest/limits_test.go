package servertest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/common/dynamicconfig"
	tserver "go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/temporal"
	"github.com/shepherd-go/shepherd/temporal/internal/testfleet"
	"github.com/shepherd-go/shepherd/wave"
)

// limitedServer starts an in-process server whose namespace limits are
// lowered, so that a test meets them with a small fleet.
func limitedServer(t *testing.T, limits map[dynamicconfig.Key]any) *temporaltest.TestServer {
	t.Helper()
	dc := dynamicconfig.StaticClient{
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): []dynamicconfig.ConstrainedValue{{Value: true}},
	}
	for k, v := range limits {
		dc[k] = []dynamicconfig.ConstrainedValue{{Value: v}}
	}
	return temporaltest.NewServer(temporaltest.WithT(t), temporaltest.WithBaseServerOptions(tserver.WithDynamicConfigClient(dc)))
}

// runs follows a workflow's chain of runs from its first and returns the
// history length of each, and its final status.
func runs(t *testing.T, c client.Client, wfID string) ([]int, enumspb.WorkflowExecutionStatus) {
	t.Helper()
	ctx := context.Background()
	d, err := c.DescribeWorkflowExecution(ctx, wfID, "")
	if err != nil {
		t.Fatal(err)
	}
	var lens []int
	run := d.GetWorkflowExecutionInfo().GetFirstRunId()
	for run != "" {
		it := c.GetWorkflowHistory(ctx, wfID, run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		n, next := 0, ""
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			n++
			if a := e.GetWorkflowExecutionContinuedAsNewEventAttributes(); a != nil {
				next = a.GetNewExecutionRunId()
			}
		}
		lens = append(lens, n)
		run = next
	}
	return lens, d.GetWorkflowExecutionInfo().GetStatus()
}

// oneStage is a plan of a one-box and one zone stage whose targets are a
// single batch: a round of targets-1 deploys with no concurrency limit.
func oneStage(targets int) wave.Plan {
	return testfleet.ZonePlan(targets, targets, time.Second, 0)
}

// TestContinueAsNewMidStage: under a server history limit of 400 events
// (the limit at which the rollout of 121 targets was terminated
// with 39 deployed), a rollout whose zone stage is one batch of 120
// deploys completes: the workflow continues as new in the middle of the
// batch, before the history is full, and every target is deployed once.
// SHEPHERD_MIDSTAGE_TARGETS runs it with more targets (the 5,000).
func TestContinueAsNewMidStage(t *testing.T) {
	n := envInt("SHEPHERD_MIDSTAGE_TARGETS", 121)
	ts := limitedServer(t, map[dynamicconfig.Key]any{
		dynamicconfig.HistoryCountLimitError.Key(): 400,
		dynamicconfig.HistoryCountLimitWarn.Key():  300,
	})
	const queue = "midstage"
	plan := oneStage(n)
	f := testfleet.New(plan, "v1")
	ts.NewWorker(queue, func(r worker.Registry) {
		temporal.Register(r, &temporal.Activities{Deployer: f.On("w")})
	})
	c := temporal.NewClient(ts.GetDefaultClient(), queue)
	// 10 minutes, or 0.2 s per target for the 5,000 (which took
	// 7m34s without -race on a loaded machine).
	ctx, cancel := context.WithTimeout(t.Context(), max(10*time.Minute, time.Duration(n)*200*time.Millisecond))
	defer cancel()
	// MaxHistory under the server's limit, with room for the activities
	// in flight when it is reached. Short timeouts: on a loaded machine
	// the in-process server may lose an activity task in transit, which
	// only a timeout recovers.
	set := temporal.Settings{MaxHistory: 300, MaxInFlight: 20,
		GateTimeout: duration.Duration(15 * time.Second), HeartbeatTimeout: duration.Duration(5 * time.Second)}
	start := time.Now()
	if err := c.Start(ctx, "midstage", plan, "v2", rollout.Policy{}, set); err != nil {
		t.Fatal(err)
	}
	res, err := c.Wait(ctx, "midstage")
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	took := time.Since(start)
	if res.Phase != rollout.Succeeded {
		t.Fatalf("phase %s", res.Phase)
	}
	for id, calls := range f.History() {
		if len(calls) != 1 || calls[0] != "v2" {
			t.Errorf("%s: calls %v, want one deploy of v2", id, calls)
		}
	}
	if got := len(f.History()); got != n {
		t.Errorf("%d targets deployed, want %d", got, n)
	}
	lens, status := runs(t, ts.GetDefaultClient(), temporal.WorkflowID("midstage"))
	total := 0
	for _, l := range lens {
		total += l
		if l >= 400 {
			t.Errorf("a run of %d events: over the server's limit", l)
		}
	}
	if status != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED || len(lens) < 3 {
		t.Errorf("status %s with runs %v, want completed after continuing as new", status, lens)
	}
	t.Logf("%d targets: %d runs %v, %d events, %.1f events per target, %s", n, len(lens), lens, total, float64(total)/float64(n), took)
}

// TestInFlightCapUnderPendingActivityLimit: with the server's limit of
// pending activities lowered to 25, a batch of 60 deploys with no
// concurrency limit completes with at most MaxInFlight (15) at once, and
// no workflow task was refused for the limit. Without the cap the
// schedule of 60 activities at once fails every workflow task.
//
// The zone's deploys are held until MaxInFlight of them are running (or
// the batch's last has begun), so that the cap is reached whatever the
// machine's speed: the test shows it binds and holds. The batch is kept
// small and the worker has more pollers than its default two, so that the
// test takes seconds under -race on a loaded machine (with 150 deploys
// and two pollers it took 80 s at a load of 8, and ran out of its 5
// minutes under heavier load).
func TestInFlightCapUnderPendingActivityLimit(t *testing.T) {
	const limit, maxInFlight, targets = 25, 15, 61
	ts := limitedServer(t, map[dynamicconfig.Key]any{
		dynamicconfig.NumPendingActivitiesLimitError.Key(): limit,
	})
	const queue = "inflight"
	plan := oneStage(targets)
	f := testfleet.New(plan, "v1")
	w := &waves{size: maxInFlight, total: targets - 1, open: make(chan struct{})}
	d := heldDeploy{Deployer: f.On("w"), waves: w}
	ts.NewWorkerWithOptions(queue, func(r worker.Registry) {
		temporal.Register(r, &temporal.Activities{Deployer: d})
	}, worker.Options{MaxConcurrentActivityExecutionSize: 100, MaxConcurrentActivityTaskPollers: 8})
	c := temporal.NewClient(ts.GetDefaultClient(), queue)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	// Short timeouts: on a loaded machine the in-process server may lose
	// an activity task in transit, which only a timeout recovers.
	set := temporal.Settings{MaxInFlight: maxInFlight, GateTimeout: duration.Duration(15 * time.Second), HeartbeatTimeout: duration.Duration(5 * time.Second)}
	start := time.Now()
	if err := c.Start(ctx, "inflight", plan, "v2", rollout.Policy{}, set); err != nil {
		t.Fatal(err)
	}
	res, err := c.Wait(ctx, "inflight")
	if err != nil {
		d, derr := ts.GetDefaultClient().DescribeWorkflowExecution(context.Background(), temporal.WorkflowID("inflight"), "")
		if derr == nil {
			t.Logf("pending activities %d, history length %d, pending workflow task %v",
				len(d.GetPendingActivities()), d.GetWorkflowExecutionInfo().GetHistoryLength(), d.GetPendingWorkflowTask())
		}
		t.Fatalf("Wait: %v", err)
	}
	took := time.Since(start)
	if res.Phase != rollout.Succeeded {
		t.Fatalf("phase %s", res.Phase)
	}
	if got := len(f.History()); got != targets {
		t.Errorf("%d targets deployed, want %d", got, targets)
	}
	most := w.peak()
	if most != maxInFlight {
		t.Errorf("at most %d deploys at once, want MaxInFlight (%d): the cap held and was reached", most, maxInFlight)
	}
	// The cap kept the workflow under the server's limit: no workflow
	// task was refused for it.
	refused := 0
	it := ts.GetDefaultClient().GetWorkflowHistory(ctx, temporal.WorkflowID("inflight"), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := e.GetWorkflowTaskFailedEventAttributes(); a != nil && a.GetCause() == enumspb.WORKFLOW_TASK_FAILED_CAUSE_PENDING_ACTIVITIES_LIMIT_EXCEEDED {
			refused++
		}
	}
	if refused > 0 {
		t.Errorf("%d workflow tasks refused for the pending-activity limit", refused)
	}
	lens, _ := runs(t, ts.GetDefaultClient(), temporal.WorkflowID("inflight"))
	total := 0
	for _, l := range lens {
		total += l
	}
	t.Logf("at most %d deploys at once; %d events in %d runs, %.1f per target; %s", most, total, len(lens), float64(total)/targets, took)
}

// waves holds the deploys that enter it until size of them are in flight,
// or until the last of total has entered, and then lets that wave go.
type waves struct {
	size, total int

	mu                      sync.Mutex
	entered, inflight, most int
	open                    chan struct{} // closed when the wave goes
}

func (w *waves) enter(ctx context.Context) error {
	w.mu.Lock()
	w.entered++
	w.inflight++
	w.most = max(w.most, w.inflight)
	wave := w.open
	if w.inflight >= w.size || w.entered >= w.total {
		close(w.open)
		w.open = make(chan struct{})
	}
	w.mu.Unlock()
	select {
	case <-wave:
		return nil
	case <-ctx.Done():
		w.leave()
		return ctx.Err()
	}
}

func (w *waves) leave() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inflight--
}

func (w *waves) peak() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.most
}

// heldDeploy deploys the zone's targets (h1, h2...) in waves; the one-box
// at once.
type heldDeploy struct {
	rollout.Deployer
	waves *waves
}

func (d heldDeploy) Deploy(ctx context.Context, t wave.Target, v string) error {
	if !strings.HasPrefix(t.ID, "h") {
		return d.Deployer.Deploy(ctx, t, v)
	}
	if err := d.waves.enter(ctx); err != nil {
		return err
	}
	defer d.waves.leave()
	return d.Deployer.Deploy(ctx, t, v)
}

// TestCancelRollsBack: cancelling the workflow while the one-box bakes
// aborts the rollout: the rollback really runs (the one-box is back on
// v1, deployed and rolled back once), the workflow ends cancelled, and
// Wait reports the rollback with the Result's Cancelled set.
func TestCancelRollsBack(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	const queue = "cancel"
	plan := testfleet.ZonePlan(7, 2, time.Hour, 0)
	f := testfleet.New(plan, "v1")
	ts.NewWorker(queue, func(r worker.Registry) {
		temporal.Register(r, &temporal.Activities{Deployer: f.On("w")})
	})
	c := temporal.NewClient(ts.GetDefaultClient(), queue)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := c.Start(ctx, "cancel", plan, "v2", rollout.Policy{}, temporal.Settings{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, c, "cancel", func(p rollout.Progress) bool { return p.Step == rollout.StepBaking })
	if err := ts.GetDefaultClient().CancelWorkflow(ctx, temporal.WorkflowID("cancel"), ""); err != nil {
		t.Fatal(err)
	}
	res, err := c.Wait(ctx, "cancel")
	if !errors.Is(err, rollout.ErrRolledBack) {
		t.Fatalf("Wait = %v, want ErrRolledBack", err)
	}
	if !res.Cancelled || res.Phase != rollout.RolledBack {
		t.Errorf("result phase %s cancelled %t, want rolled-back and cancelled", res.Phase, res.Cancelled)
	}
	if diff := cmp.Diff(map[string][]string{"ob": {"v2", "v1"}}, f.History()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if v := f.Snapshot()["ob"]; v != "v1" {
		t.Errorf("one-box on %s, want v1", v)
	}
	_, status := runs(t, ts.GetDefaultClient(), temporal.WorkflowID("cancel"))
	if status != enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED {
		t.Errorf("workflow status %s, want canceled", status)
	}
	var abort *rollout.AuditEntry
	for i, e := range res.Status.Audit {
		if e.Kind == rollout.ControlAbort {
			abort = &res.Status.Audit[i]
		}
	}
	if abort == nil || abort.Actor != temporal.CancelActor || abort.Ignored != "" {
		t.Errorf("audit %+v, want the cancellation's abort by %q", res.Status.Audit, temporal.CancelActor)
	}
}

func waitFor(t *testing.T, ctx context.Context, c *temporal.Client, id string, ok func(rollout.Progress) bool) {
	t.Helper()
	for {
		p, err := c.Progress(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(p) {
			return
		}
		if p.Phase.Terminal() {
			t.Fatalf("rollout ended: %+v", p)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestInitialOverMaxRetry: a retry policy the core accepts, whose Initial
// (2m) is over the default Max (1m), is mapped to one the server
// accepts: the rollout completes (the server refused every schedule of
// the former mapping, for ever).
func TestInitialOverMaxRetry(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	const queue = "retry"
	plan := testfleet.ZonePlan(3, 2, 0, 0)
	f := testfleet.New(plan, "v1")
	ts.NewWorker(queue, func(r worker.Registry) {
		temporal.Register(r, &temporal.Activities{Deployer: f.On("w")})
	})
	c := temporal.NewClient(ts.GetDefaultClient(), queue)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	two := duration.Duration(2 * time.Minute)
	pol := rollout.Policy{
		Deploy:   rollout.DeployPolicy{Retry: rollout.Retry{Initial: two}},
		Rollback: rollout.RollbackPolicy{Retry: rollout.Retry{Initial: two}},
	}
	if err := pol.Validate(); err != nil {
		t.Fatalf("the core refuses the policy: %v", err)
	}
	if err := c.Start(ctx, "retry", plan, "v2", pol, temporal.Settings{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(ctx, "retry"); err != nil {
		t.Fatalf("Wait: %v", err)
	}
}

// stuckDeploy deploys the one-box, then hangs before returning, as a
// worker process does when it dies after the deploy and before it
// reports: the call never answers.
type stuckDeploy struct {
	rollout.Deployer
	deployed chan struct{}
	release  chan struct{}
	once     sync.Once
}

func (d *stuckDeploy) Deploy(ctx context.Context, t wave.Target, v string) error {
	err := d.Deployer.Deploy(ctx, t, v)
	if t.ID == "ob" {
		d.once.Do(func() { close(d.deployed) })
		<-d.release
	}
	return err
}

// TestDeployNotRepeatedAfterWorkerLoss: worker a deploys the one-box and
// is lost before it reports; the server deems the attempt lost at its
// heartbeat timeout and retries it on worker b, which reads the version
// first and finds the deploy done: the one-box is deployed once.
func TestDeployNotRepeatedAfterWorkerLoss(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	const queue = "loss"
	plan := testfleet.ZonePlan(3, 2, 0, 0)
	f := testfleet.New(plan, "v1")
	stuck := &stuckDeploy{Deployer: f.On("a"), deployed: make(chan struct{}), release: make(chan struct{})}
	defer close(stuck.release)
	a := ts.NewWorkerWithOptions(queue, func(r worker.Registry) {
		temporal.Register(r, &temporal.Activities{Deployer: stuck})
	}, worker.Options{Identity: "worker-a", WorkerStopTimeout: 100 * time.Millisecond})
	c := temporal.NewClient(ts.GetDefaultClient(), queue)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	set := temporal.Settings{HeartbeatTimeout: duration.Duration(2 * time.Second)}
	if err := c.Start(ctx, "loss", plan, "v2", rollout.Policy{}, set); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stuck.deployed:
	case <-ctx.Done():
		t.Fatal("the one-box was never deployed")
	}
	// Worker a is lost: it polls no more, and its deploy never reports.
	a.Stop()
	ts.NewWorkerWithOptions(queue, func(r worker.Registry) {
		temporal.Register(r, &temporal.Activities{Deployer: f.On("b")})
	}, worker.Options{Identity: "worker-b"})
	res, err := c.Wait(ctx, "loss")
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if res.Phase != rollout.Succeeded {
		t.Fatalf("phase %s", res.Phase)
	}
	var ob []string
	for _, cl := range f.Calls() {
		if cl.Target == "ob" {
			ob = append(ob, cl.Worker+":"+cl.Version)
		}
	}
	if diff := cmp.Diff([]string{"a:v2"}, ob); diff != "" {
		t.Errorf("one-box deploys (-want +got):\n%s", diff)
	}
}

// TestRequestAnswersSynchronously: Client.Request is an update: a refused
// request fails with ErrNotAuthorised (and is audited), a request for a
// stage the plan does not have with ErrInvalid, an allowed approval is
// applied, and a request after the end fails with ErrDone.
func TestRequestAnswersSynchronously(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	const queue = "requests"
	plan := testfleet.ZonePlan(3, 2, 0, 0)
	f := testfleet.New(plan, "v1")
	ts.NewWorker(queue, func(r worker.Registry) {
		temporal.Register(r, &temporal.Activities{
			Deployer: f.On("w"),
			Authorize: func(_ context.Context, c rollout.Control) error {
				if c.Actor == "mallory" {
					return errors.New("mallory is not on the release team")
				}
				return nil
			},
		})
	})
	c := temporal.NewClient(ts.GetDefaultClient(), queue)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := c.Start(ctx, "req", plan, "v2", rollout.Policy{Approvals: []string{"zone"}}, temporal.Settings{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, c, "req", func(p rollout.Progress) bool { return p.AwaitingApproval })
	if err := c.Approve(ctx, "req", "zone", "mallory"); !errors.Is(err, rollout.ErrNotAuthorised) {
		t.Errorf("mallory's approval = %v, want ErrNotAuthorised", err)
	}
	if err := c.Approve(ctx, "req", "no-such-stage", "alice"); !errors.Is(err, rollout.ErrInvalid) {
		t.Errorf("approval of an unknown stage = %v, want ErrInvalid", err)
	}
	if err := c.Approve(ctx, "req", "zone", "alice"); err != nil {
		t.Errorf("alice's approval = %v", err)
	}
	res, err := c.Wait(ctx, "req")
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	var audit []string
	for _, e := range res.Status.Audit {
		audit = append(audit, fmt.Sprintf("%s %s %s ignored=%q", e.Actor, e.Kind, e.Stage, e.Ignored))
	}
	want := []string{
		`mallory approve zone ignored="not authorised: mallory is not on the release team"`,
		`alice approve zone ignored=""`,
	}
	if diff := cmp.Diff(want, audit); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
	if err := c.Pause(ctx, "req", "alice", "late"); !errors.Is(err, rollout.ErrDone) {
		t.Errorf("Pause after the end = %v, want ErrDone", err)
	}
}

// TestSearchAttributesListWhatNeedsAHuman: with Settings.SearchAttributes,
// a rollout waiting for approval is found by the query an operator would
// run, and is no longer found once approved.
func TestSearchAttributesListWhatNeedsAHuman(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	const queue = "search"
	tc := ts.GetDefaultClient()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := temporal.RegisterSearchAttributes(ctx, tc, ts.GetDefaultNamespace()); err != nil {
		t.Fatal(err)
	}
	if err := temporal.RegisterSearchAttributes(ctx, tc, ts.GetDefaultNamespace()); err != nil {
		t.Fatalf("a second registration: %v", err)
	}
	plan := testfleet.ZonePlan(3, 2, 0, 0)
	f := testfleet.New(plan, "v1")
	ts.NewWorker(queue, func(r worker.Registry) {
		temporal.Register(r, &temporal.Activities{Deployer: f.On("w")})
	})
	c := temporal.NewClient(tc, queue)
	pol := rollout.Policy{Approvals: []string{"zone"}}
	if err := c.Start(ctx, "search", plan, "v2", pol, temporal.Settings{SearchAttributes: true}); err != nil {
		t.Fatal(err)
	}
	list := func(query string) []string {
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: ts.GetDefaultNamespace(), Query: query})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range resp.GetExecutions() {
			ids = append(ids, e.GetExecution().GetWorkflowId())
		}
		return ids
	}
	const human = "ShepherdAwaitingApproval = true OR ShepherdPaused = true"
	for ctx.Err() == nil && len(list(human)) == 0 {
		time.Sleep(100 * time.Millisecond)
	}
	if diff := cmp.Diff([]string{temporal.WorkflowID("search")}, list(human)); diff != "" {
		t.Fatalf("rollouts that need a human (-want +got):\n%s", diff)
	}
	if got := list("ShepherdStage = 'zone' AND ShepherdPhase = 'running'"); len(got) != 1 {
		t.Errorf("rollouts running in stage zone: %v", got)
	}
	if err := c.Approve(ctx, "search", "zone", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(ctx, "search"); err != nil {
		t.Fatal(err)
	}
	for ctx.Err() == nil && len(list(human)) != 0 {
		time.Sleep(100 * time.Millisecond)
	}
	if got := list("ShepherdPhase = 'succeeded'"); len(got) != 1 {
		t.Errorf("succeeded rollouts: %v", got)
	}
}

// TestGatesOnTheirOwnQueue: with Settings.GateTaskQueue, the alarm checks
// run on the gate workers and the deploys on the deploy workers, so that
// a queue full of long deploys cannot delay an alarm check.
func TestGatesOnTheirOwnQueue(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	plan := testfleet.ZonePlan(3, 2, 0, 0)
	f := testfleet.New(plan, "v1")
	var mu sync.Mutex
	alarmsOn := map[string]int{}
	acts := func(name string) *temporal.Activities {
		return &temporal.Activities{
			Deployer: f.On(name),
			Alarms: rollout.AlarmsFunc(func(context.Context, rollout.Subject, time.Time) ([]alarm.Result, error) {
				mu.Lock()
				defer mu.Unlock()
				alarmsOn[name]++
				return nil, nil
			}),
		}
	}
	for _, q := range []string{"rollouts", "deploys", "gates"} {
		ts.NewWorker(q, func(r worker.Registry) { temporal.Register(r, acts(q)) })
	}
	c := temporal.NewClient(ts.GetDefaultClient(), "rollouts")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	set := temporal.Settings{TaskQueue: "deploys", GateTaskQueue: "gates"}
	if err := c.Start(ctx, "queues", plan, "v2", rollout.Policy{}, set); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(ctx, "queues"); err != nil {
		t.Fatal(err)
	}
	deploysOn := map[string]int{}
	for _, cl := range f.Calls() {
		deploysOn[cl.Worker]++
	}
	if diff := cmp.Diff(map[string]int{"deploys": 3}, deploysOn); diff != "" {
		t.Errorf("deploys per queue (-want +got):\n%s", diff)
	}
	if len(alarmsOn) != 1 || alarmsOn["gates"] == 0 {
		t.Errorf("alarm checks per queue %v, want all on gates", alarmsOn)
	}
}
