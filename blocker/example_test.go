package blocker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
	_ "time/tzdata" // programs should embed the zone database too, or rely on the system's

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/blocker"
)

// A set of blockers for a stage in two regions: business hours in each
// region's local time with no Friday afternoons, an alarm blocker, and a
// stop-the-line switchboard. The verdict gives every reason and the time
// the stage may start.
func Example() {
	ctx := context.Background()
	now := time.Date(2025, 6, 13, 19, 30, 0, 0, time.UTC) // Friday 15:30 in New York

	cal, err := blocker.NewCalendar(blocker.Policy{
		Zones:   map[string]string{"us-east-1": "America/New_York", "eu-central-1": "Europe/Berlin"},
		Windows: []blocker.Window{{Days: []string{"Mon-Fri"}, Start: "09:00", End: "17:00"}},
		Deny:    []blocker.Window{{Days: []string{"Fri"}, Start: "15:00"}},
	})
	if err != nil {
		panic(err)
	}
	apiErrors := alarm.CheckerFunc(func(context.Context, time.Time) (alarm.Result, error) {
		return alarm.Result{State: alarm.OK}, nil
	})
	board := &blocker.Switchboard{}

	set := blocker.Set{Entries: []blocker.Entry{
		{Name: "window", Blocker: cal},
		{Name: "alarms", Blocker: blocker.Alarms{Watch: []blocker.Alarm{{Name: "api-errors", Checker: apiErrors}}}},
		{Name: "stop-the-line", Blocker: board},
	}}
	stage := blocker.Subject{Change: "c-42", Service: "api", Stage: "w2", Regions: []string{"us-east-1", "eu-central-1"}}
	v, err := set.Check(ctx, stage, now)
	if err != nil {
		panic(err)
	}
	fmt.Println("blocked:", v.Blocked)
	for _, r := range v.Reasons() {
		fmt.Println(r)
	}
	fmt.Println("may start at:", v.Until.Format(time.RFC3339))
	// Each rule that holds the stage, and until when: what a driver names.
	for _, h := range v.Holds() {
		fmt.Println("held by", h)
	}
	// Output:
	// blocked: true
	// window: us-east-1 (Fri 2025-06-13 15:30 EDT): denied by Fri 15:00-24:00 until 2025-06-14T04:00:00Z; eu-central-1 (Fri 2025-06-13 21:30 CEST): denied by Fri 15:00-24:00 until 2025-06-13T22:00:00Z; outside the allowed windows (Mon-Fri 09:00-17:00) until 2025-06-16T07:00:00Z
	// may start at: 2025-06-16T13:00:00Z
	// held by window: deny "Fri 15:00-24:00" in us-east-1 until 2025-06-14T04:00:00Z
	// held by window: deny "Fri 15:00-24:00" in eu-central-1 until 2025-06-13T22:00:00Z
	// held by window: window "Mon-Fri 09:00-17:00" in eu-central-1 until 2025-06-16T07:00:00Z
}

// NextOpen finds the next instant a region's window opens, here across the
// fall-back weekend in Berlin: Monday 09:00 is 08:00 UTC after the clocks
// go back, not 07:00.
func ExampleCalendar_NextOpen() {
	cal, err := blocker.NewCalendar(blocker.Policy{
		Zone:     "Europe/Berlin",
		Windows:  []blocker.Window{{Days: []string{"Mon-Fri"}, Start: "09:00", End: "17:00"}},
		Holidays: []blocker.Holiday{{Date: "2025-10-27", Name: "team offsite"}},
	})
	if err != nil {
		panic(err)
	}
	friday := time.Date(2025, 10, 24, 15, 30, 0, 0, time.UTC) // 17:30 CEST
	next, err := cal.NextOpen(blocker.Subject{}, friday)
	if err != nil {
		panic(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	fmt.Println(next.Format(time.RFC3339), "=", next.In(berlin).Format("Mon 15:04 MST"))
	// Output:
	// 2025-10-28T08:00:00Z = Tue 09:00 CET
}

// A policy from a configuration file is validated with every problem named
// by its field.
func ExamplePolicy_Validate() {
	var p blocker.Policy
	err := json.Unmarshal([]byte(`{
		"zone": "Europe/Berln",
		"windows": [{"days": ["Mon-Fri"], "start": "09:00", "end": "25:00"}],
		"freezes": [{"start": "2025-12-24T00:00:00Z", "end": "2025-12-20T00:00:00Z", "reason": "holidays"}],
		"horizon": "-24h"
	}`), &p)
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Validate())
	// Output:
	// blocker: policy.Zone: unknown time zone "Europe/Berln"
	// blocker: policy.Windows[0].End: "25:00": hour 25 is outside 0-24
	// blocker: policy.Freezes[0].End: 2025-12-20T00:00:00Z is not after Start 2025-12-24T00:00:00Z
	// blocker: policy.Horizon: negative duration -24h0m0s
}

// Shipping the fix through an alarm blocker: the on-call engineer is
// authorised to override it for this one change, for two hours. Everything
// is in the audit trail, including the refused attempt.
func ExampleOverrides() {
	ctx := context.Background()
	now := time.Date(2025, 6, 16, 12, 0, 0, 0, time.UTC)
	audit := &blocker.AuditLog{}
	overrides := &blocker.Overrides{
		Audit: audit,
		Authorise: func(_ context.Context, req blocker.Override) error {
			if req.Actor != "oncall-alice" {
				return fmt.Errorf("%s is not on call", req.Actor)
			}
			return nil
		},
	}
	req := blocker.Override{Change: "fix-7", Blockers: []string{"alarms"}, Reason: "this change is the fix",
		Expires: now.Add(2 * time.Hour)}

	req.Actor = "mallory"
	_, err := overrides.Grant(ctx, req, now)
	fmt.Println(err)
	req.Actor = "oncall-alice"
	if _, err := overrides.Grant(ctx, req, now); err != nil {
		panic(err)
	}

	set := blocker.Set{
		Overrides: overrides,
		Entries: []blocker.Entry{{Name: "alarms", Blocker: blocker.Func(
			func(context.Context, blocker.Subject, time.Time) (blocker.Decision, error) {
				return blocker.Decision{Blocked: true, Reason: "api-errors is ALARM"}, nil
			})}},
	}
	v, _ := set.Check(ctx, blocker.Subject{Change: "fix-7"}, now.Add(time.Minute))
	fmt.Println(v)
	v, _ = set.Check(ctx, blocker.Subject{Change: "fix-7"}, now.Add(3*time.Hour))
	fmt.Println(v)
	for _, e := range audit.Events() {
		fmt.Println(e)
	}
	// Output:
	// blocker: not authorised: mallory is not on call
	// clear: 1 blocker(s) checked; alarms overridden by override-1 (oncall-alice, until 2025-06-16T14:00:00Z: this change is the fix)
	// blocked by 1 of 1 blocker(s), clear time unknown: alarms: api-errors is ALARM
	// 2025-06-16T12:00:00Z override.refuse by "mallory" for change "fix-7" bypassing alarms: this change is the fix (refused: blocker: not authorised: mallory is not on call)
	// 2025-06-16T12:00:00Z override.grant by "oncall-alice" of override "override-1" for change "fix-7" bypassing alarms: this change is the fix
}

// A stop-the-line switch for one service and an organisation-wide event in
// one region, listed and then cleared, with the audit trail.
func ExampleSwitchboard() {
	ctx := context.Background()
	now := time.Date(2025, 11, 28, 9, 0, 0, 0, time.UTC)
	board := &blocker.Switchboard{}
	stop, _ := board.Set(ctx, blocker.Switch{Kind: blocker.StopTheLine, Scope: blocker.Scope{Service: "checkout"},
		Actor: "bob", Reason: "integration tests failing in gamma"}, now)
	_, _ = board.Set(ctx, blocker.Switch{Kind: blocker.OrgEvent, Scope: blocker.Scope{Region: "us-east-1"},
		Actor: "incident-bot", Reason: "large-scale event", End: now.Add(6 * time.Hour)}, now)

	list, _ := board.List(ctx, now)
	for _, sw := range list {
		fmt.Println(sw)
	}
	d, _ := board.Check(ctx, blocker.Subject{Service: "search", Regions: []string{"us-east-1"}}, now)
	fmt.Println(d)
	_, _ = board.Clear(ctx, stop.ID, "carol", "fixed in change c-99", now.Add(time.Hour))
	for _, e := range board.AuditTrail() {
		fmt.Println(e)
	}
	// Output:
	// stop-the-line "switch-1" (service checkout) set by bob: integration tests failing in gamma
	// event "switch-2" (region us-east-1) set by incident-bot until 2025-11-28T15:00:00Z: large-scale event
	// blocked until 2025-11-28T15:00:00Z: event "switch-2" (region us-east-1) set by incident-bot until 2025-11-28T15:00:00Z: large-scale event
	// 2025-11-28T09:00:00Z switch.set by "bob" of switch "switch-1" (service checkout): integration tests failing in gamma
	// 2025-11-28T09:00:00Z switch.set by "incident-bot" of switch "switch-2" (region us-east-1): large-scale event
	// 2025-11-28T10:00:00Z switch.clear by "carol" of switch "switch-1" (service checkout): fixed in change c-99
}

// A company freeze written once, in local dates: it starts at local midnight
// in each region, so Sydney freezes 16 hours of instants before New York,
// and the decision names the freeze and when it ends in each region.
func ExampleFreeze() {
	cal, err := blocker.NewCalendar(blocker.Policy{
		Zones:   map[string]string{"us-east-1": "America/New_York", "ap-southeast-2": "Australia/Sydney"},
		Freezes: []blocker.Freeze{{From: "2025-12-24", Through: "2025-12-26", Reason: "holiday freeze"}},
	})
	if err != nil {
		panic(err)
	}
	stage := blocker.Subject{Regions: []string{"us-east-1", "ap-southeast-2"}}
	for _, now := range []string{"2025-12-23T12:00:00Z", "2025-12-23T14:00:00Z", "2025-12-27T05:00:00Z"} {
		t, _ := time.Parse(time.RFC3339, now)
		d, err := cal.Check(context.Background(), stage, t)
		if err != nil {
			panic(err)
		}
		fmt.Println(now, "blocked:", d.Blocked)
		for _, h := range d.Holds {
			fmt.Println("  held by", h)
		}
	}
	// Output:
	// 2025-12-23T12:00:00Z blocked: false
	// 2025-12-23T14:00:00Z blocked: true
	//   held by freeze "holiday freeze" in ap-southeast-2 until 2025-12-26T13:00:00Z
	// 2025-12-27T05:00:00Z blocked: false
}
