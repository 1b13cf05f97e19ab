package wave_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/wave"
)

// fleet makes hosts per zone in each region and zone given, every host
// of a region with the region's weight.
func fleet(hosts int, regions map[string][]string, weight map[string]float64) []wave.Target {
	var ts []wave.Target
	for region, zones := range regions {
		for _, zone := range zones {
			for h := range hosts {
				ts = append(ts, wave.Target{
					ID:       fmt.Sprintf("%s-%d", zone, h),
					Location: []string{region, zone},
					Weight:   weight[region],
				})
			}
		}
	}
	return ts
}

// The zero policy follows the published practice: the lightest region
// first, alone, with a one-box before its first zone, one zone at a time,
// a third of a zone per batch; then waves of growing size, one zone of
// each region per stage.
func ExamplePolicy_Plan() {
	ts := fleet(10, map[string][]string{
		"us-east-1": {"use1-az1", "use1-az2"},
		"eu-west-1": {"euw1-az1", "euw1-az2"},
		"sa-east-1": {"sae1-az1", "sae1-az2"},
	}, map[string]float64{"us-east-1": 10, "eu-west-1": 5, "sa-east-1": 1})

	plan, err := wave.Policy{}.Plan(ts)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, w := range plan.Waves {
		for _, s := range w.Stages {
			sizes := []int{}
			for _, b := range s.Batches {
				sizes = append(sizes, len(b.Targets))
			}
			fmt.Printf("%-40s %-8s batches %v, bake %v\n", s.Name, s.Kind, sizes, s.Bake)
		}
	}
	fmt.Println("final bake", plan.FinalBake)
	// Output:
	// w1/one-box/sa-east-1                     one-box  batches [1], bake 1h0m0s
	// w1/sa-east-1/sae1-az1                    zone     batches [3 3 3], bake 1h0m0s
	// w1/sa-east-1/sae1-az2                    zone     batches [3 3 3 1], bake 12h0m0s
	// w2/one-box/eu-west-1+us-east-1           one-box  batches [2], bake 1h0m0s
	// w2/eu-west-1/euw1-az1+us-east-1/use1-az1 zone     batches [6 6 6], bake 1h0m0s
	// w2/eu-west-1/euw1-az2+us-east-1/use1-az2 zone     batches [6 6 6 2], bake 2h0m0s
	// final bake 2h0m0s
}

// A policy can live in a JSON file, with readable durations. Here the
// published AWS wave shape (a small region, a medium one, then 3 and 5),
// CodeDeploy's "two at a time" on 10 hosts (min healthy 8), a longer bake
// for the second wave and us-west-2 pinned first.
func ExamplePolicy_json() {
	const config = `{
		"waves": {"sizes": [1, 1, 3, 5]},
		"batch": {"minHealthy": {"count": 8}},
		"bake": {"waves": [{}, {"wave": "6h"}]},
		"first": ["us-west-2"]
	}`
	var p wave.Policy
	if err := json.Unmarshal([]byte(config), &p); err != nil {
		fmt.Println(err)
		return
	}
	ts := fleet(10, map[string][]string{
		"us-west-2": {"usw2-az1"},
		"us-east-1": {"use1-az1"},
		"eu-west-1": {"euw1-az1"},
	}, nil)
	plan, err := p.Plan(ts)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, w := range plan.Waves {
		last := w.Stages[len(w.Stages)-1]
		fmt.Printf("wave %d %v: %d batches of %d, keep %d healthy, bake %v\n",
			w.Index+1, w.Regions, len(last.Batches), len(last.Batches[0].Targets), last.MinHealthy, last.Bake)
	}
	// Output:
	// wave 1 [us-west-2]: 5 batches of 2, keep 7 healthy, bake 12h0m0s
	// wave 2 [eu-west-1]: 5 batches of 2, keep 7 healthy, bake 6h0m0s
	// wave 3 [us-east-1]: 5 batches of 2, keep 7 healthy, bake 2h0m0s
}

// Validate names every bad field.
func ExamplePolicy_Validate() {
	p := wave.Policy{
		Waves: wave.Sizing{Growth: 0.5},
		Batch: wave.Batching{MaxFraction: 1.5},
	}
	fmt.Println(p.Validate())
	// Output:
	// wave: policy.Waves.Growth: 0.5 is below 1: waves would shrink
	// wave: policy.Batch.MaxFraction: 1.5 is outside (0, 1]
}

// CodeDeploy's minimum healthy hosts on 10 hosts: 95% rounds up to 10 and
// can never be met, so the plan is refused before anything starts; 8
// healthy means two at a time.
func ExampleMinHealthy() {
	ts := fleet(10, map[string][]string{"us-east-1": {"use1-az1"}}, nil)
	for _, m := range []wave.MinHealthy{{Percent: 95}, {Count: 9}, {Count: 8}, {Count: 0}} {
		p := wave.Policy{OneBox: wave.OneBoxRule{Off: true}, Batch: wave.Batching{MinHealthy: &m}}
		plan, err := p.Plan(ts)
		if err != nil {
			fmt.Println(err)
			continue
		}
		s := plan.Waves[0].Stages[0]
		fmt.Printf("min %+v: %d batches of %d\n", m, len(s.Batches), len(s.Batches[0].Targets))
	}
	// Output:
	// wave: policy.Batch.MinHealthy: 95% of the 10 targets of zone us-east-1/use1-az1 rounds up to 10 and leaves none to deploy
	// min {Count:9 Percent:0}: 10 batches of 1
	// min {Count:8 Percent:0}: 5 batches of 2
	// min {Count:0 Percent:0}: 1 batches of 10
}

// Kubernetes clusters have no zones: one level, and each wave deploys
// whole clusters. A cluster that is a single target is too small for a
// one-box, and the plan warns about it.
func ExamplePolicy_Plan_kubernetes() {
	var ts []wave.Target
	for _, c := range []string{"prod-eu", "prod-us", "prod-ap", "prod-sa", "canary"} {
		ts = append(ts, wave.Target{ID: c, Location: []string{c}})
	}
	plan, err := wave.Policy{Levels: []string{"cluster"}}.Plan(ts)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, w := range plan.Waves {
		fmt.Println(w.Stages[0].Name, w.Stages[0].Kind)
	}
	fmt.Println(plan.Warnings[0])
	// Output:
	// w1/canary region
	// w2/prod-ap+prod-eu region
	// w3/prod-sa+prod-us region
	// cluster canary has no target light enough for a one-box: its lightest carries 100% of the cluster's weight, above OneBox.MaxFraction (10%); its first batch is the first to see the change
}

func ExamplePlan_Explain() {
	ts := fleet(10, map[string][]string{"eu-west-1": {"euw1-az1", "euw1-az2"}}, nil)
	plan, err := wave.Policy{}.Plan(ts)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(plan.Explain())
	// Output:
	// Plan: 20 targets in 1 region, 1 wave, 3 stages; levels region > zone.
	// Bakes add up to 14h, then a final bake of 2h; deploy time comes on top.
	//
	// Wave 1: 1 region: eu-west-1
	//   Its zones deploy one at a time; its last stage bakes with the wave's bake, in place of a zone bake, before the final bake.
	//   1. w1/one-box/eu-west-1 (one-box)
	//      1 target (euw1-az1-0)
	//      weight 1 (5% of the fleet, 5% done after it); bake 1h (one-box bake)
	//      why: the first wave is one region, eu-west-1 (lowest total weight; 100% of the fleet's weight); one-box: euw1-az1-0 deploys and bakes alone before its first zone, carrying 5% of its region's weight (at most 10%), so that a bad change hurts one target
	//   2. w1/eu-west-1/euw1-az1 (zone)
	//      9 targets in 3 batches of 3, 3, 3; at least 6 stay healthy
	//      weight 9 (45% of the fleet, 50% done after it); bake 1h (between zones)
	//      why: the first wave is one region, eu-west-1 (lowest total weight; 100% of the fleet's weight); zone 1 of 2, one at a time
	//   3. w1/eu-west-1/euw1-az2 (zone)
	//      10 targets in 4 batches of 3, 3, 3, 1; at least 7 stay healthy
	//      weight 10 (50% of the fleet, 100% done after it); bake 12h (the last wave's bake, then the final bake)
	//      why: the first wave is one region, eu-west-1 (lowest total weight; 100% of the fleet's weight); zone 2 of 2, one at a time
	//
	// Then a final bake of 2h with the whole fleet on the change, still rolled back on alarm.
	// Excluded: none.
}

// A region too small for a one-box is a warning, printed first; the
// policy can make it an error instead (OneBoxRule.Require).
func ExamplePlan_Explain_warnings() {
	ts := fleet(3, map[string][]string{"eu-west-1": {"euw1-az1"}}, nil)
	plan, err := wave.Policy{}.Plan(ts)
	if err != nil {
		fmt.Println(err)
		return
	}
	text := plan.Explain()
	fmt.Print(text[:strings.Index(text, "\nWave 1")])
	_, err = wave.Policy{OneBox: wave.OneBoxRule{Require: true}}.Plan(ts)
	fmt.Println(err)
	// Output:
	// Plan: 3 targets in 1 region, 1 wave, 1 stage; levels region > zone.
	// Bakes add up to 12h, then a final bake of 2h; deploy time comes on top.
	//
	// Warnings (1):
	//   ! region eu-west-1 has no target light enough for a one-box: its lightest carries 33.3% of the region's weight, above OneBox.MaxFraction (10%); its first batch is the first to see the change
	// wave: policy.OneBox.Require: region eu-west-1 has no target light enough for a one-box: its lightest carries 33.3% of the region's weight, above OneBox.MaxFraction (10%)
}

func ExamplePlan_Schedule() {
	ts := fleet(10, map[string][]string{
		"us-east-1": {"use1-az1", "use1-az2"},
		"eu-west-1": {"euw1-az1", "euw1-az2"},
	}, nil)
	plan, err := wave.Policy{}.Plan(ts)
	if err != nil {
		fmt.Println(err)
		return
	}
	start := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	e := plan.Schedule(start, 15*time.Minute)
	for _, s := range e.Stages {
		fmt.Printf("%-22s %s -> %s\n", s.Name, s.Start.Format("Mon 15:04"), s.Baked.Format("Mon 15:04"))
	}
	fmt.Printf("done %s: %v deploying, %v baking\n", e.End.Format("Mon 15:04"), e.Deploying, e.Baking)
	// Output:
	// w1/one-box/eu-west-1   Mon 09:00 -> Mon 10:15
	// w1/eu-west-1/euw1-az1  Mon 10:15 -> Mon 12:00
	// w1/eu-west-1/euw1-az2  Mon 12:00 -> Tue 01:00
	// w2/one-box/us-east-1   Tue 01:00 -> Tue 02:15
	// w2/us-east-1/use1-az1  Tue 02:15 -> Tue 04:00
	// w2/us-east-1/use1-az2  Tue 04:00 -> Tue 07:00
	// done Tue 09:00: 4h0m0s deploying, 20h0m0s baking
}
