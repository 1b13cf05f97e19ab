package bake_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/bake"
)

// A 12-hour bake that also waits for 100 requests to the Create API,
// stepped by hand with explicit times, as a driver's pure step function
// would.
func ExampleTracker() {
	var p bake.Policy
	_ = json.Unmarshal([]byte(`{
		"minDuration": "12h",
		"maxDuration": "24h",
		"evidence": [{"name": "create-requests", "query": "create", "min": 100}],
		"alarms": ["high-severity"]
	}`), &p)
	start := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	tr, err := bake.Start(p, start)
	if err != nil {
		fmt.Println(err)
		return
	}
	ok := []alarm.Result{{Name: "high-severity", State: alarm.OK}}
	for _, seen := range []struct {
		after    time.Duration
		requests float64
	}{{3 * time.Hour, 40}, {12 * time.Hour, 80}, {14 * time.Hour, 120}} {
		st, err := tr.Update(start.Add(seen.after), []float64{seen.requests}, ok)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(st)
	}
	// Output:
	// baking: waiting for the minimum time and evidence; baked 3h0m0s of 12h0m0s; evidence: create-requests 40 of 100 (60 to go)
	// baking: waiting for evidence; baked 12h0m0s of 12h0m0s; evidence: create-requests 80 of 100 (20 to go)
	// done: baked 14h0m0s (minimum 12h0m0s); evidence: create-requests 120 of 100; consequence: pass
}

// Time paused is not counted, and the status says so.
func ExampleTracker_Pause() {
	start := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	tr, _ := bake.Start(bake.Policy{}, start) // the default: one hour
	tr.Pause(start.Add(20 * time.Minute))
	tr.Resume(start.Add(2*time.Hour + 30*time.Minute))
	st, _ := tr.Update(start.Add(2*time.Hour+40*time.Minute), nil, nil)
	fmt.Println(st)
	fmt.Println("earliest end:", st.EarliestEnd.Format(time.Kitchen))
	// Output:
	// baking: waiting for the minimum time; baked 30m0s of 1h0m0s; paused 2h10m0s, not counted
	// earliest end: 12:10PM
}

// Wait polls the alarms and the evidence until the bake ends; here an
// alarm is already firing, so it ends at the first poll.
func ExampleWait() {
	p := bake.Policy{Alarms: []string{"high-severity"}}
	tr, err := bake.Start(p, time.Now())
	if err != nil {
		fmt.Println(err)
		return
	}
	checkers := map[string]alarm.Checker{
		"high-severity": alarm.CheckerFunc(func(_ context.Context, now time.Time) (alarm.Result, error) {
			return alarm.Result{State: alarm.Alarm, Reason: "fault rate 4.2% > 1% in 3 of 3 periods", Time: now}, nil
		}),
	}
	st, err := bake.Wait(context.Background(), &tr, nil, checkers, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st.Phase, "->", st.Consequence)
	fmt.Println(st.Reason)
	// Output:
	// failed -> rollback
	// alarm "high-severity" is in ALARM: fault rate 4.2% > 1% in 3 of 3 periods
}

// Used without a plan, a schedule bakes for the planner's published
// defaults: an hour after each one-box, 12 hours after the first wave, 2
// hours after the later ones; here the final bake, after the last stage,
// lasts a day and the later waves wait for evidence.
func ExampleSchedule_For() {
	var s bake.Schedule
	_ = json.Unmarshal([]byte(`{
		"laterWaves": {"evidence": [{"query": "requests", "min": 1000}]},
		"final": {"minDuration": "24h"}
	}`), &s)
	fmt.Println("one-box:", s.For(0, true).MinDuration)
	for w := range 3 {
		p := s.For(w, false)
		fmt.Printf("wave %d: %s, %d evidence requirement(s)\n", w, p.MinDuration, len(p.Evidence))
	}
	fmt.Println("final bake:", s.ForFinal().MinDuration)
	// Output:
	// one-box: 1h0m0s
	// wave 0: 12h0m0s, 0 evidence requirement(s)
	// wave 1: 2h0m0s, 1 evidence requirement(s)
	// wave 2: 2h0m0s, 1 evidence requirement(s)
	// final bake: 24h0m0s
}

// Validate reports every problem, each with its field.
func ExamplePolicy_Validate() {
	var p bake.Policy
	_ = json.Unmarshal([]byte(`{
		"minDuration": "12h",
		"maxDuration": "6h",
		"evidence": [{"name": "create-requests", "min": 100}],
		"pollInterval": "-1m"
	}`), &p)
	fmt.Println(p.Validate())
	// Output:
	// bake: PollInterval: -1m0s is negative
	// bake: Evidence[0].Query: empty; a requirement needs a query to count its evidence
	// bake: MaxDuration: 6h0m0s is less than MinDuration 12h0m0s
}
