// Package policytest is a team's rollout policy, written as code, and the
// tests that hold it to its promises (policy_test.go): run them with
//
//	go test ./examples/policytest
//
// The policy is the team's: its regions and time zones, how its fleet is
// cut into waves, how long each stage bakes and on what evidence, when
// deploying is allowed, and which alarms watch a rollout. The tests run
// whole rollouts of it against a simulated fleet inside testing/synctest,
// where five days take a second.
package policytest

import (
	"time"

	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/blocker"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/wave"
)

// Regions are the team's regions and their time zones.
var Regions = map[string]string{
	"us-east-1":    "America/New_York",
	"us-west-2":    "America/Los_Angeles",
	"eu-central-1": "Europe/Berlin",
}

// Waves cuts the fleet: a one-box before each region's first zone (one
// host of six: 17% of a zone), one zone at a time, the lightest region
// first and then the other two together, with the published bakes (1h
// after a one-box and a zone, 12h after the first wave, 2h after the
// second, and 2h at the end).
var Waves = wave.Policy{
	OneBox: wave.OneBoxRule{MaxFraction: 0.17},
}

// Rollout is how the driver behaves: every bake also waits for 2,000
// requests to the change, so that a quiet night cannot pass a bake on
// time alone (a bake that has not had them after twice its minimum rolls
// back).
var Rollout = rollout.Policy{
	Bake: bake.Schedule{Base: bake.Policy{
		Evidence: []bake.Requirement{{Name: "requests to the change", Query: "requests", Min: 2000}},
	}},
}

// Calendar is when the team deploys: weekdays from 09:00 to 17:00 in each
// region's local time, never on Friday after 15:00, and during none of
// the given freezes.
func Calendar(freezes ...blocker.Freeze) blocker.Policy {
	return blocker.Policy{
		Zones:   Regions,
		Windows: []blocker.Window{{Days: []string{"Mon-Fri"}, Start: "09:00", End: "17:00"}},
		Deny:    []blocker.Window{{Days: []string{"Fri"}, Start: "15:00"}},
		Freezes: freezes,
	}
}

// BusinessDays counts the weekdays from a to b in loc, both included.
func BusinessDays(a, b time.Time, loc *time.Location) int {
	n := 0
	day := time.Date(a.In(loc).Year(), a.In(loc).Month(), a.In(loc).Day(), 0, 0, 0, 0, loc)
	for !day.After(b) {
		if wd := day.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n++
		}
		day = day.AddDate(0, 0, 1)
	}
	return n
}
