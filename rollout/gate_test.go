// This file is internal (package rollout): five of its seven tests read the runner's state (r.st: verdicts,
// bake trackers, decisions, blocked-by) to check the gates' records; the
// two that do not share its helpers (countSeries, waitFor).

package rollout

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/canary"
	"github.com/shepherd-go/shepherd/duration"
)

// countSeries records a count metric per minute for a day from now: the
// baseline's events and the canary's.
func countSeries(mem *alarm.Memory, canaryPerMin, baselinePerMin float64) {
	start := time.Now().Truncate(time.Minute)
	for i := range 36 * 60 {
		t := start.Add(time.Duration(i) * time.Minute)
		mem.Record("errors{canary}", t, canaryPerMin, 0)
		mem.Record("errors{baseline}", t, baselinePerMin, 0)
		mem.Record("latency{canary}", t, 100+canaryPerMin+float64(i%7), 0)
		mem.Record("latency{baseline}", t, 100+float64(i%5), 0)
		mem.Record("requests", t, 1, 0) // one request a minute: a quiet stage
	}
}

var errorQueries = func(Subject) []canary.Query {
	return []canary.Query{{Metric: "errors", Canary: "errors{canary}", Baseline: "errors{baseline}"}}
}

func TestSequentialCanaryJudge(t *testing.T) {
	for _, tc := range []struct {
		name      string
		canaryPer float64
		wantErr   error
	}{
		// One host of the region's 30 gets a thirtieth of the traffic.
		{"healthy canary passes", 1000.0 / 30, nil},
		{"regressed canary fails at the one-box", 1000.0 / 30 * 4, ErrRolledBack},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				plan := awsPlan(1, 3, 10)
				f := newFleet(plan, "v1")
				mem := &alarm.Memory{}
				countSeries(mem, tc.canaryPer, 1000)
				judge := SequentialJudge{
					Policy:  canary.Policy{TrafficShare: 1.0 / 30, Metrics: []canary.Metric{{Name: "errors", Kind: canary.Count}}},
					Source:  mem,
					Queries: errorQueries,
				}
				var log eventLog
				pol := Policy{Canary: CanaryPolicy{Enabled: true, Interval: duration.Duration(10 * time.Minute)}}
				r, err := Create(t.Context(), Spec{ID: "seq", Plan: plan, Version: "v2", Policy: pol}, f, Config{Judge: judge, OnEvent: log.add})
				if err != nil {
					t.Fatal(err)
				}
				err = r.Run(t.Context())
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Run = %v, want %v", err, tc.wantErr)
				}
				vs := log.kinds(EventCanaryVerdict)
				if len(vs) == 0 || vs[0].Stage != plan.Waves[0].Stages[0].Name {
					t.Fatalf("verdict events %+v, want some on the one-box", vs)
				}
				if tc.wantErr != nil {
					var he *HaltError
					errors.As(err, &he)
					if he.Signal != SignalCanary {
						t.Errorf("signal %s, want canary", he.Signal)
					}
					// Caught by an interval judgement, before the bake's hour.
					if last := vs[len(vs)-1]; last.Verdict.Outcome != VerdictFail || last.Time.Sub(r.st.Stages[0].Baking) >= time.Hour {
						t.Errorf("last verdict %+v, want a fail within the hour", last.Verdict)
					}
					for _, c := range f.callLog() {
						if c.Target != plan.Waves[0].Stages[0].Batches[0].Targets[0].ID {
							t.Errorf("%s was touched; only the one-box should be", c.Target)
						}
					}
				}
			})
		})
	}
}

func TestKayentaCanaryJudge(t *testing.T) {
	for _, tc := range []struct {
		name    string
		extra   float64 // latency added on the canary
		wantErr error
	}{
		{"same latency passes", 0, nil},
		{"slower canary fails", 50, ErrRolledBack},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				plan := awsPlan(1, 3, 10)
				f := newFleet(plan, "v1")
				mem := &alarm.Memory{}
				countSeries(mem, tc.extra, 1000)
				judge := KayentaJudge{
					Policy: canary.KayentaPolicy{Metrics: []canary.KayentaMetric{{Name: "latency", Direction: canary.Increase}}},
					Source: mem,
					Queries: func(Subject) []canary.Query {
						return []canary.Query{{Metric: "latency", Canary: "latency{canary}", Baseline: "latency{baseline}"}}
					},
				}
				r, err := Create(t.Context(), Spec{ID: "kay", Plan: plan, Version: "v2", Policy: Policy{Canary: CanaryPolicy{Enabled: true}}}, f, Config{Judge: judge})
				if err != nil {
					t.Fatal(err)
				}
				if err := r.Run(t.Context()); !errors.Is(err, tc.wantErr) {
					t.Fatalf("Run = %v, want %v", err, tc.wantErr)
				}
				v := r.st.Stages[0].Verdict
				if v == nil {
					t.Fatal("no verdict recorded on the one-box")
				}
				t.Logf("verdict: %s %.0f: %s", v.Outcome, v.Score, v.Reason)
			})
		})
	}
}

func TestMissingJudgeFailsClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := awsPlan(1, 3, 10)
		f := newFleet(plan, "v1")
		r, err := Create(t.Context(), Spec{ID: "nojudge", Plan: plan, Version: "v2", Policy: Policy{Canary: CanaryPolicy{Enabled: true}}}, f, Config{})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Run(t.Context())
		var he *HaltError
		if !errors.As(err, &he) || he.Signal != SignalCanary || !strings.Contains(he.Reason, "no canary judge") {
			t.Fatalf("Run = %v, want a canary rollback: no judge", err)
		}
	})
}

func TestBakeEvidence(t *testing.T) {
	reqs := []bake.Requirement{{Name: "requests", Query: "requests", Min: 100}}
	for _, tc := range []struct {
		name     string
		on       bake.Consequence
		min      float64
		wantErr  error
		wantHold bool
	}{
		{"enough evidence", "", 30, nil, false},
		{"too little evidence rolls back", "", 1000, ErrRolledBack, false},
		{"too little evidence, policy passes", bake.Pass, 1000, nil, false},
		{"too little evidence, policy pauses", bake.Pause, 1000, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				plan := awsPlan(1, 1, 3) // one zone, 12h bake: 720 requests
				plan.Waves[0].Stages[0].Bake = duration.Duration(time.Hour)
				plan.FinalBake = 0
				f := newFleet(plan, "v1")
				mem := &alarm.Memory{}
				countSeries(mem, 0, 0)
				rq := slices.Clone(reqs)
				rq[0].Min = tc.min
				pol := Policy{Bake: bake.Schedule{Base: bake.Policy{Evidence: rq, OnInconclusive: tc.on}}}
				r, err := Create(t.Context(), Spec{ID: "ev", Plan: plan, Version: "v2", Policy: pol}, f, Config{Evidence: Measure(mem)})
				if err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- r.Run(t.Context()) }()
				if tc.wantHold {
					p := waitFor(t, r, "a hold on the inconclusive bake", func(p Progress) bool { return p.Paused })
					if p.Hold.Signal != SignalBakeInconclusive || !strings.Contains(p.BakeStatus, "inconclusive") {
						t.Errorf("hold %+v, bake %q", p.Hold, p.BakeStatus)
					}
					// Resuming alone holds again; an audited skip moves on.
					if err := r.Resume(t.Context(), "oncall"); err != nil {
						t.Fatal(err)
					}
					time.Sleep(time.Hour)
					if p := r.Progress(); !p.Paused {
						t.Error("resumed past an inconclusive bake without a skip")
					}
					if err := r.SkipBake(t.Context(), plan.Waves[0].Stages[0].Name, "oncall", "low traffic region, checked by hand"); err != nil {
						t.Fatal(err)
					}
					if err := r.Resume(t.Context(), "oncall"); err != nil {
						t.Fatal(err)
					}
				}
				err = <-done
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Run = %v, want %v", err, tc.wantErr)
				}
				if tc.wantErr != nil {
					var he *HaltError
					if errors.As(err, &he); he.Signal != SignalBakeInconclusive {
						t.Errorf("signal %s, want bake-inconclusive", he.Signal)
					}
				}
				if tr := r.st.Stages[0].Bake; tr == nil || (tc.wantErr == nil && !tc.wantHold && tc.on == "" && tr.Phase != bake.Done) {
					t.Errorf("bake %+v", tr)
				}
			})
		})
	}
}

func TestDryRunTouchesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sleepUntil(monday9.Add(-2 * time.Hour)) // outside business hours
		plan := awsPlan(2, 2, 5)
		f := newFleet(plan, "v1")
		var log eventLog
		pol := Policy{DryRun: true, Approvals: []string{plan.Waves[1].Stages[0].Name}}
		r, err := Create(t.Context(), Spec{ID: "dry", Plan: plan, Version: "v2", Policy: pol}, f, Config{
			Blockers: businessHours,
			Alarms:   regressionAlarm(f, nil, "v2"),
			OnEvent:  log.add,
		})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := r.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		if f.touched() {
			t.Error("a dry run touched the fleet")
		}
		if took := time.Since(start); took != 0 {
			t.Errorf("a dry run waited %s", took)
		}
		var words []string
		for _, d := range r.st.Decisions {
			words = append(words, d.Stage+" "+string(d.Gate)+" "+string(d.Outcome))
		}
		all := strings.Join(words, "\n")
		for _, want := range []string{
			plan.Waves[0].Stages[0].Name + " blockers would wait",
			plan.Waves[1].Stages[0].Name + " approval would wait",
			plan.Waves[0].Stages[0].Name + " dry-run would deploy",
			plan.Waves[1].Stages[1].Name + " bake would bake",
		} {
			if !strings.Contains(all, want) {
				t.Errorf("decisions lack %q:\n%s", want, all)
			}
		}
		if len(log.kinds(EventDryRun)) == 0 || r.Progress().Phase != Succeeded || !r.Progress().DryRun {
			t.Errorf("dry run progress %+v", r.Progress())
		}
	})
}

func TestBlockedTooLong(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := awsPlan(1, 2, 3)
		f := newFleet(plan, "v1")
		calls := 0
		freeze := BlockersFunc(func(ctx context.Context, s Subject, now time.Time) ([]BlockReason, time.Time, error) {
			calls++
			if s.Stage == plan.Waves[0].Stages[1].Name {
				return []BlockReason{{Blocker: "freeze", Reason: "holiday sales event"}}, time.Time{}, nil
			}
			return nil, time.Time{}, nil
		})
		// By default a blocked stage holds what was deployed; this policy
		// rolls back instead (see TestBlockedTooLongHoldsHealthyHosts).
		pol := Policy{Blockers: BlockerPolicy{MaxWait: duration.Duration(48 * time.Hour)},
			Reactions: map[Signal]Reaction{SignalBlocked: RollBack}}
		r, err := Create(t.Context(), Spec{ID: "frozen", Plan: plan, Version: "v2", Policy: pol}, f, Config{Blockers: freeze})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Run(t.Context())
		var he *HaltError
		if !errors.As(err, &he) || he.Signal != SignalBlocked || !strings.Contains(he.Reason, "holiday sales event") {
			t.Fatalf("Run = %v, want a rollback on a blocker that never cleared", err)
		}
		// Rechecked every 5 minutes for 48 hours.
		if want := 48*12 + 2; calls < want-2 || calls > want+2 {
			t.Errorf("%d blocker checks, want about %d", calls, want)
		}
		by := r.st.Stages[1].BlockedBy["freeze"]
		if by.Std() < 47*time.Hour {
			t.Errorf("freeze held the stage %s by the record", by)
		}
	})
}

// TestBlockedTooLongHoldsHealthyHosts: by default, a stage held by a
// freeze past the maximum wait pauses with the hosts of the stages before
// it still on the change, and the reason names the freeze; abort rolls
// back.
func TestBlockedTooLongHoldsHealthyHosts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := awsPlan(1, 2, 3)
		f := newFleet(plan, "v1")
		second := plan.Waves[0].Stages[1].Name
		freeze := BlockersFunc(func(ctx context.Context, s Subject, now time.Time) ([]BlockReason, time.Time, error) {
			if s.Stage == second {
				return []BlockReason{{Blocker: "freeze", Reason: "holiday sales event"}}, time.Time{}, nil
			}
			return nil, time.Time{}, nil
		})
		pol := Policy{Blockers: BlockerPolicy{MaxWait: duration.Duration(48 * time.Hour)}}
		r, err := Create(t.Context(), Spec{ID: "frozen", Plan: plan, Version: "v2", Policy: pol}, f, Config{Blockers: freeze})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- r.Run(t.Context()) }()
		p := waitFor(t, r, "the pause", func(p Progress) bool { return p.Paused })
		if p.Hold.Signal != SignalBlocked || !strings.Contains(p.Hold.Reason, "holiday sales event") {
			t.Errorf("hold %+v: want a pause on the blocker that names it", p.Hold)
		}
		for _, id := range stageTargets(plan, plan.Waves[0].Stages[0].Name) {
			if v := f.version(id); v != "v2" {
				t.Errorf("%s runs %s while held, want v2", id, v)
			}
		}
		if err := r.Abort(t.Context(), "alice", "the freeze outlasts the change"); err != nil {
			t.Fatal(err)
		}
		var he *HaltError
		if err := <-done; !errors.As(err, &he) || he.Phase != RolledBack || he.Signal != SignalAbort {
			t.Fatalf("Run = %v, want a rollback on the abort", err)
		}
	})
}
