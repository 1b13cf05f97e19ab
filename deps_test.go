package shepherd_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDependencies guards the direction of the package map (docs: "Each
// package is useful alone"): the core packages import no third-party
// telemetry, leaf packages never import the driver, and the driver never
// imports its renderers. It asks the go command for each package's
// transitive dependencies, tests included neither way: what a user who
// imports the package compiles.
func TestDependencies(t *testing.T) {
	const mod = "github.com/shepherd-go/shepherd/"
	telemetry := []string{"github.com/prometheus/", "go.opentelemetry.io/"}
	tests := []struct {
		pkg       string
		forbidden []string // import path prefixes
	}{
		{"alarm", append(telemetry, mod+"rollout")},
		{"bake", append(telemetry, mod+"rollout")},
		{"blocker", append(telemetry, mod+"rollout")},
		{"canary", append(telemetry, mod+"rollout")},
		{"wave", append(telemetry, mod+"rollout")},
		{"duration", []string{mod + "rollout"}},
		{"field", []string{mod + "rollout"}},
		{"rollout", []string{mod + "timeline"}},
	}
	var pkgs []string
	for _, tt := range tests {
		pkgs = append(pkgs, tt.pkg)
	}
	deps := goListDeps(t, pkgs...)
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			ds, ok := deps[mod+tt.pkg]
			if !ok {
				t.Fatalf("go list reported nothing for %s", tt.pkg)
			}
			var got []string
			for _, d := range ds {
				for _, f := range tt.forbidden {
					if strings.HasPrefix(d, f) {
						got = append(got, d)
					}
				}
			}
			if diff := cmp.Diff([]string(nil), got); diff != "" {
				t.Errorf("forbidden dependencies of %s (-want +got):\n%s", tt.pkg, diff)
			}
		})
	}
	// wave is the planner alone: of ours it imports only the two leaves,
	// duration and field.
	t.Run("wave imports only leaves", func(t *testing.T) {
		var got []string
		for _, d := range deps[mod+"wave"] {
			if strings.HasPrefix(d, mod) && d != mod+"duration" && d != mod+"field" {
				got = append(got, d)
			}
		}
		if diff := cmp.Diff([]string(nil), got); diff != "" {
			t.Errorf("wave's dependencies in this module (-want +got):\n%s", diff)
		}
	})
}

// goListDeps returns the transitive dependencies of the named packages of
// this module, by import path.
func goListDeps(t *testing.T, pkgs ...string) map[string][]string {
	t.Helper()
	// go test puts its own go command first on PATH.
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	args := []string{"list", "-f", `{{.ImportPath}} {{join .Deps " "}}`}
	for _, p := range pkgs {
		args = append(args, "./"+p)
	}
	out, err := exec.Command(goCmd, args...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 {
			deps[f[0]] = f[1:]
		}
	}
	return deps
}
