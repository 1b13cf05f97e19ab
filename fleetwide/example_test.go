package fleetwide_test

import (
	"fmt"
	"time"

	"github.com/shepherd-go/shepherd/fleetwide"
)

// A zone alarm fires in eu-west-1b. Three changes are in flight: payments
// reached the zone four minutes before, search an hour before, and ads
// never went there. Rank says who to stop, and why.
func ExampleRank() {
	onset := time.Date(2030, 1, 7, 14, 0, 0, 0, time.UTC)
	zone := fleetwide.Scope{Alarm: "euw1b-5xx", Region: "eu-west-1", Zone: "eu-west-1b"}
	landed := func(z string, before time.Duration) []fleetwide.Touch {
		t := onset.Add(-before)
		return []fleetwide.Touch{{Region: "eu-west-1", Zone: z, First: t, Last: t, Targets: 3}}
	}
	ranked, noise := fleetwide.Rank(fleetwide.Evidence{Fired: fleetwide.Onset{Scope: zone, Time: onset}, Now: onset},
		[]fleetwide.Candidate{
			{Member: "search", Version: "v7", Touches: landed("eu-west-1b", time.Hour)},
			{Member: "payments", Version: "v42", Touches: landed("eu-west-1b", 4*time.Minute)},
			{Member: "ads", Version: "v3", Touches: landed("eu-west-1a", 4*time.Minute)},
		}, fleetwide.HealthPolicy{})
	for _, s := range ranked {
		fmt.Printf("%-8s %3.0f%%  %s\n", s.Member, 100*s.Score, s.Reason)
	}
	if fleetwide.Judge(ranked, noise, 0, fleetwide.HealthPolicy{}) == fleetwide.VerdictStop {
		fmt.Println("stop", ranked[0].Member)
	}
	// Output:
	// payments  80%  payments v42 reached eu-west-1b 4m0s before the alarm fired
	// search    12%  search v7 reached eu-west-1b 1h0m0s before the alarm fired
	// ads        0%  ads v3 touched no target in eu-west-1b
	// stop payments
}
