package rollout_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

// pureFleet answers actions synchronously, for driving a State without a
// Runner: versions, scripted permanent failures, an alarm that fires
// while any of bad runs the new version.
type pureFleet struct {
	v        map[string]string
	failing  map[string]bool // deploys of the new version fail
	stuck    map[string]bool // rollbacks fail
	bad      map[string]bool
	deploys  map[string]int // deploy calls of the new version per target
	reverts  []string       // rollback calls, in order
	newV     string
	calls    int
	unreadOK bool
	// alarmsDown, if set, makes the alarm check fail at the times it
	// says.
	alarmsDown func(now time.Time) bool
	// verify answers verify actions; nil passes them.
	verify func(a rollout.Action, now time.Time) rollout.Observation
}

func newPureFleet(p wave.Plan) *pureFleet {
	f := &pureFleet{v: map[string]string{}, failing: map[string]bool{}, stuck: map[string]bool{}, bad: map[string]bool{}, deploys: map[string]int{}, newV: "v2"}
	for _, id := range rollouttest.AllTargets(p) {
		f.v[id] = "v1"
	}
	return f
}

func (f *pureFleet) answer(a rollout.Action, now time.Time) rollout.Observation {
	f.calls++
	switch a.Kind {
	case rollout.ActionReadVersion:
		return rollout.ObserveVersion(a, f.v[a.Target.ID], nil)
	case rollout.ActionDeploy:
		f.deploys[a.Target.ID]++
		if f.failing[a.Target.ID] {
			return rollout.ObserveDeploy(a, "", 1, rollout.Permanent(errors.New("bad artifact")))
		}
		f.v[a.Target.ID] = a.Version
		return rollout.ObserveDeploy(a, a.Version, 1, nil)
	case rollout.ActionRollback:
		f.reverts = append(f.reverts, a.Target.ID)
		if f.stuck[a.Target.ID] {
			return rollout.ObserveRollback(a, "", 10, errors.New("unreachable"))
		}
		f.v[a.Target.ID] = a.Version
		return rollout.ObserveRollback(a, a.Version, 1, nil)
	case rollout.ActionCheckBlockers:
		return rollout.ObserveBlockers(a, nil, time.Time{}, nil)
	case rollout.ActionCheckAlarms:
		if f.alarmsDown != nil && f.alarmsDown(now) {
			return rollout.ObserveAlarms(a, nil, errors.New("metrics server: connection refused"))
		}
		for id := range f.bad {
			if f.v[id] == f.newV {
				return rollout.ObserveAlarms(a, []alarm.Result{{Name: "errors", State: alarm.Alarm, Reason: "high", Time: now}}, nil)
			}
		}
		return rollout.ObserveAlarms(a, []alarm.Result{{Name: "errors", State: alarm.OK, Time: now}}, nil)
	case rollout.ActionJudgeCanary:
		return rollout.ObserveVerdict(a, rollout.Verdict{Outcome: rollout.VerdictPass, Reason: "fine"}, nil)
	case rollout.ActionReadEvidence:
		return rollout.ObserveEvidence(a, make([]float64, len(a.Requirements)), nil)
	case rollout.ActionVerify:
		if f.verify != nil {
			return f.verify(a, now)
		}
		return rollout.ObserveVerify(a, rollout.VerifyResult{Outcome: rollout.VerifyPass, Reason: "smoke tests pass"}, nil)
	}
	panic("unknown action " + a.Kind)
}

type stepRecord struct {
	now time.Time
	obs []rollout.Observation
	out rollout.Output
}

// drivePure runs st to its end and records every step.
func drivePure(t *testing.T, st *rollout.State, f *pureFleet, now time.Time) []stepRecord {
	t.Helper()
	var recs []stepRecord
	var obs []rollout.Observation
	for i := 0; ; i++ {
		if i > 200000 {
			t.Fatal("the rollout never ended")
		}
		out, err := st.Step(now, obs...)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, stepRecord{now, obs, out})
		if out.Done {
			return recs
		}
		obs = nil
		for _, a := range out.Actions {
			obs = append(obs, f.answer(a, now))
		}
		if len(out.Actions) == 0 {
			if out.WakeAt.IsZero() || !out.WakeAt.After(now) {
				t.Fatalf("step %d: no action and wake-up %v at %v: stuck", i, out.WakeAt, now)
			}
			now = out.WakeAt
		}
	}
}

var outputCmp = cmp.Options{cmpopts.EquateEmpty()}

// TestStepIsDeterministicAndSurvivesJSON replays the same inputs into a
// fresh state and into states decoded from JSON at every step: the
// outputs must be the same.
func TestStepIsDeterministicAndSurvivesJSON(t *testing.T) {
	plan := rollouttest.AWSPlan(3, 2, 4)
	f := newPureFleet(plan)
	for _, id := range rollouttest.WaveTargets(plan, 2) {
		f.bad[id] = true
	}
	f.failing[plan.Waves[1].Stages[0].Batches[2].Targets[0].ID] = true
	// Ten-minute polls keep the steps (each encoded and decoded below)
	// few.
	pol := rollout.Policy{
		Alarms: rollout.AlarmPolicy{Interval: duration.Duration(10 * time.Minute)},
		Bake:   bake.Schedule{Base: bake.Policy{PollInterval: duration.Duration(10 * time.Minute)}},
	}
	st, err := rollout.NewState("det", plan, "v2", pol, monday9)
	if err != nil {
		t.Fatal(err)
	}
	recs := drivePure(t, st, f, monday9)
	if st.Phase != rollout.RolledBack {
		t.Fatalf("phase %s, want rolled back", st.Phase)
	}

	replay, _ := rollout.NewState("det", plan, "v2", pol, monday9)
	for i, r := range recs {
		// A copy that went through JSON first must decide the same.
		data, err := rollout.EncodeState(replay)
		if err != nil {
			t.Fatal(err)
		}
		copyState, err := rollout.DecodeState(data)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		out, err := replay.Step(r.now, r.obs...)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(r.out, out, outputCmp); diff != "" {
			t.Fatalf("step %d: replay differs (-first +replay):\n%s", i, diff)
		}
		out2, err := copyState.Step(r.now, r.obs...)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(r.out, out2, outputCmp); diff != "" {
			t.Fatalf("step %d: decoded copy differs (-original +decoded):\n%s", i, diff)
		}
	}
	a, _ := rollout.EncodeState(st)
	b, _ := rollout.EncodeState(replay)
	if string(a) != string(b) {
		t.Error("replayed final state differs from the original")
	}
}

func TestStaleAndUnknownObservationsAreIgnored(t *testing.T) {
	plan := rollouttest.AWSPlan(1, 1, 3)
	st, _ := rollout.NewState("stale", plan, "v2", rollout.Policy{}, monday9)
	out, _ := st.Step(monday9) // check blockers
	blk := out.Actions[0]
	out, _ = st.Step(monday9, rollout.ObserveBlockers(blk, nil, time.Time{}, nil))
	read := out.Actions[0]
	if read.Kind != rollout.ActionReadVersion {
		t.Fatalf("want a version read, got %+v", out.Actions)
	}
	before, _ := rollout.EncodeState(st)
	stale := rollout.ObserveBlockers(blk, []rollout.BlockReason{{Blocker: "x", Reason: "late"}}, time.Time{}, nil)
	wrongRound := rollout.ObserveVersion(read, "v9", nil)
	wrongRound.Round--
	unknown := rollout.ObserveVersion(read, "v9", nil)
	unknown.Target = "nobody"
	out, err := st.Step(monday9, stale, wrongRound, unknown)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := rollout.EncodeState(st)
	if string(before) != string(after) || len(out.Actions) != 0 || out.Persist {
		t.Errorf("ignored observations changed the state or asked for actions: %+v", out)
	}
	// Malformed observations are errors and change nothing.
	if _, err := st.Step(monday9, rollout.Observation{Kind: "bogus"}); !errors.Is(err, rollout.ErrInvalid) {
		t.Errorf("unknown kind: %v", err)
	}
	if _, err := st.Step(monday9, rollout.Observation{Kind: rollout.ObsDeploy}); !errors.Is(err, rollout.ErrInvalid) {
		t.Errorf("deploy without target: %v", err)
	}
	// A state from the future is refused.
	st.Schema = rollout.SchemaVersion + 1
	if _, err := st.Step(monday9); !errors.Is(err, rollout.ErrSchema) {
		t.Errorf("newer schema: %v", err)
	}
}

// TestRolloutInvariants drives random fleets with random faults and checks
// what must always hold.
func TestRolloutInvariants(t *testing.T) {
	for seed := range uint64(60) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			plan := rollouttest.AWSPlan(1+rng.IntN(5), 1+rng.IntN(3), 2+rng.IntN(12))
			f := newPureFleet(plan)
			ids := rollouttest.AllTargets(plan)
			for _, id := range ids {
				switch r := rng.Float64(); {
				case r < 0.04:
					f.failing[id] = true
				case r < 0.06:
					f.stuck[id] = true
				case r < 0.08:
					f.bad[id] = true
				}
			}
			pol := rollout.Policy{}
			if rng.IntN(2) == 0 {
				pol.Rollback.Concurrency = 1 + rng.IntN(4)
			}
			st, err := rollout.NewState("inv", plan, "v2", pol, monday9)
			if err != nil {
				t.Fatal(err)
			}
			drivePure(t, st, f, monday9)
			if !st.Phase.Terminal() {
				t.Fatalf("phase %s", st.Phase)
			}
			for id, n := range f.deploys {
				if n > 1 {
					t.Errorf("%s deployed %d times", id, n)
				}
			}
			stageOf, si := map[string]int{}, 0
			for _, w := range plan.Waves {
				for _, s := range w.Stages {
					for _, id := range rollouttest.StageTargets(plan, s.Name) {
						stageOf[id] = si
					}
					si++
				}
			}
			for i := 1; i < len(f.reverts); i++ {
				if stageOf[f.reverts[i]] > stageOf[f.reverts[i-1]] {
					t.Fatalf("rollback of %s after %s: not in reverse stage order", f.reverts[i], f.reverts[i-1])
				}
			}
			switch st.Phase {
			case rollout.Succeeded:
				for _, ts := range st.Targets {
					if ts.Status != rollout.TargetDeployed && ts.Status != rollout.TargetFailed {
						t.Errorf("%s is %s after success", ts.ID, ts.Status)
					}
					if ts.Status == rollout.TargetDeployed && f.v[ts.ID] != "v2" {
						t.Errorf("%s recorded deployed, runs %s", ts.ID, f.v[ts.ID])
					}
				}
			case rollout.RolledBack, rollout.RollbackFailed:
				var unrolled []string
				for _, ts := range st.Targets {
					if f.v[ts.ID] != "v1" {
						unrolled = append(unrolled, ts.ID)
					}
				}
				if diff := cmp.Diff(st.Rollback.Failed, unrolled, cmpopts.SortSlices(func(a, b string) bool { return a < b }), cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("targets not on v1 differ from those named as not rolled back (-named +actual):\n%s", diff)
				}
				if (st.Phase == rollout.RollbackFailed) != (len(unrolled) > 0) {
					t.Errorf("phase %s with %d targets not rolled back", st.Phase, len(unrolled))
				}
			}
		})
	}
}
