package rollout_test

import (
	"fmt"
	"time"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/traffic"
	"github.com/shepherd-go/shepherd/wave"
)

// A rollout that moves by placement and by traffic: each region's load
// balancer ramps the new version's share once its targets run it. Explain
// shows both axes, stage by stage.
func ExamplePolicy_Explain() {
	var ts []wave.Target
	for _, r := range []string{"us-east", "eu-west"} {
		for h := range 2 {
			ts = append(ts, wave.Target{ID: fmt.Sprintf("%s-lb%d", r, h), Location: []string{r, r + "a", fmt.Sprint("h", h)}})
		}
	}
	plan, err := wave.Policy{OneBox: wave.OneBoxRule{Off: true}}.Plan(ts)
	if err != nil {
		fmt.Println(err)
		return
	}
	p := rollout.Policy{
		Steps: rollout.ExposureSteps,
		Exposure: rollout.ExposurePolicy{Schedule: traffic.Schedule{Steps: []traffic.Step{
			traffic.Weight(10), traffic.Hold(5 * time.Minute), traffic.Weight(50), traffic.Hold(5 * time.Minute), traffic.Weight(100),
		}}},
	}
	fmt.Print(p.Explain(plan))
	// Output:
	// Plan: 4 targets in 2 regions, 2 waves, 2 stages; levels region > zone.
	// Bakes add up to 14h, then a final bake of 2h; deploy time comes on top.
	//
	// Wave 1: 1 region: eu-west
	//   Its zones deploy one at a time; its last stage bakes with the wave's bake, in place of a zone bake, before the next wave.
	//   1. w1/eu-west/eu-westa (zone)
	//      2 targets (eu-west-lb0, eu-west-lb1) in 2 batches of 1, 1; at least 1 stay healthy
	//      weight 2 (50% of the fleet, 50% done after it); bake 12h (the wave's bake, before the next wave)
	//      why: the first wave is one region, eu-west (lowest total weight; 50% of the fleet's weight); zone 1 of 1, one at a time
	//      steps: blockers > approval > deploy > exposure > bake > judge
	//      traffic: weight 10% > hold 5m0s > weight 50% > hold 5m0s > weight 100%
	//        +0s      10%  hold 5m0s
	//        +5m      50%  hold 5m0s
	//        +10m    100%
	//
	// Wave 2: 1 region: us-east
	//   Its zones deploy one at a time; its last stage bakes with the wave's bake, in place of a zone bake, before the final bake.
	//   2. w2/us-east/us-easta (zone)
	//      2 targets (us-east-lb0, us-east-lb1) in 2 batches of 1, 1; at least 1 stay healthy
	//      weight 2 (50% of the fleet, 100% done after it); bake 2h (the last wave's bake, then the final bake)
	//      why: wave 2 of 2: 1 region (growing by 2); zone 1 of 1, one at a time
	//      steps: blockers > approval > deploy > exposure > bake > judge
	//      traffic: weight 10% > hold 5m0s > weight 50% > hold 5m0s > weight 100%
	//        +0s      10%  hold 5m0s
	//        +5m      50%  hold 5m0s
	//        +10m    100%
	//
	// Then a final bake of 2h with the whole fleet on the change, still rolled back on alarm.
	// Excluded: none.
}
