package bake_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/bake"
)

// exercise drives a tracker through every method at times around its
// start, checking that nothing panics and that the basic invariants hold.
func exercise(t *testing.T, tr bake.Tracker, seed uint64) {
	t.Helper()
	base := tr.Started
	if base.IsZero() {
		base = t0
	}
	evidence := make([]float64, len(tr.Policy.Evidence))
	states := []alarm.State{alarm.OK, alarm.InsufficientData, alarm.Alarm, 9}
	for i := range 8 {
		now := base.Add(time.Duration(int64(seed>>(i*4))%16-2) * time.Hour)
		for j := range evidence {
			evidence[j] += float64(seed % 97)
		}
		var results []alarm.Result
		for _, name := range tr.Policy.Alarms {
			results = append(results, alarm.Result{Name: name, State: states[(seed>>i)%3]})
		}
		var st bake.Status
		var err error
		switch (seed >> (i * 2)) % 5 {
		case 0:
			err = tr.Pause(now)
		case 1:
			err = tr.Resume(now)
		case 2:
			st, err = tr.ReadFailed(now, errors.New("x"))
		default:
			st, err = tr.Update(now, evidence, results)
		}
		if err != nil {
			if tr.Phase != bake.NotStarted && !errors.Is(err, bake.ErrEvidence) && !errors.Is(err, bake.ErrTime) {
				t.Fatalf("step %d: %v", i, err)
			}
			continue
		}
		if st.Baked < 0 || st.PausedFor < 0 || st.TimeRemaining < 0 {
			t.Fatalf("step %d: negative duration in %+v", i, st)
		}
		if st.Phase == bake.Done && (st.Baked < st.MinDuration || !st.Evidence.Met()) {
			t.Fatalf("step %d: done without time or evidence: %+v", i, st)
		}
		_ = st.String()
	}
	if err := tr.Validate(); err != nil {
		t.Fatalf("tracker invalid after use: %v", err)
	}
	if _, err := json.Marshal(tr); err != nil {
		t.Fatalf("tracker does not encode after use: %v", err)
	}
}

// FuzzPolicyJSON decodes arbitrary policy JSON: validation must never
// panic, a valid policy must re-encode to a fixed point and start a
// tracker that survives any sequence of calls.
func FuzzPolicyJSON(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"minDuration":"12h","maxDuration":"24h","evidence":[{"name":"create-requests","query":"create","min":100}],"alarms":["sev2"]}`,
		`{"minDuration":"1h","maxDuration":"1h","onInconclusive":"pass","onInsufficientData":"fail","pollInterval":"10s","maxReadErrors":1}`,
		`{"evidence":[{"query":"q","min":1,"count":"samples","step":"30s"},{"query":"r","min":0.5}]}`,
		`{"minDuration":"-1h","maxDuration":"1ns","evidence":[{"min":-1,"count":"x"}],"alarms":["",""]}`,
		`{"minDuration":9223372036854775807}`,
		`{"onInconclusive":"shrug"}`,
		`null`,
	} {
		f.Add([]byte(s), uint64(0x9e3779b97f4a7c15))
	}
	f.Fuzz(func(t *testing.T, b []byte, seed uint64) {
		var p bake.Policy
		if err := json.Unmarshal(b, &p); err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			if _, serr := bake.Start(p, t0); serr == nil {
				t.Fatalf("Start accepted a policy that fails Validate: %v", err)
			}
			return
		}
		once, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var again bake.Policy
		if err := json.Unmarshal(once, &again); err != nil {
			t.Fatal(err)
		}
		twice, _ := json.Marshal(again)
		if !bytes.Equal(once, twice) {
			t.Fatalf("not a fixed point:\n%s\n%s", once, twice)
		}
		if err := p.WithDefaults().Validate(); err != nil {
			t.Fatalf("defaults made a valid policy invalid: %v", err)
		}
		tr, err := bake.Start(p, t0)
		if err != nil {
			t.Fatal(err)
		}
		exercise(t, tr, seed)
	})
}

// FuzzTrackerJSON decodes arbitrary tracker state, as a driver resuming
// after a crash would: decoding validates, and any state that decodes
// must survive every method and encode again.
func FuzzTrackerJSON(f *testing.F) {
	tr, _ := bake.Start(twelveHours(), t0)
	tr.Update(t0.Add(time.Hour), []float64{10}, []alarm.Result{{Name: "high-severity", State: alarm.OK}})
	tr.Pause(t0.Add(2 * time.Hour))
	running, _ := json.Marshal(tr)
	tr.Resume(t0.Add(3 * time.Hour))
	tr.Update(t0.Add(14*time.Hour), []float64{100}, []alarm.Result{{Name: "high-severity", State: alarm.OK}})
	ended, _ := json.Marshal(tr)
	for _, s := range []string{
		string(running),
		string(ended),
		`{}`,
		`{"policy":{},"phase":"baking","started":"2025-03-03T09:00:00Z","readErrors":2}`,
		`{"policy":{},"phase":"failed","started":"2025-03-03T09:00:00Z","ended":"2025-03-03T09:00:00Z","reason":"x"}`,
		`{"policy":{},"phase":"baking","started":"0001-01-01T00:00:01Z","pausedFor":9223372036854775807}`,
		`{"policy":{},"phase":"baking","started":"9999-12-31T23:59:59Z","pausedAt":"9999-12-31T23:59:59Z"}`,
		`{"policy":{"minDuration":"-1h"},"phase":"melting"}`,
	} {
		f.Add([]byte(s), uint64(0x243f6a8885a308d3))
	}
	f.Fuzz(func(t *testing.T, b []byte, seed uint64) {
		var tr bake.Tracker
		if err := json.Unmarshal(b, &tr); err != nil {
			return
		}
		out, err := json.Marshal(tr)
		if err != nil {
			t.Fatalf("decoded state does not encode: %v", err)
		}
		var back bake.Tracker
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("encoded state does not decode: %v\n%s", err, out)
		}
		again, _ := json.Marshal(back)
		if !bytes.Equal(out, again) {
			t.Fatalf("not a fixed point:\n%s\n%s", out, again)
		}
		exercise(t, tr, seed)
	})
}

// FuzzScheduleJSON decodes arbitrary schedules: validation must never
// panic, and every policy a valid schedule hands out must be valid.
func FuzzScheduleJSON(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"base":{"alarms":["sev2"]},"oneBox":{"minDuration":"90m"},"final":{"minDuration":"24h"},"waves":{"2":{"evidence":[]}}}`,
		`{"base":{"maxDuration":"3h"},"waves":{"-1":{},"3":{"minDuration":"5h"}}}`,
		`{"firstWave":{"evidence":[{"min":1}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s bake.Schedule
		if err := json.Unmarshal(b, &s); err != nil {
			return
		}
		if s.Validate() != nil {
			return
		}
		for wave := -1; wave <= 5; wave++ {
			for _, oneBox := range []bool{false, true} {
				if err := s.For(wave, oneBox).Validate(); err != nil {
					t.Fatalf("For(%d, %t) of a valid schedule is invalid: %v", wave, oneBox, err)
				}
			}
		}
		if err := s.ForFinal().Validate(); err != nil {
			t.Fatalf("ForFinal() of a valid schedule is invalid: %v", err)
		}
	})
}
