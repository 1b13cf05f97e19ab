package rollouttest

import (
	"fmt"

	"github.com/shepherd-go/shepherd/wave"
)

// Hosts lays out a fleet of hosts over regions: zones zones per region,
// named after the region with a letter ("us-east-1a", "us-east-1b", ...),
// and hosts hosts per zone, named after the zone with a number
// ("us-east-1a-1"). Each target's Location is [region, zone, host ID] and
// its weight is 1. Targets come region by region, zone by zone.
func Hosts(regions []string, zones, hosts int) []wave.Target {
	var out []wave.Target
	for _, r := range regions {
		for z := range zones {
			zone := r + zoneLetter(z)
			for h := range hosts {
				id := fmt.Sprintf("%s-%d", zone, h+1)
				out = append(out, wave.Target{ID: id, Location: []string{r, zone, id}})
			}
		}
	}
	return out
}

func zoneLetter(z int) string {
	s := ""
	for {
		s = string(rune('a'+z%26)) + s
		z = z/26 - 1
		if z < 0 {
			return s
		}
	}
}
