package wave

import (
	"fmt"
	"strings"
)

// awsFleet builds regions x zones x hosts targets named like AWS regions
// ("r1" ... with zones "r1a", "r1b"...), with weight w(region index).
func grid(regions []string, zones, hosts int, w func(r int) float64) []Target {
	var ts []Target
	for r, reg := range regions {
		for z := range zones {
			zone := fmt.Sprintf("%s%c", reg, 'a'+z)
			for h := range hosts {
				ts = append(ts, Target{
					ID:       fmt.Sprintf("%s-h%02d", zone, h),
					Location: []string{reg, zone},
					Weight:   w(r),
				})
			}
		}
	}
	return ts
}

func one(int) float64 { return 1 }

// shape summarises a plan as one line per stage: wave, name, kind, batch
// sizes, min healthy and bake, so that table tests can compare whole plans
// at a glance.
func shape(p *Plan) []string {
	var out []string
	for _, w := range p.Waves {
		for _, s := range w.Stages {
			sizes := make([]string, len(s.Batches))
			for i, b := range s.Batches {
				sizes[i] = fmt.Sprint(len(b.Targets))
			}
			out = append(out, fmt.Sprintf("%d %s %s [%s] min=%d bake=%s", w.Index, s.Name, s.Kind, strings.Join(sizes, " "), s.MinHealthy, s.Bake))
		}
	}
	return out
}

// batchSizesOf lists the batch sizes of every stage, in order.
func batchSizesOf(p *Plan) [][]int {
	var out [][]int
	for _, w := range p.Waves {
		for _, s := range w.Stages {
			var sizes []int
			for _, b := range s.Batches {
				sizes = append(sizes, len(b.Targets))
			}
			out = append(out, sizes)
		}
	}
	return out
}

func waveRegions(p *Plan) [][]string {
	var out [][]string
	for _, w := range p.Waves {
		out = append(out, w.Regions)
	}
	return out
}
