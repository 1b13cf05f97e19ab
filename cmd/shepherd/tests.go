package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-cmp/cmp"
)

// testResult is one test's result in test's --json output.
type testResult struct {
	File   string `json:"file"`
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	// Failures are the expectations not met, one a line, and Diff the
	// same as a diff of what was expected against what happened.
	Failures []string `json:"failures,omitempty"`
	Diff     string   `json:"diff,omitempty"`
	// Got is what happened.
	Got simulateReport `json:"got"`
}

// observed is what a test compares: each field an expectation can name.
type observed struct {
	Phase        string
	Stage        string
	Signal       string
	BlastTargets int
	Running      map[string]int
}

// check compares what happened with what a test expects.
func check(want expectation, rep simulateReport) (failures []string, diff string) {
	got := observed{
		Phase: string(rep.Phase), Stage: rep.Stage, Signal: string(rep.Signal),
		BlastTargets: rep.Blast.Targets, Running: rep.Running,
	}
	// What the test leaves out is not checked: it is what happened.
	exp := got
	if want.Phase != "" {
		exp.Phase = want.Phase
	}
	if want.Stage != nil {
		exp.Stage = *want.Stage
	}
	if want.Signal != "" {
		exp.Signal = want.Signal
	}
	if b := want.Blast; b != nil && b.Targets != nil {
		exp.BlastTargets = *b.Targets
	}
	if want.Running != nil {
		exp.Running = want.Running
	}
	diff = cmp.Diff(exp, got)
	if exp.Phase != got.Phase {
		failures = append(failures, fmt.Sprintf("phase: want %s, got %s", exp.Phase, got.Phase))
	}
	if exp.Stage != got.Stage {
		failures = append(failures, fmt.Sprintf("stage: want %q, got %q", exp.Stage, got.Stage))
	}
	if exp.Signal != got.Signal {
		failures = append(failures, fmt.Sprintf("signal: want %q, got %q", exp.Signal, got.Signal))
	}
	if exp.BlastTargets != got.BlastTargets {
		failures = append(failures, fmt.Sprintf("blast.targets: want %d, got %d", exp.BlastTargets, got.BlastTargets))
	}
	if !cmp.Equal(exp.Running, got.Running) {
		failures = append(failures, fmt.Sprintf("running: want %v, got %v", exp.Running, got.Running))
	}
	// Bounds are not equalities: they get a line of their own.
	if b := want.Blast; b != nil {
		if b.MaxTargets != nil && rep.Blast.Targets > *b.MaxTargets {
			failures = append(failures, fmt.Sprintf("blast.maxTargets: at most %d, got %d", *b.MaxTargets, rep.Blast.Targets))
			diff += fmt.Sprintf("  blast.maxTargets:\n-\t<= %d\n+\t%d\n", *b.MaxTargets, rep.Blast.Targets)
		}
		if b.MaxShare != nil && rep.Blast.Share > *b.MaxShare {
			failures = append(failures, fmt.Sprintf("blast.maxShare: at most %g, got %.4g", *b.MaxShare, rep.Blast.Share))
			diff += fmt.Sprintf("  blast.maxShare:\n-\t<= %g\n+\t%.4g\n", *b.MaxShare, rep.Blast.Share)
		}
	}
	if m := want.MaxDuration; m > 0 && rep.Duration > m {
		failures = append(failures, fmt.Sprintf("maxDuration: at most %s, took %s", m, rep.Duration))
		diff += fmt.Sprintf("  maxDuration:\n-\t<= %s\n+\t%s\n", m, rep.Duration)
	}
	return failures, diff
}

// testCmd runs the tests of test files.
func testCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("test", stderr)
	asJSON := fs.Bool("json", false, "print the results as JSON")
	quiet := fs.Bool("quiet", false, "print no progress on standard error")
	files, err := parse(fs, args)
	if err != nil {
		return exitInput
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "shepherd test: name at least one test file")
		return exitInput
	}
	var results []testResult
	passed, failed := 0, 0
	for _, f := range files {
		s, pol, err := loadScenario(f)
		if err != nil {
			problems(stderr, f, err)
			return exitInput
		}
		if len(s.Tests) == 0 {
			fmt.Fprintf(stderr, "%s: tests: none: a test file lists tests\n", f)
			return exitInput
		}
		for i, tc := range s.Tests {
			name := tc.Name
			if name == "" {
				name = fmt.Sprintf("tests[%d]", i)
			}
			if !*quiet {
				fmt.Fprintf(stderr, "%s: running %s (%s)\n", f, name, tc.Version)
			}
			sim, err := simulateRollout(ctx, s, pol, tc.Version, tc.Controls, nil)
			if err != nil {
				problems(stderr, fmt.Sprintf("%s: %s", f, name), err)
				return exitInput
			}
			rep := sim.report(name, tc.Version)
			failures, diff := check(tc.Expect, rep)
			r := testResult{File: f, Name: name, Passed: len(failures) == 0, Got: rep}
			if !r.Passed {
				r.Failures, r.Diff = failures, diff
				failed++
			} else {
				passed++
			}
			results = append(results, r)
			if *asJSON {
				continue
			}
			if r.Passed {
				fmt.Fprintf(stdout, "PASS  %s: %s\n", f, name)
				continue
			}
			fmt.Fprintf(stdout, "FAIL  %s: %s\n", f, name)
			for _, l := range failures {
				fmt.Fprintf(stdout, "      %s\n", l)
			}
			fmt.Fprintf(stdout, "      (-want +got):\n")
			for _, l := range strings.Split(strings.TrimRight(diff, "\n"), "\n") {
				fmt.Fprintf(stdout, "      %s\n", l)
			}
			if rep.Reason != "" {
				fmt.Fprintf(stdout, "      why it stopped: %s\n", rep.Reason)
			}
		}
	}
	if *asJSON {
		if err := writeJSON(stdout, results); err != nil {
			return exitInput
		}
	} else {
		fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	}
	if failed > 0 {
		return exitFailed
	}
	return exitOK
}
