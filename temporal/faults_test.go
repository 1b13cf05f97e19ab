package temporal_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/temporal"
	"github.com/shepherd-go/shepherd/temporal/internal/testfleet"
	"github.com/shepherd-go/shepherd/traffic"
	"github.com/shepherd-go/shepherd/wave"
)

// fault is one thing the outside world does wrong, with the gates and the
// policy that let it show. Every executor must meet it the same way.
type fault struct {
	name   string
	faults []rollouttest.Fault     // the fleet's
	policy func(p *rollout.Policy) // on top of faultPolicy
	gates  func(o *rollout.Config) // on top of quiet alarms
	verify bool                    // needs the verify step in the pipeline
	// exposure ramps each stage's traffic (10%, hold, 100%) through a
	// fresh simulated router per executor; badShare alarms as soon as the
	// new version gets any traffic.
	exposure, badShare bool
	want               rollout.Phase                        // the common outcome
	signal             rollout.Signal                       // and why
	check              func(t *testing.T, got faultOutcome) // anything else
}

// faultOutcome is what the three executors must agree on.
type faultOutcome struct {
	Phase    rollout.Phase
	Signal   rollout.Signal
	Stage    string // the stage in progress at the end
	Versions map[string]string
	Shares   map[string]float64 // each routed scope's share of the new version at the end
}

// faultPolicy watches alarms every 10 minutes (fewer workflow timers, the
// same code paths) and gives up on transient faults after two attempts
// a second apart (Temporal's test environment waits out activity retries
// in real time).
func faultPolicy() rollout.Policy {
	fast := rollout.Retry{MaxAttempts: 2, Initial: duration.Duration(time.Second), Max: duration.Duration(time.Second)}
	return rollout.Policy{
		Alarms:   rollout.AlarmPolicy{Interval: duration.Duration(10 * time.Minute)},
		Deploy:   rollout.DeployPolicy{Retry: fast},
		Rollback: rollout.RollbackPolicy{Retry: fast},
		Verify:   rollout.VerifyPolicy{Retry: fast},
	}
}

var quietAlarms = rollout.AlarmsFunc(func(context.Context, rollout.Subject, time.Time) ([]alarm.Result, error) { return nil, nil })

func evidence(v float64) func(*rollout.Config) {
	return func(o *rollout.Config) {
		o.Evidence = rollout.EvidenceFunc(func(context.Context, rollout.Subject, []bake.Requirement, time.Time, time.Time) ([]float64, error) {
			return []float64{v}, nil
		})
	}
}

func needEvidence(p *rollout.Policy) {
	p.Bake.Base.Evidence = []bake.Requirement{{Name: "requests", Query: "requests", Min: 10}}
}

func verdict(v rollout.Verdict) func(*rollout.Config) {
	return func(o *rollout.Config) {
		o.Judge = rollout.JudgeFunc(func(context.Context, rollout.Subject, time.Time, time.Time) (rollout.Verdict, error) {
			return v, nil
		})
	}
}

func judged(p *rollout.Policy) { p.Canary.Enabled = true }

func verifier(r rollout.VerifyResult, err error) func(*rollout.Config) {
	return func(o *rollout.Config) {
		o.Verifier = rollout.VerifierFunc(func(context.Context, rollout.Subject, time.Time) (rollout.VerifyResult, error) {
			return r, err
		})
	}
}

// rampStep ramps each stage's traffic after its deploy: 10%, a hold of
// 10 minutes, 100%.
func rampStep(p *rollout.Policy) {
	p.Steps = rollout.ExposureSteps
	p.Exposure.Schedule = traffic.Schedule{Steps: []traffic.Step{traffic.Weight(10), traffic.Hold(10 * time.Minute), traffic.Weight(100)}}
}

// routed gives an executor's run of fc a router of its own, and with
// badShare alarms that fire whenever the new version serves any traffic.
func routed(fc fault, sc rollouttest.Scenario) (rollouttest.Scenario, *rollouttest.Router) {
	if !fc.exposure {
		return sc, nil
	}
	r := new(rollouttest.Router)
	sc.Options.Router = r
	if fc.badShare {
		sc.Options.Alarms = rollout.AlarmsFunc(func(ctx context.Context, _ rollout.Subject, now time.Time) ([]alarm.Result, error) {
			res := []alarm.Result{{Name: "errors", State: alarm.OK, Time: now}}
			for _, scope := range r.Scopes() {
				if rt, err := r.Route(ctx, scope); err == nil && rt.Canary == "v2" && rt.Percent > 0 {
					res[0].State, res[0].Reason = alarm.Alarm, fmt.Sprintf("v2 serves %g%% of %s and fails", rt.Percent, scope)
				}
			}
			return res, nil
		})
	}
	return sc, r
}

// shares is each scope's share of the new version at the end.
func shares(t *testing.T, r *rollouttest.Router) map[string]float64 {
	if r == nil {
		return nil
	}
	out := map[string]float64{}
	for _, scope := range r.Scopes() {
		rt, err := r.Route(context.Background(), scope)
		if err != nil {
			t.Fatal(err)
		}
		out[scope] = rt.Percent
	}
	return out
}

func verifyStep(p *rollout.Policy) {
	p.Steps = []rollout.StepKind{rollout.StepBlockers, rollout.StepApproval, rollout.StepDeploy, rollout.StepVerify, rollout.StepBake, rollout.StepJudge}
}

// TestFaultsAgreeAcrossExecutors is the acceptance test of the shared
// hands (issue 11): the same faults run through rollout.Runner (in a
// synctest bubble), rollouttest.Simulate and the Temporal workflow (in the
// SDK's time-skipping environment) end in the same phase, for the same
// signal, in the same stage, with every target on the same version. Bad
// observations (NaN, infinite or negative evidence, a NaN score, an
// unknown verdict) fail closed in every one of them.
func TestFaultsAgreeAcrossExecutors(t *testing.T) {
	plan := testfleet.ZonePlan(4, 3, time.Hour, time.Hour)
	onebox := "ob"
	for _, fc := range []fault{
		{name: "no fault", want: rollout.Succeeded},
		{name: "NaN evidence", policy: needEvidence, gates: evidence(math.NaN()), want: rollout.RolledBack, signal: rollout.SignalAlarm},
		{name: "infinite evidence", policy: needEvidence, gates: evidence(math.Inf(1)), want: rollout.RolledBack, signal: rollout.SignalAlarm},
		{name: "negative evidence", policy: needEvidence, gates: evidence(-5), want: rollout.RolledBack, signal: rollout.SignalAlarm},
		{name: "NaN verdict score", policy: judged, gates: verdict(rollout.Verdict{Outcome: rollout.VerdictPass, Score: math.NaN()}), want: rollout.RolledBack, signal: rollout.SignalCanary},
		{name: "unknown verdict", policy: judged, gates: verdict(rollout.Verdict{Outcome: "great"}), want: rollout.RolledBack, signal: rollout.SignalCanary},
		{
			name: "blockers error",
			policy: func(p *rollout.Policy) {
				p.Blockers.MaxWait = duration.Duration(time.Hour)
			},
			gates: func(o *rollout.Config) {
				o.Blockers = rollout.BlockersFunc(func(context.Context, rollout.Subject, time.Time) ([]rollout.BlockReason, time.Time, error) {
					return nil, time.Time{}, errors.New("change calendar unreachable")
				})
			},
			want: rollout.RolledBack, signal: rollout.SignalBlocked,
		},
		{
			name:   "permanent deploy error",
			faults: []rollouttest.Fault{{Version: "v2", Targets: []string{onebox}, FailAlways: true, Permanent: true}},
			want:   rollout.RolledBack, signal: rollout.SignalFailureBudget,
		},
		{
			name:   "health check failure",
			faults: []rollouttest.Fault{{Op: rollouttest.OpHealth, Version: "v2", Targets: []string{onebox}, FailAlways: true}},
			want:   rollout.RolledBack, signal: rollout.SignalFailureBudget,
		},
		{
			name: "verify fails", verify: true, policy: verifyStep,
			gates: verifier(rollout.VerifyResult{Outcome: rollout.VerifyFail, Reason: "checkout returns 500"}, nil),
			want:  rollout.RolledBack, signal: rollout.SignalVerify,
		},
		{
			name: "verify errs beyond its retries", verify: true, policy: verifyStep,
			gates: verifier(rollout.VerifyResult{}, errors.New("test runner unreachable")),
			want:  rollout.RolledBack, signal: rollout.SignalVerify,
		},
		{name: "exposure ramp", exposure: true, policy: rampStep, want: rollout.Succeeded},
		{name: "bad version at 10%", exposure: true, badShare: true, policy: rampStep, want: rollout.RolledBack, signal: rollout.SignalAlarm},
	} {
		t.Run(fc.name, func(t *testing.T) {
			sc := fc.scenario(plan)
			runner, sim, wf := runnerFaults(t, fc, sc), simulateFaults(t, fc, sc), workflowFaults(t, fc, sc)
			if diff := cmp.Diff(runner, sim); diff != "" {
				t.Errorf("Simulate differs from the Runner (-runner +simulate):\n%s", diff)
			}
			if diff := cmp.Diff(runner, wf); diff != "" {
				t.Errorf("the workflow differs from the Runner (-runner +workflow):\n%s", diff)
			}
			if runner.Phase != fc.want || runner.Signal != fc.signal {
				t.Errorf("ended %s on %q, want %s on %q", runner.Phase, runner.Signal, fc.want, fc.signal)
			}
			want := "v1"
			if fc.want == rollout.Succeeded {
				want = "v2"
			} else if runner.Stage != "one-box" {
				t.Errorf("stopped in stage %q, want the one-box", runner.Stage)
			}
			for id, v := range runner.Versions {
				if v != want {
					t.Errorf("%s runs %s, want %s", id, v, want)
				}
			}
			if fc.exposure {
				// A ramp ends at 100% in every stage; a rollback sends the
				// share back to 0 first.
				wantShare := 0.0
				if fc.want == rollout.Succeeded {
					wantShare = 100
				}
				if len(runner.Shares) == 0 {
					t.Errorf("no scope was routed")
				}
				for scope, sh := range runner.Shares {
					if sh != wantShare {
						t.Errorf("scope %s ends at %g%%, want %g%%", scope, sh, wantShare)
					}
				}
			}
		})
	}
}

// scenario is the fault's rollout, for every executor.
func (fc fault) scenario(plan wave.Plan) rollouttest.Scenario {
	pol := faultPolicy()
	if fc.policy != nil {
		fc.policy(&pol)
	}
	o := rollout.Config{Alarms: quietAlarms}
	if fc.gates != nil {
		fc.gates(&o)
	}
	return rollouttest.Scenario{ID: "faults", Plan: plan, Version: "v2", Policy: pol, Options: o}
}

func faultFleet(t *testing.T, plan wave.Plan, faults []rollouttest.Fault) *rollouttest.Fleet {
	t.Helper()
	f, err := rollouttest.NewFleet(rollouttest.Config{Targets: allWaveTargets(plan), Initial: "v1", Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func allWaveTargets(p wave.Plan) []wave.Target {
	var out []wave.Target
	for _, w := range p.Waves {
		for _, s := range w.Stages {
			for _, b := range s.Batches {
				out = append(out, b.Targets...)
			}
		}
	}
	return out
}

func fromOutcome(o *rollouttest.Outcome) faultOutcome {
	return faultOutcome{Phase: o.Phase, Signal: o.Signal, Stage: o.Stage, Versions: o.Versions}
}

func runnerFaults(t *testing.T, fc fault, sc rollouttest.Scenario) faultOutcome {
	t.Helper()
	var got faultOutcome
	synctest.Test(t, func(t *testing.T) {
		sc, r := routed(fc, sc)
		f := faultFleet(t, sc.Plan, fc.faults)
		out, err := rollouttest.Run(t.Context(), f, sc)
		if err != nil {
			t.Fatal(err)
		}
		got = fromOutcome(out)
		got.Shares = shares(t, r)
	})
	return got
}

func simulateFaults(t *testing.T, fc fault, sc rollouttest.Scenario) faultOutcome {
	t.Helper()
	sc, r := routed(fc, sc)
	out, err := rollouttest.Simulate(t.Context(), faultFleet(t, sc.Plan, fc.faults), sc)
	if err != nil {
		t.Fatal(err)
	}
	got := fromOutcome(out)
	got.Shares = shares(t, r)
	return got
}

func workflowFaults(t *testing.T, fc fault, sc rollouttest.Scenario) faultOutcome {
	t.Helper()
	env := newEnv()
	env.SetStartTime(rollouttest.SimStart)
	env.SetTestTimeout(2 * time.Minute)
	sc, r := routed(fc, sc)
	f := faultFleet(t, sc.Plan, fc.faults)
	o := sc.Options
	acts := &temporal.Activities{
		Deployer: f, Blockers: o.Blockers, Alarms: o.Alarms, Evidence: o.Evidence, Judge: o.Judge, Verifier: o.Verifier,
	}
	if r != nil {
		acts.Router = r
	}
	temporal.Register(env, acts)
	env.ExecuteWorkflow(temporal.WorkflowName, temporal.Input{ID: sc.ID, Plan: sc.Plan, Version: sc.Version, Policy: sc.Policy})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	var res temporal.Result
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	p := res.Status.Progress
	return faultOutcome{Phase: res.Phase, Signal: res.Signal, Stage: p.Stage, Versions: f.Versions(), Shares: shares(t, r)}
}

// TestVerifyActivity: the verify activity is one attempt; a check that
// could not run fails the activity (Temporal retries it) until the last
// attempt, which reports it as an observation that fails closed.
func TestVerifyActivity(t *testing.T) {
	act := rollout.Action{Kind: rollout.ActionVerify, Round: 9, Stage: "one-box", Subject: &rollout.Subject{Stage: "one-box"}}
	for _, tc := range []struct {
		name        string
		result      rollout.VerifyResult
		err         error
		maxAttempts int
		failed      bool // the activity fails, for Temporal to retry
		outcome     rollout.VerifyOutcome
	}{
		{"pass", rollout.VerifyResult{Outcome: rollout.VerifyPass}, nil, 3, false, rollout.VerifyPass},
		{"fail", rollout.VerifyResult{Outcome: rollout.VerifyFail, Reason: "checkout 500"}, nil, 3, false, rollout.VerifyFail},
		{"error with attempts left", rollout.VerifyResult{}, errors.New("runner unreachable"), 3, true, ""},
		{"error on the last attempt", rollout.VerifyResult{}, errors.New("runner unreachable"), 1, false, rollout.VerifyError},
		{"unknown outcome", rollout.VerifyResult{Outcome: "maybe"}, nil, 3, false, rollout.VerifyError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var suite testsuite.WorkflowTestSuite
			env := suite.NewTestActivityEnvironment()
			acts := &temporal.Activities{Verifier: rollout.VerifierFunc(func(context.Context, rollout.Subject, time.Time) (rollout.VerifyResult, error) {
				return tc.result, tc.err
			})}
			env.RegisterActivityWithOptions(acts.Verify, activity.RegisterOptions{Name: temporal.ActivityVerify})
			v, err := env.ExecuteActivity(temporal.ActivityVerify, temporal.GateRequest{Action: act, Now: rollouttest.SimStart, MaxAttempts: tc.maxAttempts})
			if (err != nil) != tc.failed {
				t.Fatalf("activity error %v; want failed %t", err, tc.failed)
			}
			if tc.failed {
				return
			}
			var o rollout.Observation
			if err := v.Get(&o); err != nil {
				t.Fatal(err)
			}
			if o.Kind != rollout.ObsVerify || o.Round != 9 || o.Verify == nil || o.Verify.Outcome != tc.outcome {
				t.Errorf("observation %+v (verify %+v), want outcome %s", o, o.Verify, tc.outcome)
			}
			if (tc.outcome == rollout.VerifyError) != (o.Err != "") {
				t.Errorf("error %q for outcome %s", o.Err, tc.outcome)
			}
		})
	}
}
