package fleet_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/examples/localfleet/fleet"
	"github.com/shepherd-go/shepherd/internal/testenv"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
	buildDir  string
)

// service builds the service once for every test of the package.
func service(t *testing.T) string {
	t.Helper()
	testenv.LookPath(t, "go")
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "fleet-test"); buildErr == nil {
			binary, buildErr = fleet.Build(context.Background(), buildDir)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// TestConformance runs the rollouttest conformance suite against real
// processes on loopback.
func TestConformance(t *testing.T) {
	ctx := t.Context()
	bin := service(t)
	targets := []wave.Target{
		{ID: "eu-west-1a-1", Location: []string{"eu-west-1", "eu-west-1a"}},
		{ID: "eu-west-1a-2", Location: []string{"eu-west-1", "eu-west-1a"}},
		{ID: "eu-west-1b-1", Location: []string{"eu-west-1", "eu-west-1b"}},
	}
	f, err := fleet.Start(ctx, fleet.Config{
		Binary:   bin,
		Targets:  targets,
		Versions: map[string]fleet.Behaviour{"v1": {}, "v2": {ErrorRate: 0.5}},
		Initial:  "v1",
		Logs:     os.Stderr,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rollouttest.RunDeployer(t, rollouttest.DeployerSuite{
		Deployer:    f,
		Targets:     targets,
		New:         "v2",
		Broken:      "v9", // no build of it
		CancelAfter: 5 * time.Millisecond,
		Timeout:     20 * time.Second,
	})
	for id, v := range f.Running() {
		if v != "v1" {
			t.Errorf("%s runs %q after the suite, want v1", id, v)
		}
	}
}

// TestCloseStopsEveryProcess checks that no process outlives Close.
func TestCloseStopsEveryProcess(t *testing.T) {
	ctx := t.Context()
	bin := service(t)
	targets := []wave.Target{{ID: "a", Location: []string{"r"}}, {ID: "b", Location: []string{"r"}}}
	f, err := fleet.Start(ctx, fleet.Config{Binary: bin, Targets: targets, Versions: map[string]fleet.Behaviour{"v1": {}}, Initial: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	urls := []string{f.URL("a"), f.URL("b")}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close() // idempotent
	for _, u := range urls {
		c, cancel := context.WithTimeout(ctx, time.Second)
		if v, err := f.Version(c, wave.Target{ID: "a"}); err == nil {
			t.Errorf("%s still answers after Close: %q", u, v)
		}
		cancel()
	}
	if got := f.Running(); got["a"] != "" || got["b"] != "" {
		t.Errorf("Running after Close: %v", got)
	}
}
