package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/shepherd-go/shepherd/policyfile"
	"github.com/shepherd-go/shepherd/rollout"
)

// planCmd plans a fleet with a policy and prints the plan's explanation,
// warnings first.
func planCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("plan", stderr)
	asJSON := fs.Bool("json", false, "print the plan as JSON (wave.Plan)")
	fleetPath := fs.String("fleet", "", "the fleet file (required)")
	files, err := parse(fs, args)
	if err != nil {
		return exitInput
	}
	if *fleetPath == "" || len(files) > 1 {
		fmt.Fprintln(stderr, "shepherd plan: usage: shepherd plan --fleet FLEET [POLICY]")
		return exitInput
	}
	pol := &policyfile.Policy{}
	if len(files) == 1 {
		if pol, err = policyfile.Load(files[0]); err != nil {
			problems(stderr, files[0], err)
			return exitInput
		}
	}
	data, err := os.ReadFile(*fleetPath)
	if err != nil {
		fmt.Fprintf(stderr, "shepherd plan: %v\n", err)
		return exitInput
	}
	var ff fleetFile
	if err := policyfile.Unmarshal(data, &ff); err != nil {
		problems(stderr, *fleetPath, err)
		return exitInput
	}
	targets, err := ff.targets()
	if err != nil {
		problems(stderr, *fleetPath, err)
		return exitInput
	}
	plan, err := pol.PlanFleet(targets)
	if err != nil {
		problems(stderr, "shepherd plan", err)
		return exitInput
	}
	if *asJSON {
		if err := writeJSON(stdout, plan); err != nil {
			return exitInput
		}
		return exitOK
	}
	text := plan.Explain()
	if slices.Contains(pol.Rollout.Steps, rollout.StepExposure) {
		// The stages ramp their traffic too: show the shares.
		text = pol.Rollout.Explain(plan)
	}
	fmt.Fprint(stdout, text)
	if len(text) > 0 && text[len(text)-1] != '\n' {
		fmt.Fprintln(stdout)
	}
	return exitOK
}
