package bake_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/duration"
)

const createQuery = `sum(increase(http_requests_total{api="Create"}[1m]))`

// twelveHours is the acceptance policy: 12 hours AND 100 Create requests,
// watched by one alarm, giving up after a day.
func twelveHours() bake.Policy {
	return bake.Policy{
		MinDuration: duration.Duration(12 * time.Hour),
		MaxDuration: duration.Duration(24 * time.Hour),
		Evidence:    []bake.Requirement{{Name: "create-requests", Query: createQuery, Min: 100}},
		Alarms:      []string{"high-severity"},
	}
}

// okAlarm is a checker that always reports OK.
var okAlarm = alarm.CheckerFunc(func(_ context.Context, now time.Time) (alarm.Result, error) {
	return alarm.Result{State: alarm.OK, Reason: "all metrics within thresholds", Time: now}, nil
})

// hourly records perHour requests at the end of each of the first hours
// hours after start.
func hourly(src *alarm.Memory, start time.Time, hours int, perHour float64) {
	for h := 1; h <= hours; h++ {
		src.Record(createQuery, start.Add(time.Duration(h)*time.Hour), perHour, 0)
	}
}

// recorder keeps every status Wait reports.
type recorder struct{ statuses []bake.Status }

func (r *recorder) progress(st bake.Status) { r.statuses = append(r.statuses, st) }

func TestWaitEndsWhenTimeAndEvidenceBothHold(t *testing.T) {
	tests := []struct {
		name      string
		perHour   float64
		hours     int
		wantEnd   time.Duration // after the start
		wantShort string        // the reason while only one condition holds
	}{
		// 50 requests an hour: 100 by hour 2, then the bake waits for time.
		{name: "evidence first", perHour: 50, hours: 24, wantEnd: 12 * time.Hour,
			wantShort: "waiting for the minimum time"},
		// 5 requests an hour: 12 hours pass with 60, 100 arrive at hour 20.
		{name: "time first", perHour: 5, hours: 24, wantEnd: 20 * time.Hour,
			wantShort: "waiting for evidence"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				src := &alarm.Memory{}
				hourly(src, start, tt.hours, tt.perHour)
				tr, err := bake.Start(twelveHours(), start)
				if err != nil {
					t.Fatal(err)
				}
				var rec recorder
				st, err := bake.Wait(t.Context(), &tr, src,
					map[string]alarm.Checker{"high-severity": okAlarm}, rec.progress)
				if err != nil {
					t.Fatal(err)
				}
				end := start.Add(tt.wantEnd)
				if st.Phase != bake.Done || !st.Ended.Equal(end) || !time.Now().Equal(end) {
					t.Fatalf("Wait = %v ended %v at %v; want done at %v", st.Phase, st.Ended.Sub(start), time.Since(start), tt.wantEnd)
				}
				if st.Consequence != bake.Pass {
					t.Errorf("Consequence = %q, want %q", st.Consequence, bake.Pass)
				}
				if st.Evidence.At(0).Have < 100 || st.Baked < 12*time.Hour {
					t.Errorf("done with %v baked and %v evidence", st.Baked, st.Evidence.At(0))
				}
				// Not before: every earlier status was baking, and the
				// last one before the end was short of exactly one thing.
				n := len(rec.statuses)
				for _, s := range rec.statuses[:n-1] {
					if s.Phase != bake.Baking {
						t.Fatalf("status before the end: %v", s)
					}
				}
				prev := rec.statuses[n-2]
				if prev.Reason != tt.wantShort {
					t.Errorf("reason just before the end = %q, want %q", prev.Reason, tt.wantShort)
				}
				if !strings.Contains(st.Reason, "create-requests") {
					t.Errorf("Reason %q does not name the evidence", st.Reason)
				}
			})
		})
	}
}

func TestWaitPollsAtTheEarliestEnd(t *testing.T) {
	// A 90-second bake polled every minute ends at 90s, not at 2m.
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		tr, err := bake.Start(bake.Policy{MinDuration: duration.Duration(90 * time.Second)}, start)
		if err != nil {
			t.Fatal(err)
		}
		st, err := bake.Wait(t.Context(), &tr, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if st.Phase != bake.Done || time.Since(start) != 90*time.Second {
			t.Fatalf("Wait = %v after %v, want done after 1m30s", st, time.Since(start))
		}
	})
}

func TestWaitAlarmAtHourThreeEndsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		src := &alarm.Memory{}
		hourly(src, start, 24, 50)
		const why = "p99 latency 1.2s > 1s in 3 of 3 datapoints"
		latency := alarm.CheckerFunc(func(_ context.Context, now time.Time) (alarm.Result, error) {
			if now.Sub(start) >= 3*time.Hour {
				return alarm.Result{State: alarm.Alarm, Reason: why, Time: now}, nil
			}
			return alarm.Result{State: alarm.OK, Reason: "p99 latency 0.2s", Time: now}, nil
		})
		tr, err := bake.Start(twelveHours(), start)
		if err != nil {
			t.Fatal(err)
		}
		st, err := bake.Wait(t.Context(), &tr, src,
			map[string]alarm.Checker{"high-severity": latency}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if time.Since(start) != 3*time.Hour {
			t.Errorf("Wait returned after %v, want 3h", time.Since(start))
		}
		want := `alarm "high-severity" is in ALARM: ` + why
		if diff := cmp.Diff(want, st.Reason); diff != "" {
			t.Errorf("Reason (-want +got):\n%s", diff)
		}
		if st.Phase != bake.Failed || st.Consequence != bake.RollBack || tr.Phase != bake.Failed {
			t.Errorf("status %v (consequence %q), tracker %v; want failed, roll back", st.Phase, st.Consequence, tr.Phase)
		}
		if st.Baked != 3*time.Hour {
			t.Errorf("Baked = %v, want 3h", st.Baked)
		}
	})
}

func TestWaitLowTrafficEndsInconclusive(t *testing.T) {
	tests := []struct {
		on   bake.Consequence
		want bake.Consequence
		word string
	}{
		{on: "", want: bake.RollBack, word: "consequence: roll back"},
		{on: bake.RollBack, want: bake.RollBack, word: "consequence: roll back"},
		{on: bake.Pass, want: bake.Pass, word: "consequence: pass"},
		{on: bake.Pause, want: bake.Pause, word: "consequence: pause for a human"},
	}
	for _, tt := range tests {
		t.Run(string(tt.want)+"/"+string(tt.on), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				src := &alarm.Memory{}
				hourly(src, start, 48, 3) // 72 requests in 24 hours
				p := twelveHours()
				p.OnInconclusive = tt.on
				tr, err := bake.Start(p, start)
				if err != nil {
					t.Fatal(err)
				}
				st, err := bake.Wait(t.Context(), &tr, src,
					map[string]alarm.Checker{"high-severity": okAlarm}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if st.Phase != bake.Inconclusive || time.Since(start) != 24*time.Hour {
					t.Fatalf("Wait = %v after %v, want inconclusive after 24h", st.Phase, time.Since(start))
				}
				if st.Consequence != tt.want {
					t.Errorf("Consequence = %q, want %q", st.Consequence, tt.want)
				}
				for _, w := range []string{"24h0m0s", "create-requests 72 of 100 (28 to go)", tt.word} {
					if !strings.Contains(st.Reason, w) {
						t.Errorf("Reason %q lacks %q", st.Reason, w)
					}
				}
			})
		})
	}
}

func TestWaitReadErrorsFailClosed(t *testing.T) {
	boom := errors.New("connection refused")
	tests := []struct {
		name      string
		maxErrors int
		failFor   time.Duration // the source fails from hour 1 for this long
		want      bake.Phase
		wantAfter time.Duration
	}{
		{name: "two failed reads are tolerated", failFor: 2 * time.Minute, want: bake.Done, wantAfter: 12 * time.Hour},
		{name: "three in a row fail the bake", failFor: time.Hour, want: bake.Failed, wantAfter: time.Hour + 2*time.Minute},
		{name: "one is enough when configured", maxErrors: 1, failFor: time.Hour, want: bake.Failed, wantAfter: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				src := &alarm.Memory{}
				hourly(src, start, 24, 50)
				flaky := alarm.SourceFunc(func(ctx context.Context, q string, r alarm.Range) (alarm.Series, error) {
					if since := r.End.Sub(start) - time.Hour; since >= 0 && since < tt.failFor {
						return alarm.Series{}, boom
					}
					return src.Query(ctx, q, r)
				})
				p := twelveHours()
				p.MaxReadErrors = tt.maxErrors
				tr, err := bake.Start(p, start)
				if err != nil {
					t.Fatal(err)
				}
				var rec recorder
				st, err := bake.Wait(t.Context(), &tr, flaky,
					map[string]alarm.Checker{"high-severity": okAlarm}, rec.progress)
				if err != nil {
					t.Fatal(err)
				}
				if st.Phase != tt.want || time.Since(start) != tt.wantAfter {
					t.Fatalf("Wait = %v after %v, want %v after %v", st, time.Since(start), tt.want, tt.wantAfter)
				}
				if st.Phase == bake.Failed && !strings.Contains(st.Reason, "connection refused") {
					t.Errorf("Reason %q does not carry the error", st.Reason)
				}
				var sawError bool
				for _, s := range rec.statuses {
					if s.ReadErrors > 0 && s.Phase == bake.Baking {
						sawError = true
						if !strings.Contains(s.Reason, "connection refused") {
							t.Errorf("progress reason %q does not carry the error", s.Reason)
						}
					}
				}
				if tt.want == bake.Done && !sawError {
					t.Error("no progress report showed the failed reads")
				}
			})
		})
	}
}

func TestWaitAlarmWinsOverAFailedRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		broken := alarm.SourceFunc(func(context.Context, string, alarm.Range) (alarm.Series, error) {
			return alarm.Series{}, errors.New("timeout")
		})
		firing := alarm.CheckerFunc(func(_ context.Context, now time.Time) (alarm.Result, error) {
			return alarm.Result{State: alarm.Alarm, Reason: "5xx rate 9%", Time: now}, nil
		})
		tr, _ := bake.Start(twelveHours(), start)
		st, err := bake.Wait(t.Context(), &tr, broken, map[string]alarm.Checker{"high-severity": firing}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if st.Phase != bake.Failed || !strings.Contains(st.Reason, "5xx rate 9%") || time.Since(start) != 0 {
			t.Fatalf("Wait = %v after %v, want failed at once on the alarm", st, time.Since(start))
		}
	})
}

func TestWaitCancelledThenResumed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		src := &alarm.Memory{}
		hourly(src, start, 24, 50)
		tr, _ := bake.Start(twelveHours(), start)
		checkers := map[string]alarm.Checker{"high-severity": okAlarm}

		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Hour)
		defer cancel()
		st, err := bake.Wait(ctx, &tr, src, checkers, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait error = %v, want deadline exceeded", err)
		}
		if st.Phase != bake.Baking || tr.Phase != bake.Baking || time.Since(start) != 5*time.Hour {
			t.Fatalf("after cancel: status %v, tracker %v at %v", st.Phase, tr.Phase, time.Since(start))
		}
		// Pause for two hours, as an operator might, then wait again.
		if err := tr.Pause(time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := bake.Wait(t.Context(), &tr, src, checkers, nil); !errors.Is(err, bake.ErrPaused) {
			t.Fatalf("Wait on a paused tracker = %v, want ErrPaused", err)
		}
		time.Sleep(2 * time.Hour)
		if err := tr.Resume(time.Now()); err != nil {
			t.Fatal(err)
		}
		st, err = bake.Wait(t.Context(), &tr, src, checkers, nil)
		if err != nil {
			t.Fatal(err)
		}
		if st.Phase != bake.Done || time.Since(start) != 14*time.Hour || st.PausedFor != 2*time.Hour {
			t.Fatalf("Wait = %v after %v; want done after 14h with 2h paused", st, time.Since(start))
		}
		if !strings.Contains(st.Reason, "paused 2h0m0s, not counted") {
			t.Errorf("Reason %q does not report the pause", st.Reason)
		}
	})
}

func TestWaitBadArguments(t *testing.T) {
	start := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	started := func() *bake.Tracker {
		tr, err := bake.Start(twelveHours(), start)
		if err != nil {
			t.Fatal(err)
		}
		return &tr
	}
	ok := map[string]alarm.Checker{"high-severity": okAlarm}
	tests := []struct {
		name     string
		tr       *bake.Tracker
		src      alarm.Source
		checkers map[string]alarm.Checker
		want     error
	}{
		{"nil tracker", nil, &alarm.Memory{}, ok, bake.ErrNotStarted},
		{"zero tracker", &bake.Tracker{}, &alarm.Memory{}, ok, bake.ErrNotStarted},
		{"no checker for a watched alarm", started(), &alarm.Memory{}, nil, bake.ErrNoChecker},
		{"no source for required evidence", started(), nil, ok, bake.ErrNoSource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bake.Wait(t.Context(), tt.tr, tt.src, tt.checkers, nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Wait error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestWaitOnEndedTrackerReturnsItsOutcome(t *testing.T) {
	start := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	tr, _ := bake.Start(bake.Policy{}, start)
	if err := tr.Fail(start.Add(time.Minute), "bad config spotted by hand"); err != nil {
		t.Fatal(err)
	}
	st, err := bake.Wait(t.Context(), &tr, nil, nil, nil)
	if err != nil || st.Phase != bake.Failed || st.Reason != "bad config spotted by hand" {
		t.Fatalf("Wait = %v, %v; want the failed outcome", st, err)
	}
}

func TestMeasure(t *testing.T) {
	start := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	src := &alarm.Memory{}
	src.Add("create", alarm.Point{Time: start.Add(-time.Minute), Value: 1000}, // before the bake
		alarm.Point{Time: start, Value: 3, Samples: 30},
		alarm.Point{Time: start.Add(time.Minute), Value: 4, Samples: 40},
		alarm.Point{Time: start.Add(2 * time.Minute), Value: -1, Samples: -5},
		alarm.Point{Time: start.Add(3 * time.Minute), Value: 5, Samples: 50},
		alarm.Point{Time: start.Add(time.Hour), Value: 1000}) // after now
	reqs := []bake.Requirement{
		{Name: "values", Query: "create", Min: 1},
		{Name: "samples", Query: "create", Min: 1, Count: bake.CountSamples},
	}
	got, err := bake.Measure(t.Context(), src, reqs, start, start.Add(10*time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]float64{11, 120}, got); diff != "" {
		t.Errorf("Measure (-want +got):\n%s", diff)
	}
	src.SetError("create", errors.New("down"))
	if _, err := bake.Measure(t.Context(), src, reqs, start, start.Add(time.Minute), nil); err == nil ||
		!strings.Contains(err.Error(), `bake: evidence "values"`) {
		t.Errorf("Measure error = %v, want one naming the requirement", err)
	}
}
