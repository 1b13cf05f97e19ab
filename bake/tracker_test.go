package bake_test

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/duration"
)

var t0 = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func ok(name string) alarm.Result { return alarm.Result{Name: name, State: alarm.OK} }
func noData(name string) alarm.Result {
	return alarm.Result{Name: name, State: alarm.InsufficientData, Reason: "2 of 3 datapoints missing"}
}
func firing(name string) alarm.Result {
	return alarm.Result{Name: name, State: alarm.Alarm, Reason: "fault rate 4% > 1%"}
}
func mustStart(t *testing.T, p bake.Policy) bake.Tracker {
	t.Helper()
	tr, err := bake.Start(p, t0)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestTrackerUpdate(t *testing.T) {
	type step struct {
		at       time.Duration
		evidence float64
		alarms   []alarm.Result
	}
	tests := []struct {
		name        string
		policy      func(*bake.Policy)
		steps       []step // all but the last must leave the bake baking
		want        bake.Phase
		reason      string // a substring of the final reason
		consequence bake.Consequence
	}{
		{
			name:  "done when time and evidence hold",
			steps: []step{{1 * time.Hour, 10, []alarm.Result{ok("sev2")}}, {12 * time.Hour, 100, []alarm.Result{ok("sev2")}}},
			want:  bake.Done, reason: "baked 12h0m0s (minimum 12h0m0s); evidence: create-requests 100 of 100", consequence: bake.Pass,
		},
		{
			name:  "time alone is not enough",
			steps: []step{{12 * time.Hour, 99, []alarm.Result{ok("sev2")}}, {13 * time.Hour, 100, []alarm.Result{ok("sev2")}}},
			want:  bake.Done, reason: "baked 13h0m0s", consequence: bake.Pass,
		},
		{
			name:  "evidence alone is not enough",
			steps: []step{{time.Hour, 500, []alarm.Result{ok("sev2")}}, {11*time.Hour + 59*time.Minute, 500, []alarm.Result{ok("sev2")}}, {12 * time.Hour, 500, []alarm.Result{ok("sev2")}}},
			want:  bake.Done, consequence: bake.Pass,
		},
		{
			name:  "alarm fails at once",
			steps: []step{{time.Hour, 10, []alarm.Result{ok("sev2")}}, {3 * time.Hour, 40, []alarm.Result{firing("sev2")}}},
			want:  bake.Failed, reason: `alarm "sev2" is in ALARM: fault rate 4% > 1%`, consequence: bake.RollBack,
		},
		{
			name:  "an unwatched alarm in ALARM fails too",
			steps: []step{{3 * time.Hour, 40, []alarm.Result{ok("sev2"), firing("canary")}}},
			want:  bake.Failed, reason: `alarm "canary" is in ALARM`, consequence: bake.RollBack,
		},
		{
			name:  "an unknown state counts as ALARM",
			steps: []step{{3 * time.Hour, 40, []alarm.Result{{Name: "sev2", State: 7}}}},
			want:  bake.Failed, reason: `alarm "sev2" is in an unknown state State(7), treated as ALARM`, consequence: bake.RollBack,
		},
		{
			name:  "a watched alarm that does not report holds the bake",
			steps: []step{{12 * time.Hour, 100, nil}, {24 * time.Hour, 100, nil}},
			want:  bake.Inconclusive, reason: `alarms not OK: "sev2" did not report; consequence: roll back`, consequence: bake.RollBack,
		},
		{
			name:  "insufficient data holds the bake by default",
			steps: []step{{12 * time.Hour, 100, []alarm.Result{noData("sev2")}}, {13 * time.Hour, 100, []alarm.Result{ok("sev2")}}},
			want:  bake.Done, consequence: bake.Pass,
		},
		{
			name:   "insufficient data fails when configured",
			policy: func(p *bake.Policy) { p.OnInsufficientData = bake.FailWithoutData },
			steps:  []step{{time.Hour, 1, []alarm.Result{noData("sev2")}}},
			want:   bake.Failed, reason: `alarm "sev2" is in INSUFFICIENT_DATA: 2 of 3 datapoints missing`, consequence: bake.RollBack,
		},
		{
			name:   "insufficient data ignored when configured",
			policy: func(p *bake.Policy) { p.OnInsufficientData = bake.IgnoreMissingData },
			steps:  []step{{12 * time.Hour, 100, []alarm.Result{noData("sev2")}}},
			want:   bake.Done, consequence: bake.Pass,
		},
		{
			name:  "low traffic ends inconclusive at the maximum",
			steps: []step{{12 * time.Hour, 40, []alarm.Result{ok("sev2")}}, {24 * time.Hour, 72, []alarm.Result{ok("sev2")}}},
			want:  bake.Inconclusive, reason: "no conclusion after 24h0m0s of bake (the maximum); evidence short: create-requests 72 of 100 (28 to go); consequence: roll back", consequence: bake.RollBack,
		},
		{
			name:   "inconclusive may pause for a human",
			policy: func(p *bake.Policy) { p.OnInconclusive = bake.Pause },
			steps:  []step{{24 * time.Hour, 72, []alarm.Result{ok("sev2")}}},
			want:   bake.Inconclusive, reason: "consequence: pause for a human", consequence: bake.Pause,
		},
		{
			name:  "a late update that finds everything met is done",
			steps: []step{{30 * time.Hour, 100, []alarm.Result{ok("sev2")}}},
			want:  bake.Done, consequence: bake.Pass,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := bake.Policy{
				MinDuration: duration.Duration(12 * time.Hour),
				MaxDuration: duration.Duration(24 * time.Hour),
				Evidence:    []bake.Requirement{{Name: "create-requests", Query: "create", Min: 100}},
				Alarms:      []string{"sev2"},
			}
			if tt.policy != nil {
				tt.policy(&p)
			}
			tr := mustStart(t, p)
			var st bake.Status
			for i, s := range tt.steps {
				var err error
				st, err = tr.Update(at(s.at), []float64{s.evidence}, s.alarms)
				if err != nil {
					t.Fatal(err)
				}
				if i < len(tt.steps)-1 && st.Phase != bake.Baking {
					t.Fatalf("step %d at %v: %v, want baking", i, s.at, st)
				}
			}
			last := tt.steps[len(tt.steps)-1]
			if st.Phase != tt.want || st.Consequence != tt.consequence || !st.Ended.Equal(at(last.at)) {
				t.Fatalf("final status %v (consequence %q, ended %v); want %v, %q, ended at %v",
					st, st.Consequence, st.Ended.Sub(t0), tt.want, tt.consequence, last.at)
			}
			if !strings.Contains(st.Reason, tt.reason) {
				t.Errorf("Reason %q lacks %q", st.Reason, tt.reason)
			}
			// An ended bake stays ended, whatever comes next.
			again, err := tr.Update(at(100*time.Hour), []float64{0}, []alarm.Result{firing("sev2")})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(st, again); diff != "" {
				t.Errorf("update after the end changed the status (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTrackerBakingStatus(t *testing.T) {
	p := bake.Policy{
		MinDuration:  duration.Duration(12 * time.Hour),
		MaxDuration:  duration.Duration(24 * time.Hour),
		PollInterval: duration.Duration(10 * time.Minute),
		Evidence: []bake.Requirement{
			{Name: "create-requests", Query: "create", Min: 100},
			{Name: "list-requests", Query: "list", Min: 10},
		},
	}
	tr := mustStart(t, p)
	ev := []float64{40, 12}
	got, err := tr.Update(at(3*time.Hour), ev, nil)
	if err != nil {
		t.Fatal(err)
	}
	reqs := tr.Policy.Evidence
	want := bake.Status{
		Phase:         bake.Baking,
		Reason:        "waiting for the minimum time and evidence",
		Baked:         3 * time.Hour,
		MinDuration:   12 * time.Hour,
		MaxDuration:   24 * time.Hour,
		TimeRemaining: 9 * time.Hour,
		EarliestEnd:   at(12 * time.Hour),
		Deadline:      at(24 * time.Hour),
		NextCheck:     at(3*time.Hour + 10*time.Minute),
		Evidence:      bake.Evidence{Requirements: reqs, Have: ev},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	wantProgress := []bake.Progress{
		{Name: "create-requests", Have: 40, Need: 100, Remaining: 60},
		{Name: "list-requests", Have: 12, Need: 10, Remaining: 0},
	}
	var gotProgress []bake.Progress
	for i := range got.Evidence.Len() {
		gotProgress = append(gotProgress, got.Evidence.At(i))
	}
	if diff := cmp.Diff(wantProgress, gotProgress); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}
	wantLine := "baking: waiting for the minimum time and evidence; baked 3h0m0s of 12h0m0s; " +
		"evidence: create-requests 40 of 100 (60 to go), list-requests 12 of 10"
	if diff := cmp.Diff(wantLine, got.String()); diff != "" {
		t.Errorf("String (-want +got):\n%s", diff)
	}
	// Five minutes before the minimum, the next check is the minimum.
	got, _ = tr.Update(at(12*time.Hour-5*time.Minute), []float64{100, 12}, nil)
	if !got.NextCheck.Equal(at(12*time.Hour)) || got.Reason != "waiting for the minimum time" {
		t.Errorf("at 11h55m: next check %v, reason %q", got.NextCheck.Sub(t0), got.Reason)
	}
}

func TestTrackerPauseResume(t *testing.T) {
	p := bake.Policy{
		MinDuration: duration.Duration(12 * time.Hour),
		Evidence:    []bake.Requirement{{Name: "create-requests", Query: "create", Min: 100}},
	}
	tr := mustStart(t, p)
	update := func(d time.Duration, ev float64) bake.Status {
		t.Helper()
		st, err := tr.Update(at(d), []float64{ev}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	update(time.Hour, 10)
	if err := tr.Pause(at(3 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Pausing again does not move the start of the pause.
	if err := tr.Pause(at(4 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	st := update(5*time.Hour, 500)
	if !st.Paused || st.Baked != 3*time.Hour || st.PausedFor != 2*time.Hour ||
		!st.EarliestEnd.IsZero() || !st.Deadline.IsZero() || st.Reason != "paused; time paused is not counted" {
		t.Fatalf("while paused: %+v", st)
	}
	// A paused bake cannot end, even with time and evidence met...
	if st := update(30*time.Hour, 500); st.Phase != bake.Baking {
		t.Fatalf("paused bake ended: %v", st)
	}
	tr2 := tr // a copy, to resume at a different time
	if err := tr.Resume(at(5*time.Hour + 10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := tr.Resume(at(6 * time.Hour)); err != nil { // not paused: no-op
		t.Fatal(err)
	}
	st = update(12*time.Hour, 500)
	if st.Paused || st.Baked != 9*time.Hour+50*time.Minute || st.PausedFor != 2*time.Hour+10*time.Minute ||
		st.TimeRemaining != 2*time.Hour+10*time.Minute || !st.EarliestEnd.Equal(at(14*time.Hour+10*time.Minute)) {
		t.Fatalf("after resuming: %+v", st)
	}
	if s := st.String(); !strings.Contains(s, "paused 2h10m0s, not counted") {
		t.Errorf("String %q does not report the pause", s)
	}
	st = update(14*time.Hour+10*time.Minute, 500)
	want := "baked 12h0m0s (minimum 12h0m0s), paused 2h10m0s, not counted; evidence: create-requests 500 of 100"
	if st.Phase != bake.Done || st.Reason != want {
		t.Fatalf("final: %v, want done: %s", st, want)
	}
	// ...but an alarm fails it while paused: the change is still deployed.
	if _, err := tr2.Update(at(6*time.Hour), []float64{0}, []alarm.Result{firing("sev2")}); err != nil {
		t.Fatal(err)
	}
	if tr2.Phase != bake.Failed || !tr2.PausedAt.IsZero() || tr2.PausedFor != duration.Duration(3*time.Hour) {
		t.Fatalf("alarm while paused: %+v", tr2)
	}
	// Pause and resume on an ended bake do nothing.
	before := tr
	if tr.Pause(at(20*time.Hour)) != nil || tr.Resume(at(21*time.Hour)) != nil {
		t.Fatal("pause/resume on an ended bake returned an error")
	}
	if diff := cmp.Diff(before, tr); diff != "" {
		t.Errorf("pause/resume changed an ended bake (-want +got):\n%s", diff)
	}
}

func TestTrackerReadFailed(t *testing.T) {
	tr := mustStart(t, bake.Policy{MaxReadErrors: 2})
	boom := errors.New("503 from the metrics server")
	st, err := tr.ReadFailed(at(time.Minute), boom)
	if err != nil || st.Phase != bake.Baking || st.ReadErrors != 1 {
		t.Fatalf("first failure: %v, %v", st, err)
	}
	// A good read resets the count...
	if _, err := tr.Update(at(2*time.Minute), nil, nil); err != nil || tr.ReadErrors != 0 {
		t.Fatalf("good read: %v, %d errors", err, tr.ReadErrors)
	}
	tr.ReadFailed(at(3*time.Minute), boom)
	st, _ = tr.ReadFailed(at(4*time.Minute), boom)
	want := "could not read evidence or alarms 2 time(s) in a row: 503 from the metrics server"
	if st.Phase != bake.Failed || st.Reason != want || !st.Ended.Equal(at(4*time.Minute)) {
		t.Fatalf("second failure in a row: %v, want failed: %s", st, want)
	}
	// ...and a failed read never lets a bake pass.
	tr = mustStart(t, bake.Policy{})
	if st, _ := tr.ReadFailed(at(5*time.Hour), boom); st.Phase != bake.Baking {
		t.Fatalf("read failure after the maximum: %v, want still baking", st)
	}
}

func TestTrackerErrors(t *testing.T) {
	var zero bake.Tracker
	if _, err := zero.Update(t0, nil, nil); !errors.Is(err, bake.ErrNotStarted) {
		t.Errorf("Update on zero tracker = %v", err)
	}
	if err := zero.Pause(t0); !errors.Is(err, bake.ErrNotStarted) {
		t.Errorf("Pause on zero tracker = %v", err)
	}
	if _, err := zero.ReadFailed(t0, nil); !errors.Is(err, bake.ErrNotStarted) {
		t.Errorf("ReadFailed on zero tracker = %v", err)
	}
	if err := zero.Fail(t0, "x"); !errors.Is(err, bake.ErrNotStarted) {
		t.Errorf("Fail on zero tracker = %v", err)
	}
	if _, err := bake.Start(bake.Policy{}, time.Time{}); err == nil {
		t.Error("Start at the zero time succeeded")
	}
	if _, err := bake.Start(bake.Policy{}, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)); !errors.Is(err, bake.ErrTime) {
		t.Errorf("Start after the year 9999 = %v, want ErrTime", err)
	}
	running := mustStart(t, bake.Policy{})
	if _, err := running.Update(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), nil, nil); !errors.Is(err, bake.ErrTime) {
		t.Errorf("Update after the year 9999 = %v, want ErrTime", err)
	}
	if _, err := bake.Start(bake.Policy{MinDuration: -1}, t0); err == nil {
		t.Error("Start with an invalid policy succeeded")
	}

	tr := mustStart(t, bake.Policy{Evidence: []bake.Requirement{{Query: "create", Min: 1}}})
	before := tr
	for _, ev := range [][]float64{nil, {1, 2}, {-1}, {math.NaN()}, {math.Inf(1)}} {
		if _, err := tr.Update(at(time.Hour), ev, []alarm.Result{firing("x")}); !errors.Is(err, bake.ErrEvidence) {
			t.Errorf("Update(%v) error = %v, want ErrEvidence", ev, err)
		}
	}
	if diff := cmp.Diff(before, tr); diff != "" {
		t.Errorf("bad evidence changed the tracker (-want +got):\n%s", diff)
	}
}

func TestTrackerJSONRoundTrip(t *testing.T) {
	p := bake.Policy{
		MinDuration: duration.Duration(12 * time.Hour),
		Evidence:    []bake.Requirement{{Name: "create-requests", Query: "create", Min: 100}},
		Alarms:      []string{"sev2"},
	}
	tr := mustStart(t, p)
	tr.Update(at(time.Hour), []float64{10}, []alarm.Result{ok("sev2")})
	tr.Pause(at(2 * time.Hour))
	tr.Resume(at(3 * time.Hour))
	tr.ReadFailed(at(4*time.Hour), errors.New("timeout"))
	tr.Pause(at(5 * time.Hour))

	b, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	var back bake.Tracker
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tr, back); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	// The readable form a reviewer sees in a persisted state.
	for _, s := range []string{`"phase":"baking"`, `"minDuration":"12h0m0s"`, `"pausedFor":"1h0m0s"`,
		`"pausedAt":"2025-03-03T14:00:00Z"`, `"readErrors":1`, `"onInconclusive":"rollback"`} {
		if !strings.Contains(string(b), s) {
			t.Errorf("JSON %s lacks %s", b, s)
		}
	}
	// The original and the decoded copy go on identically.
	for _, x := range []*bake.Tracker{&tr, &back} {
		x.Resume(at(6 * time.Hour))
	}
	st1, _ := tr.Update(at(14*time.Hour), []float64{100}, []alarm.Result{ok("sev2")})
	st2, _ := back.Update(at(14*time.Hour), []float64{100}, []alarm.Result{ok("sev2")})
	if diff := cmp.Diff(st1, st2); diff != "" {
		t.Errorf("resumed copy diverged (-want +got):\n%s", diff)
	}
	if st1.Phase != bake.Done || st1.PausedFor != 2*time.Hour {
		t.Errorf("final %v, want done with 2h paused", st1)
	}
	// An ended tracker round-trips too, with its evidence.
	b, _ = json.Marshal(tr)
	back = bake.Tracker{}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tr, back); diff != "" {
		t.Errorf("ended round trip (-want +got):\n%s", diff)
	}
}

func TestTrackerUnmarshalRejectsBadState(t *testing.T) {
	good := `{"policy":{},"phase":"baking","started":"2025-03-03T09:00:00Z"}`
	var tr bake.Tracker
	if err := json.Unmarshal([]byte(good), &tr); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		json, field string
	}{
		{`{"policy":{},"phase":"baking"}`, "Started"},
		{`{"policy":{},"phase":"done","started":"2025-03-03T09:00:00Z"}`, "Ended"},
		{`{"policy":{},"phase":"baking","started":"2025-03-03T09:00:00Z","pausedAt":"2025-03-03T08:00:00Z"}`, "PausedAt"},
		{`{"policy":{},"phase":"baking","started":"2025-03-03T09:00:00Z","pausedFor":"-1h"}`, "PausedFor"},
		{`{"policy":{},"phase":"done","started":"2025-03-03T09:00:00Z","ended":"2025-03-03T10:00:00Z","evidence":[1]}`, "Evidence"},
		{`{"policy":{"minDuration":"-1h"},"phase":"baking","started":"2025-03-03T09:00:00Z"}`, "Policy.MinDuration"},
		{`{"policy":{},"phase":"melting"}`, "unknown phase"},
	}
	for _, tt := range tests {
		before := tr
		err := json.Unmarshal([]byte(tt.json), &tr)
		if err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("Unmarshal(%s) = %v, want an error naming %s", tt.json, err, tt.field)
		}
		if diff := cmp.Diff(before, tr); diff != "" {
			t.Errorf("failed Unmarshal changed the tracker (-want +got):\n%s", diff)
		}
	}
}

// TestTrackerProperties drives random sequences of updates, pauses,
// resumes and failed reads, with time moving forward, and checks the
// invariants every status must keep.
func TestTrackerProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2))
	for run := range 500 {
		p := bake.Policy{
			MinDuration:        duration.Duration(time.Duration(1+rng.IntN(12)) * time.Hour),
			Evidence:           []bake.Requirement{{Query: "q", Min: float64(1 + rng.IntN(100))}},
			Alarms:             []string{"a"},
			OnInsufficientData: []bake.DataTreatment{"", bake.FailWithoutData, bake.IgnoreMissingData}[rng.IntN(3)],
		}
		p.MaxDuration = p.MinDuration + duration.Duration(time.Duration(rng.IntN(12))*time.Hour)
		tr := mustStart(t, p)
		now, ev, paused := t0, 0.0, time.Duration(0)
		var pausedAt time.Time
		for step := 0; step < 60 && tr.Phase == bake.Baking; step++ {
			now = now.Add(time.Duration(rng.IntN(120)) * time.Minute)
			ev += float64(rng.IntN(10))
			switch rng.IntN(10) {
			case 0:
				if pausedAt.IsZero() {
					pausedAt = now
				}
				tr.Pause(now)
				continue
			case 1:
				if !pausedAt.IsZero() {
					paused += now.Sub(pausedAt)
					pausedAt = time.Time{}
				}
				tr.Resume(now)
				continue
			case 2:
				tr.ReadFailed(now, errors.New("x"))
				continue
			}
			state := []alarm.State{alarm.OK, alarm.OK, alarm.OK, alarm.OK, alarm.InsufficientData, alarm.Alarm}[rng.IntN(6)]
			if rng.IntN(10) != 0 {
				state = alarm.OK
			}
			st, err := tr.Update(now, []float64{ev}, []alarm.Result{{Name: "a", State: state}})
			if err != nil {
				t.Fatal(err)
			}
			wantPaused := paused
			if !pausedAt.IsZero() {
				wantPaused += now.Sub(pausedAt)
			}
			if st.PausedFor != wantPaused || st.Baked+st.PausedFor != now.Sub(t0) {
				t.Fatalf("run %d: baked %v + paused %v != elapsed %v (want paused %v)", run, st.Baked, st.PausedFor, now.Sub(t0), wantPaused)
			}
			switch st.Phase {
			case bake.Done:
				if st.Baked < p.MinDuration.Std() || ev < p.Evidence[0].Min || state == alarm.Alarm || st.Paused {
					t.Fatalf("run %d: done too early: %v", run, st)
				}
			case bake.Inconclusive:
				if st.Baked < p.MaxDuration.Std() || st.Consequence != bake.RollBack {
					t.Fatalf("run %d: inconclusive before the maximum: %v", run, st)
				}
			case bake.Failed:
				if state == alarm.OK {
					t.Fatalf("run %d: failed with the alarm OK: %v", run, st)
				}
			case bake.Baking:
				if state == alarm.Alarm {
					t.Fatalf("run %d: still baking with the alarm firing", run)
				}
				if st.TimeRemaining != max(p.MinDuration.Std()-st.Baked, 0) {
					t.Fatalf("run %d: time remaining %v with %v baked", run, st.TimeRemaining, st.Baked)
				}
				if !st.Paused && (!st.NextCheck.After(now) || st.NextCheck.After(st.Deadline) && st.Deadline.After(now)) {
					t.Fatalf("run %d: next check %v, deadline %v, now %v", run, st.NextCheck, st.Deadline, now)
				}
			}
		}
	}
}
