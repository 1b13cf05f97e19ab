package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/wave"
)

// build builds the command into a temporary directory, as a user would
// get it, and returns its path.
func build(t *testing.T) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "shepherd")
	out, err := exec.Command(goCmd, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// result is one run of the command.
type result struct {
	code           int
	stdout, stderr string
}

func runBin(t *testing.T, bin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = "."
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running %v: %v", args, err)
	}
	return result{code, stdout.String(), stderr.String()}
}

// TestCommand builds the binary and runs every subcommand, checking exit
// codes and what each prints.
func TestCommand(t *testing.T) {
	bin := build(t)
	html := filepath.Join(t.TempDir(), "timeline.html")
	tests := []struct {
		name      string
		args      []string
		code      int
		stdout    []string // substrings
		stderr    []string
		noStderr  bool
		checkJSON func(t *testing.T, out []byte)
	}{
		{name: "no arguments", args: nil, code: 2, stderr: []string{"usage:"}},
		{name: "unknown command", args: []string{"deploy"}, code: 2, stderr: []string{`unknown command "deploy"`}},
		{name: "help", args: []string{"help"}, code: 0, stdout: []string{"exit codes"}},
		{name: "bad flag", args: []string{"validate", "--jsn", "testdata/policy.yaml"}, code: 2, stderr: []string{"flag provided but not defined"}},

		{name: "validate ok", args: []string{"validate", "testdata/policy.yaml"}, code: 0, stdout: []string{"testdata/policy.yaml: ok"}},
		{name: "validate problems", args: []string{"validate", "testdata/policy.yaml", "testdata/bad-policy.yaml"}, code: 1, stdout: []string{
			"testdata/policy.yaml: ok",
			"testdata/bad-policy.yaml: 2 problems:",
			`policyfile: blockers.freezess: unknown field; did you mean "freezes"?`,
			`duration: plan.bake.oneBox: the bare number 30 has no unit`,
		}},
		{name: "validate missing file", args: []string{"validate", "testdata/nothing.yaml"}, code: 2, stderr: []string{"no such file"}},
		{name: "validate --json", args: []string{"validate", "--json", "testdata/bad-policy.yaml"}, code: 1, checkJSON: func(t *testing.T, out []byte) {
			var got []validateResult
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			var paths []string
			for _, p := range got[0].Problems {
				paths = append(paths, p.Path)
			}
			if diff := cmp.Diff([]string{"blockers.freezess", "plan.bake.oneBox"}, paths); diff != "" || got[0].Valid {
				t.Errorf("valid %t, paths (-want +got):\n%s", got[0].Valid, diff)
			}
		}},

		{name: "plan with warnings", args: []string{"plan", "--fleet", "testdata/fleet-no-onebox.yaml", "testdata/policy.yaml"}, code: 0, stdout: []string{
			"Warnings (2):", "region eu-west-1 has no target light enough for a one-box", "Wave 1: 1 region: eu-west-1",
		}},
		{name: "plan with traffic ramps", args: []string{"plan", "--fleet", "testdata/fleet.yaml", "testdata/ramp-policy.yaml"}, code: 0, stdout: []string{
			"steps: blockers > approval > deploy > exposure > bake > judge", "traffic: weight 10% > hold 5m0s > weight 100%", "+5m     100%"}},
		{name: "plan flags after files", args: []string{"plan", "testdata/policy.yaml", "--fleet", "testdata/fleet.yaml"}, code: 0, stdout: []string{"w1/one-box/ap-south-1"}},
		{name: "plan --json", args: []string{"plan", "--json", "--fleet", "testdata/fleet-no-onebox.yaml"}, code: 0, checkJSON: func(t *testing.T, out []byte) {
			var p wave.Plan
			if err := json.Unmarshal(out, &p); err != nil {
				t.Fatal(err)
			}
			if len(p.Waves) != 2 || len(p.Warnings) != 2 || p.Warnings[0].Code != wave.WarnNoOneBox {
				t.Errorf("plan: %d waves, warnings %v", len(p.Waves), p.Warnings)
			}
		}},
		{name: "plan without a fleet", args: []string{"plan", "testdata/policy.yaml"}, code: 2, stderr: []string{"--fleet FLEET"}},
		{name: "plan with a bad policy", args: []string{"plan", "--fleet", "testdata/fleet.yaml", "testdata/bad-policy.yaml"}, code: 2, stderr: []string{"freezess"}},

		{name: "simulate a bad version", args: []string{"simulate", "--html", html, "testdata/scenario-bad.yaml"}, code: 1,
			stdout: []string{"a bad version: rollout of v2: rolled-back after 7m0s", "stopped in w1/one-box/ap-south-1 on alarm",
				"blast radius: v2: 1 target(s)", "where the time went:", "baking", "v2 w1/one-box/ap-south-1", "timeline written to " + html},
			stderr: []string{"stage w1/one-box/ap-south-1 (1 target)", "STOP on alarm", "rollback finished: rolled-back"}},
		{name: "simulate a good version --json", args: []string{"simulate", "--json", "--quiet", "testdata/scenario-good.yaml"}, code: 0, noStderr: true,
			checkJSON: func(t *testing.T, out []byte) {
				var got simulateReport
				if err := json.Unmarshal(out, &got); err != nil {
					t.Fatal(err)
				}
				if got.Phase != "succeeded" || got.Running["v2"] != 30 || got.Timings.Baking == 0 || len(got.Promoted) != 7 {
					t.Errorf("report: %+v", got)
				}
			}},
		{name: "simulate an invalid scenario", args: []string{"simulate", "testdata/scenario-invalid.yaml"}, code: 2, stderr: []string{
			`testdata/scenario-invalid.yaml: 2 problems:`,
			`shepherd: controls[0].kind: "approved" is not pause, resume, abort, approve or skip-bake`,
			`policyfile: versions["v2"].errorRat: unknown field; did you mean "errorRate"?`,
		}},

		{name: "test passing", args: []string{"test", "testdata/tests-pass.yaml"}, code: 0, stdout: []string{
			"PASS  testdata/tests-pass.yaml: a bad version stops at the first one-box",
			"PASS  testdata/tests-pass.yaml: a good version goes everywhere within a day",
			"2 passed, 0 failed",
		}, stderr: []string{"running a bad version stops at the first one-box"}},
		{name: "test failing", args: []string{"test", "--quiet", "testdata/tests-pass.yaml", "testdata/tests-fail.yaml"}, code: 1, noStderr: true, stdout: []string{
			"FAIL  testdata/tests-fail.yaml: a slow leak is caught at the one-box",
			`stage: want "w1/one-box/ap-south-1", got "w1/ap-south-1/ap-south-1b"`,
			"blast.maxTargets: at most 1, got 10",
			"(-want +got):",
			// (cmp's spacing is deliberately unstable: only the values.)
			`"w1/one-box/ap-south-1",`,
			`"w1/ap-south-1/ap-south-1b",`,
			"2 passed, 1 failed",
		}},
		{name: "test --json", args: []string{"test", "--json", "--quiet", "testdata/tests-fail.yaml"}, code: 1, checkJSON: func(t *testing.T, out []byte) {
			var got []testResult
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Passed || len(got[0].Failures) != 2 || got[0].Got.Blast.Targets != 10 {
				t.Errorf("results: %+v", got)
			}
		}},
		{name: "test with the canary judge", args: []string{"test", "--quiet", "testdata/canary-tests.yaml"}, code: 0, stdout: []string{
			"PASS  testdata/canary-tests.yaml: the canary passes a good version", "2 passed, 0 failed",
		}},
		{name: "test a scenario without tests", args: []string{"test", "testdata/scenario-good.yaml"}, code: 2, stderr: []string{"tests: none"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runBin(t, bin, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
				}
			}
			if tt.noStderr && r.stderr != "" {
				t.Errorf("stderr is not empty:\n%s", r.stderr)
			}
			if tt.checkJSON != nil {
				tt.checkJSON(t, []byte(r.stdout))
			}
		})
	}
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatalf("simulate --html wrote no page: %v", err)
	}
	if !bytes.Contains(page, []byte("<svg")) || !bytes.Contains(page, []byte("w1/one-box/ap-south-1")) {
		t.Errorf("the page has no timeline:\n%.400s", page)
	}
}
