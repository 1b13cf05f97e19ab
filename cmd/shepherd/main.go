// Command shepherd checks rollout policies and previews rollouts without
// writing Go: it validates a policy file, explains the plan of a fleet,
// simulates a rollout against a simulated fleet, and runs scenario test
// files, in the spirit of promtool test rules.
//
// Usage:
//
//	shepherd validate [--json] POLICY...
//	shepherd plan [--json] --fleet FLEET [POLICY]
//	shepherd simulate [--json] [--quiet] [--html FILE] SCENARIO
//	shepherd test [--json] [--quiet] TESTFILE...
//
// Flags may come before or after the files.
//
// # Files
//
// Every file is JSON or YAML, read strictly by package policyfile: a key
// that names no field is an error with its path and the name probably
// meant, durations carry a unit ("90s", "2h"), and every problem is
// reported at once.
//
// A policy file is a policyfile.Policy: plan, rollout, blockers, alarms,
// canary. See go doc github.com/shepherd-go/shepherd/policyfile.
//
// A fleet file lists targets, lays out hosts, or both:
//
//	targets:
//	  - {id: db-1, location: [eu-west-1, eu-west-1a], weight: 2}
//	hosts: {regions: [us-east-1, eu-west-1], zones: 3, perZone: 4, weights: {us-east-1: 2}}
//	timeZones: {us-east-1: America/New_York}
//
// A scenario file (simulate) is a fleet, a policy (policyFile, relative to
// the scenario, or policy inline), the versions' behaviours and one rollout:
//
//	name: a bad version
//	policyFile: policy.yaml
//	fleet: {hosts: {regions: [us-east-1, eu-west-1], zones: 2, perZone: 5}}
//	initial: v1
//	versions:
//	  v2: {errorRate: 0.2}
//	  v3: {regressions: [{after: 30m, errorRate: 0.1, regions: [eu-west-1]}]}
//	faults: [{op: rollback, targets: [us-east-1a-1], failAlways: true}]
//	deployTime: 2m
//	start: "2026-03-02T09:00:00Z"
//	seed: 1
//	version: v2
//	controls: [{after: 2h, kind: approve, stage: w1/one-box/eu-west-1, actor: alice}]
//
// A test file (test) is the same without version and controls, with tests
// instead, each a version rolled out and what must come of it; an
// expectation left out is not checked:
//
//	tests:
//	  - name: a bad version stops at the first one-box
//	    version: v2
//	    expect:
//	      phase: rolled-back
//	      stage: w1/one-box/eu-west-1
//	      signal: alarm
//	      blast: {maxTargets: 1, maxShare: 0.05}
//	      running: {v1: 20}
//	  - name: a good version goes everywhere in a day
//	    version: v1.1
//	    expect: {phase: succeeded, stage: "", maxDuration: 24h}
//
// When the policy has no alarms, the simulated fleet is watched by
// rollouttest.CanaryRules (the fleet's error rate, and the change's error
// rate and latency against the rest of the fleet). The policy's alarms and
// blockers are wired as policyfile.Policy.Wire does, with the simulated
// fleet as the metric source (its queries: see rollouttest.Fleet.Query).
// When the policy enables the canary judge, its metrics are the fleet's
// (errors, error_rate, latency_mean_seconds...), read over the targets that
// run the version (the canary) and over the rest of the fleet (the
// baseline).
//
// # Output
//
// Results go to standard output, as text or, with --json, as one JSON
// document. Progress (each stage as it starts, blocks, bakes and ends, in
// simulated time) goes to standard error unless --quiet is given.
//
// # Exit codes
//
//	0  everything checked out: the policy is valid, the rollout succeeded,
//	   every test passed
//	1  the check failed: validate found problems, the simulated rollout did
//	   not succeed, a test's expectation was not met
//	2  the command could not check: bad usage, a file that cannot be read
//	   or is invalid (for plan, simulate and test), a fleet the policy
//	   cannot plan
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	_ "time/tzdata" // calendars in each region's time zone, on any machine

	"github.com/shepherd-go/shepherd/field"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitInput  = 2
)

func main() {
	// Ctrl-C stops a long simulation between two of its steps.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage:
  shepherd validate [--json] POLICY...
  shepherd plan [--json] --fleet FLEET [POLICY]
  shepherd simulate [--json] [--quiet] [--html FILE] SCENARIO
  shepherd test [--json] [--quiet] TESTFILE...

exit codes: 0 ok, 1 a check failed (invalid policy, rollout not succeeded,
test failed), 2 bad usage or input. See go doc github.com/shepherd-go/shepherd/cmd/shepherd.
`

// run runs the command with args and returns its exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitInput
	}
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer) int{
		"validate": validateCmd,
		"plan":     planCmd,
		"simulate": simulateCmd,
		"test":     testCmd,
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "shepherd: unknown command %q\n%s", args[0], usage)
		return exitInput
	}
	return cmd(ctx, args[1:], stdout, stderr)
}

// parse parses flags that may come before or after the positional
// arguments, and returns the positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// newFlags returns a flag set that reports to stderr.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// problems prints err, one problem a line, under a heading naming file.
func problems(w io.Writer, file string, err error) {
	errs := field.Flatten(err)
	if len(errs) == 1 {
		fmt.Fprintf(w, "%s: %v\n", file, errs[0])
		return
	}
	fmt.Fprintf(w, "%s: %d problems:\n", file, len(errs))
	for _, e := range errs {
		fmt.Fprintf(w, "  %s\n", strings.ReplaceAll(e.Error(), "\n", "\n    "))
	}
}

// problemList is err's problems as strings, for --json.
func problemList(err error) []problem {
	var out []problem
	for _, e := range field.Flatten(err) {
		p := problem{Message: e.Error()}
		var fe *field.Error
		if errors.As(e, &fe) {
			p.Path, p.Problem = fe.Path, fe.Problem
		}
		out = append(out, p)
	}
	return out
}

// problem is one problem in --json output.
type problem struct {
	// Path is the field's path in the file, when the problem has one.
	Path string `json:"path,omitempty"`
	// Problem is what is wrong with it.
	Problem string `json:"problem,omitempty"`
	// Message is the whole line, as the text output prints it.
	Message string `json:"message"`
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
