package policyfile_test

import (
	"fmt"

	"github.com/shepherd-go/shepherd/wave"

	"github.com/shepherd-go/shepherd/policyfile"
)

// A policy file with two typos and a bake without a unit: every problem is
// reported at once, with its path in the file and, for an unknown key, the
// name that was probably meant.
func ExampleParse() {
	_, err := policyfile.Parse([]byte(`
plan:
  bake: {oneBox: 30}
blockers:
  freezess:
    - {from: "2026-12-21", through: "2027-01-03", reason: year-end freeze}
rollout:
  deploy: {concurency: 4}
`))
	fmt.Println(err)
	// Output:
	// policyfile: blockers.freezess: unknown field; did you mean "freezes"?
	// duration: plan.bake.oneBox: the bare number 30 has no unit; write a string such as "30s" or "30m"
	// policyfile: rollout.deploy.concurency: unknown field; did you mean "concurrency"?
}

// A valid file, in YAML, plans a fleet.
func ExamplePolicy_PlanFleet() {
	p, err := policyfile.Parse([]byte(`
plan:
  levels: [region]
  waves: {sizes: [1, 2]}
  bake: {firstWave: 1h, laterWaves: 30m, final: none}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	var fleet []wave.Target
	for _, r := range []string{"eu-west-1", "us-east-1", "us-west-2"} {
		fleet = append(fleet, wave.Target{ID: r + "-1", Location: []string{r}})
	}
	plan, err := p.PlanFleet(fleet)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, w := range plan.Waves {
		for _, st := range w.Stages {
			fmt.Printf("%s, then bake %s\n", st.Name, st.Bake)
		}
	}
	// Output:
	// w1/eu-west-1, then bake 1h0m0s
	// w2/us-east-1+us-west-2, then bake 30m0s
}
