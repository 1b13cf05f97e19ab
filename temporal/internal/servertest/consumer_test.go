package servertest_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shepherd-go/shepherd/temporal/internal/servertest"
)

// TestConsumerBuildsFromAModuleProxy: a module outside the repository
// that requires the core and the Temporal adapter at their release
// versions, with no replace directive and no workspace, resolves both
// from a file-system module proxy built from the working tree, and
// builds and runs; the Temporal server is not in its module graph.
//
// Third-party modules come from the module cache of the machine (itself
// a file-system proxy) and then from the GOPROXY of the environment: the
// consumer selects the versions the adapter requires, lower than the
// workspace's (which the server raises), and those the machine never
// downloaded come from there. The consumer gets a module cache of its own, so that no
// snapshot of the working tree stays in the machine's cache as a release.
func TestConsumerBuildsFromAModuleProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program that imports the Temporal SDK")
	}
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not on PATH: %v", err)
	}
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	mods, err := servertest.TreeModules(root)
	if err != nil {
		t.Fatal(err)
	}
	proxy := t.TempDir()
	if err := servertest.WriteProxy(proxy, mods...); err != nil {
		t.Fatal(err)
	}

	var genv struct{ GOPROXY, GOMODCACHE, GOFLAGS, GONOSUMDB string }
	out, err := exec.Command(gocmd, "env", "-json", "GOPROXY", "GOMODCACHE", "GOFLAGS", "GONOSUMDB").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	if err := json.Unmarshal(out, &genv); err != nil {
		t.Fatal(err)
	}
	proxies := []string{fileURL(proxy)}
	if genv.GOMODCACHE != "" {
		proxies = append(proxies, fileURL(filepath.Join(genv.GOMODCACHE, "cache", "download")))
	}
	if genv.GOPROXY != "" {
		proxies = append(proxies, genv.GOPROXY)
	}
	env := append(os.Environ(),
		"GOWORK=off",
		"GOTOOLCHAIN=local",
		"GOPROXY="+strings.Join(proxies, ","),
		"GOMODCACHE="+filepath.Join(t.TempDir(), "mod"),
		// Our modules are served from the working tree: no checksum
		// database knows them.
		"GONOSUMDB="+strings.Trim(genv.GONOSUMDB+","+servertest.Core, ","),
		// -modcacherw: the temporary cache can be removed.
		"GOFLAGS="+strings.TrimSpace(genv.GOFLAGS+" -modcacherw -mod=mod"),
	)

	dir := t.TempDir()
	var req strings.Builder
	for _, m := range mods {
		req.WriteString("\t" + m.Path + " " + m.Version + "\n")
	}
	write(t, filepath.Join(dir, "go.mod"), "module example.com/consumer\n\ngo 1.25.0\n\nrequire (\n"+req.String()+")\n")
	write(t, filepath.Join(dir, "main.go"), `package main

import (
	"fmt"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/temporal"
)

func main() {
	fmt.Println(temporal.WorkflowID("r1"), rollout.Policy{}.Validate() == nil, temporal.Settings{}.Validate() == nil)
}
`)
	// The checksums of the third-party modules, from the go.sum files of
	// the repository (each verified when it was written), so that the
	// checksum database is not needed either.
	var sums []string
	for _, m := range mods {
		data, err := os.ReadFile(filepath.Join(m.Dir, "go.sum"))
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, strings.Split(strings.TrimSpace(string(data)), "\n")...)
	}
	slices.Sort(sums)
	write(t, filepath.Join(dir, "go.sum"), strings.Join(slices.Compact(sums), "\n")+"\n")

	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = dir, env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.Bytes())
		}
		return string(out)
	}
	// -trimpath: the packages of the temporary module cache compile to
	// the same build cache entries at every run.
	run(gocmd, "build", "-trimpath", "-o", "consumer", ".")
	if got, want := run(filepath.Join(dir, "consumer")), "shepherd-rollout-r1 true true\n"; got != want {
		t.Errorf("the consumer printed %q, want %q", got, want)
	}
	graph := strings.Fields(run(gocmd, "list", "-m", "-f", "{{.Path}}@{{.Version}}", "all"))
	for _, m := range mods {
		if !slices.Contains(graph, m.Path+"@"+m.Version) {
			t.Errorf("%s@%s is not in the consumer's module graph", m.Path, m.Version)
		}
	}
	for _, m := range graph {
		if strings.HasPrefix(m, "go.temporal.io/server@") {
			t.Errorf("the consumer inherits %s", m)
		}
	}
	t.Logf("the consumer's module graph: %d modules (go list -m all)", len(graph))
}

func fileURL(dir string) string { return "file://" + filepath.ToSlash(dir) }

func write(t *testing.T, name, data string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
