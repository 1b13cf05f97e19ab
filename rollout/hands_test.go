package rollout_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/wave"
)

// script is a scripted deployer for the hands' tests: each target runs a
// version, deploys fail as fail says, the health check as unhealthy says.
type script struct {
	mu        sync.Mutex
	versions  map[string]string
	deploys   []string // "target=version", in order
	fail      func(target string, attempt int) error
	unhealthy error
	stuck     bool // deploys succeed but change nothing
	n         map[string]int
}

func newScript(ids ...string) *script {
	h := &script{versions: map[string]string{}, n: map[string]int{}}
	for _, id := range ids {
		h.versions[id] = "v1"
	}
	return h
}

func (h *script) Deploy(ctx context.Context, t wave.Target, v string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n[t.ID]++
	h.deploys = append(h.deploys, t.ID+"="+v)
	if h.fail != nil {
		if err := h.fail(t.ID, h.n[t.ID]); err != nil {
			return err
		}
	}
	if !h.stuck {
		h.versions[t.ID] = v
	}
	return nil
}

func (h *script) Version(ctx context.Context, t wave.Target) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.versions[t.ID], nil
}

// checked adds a health check to a script.
type checked struct{ *script }

func (c checked) Healthy(ctx context.Context, t wave.Target) error { return c.unhealthy }

// fast adds a fast rollback path to a script, counting its calls.
type fast struct {
	*script
	calls *int
}

func (f fast) Rollback(ctx context.Context, t wave.Target, v string) error {
	*f.calls++
	f.mu.Lock()
	f.versions[t.ID] = v
	f.mu.Unlock()
	return nil
}

// waits returns a Hands.Wait that waits no real time and records the
// waits asked for, and the time it reports.
func waits(now time.Time, got *[]time.Duration) func(context.Context, time.Duration) (time.Time, error) {
	return func(ctx context.Context, d time.Duration) (time.Time, error) {
		*got = append(*got, d)
		now = now.Add(d)
		return now, ctx.Err()
	}
}

var (
	t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	h1 = wave.Target{ID: "h1", Location: []string{"r"}}
)

func deployAction() rollout.Action {
	return rollout.Action{Kind: rollout.ActionDeploy, Round: 7, Stage: "s", Target: h1, Version: "v2"}
}

func TestHandsRetryAtThePolicysPace(t *testing.T) {
	d := newScript("h1")
	d.fail = func(_ string, attempt int) error {
		if attempt <= 2 {
			return errors.New("connection reset")
		}
		return nil
	}
	var got []time.Duration
	var retried []int
	pol := rollout.Policy{Deploy: rollout.DeployPolicy{Retry: rollout.Retry{Initial: duration.Duration(10 * time.Second)}}}
	h := rollout.Hands{
		Deployer: d, Policy: pol, Rollout: "r1", Wait: waits(t0, &got),
		OnRetry: func(a rollout.Action, n int, err error, _ time.Duration) { retried = append(retried, n) },
	}
	o := h.Do(t.Context(), deployAction(), t0)
	want := rollout.Observation{Kind: rollout.ObsDeploy, Round: 7, Target: "h1", Version: "v2", Attempts: 3}
	if diff := cmp.Diff(want, o); diff != "" {
		t.Errorf("observation (-want +got):\n%s", diff)
	}
	// The waits are the policy's, jittered by the rollout and the target:
	// every executor retries at the same instants.
	p := pol.Retries(rollout.ActionDeploy)
	if diff := cmp.Diff([]time.Duration{p.Wait("r1", "h1", 2), p.Wait("r1", "h1", 3)}, got); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{1, 2}, retried); diff != "" {
		t.Errorf("OnRetry attempts (-want +got):\n%s", diff)
	}
}

func TestHandsTargetFaults(t *testing.T) {
	for _, tc := range []struct {
		name     string
		deployer func(*script) rollout.Deployer
		setup    func(*script)
		attempts int
		perm     bool
		err      string
	}{
		{
			name:     "transient errors exhaust the attempts",
			setup:    func(d *script) { d.fail = func(string, int) error { return errors.New("503") } },
			attempts: 3, err: "503",
		},
		{
			name: "a permanent error is not retried",
			setup: func(d *script) {
				d.fail = func(string, int) error { return rollout.Permanent(errors.New("image not found")) }
			},
			attempts: 1, perm: true, err: "image not found",
		},
		{
			name:     "an unhealthy target fails the attempt",
			deployer: func(d *script) rollout.Deployer { return checked{d} },
			setup:    func(d *script) { d.unhealthy = errors.New("readiness probe failing") },
			attempts: 3, err: "not healthy after the deploy: readiness probe failing",
		},
		{
			name:     "the version is read back",
			setup:    func(d *script) { d.stuck = true },
			attempts: 3, err: `target reports version "v1" after the deploy of "v2"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newScript("h1")
			tc.setup(d)
			var dep rollout.Deployer = d
			if tc.deployer != nil {
				dep = tc.deployer(d)
			}
			var w []time.Duration
			h := rollout.Hands{Deployer: dep, Rollout: "r1", Wait: waits(t0, &w),
				Policy: rollout.Policy{Deploy: rollout.DeployPolicy{Retry: rollout.Retry{MaxAttempts: 3}}}}
			o := h.Do(t.Context(), deployAction(), t0)
			if o.Attempts != tc.attempts || o.Permanent != tc.perm || o.Err != tc.err {
				t.Errorf("attempts %d, permanent %t, error %q; want %d, %t, %q", o.Attempts, o.Permanent, o.Err, tc.attempts, tc.perm, tc.err)
			}
			if len(d.deploys) != tc.attempts {
				t.Errorf("%d deploy calls, want %d", len(d.deploys), tc.attempts)
			}
		})
	}
}

func TestHandsRollback(t *testing.T) {
	rb := rollout.Action{Kind: rollout.ActionRollback, Round: 3, Target: h1, Version: "v1"}
	t.Run("already there", func(t *testing.T) {
		d := newScript("h1")
		o := (&rollout.Hands{Deployer: d}).Do(t.Context(), rb, t0)
		if o.Err != "" || len(d.deploys) != 0 {
			t.Errorf("error %q, calls %v: a target on the version is not touched", o.Err, d.deploys)
		}
	})
	t.Run("fast path", func(t *testing.T) {
		d := newScript("h1")
		d.versions["h1"] = "v2"
		n := 0
		o := (&rollout.Hands{Deployer: fast{d, &n}}).Do(t.Context(), rb, t0)
		if o.Err != "" || n != 1 || len(d.deploys) != 0 || o.Attempts != 1 {
			t.Errorf("error %q, %d fast rollbacks, deploys %v, attempts %d", o.Err, n, d.deploys, o.Attempts)
		}
	})
	t.Run("by deploying", func(t *testing.T) {
		d := newScript("h1")
		d.versions["h1"] = "v2"
		o := (&rollout.Hands{Deployer: d}).Do(t.Context(), rb, t0)
		if o.Err != "" || d.versions["h1"] != "v1" {
			t.Errorf("error %q, h1 runs %s", o.Err, d.versions["h1"])
		}
	})
}

// TestHandsHonourTheDeadline: the action's deadline bounds every attempt
// and every wait, counted from the action's time, whatever the clock says.
func TestHandsHonourTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hang := rollout.Hands{Deployer: hanging{}, Rollout: "r"}
		for _, now := range []time.Time{time.Now(), t0.Add(-30 * 24 * time.Hour)} {
			a := deployAction()
			a.Deadline = now.Add(time.Minute)
			start := time.Now()
			o := hang.Do(t.Context(), a, now)
			if took := time.Since(start); took != time.Minute {
				t.Errorf("now %s: the deploy took %s, want the minute to its deadline", now, took)
			}
			if !strings.Contains(o.Err, "deadline exceeded") {
				t.Errorf("error %q", o.Err)
			}
		}
		// A deadline in the middle of the backoff ends the waiting too.
		d := newScript("h1")
		d.fail = func(string, int) error { return errors.New("503") }
		h := rollout.Hands{Deployer: d, Rollout: "r", Policy: rollout.Policy{Deploy: rollout.DeployPolicy{
			Retry: rollout.Retry{MaxAttempts: 10, Initial: duration.Duration(time.Hour), Max: duration.Duration(time.Hour)}}}}
		a := deployAction()
		a.Deadline = time.Now().Add(time.Minute)
		start := time.Now()
		o := h.Do(t.Context(), a, time.Now())
		if took := time.Since(start); took != time.Minute || o.Err != "503" || o.Attempts != 1 {
			t.Errorf("took %s, error %q after %d attempts; want 1m, the last error, 1", took, o.Err, o.Attempts)
		}
	})
}

// hanging deploys until its context ends.
type hanging struct{}

func (hanging) Deploy(ctx context.Context, _ wave.Target, _ string) error {
	<-ctx.Done()
	return ctx.Err()
}
func (hanging) Version(context.Context, wave.Target) (string, error) { return "v1", nil }

func TestHandsVerify(t *testing.T) {
	subject := &rollout.Subject{Rollout: "r", Stage: "s"}
	act := rollout.Action{Kind: rollout.ActionVerify, Round: 4, Stage: "s", Subject: subject}
	errPass := func(r rollout.VerifyResult, err error) func(int) (rollout.VerifyResult, error) {
		return func(int) (rollout.VerifyResult, error) { return r, err }
	}
	for _, tc := range []struct {
		name    string
		verify  func(call int) (rollout.VerifyResult, error)
		calls   int
		outcome rollout.VerifyOutcome
		err     string
	}{
		{"pass", errPass(rollout.VerifyResult{Outcome: rollout.VerifyPass}, nil), 1, rollout.VerifyPass, ""},
		{"fail is not retried", errPass(rollout.VerifyResult{Outcome: rollout.VerifyFail, Reason: "checkout returns 500"}, nil), 1, rollout.VerifyFail, ""},
		// One attempt per action: the state retries at its own pace (see
		// VerifyPolicy.Retry), counting the attempts in the saved state.
		{"an error is one attempt", errPass(rollout.VerifyResult{}, errors.New("test runner unreachable")), 1, rollout.VerifyError, "test runner unreachable"},
		{"could not run is one attempt", errPass(rollout.VerifyResult{Outcome: rollout.VerifyError, Reason: "no capacity"}, nil), 1, rollout.VerifyError, "the check could not run: no capacity"},
		{"an unknown outcome fails closed at once", errPass(rollout.VerifyResult{Outcome: "maybe"}, nil), 1, rollout.VerifyError, `unknown verification outcome "maybe"`},
		{"a permanent error is not retried", errPass(rollout.VerifyResult{}, rollout.Permanent(errors.New("no such suite"))), 1, rollout.VerifyError, "no such suite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			var w []time.Duration
			h := rollout.Hands{Rollout: "r", Wait: waits(t0, &w), Verifier: rollout.VerifierFunc(func(ctx context.Context, s rollout.Subject, now time.Time) (rollout.VerifyResult, error) {
				calls++
				if want := t0.Add(sum(w)); !now.Equal(want) {
					t.Errorf("attempt %d at %s, want %s", calls, now, want)
				}
				return tc.verify(calls)
			})}
			o := h.Do(t.Context(), act, t0)
			if calls != tc.calls || o.Verify == nil || o.Verify.Outcome != tc.outcome || !strings.Contains(o.Err, tc.err) || (tc.err == "") != (o.Err == "") {
				t.Errorf("%d calls, observation %+v (verify %+v); want %d calls, %s, error %q", calls, o, o.Verify, tc.calls, tc.outcome, tc.err)
			}
			if o.Kind != rollout.ObsVerify || o.Round != 4 {
				t.Errorf("answered %s of round %d", o.Kind, o.Round)
			}
		})
	}
	t.Run("no verifier", func(t *testing.T) {
		o := (&rollout.Hands{}).Do(t.Context(), act, t0)
		if o.Err == "" || o.Verify == nil || o.Verify.Outcome != rollout.VerifyError {
			t.Errorf("observation %+v: a missing verifier fails closed", o)
		}
	})
	t.Run("timeout and deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			slow := rollout.VerifierFunc(func(ctx context.Context, _ rollout.Subject, _ time.Time) (rollout.VerifyResult, error) {
				<-ctx.Done()
				return rollout.VerifyResult{}, ctx.Err()
			})
			h := rollout.Hands{Verifier: slow, Policy: rollout.Policy{Verify: rollout.VerifyPolicy{
				Timeout: duration.Duration(time.Minute),
			}}}
			start := time.Now()
			o := h.Do(t.Context(), act, time.Now())
			if took := time.Since(start); took != time.Minute || o.Err == "" {
				t.Errorf("took %s, error %q: the attempt gets the policy's timeout", took, o.Err)
			}
			a := act
			a.Deadline = time.Now().Add(30 * time.Second)
			start = time.Now()
			h.Do(t.Context(), a, time.Now())
			if took := time.Since(start); took != 30*time.Second {
				t.Errorf("took %s: the action's deadline bounds the attempt", took)
			}
		})
	})
}

func sum(ds []time.Duration) time.Duration {
	var s time.Duration
	for _, d := range ds {
		s += d
	}
	return s
}

// TestTryLeavesTheRetryToTheCaller: one attempt, and an error only when
// another attempt may help, as a Temporal activity needs.
func TestTryLeavesTheRetryToTheCaller(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		retry bool
	}{
		{"success", nil, false},
		{"transient", errors.New("503"), true},
		{"permanent", rollout.Permanent(errors.New("bad artifact")), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newScript("h1")
			d.fail = func(string, int) error { return tc.err }
			o, err := (&rollout.Hands{Deployer: d}).Try(t.Context(), deployAction(), t0)
			if (err != nil) != tc.retry {
				t.Errorf("Try = %v; retry %t", err, tc.retry)
			}
			if want := errString(tc.err); o.Err != want {
				t.Errorf("observation error %q, want %q", o.Err, want)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestHandsContainPanics: a panic in the team's code fails its action
// closed instead of killing the executor.
func TestHandsContainPanics(t *testing.T) {
	boom := rollout.JudgeFunc(func(context.Context, rollout.Subject, time.Time, time.Time) (rollout.Verdict, error) {
		panic("nil map")
	})
	h := rollout.Hands{Judge: boom, Deployer: panicky{}}
	o := h.Do(t.Context(), rollout.Action{Kind: rollout.ActionJudgeCanary, Round: 2, Subject: &rollout.Subject{}}, t0)
	if o.Kind != rollout.ObsVerdict || !strings.Contains(o.Err, "panicked: nil map") {
		t.Errorf("judge: %+v", o)
	}
	o = h.Do(t.Context(), deployAction(), t0)
	if o.Kind != rollout.ObsDeploy || !o.Permanent || o.Attempts != 1 || !strings.Contains(o.Err, "deploy panicked") {
		t.Errorf("deploy: %+v", o)
	}
}

type panicky struct{}

func (panicky) Deploy(context.Context, wave.Target, string) error    { panic("oops") }
func (panicky) Version(context.Context, wave.Target) (string, error) { return "v1", nil }

func TestHandsWithoutGates(t *testing.T) {
	s := &rollout.Subject{Stage: "s"}
	var h rollout.Hands
	for _, tc := range []struct {
		kind rollout.ActionKind
		err  string
	}{
		{rollout.ActionCheckBlockers, ""},
		{rollout.ActionCheckAlarms, ""},
		{rollout.ActionReadEvidence, "no evidence source is configured"},
		{rollout.ActionJudgeCanary, "no canary judge is configured"},
		{rollout.ActionVerify, "no verifier is configured"},
		{rollout.ActionDeploy, "no deployer is configured"},
	} {
		o := h.Do(t.Context(), rollout.Action{Kind: tc.kind, Round: 1, Subject: s, Target: h1, Version: "v2"}, t0)
		if o.Err != tc.err {
			t.Errorf("%s: error %q, want %q", tc.kind, o.Err, tc.err)
		}
	}
}

func TestCheckObservation(t *testing.T) {
	reqs := []bake.Requirement{{Name: "requests", Query: "q1", Min: 1}, {Query: "q2", Min: 1}}
	evidence := rollout.Action{Kind: rollout.ActionReadEvidence, Round: 5, Requirements: reqs}
	judge := rollout.Action{Kind: rollout.ActionJudgeCanary, Round: 5}
	verify := rollout.Action{Kind: rollout.ActionVerify, Round: 5}
	alarms := rollout.Action{Kind: rollout.ActionCheckAlarms, Round: 5}
	blockers := rollout.Action{Kind: rollout.ActionCheckBlockers, Round: 5}
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		a    rollout.Action
		o    rollout.Observation
		bad  string // a substring of the error; empty: the observation is fine
	}{
		{"counts", evidence, rollout.ObserveEvidence(evidence, []float64{3, 0}, nil), ""},
		{"NaN count", evidence, rollout.ObserveEvidence(evidence, []float64{math.NaN(), 1}, nil), `evidence "requests" is NaN, not a count`},
		{"infinite count", evidence, rollout.ObserveEvidence(evidence, []float64{1, math.Inf(1)}, nil), `evidence "q2" is +Inf, not a count`},
		{"negative count", evidence, rollout.ObserveEvidence(evidence, []float64{-1, 1}, nil), `evidence "requests" is -1: a count is never negative`},
		{"a count short", evidence, rollout.ObserveEvidence(evidence, []float64{1}, nil), "1 evidence counts for 2 requirements"},
		{"a failed read with NaN", evidence, rollout.ObserveEvidence(evidence, []float64{math.NaN()}, errors.New("timeout")), "NaN"},
		{"a failed read", evidence, rollout.ObserveEvidence(evidence, nil, errors.New("timeout")), ""},
		{"verdict", judge, rollout.ObserveVerdict(judge, rollout.Verdict{Outcome: rollout.VerdictPass, Score: 97}, nil), ""},
		{"NaN score", judge, rollout.ObserveVerdict(judge, rollout.Verdict{Outcome: rollout.VerdictPass, Score: math.NaN()}, nil), "the verdict's score is NaN, not a number"},
		{"infinite score", judge, rollout.ObserveVerdict(judge, rollout.Verdict{Outcome: rollout.VerdictPass, Score: math.Inf(-1)}, nil), "-Inf"},
		{"unknown verdict", judge, rollout.ObserveVerdict(judge, rollout.Verdict{Outcome: "great"}, nil), `unknown verdict outcome "great"`},
		{"a verdict from year 10000", judge, rollout.ObserveVerdict(judge, rollout.Verdict{Outcome: rollout.VerdictPass, Time: far}, nil), "year 10000"},
		{"no verdict", judge, rollout.Observation{Kind: rollout.ObsVerdict, Round: 5}, "no verdict"},
		{"unknown verification", verify, rollout.ObserveVerify(verify, rollout.VerifyResult{Outcome: "ok"}, nil), `unknown verification outcome "ok"`},
		{"verification", verify, rollout.ObserveVerify(verify, rollout.VerifyResult{Outcome: rollout.VerifyFail}, nil), ""},
		{"alarm in no state", alarms, rollout.ObserveAlarms(alarms, []alarm.Result{{Name: "5xx", State: 7}}, nil), `alarm "5xx" is in state 7`},
		{"blocker until year 10000", blockers, rollout.ObserveBlockers(blockers, []rollout.BlockReason{{Blocker: "freeze", Until: far}}, time.Time{}, nil), `blocker "freeze" until is in the year 10000`},
		{"wrong kind", verify, rollout.ObserveVerdict(verify, rollout.Verdict{Outcome: rollout.VerdictPass}, nil), `a verify action answered with a "verdict" observation`},
		{"wrong round", judge, rollout.ObserveVerdict(rollout.Action{Round: 4}, rollout.Verdict{Outcome: rollout.VerdictPass}, nil), "round 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rollout.CheckObservation(tc.a, tc.o)
			if tc.bad == "" {
				if err != nil {
					t.Fatalf("CheckObservation = %v", err)
				}
				if _, err := json.Marshal(got); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, rollout.ErrObservation) || !strings.Contains(err.Error(), tc.bad) {
				t.Fatalf("CheckObservation = %v; want ErrObservation with %q", err, tc.bad)
			}
			// The answer fails closed: the same kind and round, an error
			// naming the problem, nothing JSON cannot encode.
			if got.Round != tc.a.Round || got.Err == "" || !strings.Contains(got.Err, tc.bad) {
				t.Errorf("observation %+v", got)
			}
			if _, err := json.Marshal(got); err != nil {
				t.Errorf("the failed-closed observation does not encode: %v", err)
			}
			if again, err := rollout.CheckObservation(tc.a, got); err != nil {
				t.Errorf("the failed-closed observation is not itself valid: %v (%+v)", err, again)
			}
		})
	}
}

// TestRunnerFailsBadEvidenceClosed: NaN evidence used to stop the Runner
// with "encode state: json: unsupported value: NaN", leaving hosts on the
// new version and nothing watching. It is an unreadable count now: the
// bake fails closed and the rollout rolls back.
func TestRunnerFailsBadEvidenceClosed(t *testing.T) {
	for _, bad := range []float64{math.NaN(), math.Inf(1), -3} {
		t.Run(fmt.Sprint(bad), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := wave.Stage{Name: "w1/r", Kind: wave.Region, Regions: []string{"r"}, Reason: "test",
					Bake: duration.Duration(time.Hour), Batches: []wave.Batch{{Targets: []wave.Target{h1}}}}
				plan := wave.Plan{Levels: []string{"region"}, Waves: []wave.Wave{{Regions: []string{"r"}, Stages: []wave.Stage{st}}}}
				d := newScript("h1")
				pol := rollout.Policy{Bake: bake.Schedule{Base: bake.Policy{Evidence: []bake.Requirement{{Query: "requests", Min: 10}}}}}
				store := new(rollout.MemoryStore)
				ev := rollout.EvidenceFunc(func(context.Context, rollout.Subject, []bake.Requirement, time.Time, time.Time) ([]float64, error) {
					return []float64{bad}, nil
				})
				r, err := rollout.Create(t.Context(), rollout.Spec{ID: "nan", Plan: plan, Version: "v2", Policy: pol}, d, rollout.Config{Store: store, Evidence: ev})
				if err != nil {
					t.Fatal(err)
				}
				err = r.Run(t.Context())
				if !errors.Is(err, rollout.ErrRolledBack) {
					t.Fatalf("Run = %v, want a rollback", err)
				}
				if v := d.versions["h1"]; v != "v1" {
					t.Errorf("h1 runs %s", v)
				}
				if _, err := rollout.DecodeState(store.Get("nan")); err != nil {
					t.Errorf("saved state: %v", err)
				}
			})
		})
	}
}

// An executor that makes its own observations checks them before it steps
// on them: a bad answer becomes an error that fails closed.
func ExampleCheckObservation() {
	a := rollout.Action{Kind: rollout.ActionReadEvidence, Round: 3,
		Requirements: []bake.Requirement{{Name: "requests", Query: `sum(requests_total)`, Min: 1000}}}
	o := rollout.ObserveEvidence(a, []float64{math.NaN()}, nil)
	o, err := rollout.CheckObservation(a, o)
	fmt.Println(err)
	fmt.Println(o.Kind, o.Round, o.Evidence == nil, o.Err)
	// Output:
	// rollout: bad observation: evidence "requests" is NaN, not a count
	// evidence 3 true evidence "requests" is NaN, not a count
}

// FuzzCheckObservation: whatever a gate answers, the checked observation
// encodes as JSON (so no state or workflow history can be poisoned by it)
// and passes the check itself; a good one is left as it is.
func FuzzCheckObservation(f *testing.F) {
	f.Add(uint8(0), 1.0, 2.0, 50.0, "pass", 1, 2000)
	f.Add(uint8(0), math.NaN(), -1.0, 0.0, "", 0, 2000)
	f.Add(uint8(1), 0.0, 0.0, math.Inf(1), "great", 1, 10000)
	f.Add(uint8(2), 0.0, 0.0, 0.0, "maybe", 0, 2000)
	f.Add(uint8(3), 0.0, 0.0, 0.0, "", 9, -1)
	f.Fuzz(func(t *testing.T, kind uint8, c1, c2, score float64, outcome string, state, year int) {
		reqs := []bake.Requirement{{Query: "a", Min: 1}, {Query: "b", Min: 1}}
		at := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
		var a rollout.Action
		var o rollout.Observation
		switch kind % 4 {
		case 0:
			a = rollout.Action{Kind: rollout.ActionReadEvidence, Round: 1, Requirements: reqs}
			o = rollout.ObserveEvidence(a, []float64{c1, c2}, nil)
		case 1:
			a = rollout.Action{Kind: rollout.ActionJudgeCanary, Round: 1}
			o = rollout.ObserveVerdict(a, rollout.Verdict{Outcome: rollout.VerdictOutcome(outcome), Score: score, Time: at}, nil)
		case 2:
			a = rollout.Action{Kind: rollout.ActionVerify, Round: 1}
			o = rollout.ObserveVerify(a, rollout.VerifyResult{Outcome: rollout.VerifyOutcome(outcome)}, nil)
		case 3:
			a = rollout.Action{Kind: rollout.ActionCheckAlarms, Round: 1}
			o = rollout.ObserveAlarms(a, []alarm.Result{{Name: outcome, State: alarm.State(state), Time: at}}, nil)
		}
		got, err := rollout.CheckObservation(a, o)
		if _, jerr := json.Marshal(got); jerr != nil {
			t.Fatalf("checked observation does not encode: %v (check: %v)", jerr, err)
		}
		if _, again := rollout.CheckObservation(a, got); again != nil {
			t.Fatalf("checked observation fails its own check: %v", again)
		}
		if err == nil {
			if _, jerr := json.Marshal(o); jerr != nil {
				t.Fatalf("passed an observation that does not encode: %v", jerr)
			}
		}
	})
}
