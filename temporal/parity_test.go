package temporal_test

import (
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/temporal"
	"github.com/shepherd-go/shepherd/temporal/internal/testfleet"
	"github.com/shepherd-go/shepherd/wave"
)

// scenario is one rollout run both ways: by rollout.Runner inside a
// synctest bubble and by the workflow in the SDK's time-skipping
// environment, from the same start time, against the same kind of fleet.
type scenario struct {
	name  string
	plan  wave.Plan
	start time.Time
	// gates returns fresh gates for a fleet (some count their calls).
	gates func(f *testfleet.Fleet, plan wave.Plan) (rollout.Blockers, rollout.Alarms)
	// phase and signal are the expected outcome (also checked to be the
	// same both ways).
	phase  rollout.Phase
	signal rollout.Signal
	reason string // a substring of the halt reason
}

// outcome is everything a run left behind that the two executors must
// agree on.
type outcome struct {
	Err      string
	State    *rollout.State
	Events   []rollout.Event
	Calls    map[string][]string // per target, the versions deployed in order
	Versions map[string]string
}

// policy is the same for both: alarms every 10 minutes keeps the number of
// timers (and so the test's time) down without changing any code path.
var policy = rollout.Policy{Alarms: rollout.AlarmPolicy{Interval: duration.Duration(10 * time.Minute)}}

// newEnv returns a time-skipping test environment that logs nothing.
//
// Its deadlock detector gets 30 s instead of 1 s. The detector fails a
// workflow task whose code runs that long in wall time without yielding
// (TMPRL1101), which in the test environment fails the test; under -race,
// on a shared two-core machine at a load of 10 or more, a step of a state
// has taken over a second while nothing was stuck. Only the wall clock of
// the detector changes: what the workflow does is the same.
func newEnv() *testsuite.TestWorkflowEnvironment {
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: 30 * time.Second})
	return env
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func runRunner(t *testing.T, sc scenario) outcome {
	t.Helper()
	var o outcome
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(time.Until(sc.start))
		f := testfleet.New(sc.plan, "v1")
		b, a := sc.gates(f, sc.plan)
		store := new(rollout.MemoryStore)
		r, err := rollout.Create(t.Context(), rollout.Spec{ID: "parity", Plan: sc.plan, Version: "v2", Policy: policy}, f.On("runner"), rollout.Config{
			Store: store, Blockers: b, Alarms: a,
			OnEvent: func(e rollout.Event) { o.Events = append(o.Events, e) },
		})
		if err != nil {
			t.Fatal(err)
		}
		o.Err = errString(r.Run(t.Context()))
		if o.State, err = rollout.DecodeState(store.Get("parity")); err != nil {
			t.Fatal(err)
		}
		o.Calls, o.Versions = f.History(), f.Snapshot()
	})
	return o
}

func runWorkflow(t *testing.T, sc scenario) outcome {
	t.Helper()
	var o outcome
	env := newEnv()
	env.SetStartTime(sc.start)
	env.SetTestTimeout(5 * time.Minute)
	f := testfleet.New(sc.plan, "v1")
	b, a := sc.gates(f, sc.plan)
	temporal.Register(env, &temporal.Activities{Deployer: f.On("worker"), Blockers: b, Alarms: a})
	env.ExecuteWorkflow(temporal.WorkflowName, temporal.Input{
		ID: "parity", Plan: sc.plan, Version: "v2", Policy: policy,
		Settings: temporal.Settings{KeepEvents: 1 << 20},
	})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	var res temporal.Result
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	o.Err = errString(res.Err())
	v, err := env.QueryWorkflow(temporal.QueryState)
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	if err := v.Get(&data); err != nil {
		t.Fatal(err)
	}
	if o.State, err = temporal.DecodeState(data); err != nil {
		t.Fatal(err)
	}
	v, err = env.QueryWorkflow(temporal.QueryEvents, uint64(0))
	if err != nil {
		t.Fatal(err)
	}
	var recs []temporal.Record
	if err := v.Get(&recs); err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if r.Seq != uint64(i+1) {
			t.Fatalf("event %d has sequence number %d", i, r.Seq)
		}
		o.Events = append(o.Events, r.Event)
	}
	o.Calls, o.Versions = f.History(), f.Snapshot()
	return o
}

// TestSameOutcomeAsRunner runs the rollout package's scenarios (a regression
// caught in the first one-box, one caught in wave 3, alarms that cannot be
// read, a business-hours window) with the Runner and with the workflow, and
// requires the same outcome: the same final state (every target's versions
// and status, every decision with its reason and time, the timings), the
// same events at the same times, and the same calls to every target.
func TestSameOutcomeAsRunner(t *testing.T) {
	plan := rollouttest.AWSPlan(6, 3, 6)
	small := rollouttest.AWSPlan(1, 3, 4)
	alarmOnly := func(mk func(f *testfleet.Fleet, plan wave.Plan) rollout.Alarms) func(*testfleet.Fleet, wave.Plan) (rollout.Blockers, rollout.Alarms) {
		return func(f *testfleet.Fleet, p wave.Plan) (rollout.Blockers, rollout.Alarms) { return nil, mk(f, p) }
	}
	for _, sc := range []scenario{
		{
			name: "one-box catch", plan: plan, start: testfleet.Monday9,
			gates: alarmOnly(func(f *testfleet.Fleet, p wave.Plan) rollout.Alarms {
				return testfleet.RegressionAlarm(f, rollouttest.StageTargets(p, p.Waves[0].Stages[0].Name), "v2")
			}),
			phase: rollout.RolledBack, signal: rollout.SignalAlarm, reason: "fault-rate",
		},
		{
			name: "wave-3 catch", plan: plan, start: testfleet.Monday9,
			gates: alarmOnly(func(f *testfleet.Fleet, p wave.Plan) rollout.Alarms {
				return testfleet.RegressionAlarm(f, rollouttest.WaveTargets(p, 2), "v2")
			}),
			phase: rollout.RolledBack, signal: rollout.SignalAlarm, reason: "fault-rate",
		},
		{
			name: "alarm stays unreadable", plan: small, start: testfleet.Monday9,
			gates: alarmOnly(func(*testfleet.Fleet, wave.Plan) rollout.Alarms { return testfleet.Unreadable(1 << 30) }),
			phase: rollout.RolledBack, signal: rollout.SignalAlarm, reason: "fail closed",
		},
		{
			name: "alarm unreadable twice", plan: small, start: testfleet.Monday9,
			gates: alarmOnly(func(*testfleet.Fleet, wave.Plan) rollout.Alarms { return testfleet.Unreadable(2) }),
			phase: rollout.Succeeded,
		},
		{
			name: "alarm unreadable three times", plan: small, start: testfleet.Monday9,
			gates: alarmOnly(func(*testfleet.Fleet, wave.Plan) rollout.Alarms { return testfleet.Unreadable(3) }),
			phase: rollout.RolledBack, signal: rollout.SignalAlarm, reason: "fail closed",
		},
		{
			name: "business hours", plan: plan, start: testfleet.Monday9.Add(-2 * time.Hour),
			gates: func(f *testfleet.Fleet, p wave.Plan) (rollout.Blockers, rollout.Alarms) {
				return rollouttest.BusinessHours, testfleet.RegressionAlarm(f, nil, "v2")
			},
			phase: rollout.Succeeded,
		},
	} {
		t.Run(sc.name, func(t *testing.T) {
			runner := runRunner(t, sc)
			wf := runWorkflow(t, sc)
			if diff := cmp.Diff(runner, wf, cmpopts.IgnoreUnexported(rollout.State{}), cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("workflow and Runner differ (-runner +workflow):\n%s", diff)
			}
			// The common outcome is the expected one.
			st := wf.State
			if st.Phase != sc.phase {
				t.Fatalf("phase %s, want %s (error %q)", st.Phase, sc.phase, wf.Err)
			}
			if sc.phase == rollout.RolledBack {
				if st.Rollback.Signal != sc.signal || !strings.Contains(st.Rollback.Reason, sc.reason) {
					t.Errorf("rolled back on %s: %s; want %s with %q", st.Rollback.Signal, st.Rollback.Reason, sc.signal, sc.reason)
				}
				for id, v := range wf.Versions {
					if v != "v1" {
						t.Errorf("%s runs %s after the rollback", id, v)
					}
				}
			} else {
				for id, v := range wf.Versions {
					if v != "v2" {
						t.Errorf("%s runs %s after the rollout", id, v)
					}
				}
			}
			checkScenario(t, sc, wf)
		})
	}
}

// checkScenario checks what each scenario is about, beyond agreement.
func checkScenario(t *testing.T, sc scenario, o outcome) {
	t.Helper()
	switch sc.name {
	case "one-box catch":
		ob := rollouttest.StageTargets(sc.plan, sc.plan.Waves[0].Stages[0].Name)[0]
		want := map[string][]string{ob: {"v2", "v1"}}
		if diff := cmp.Diff(want, o.Calls); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
	case "wave-3 catch":
		for wi := range 2 {
			for _, id := range rollouttest.WaveTargets(sc.plan, wi) {
				if diff := cmp.Diff([]string{"v2", "v1"}, o.Calls[id]); diff != "" {
					t.Errorf("%s of wave %d (-want +got):\n%s", id, wi+1, diff)
				}
			}
		}
		for _, id := range rollouttest.WaveTargets(sc.plan, 3) {
			if len(o.Calls[id]) > 0 {
				t.Errorf("%s of wave 4 was touched: %v", id, o.Calls[id])
			}
		}
	case "business hours":
		for _, e := range o.Events {
			if e.Kind != rollout.EventBatchStarted || e.Batch != 0 {
				continue
			}
			h := e.Time.UTC()
			if h.Weekday() == time.Saturday || h.Weekday() == time.Sunday || h.Hour() < 9 || h.Hour() >= 17 {
				t.Errorf("stage %s began at %s, outside business hours", e.Stage, h)
			}
		}
		if o.State.Timings.Blocked == 0 {
			t.Error("no time blocked: the scenario did not exercise the window")
		}
	}
	if sc.phase == rollout.Succeeded && o.Err != "" || sc.phase != rollout.Succeeded && o.Err == "" {
		t.Errorf("error %q for phase %s", o.Err, sc.phase)
	}
}
