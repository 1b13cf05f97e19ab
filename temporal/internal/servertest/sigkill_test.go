package servertest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/temporal"
	"github.com/shepherd-go/shepherd/temporal/internal/testfleet"
	"github.com/shepherd-go/shepherd/wave"
)

// fileFleet is a Deployer whose targets' versions are files in a
// directory, shared by processes; every deploy is appended to a log.
type fileFleet struct {
	dir, worker string
	// hang is called after the deploy of a target, before it returns.
	hang func(t wave.Target)
}

func (f fileFleet) Deploy(ctx context.Context, t wave.Target, v string) error {
	if err := os.WriteFile(filepath.Join(f.dir, t.ID), []byte(v), 0o644); err != nil {
		return err
	}
	log, err := os.OpenFile(filepath.Join(f.dir, "deploys.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "%s %s %s\n", f.worker, t.ID, v)
	if err := log.Close(); err != nil {
		return err
	}
	if f.hang != nil {
		f.hang(t)
	}
	return nil
}

func (f fileFleet) Version(ctx context.Context, t wave.Target) (string, error) {
	b, err := os.ReadFile(filepath.Join(f.dir, t.ID))
	return string(b), err
}

// TestDeployNotRepeatedAfterSIGKILL: a worker process (this test binary,
// run again) deploys the one-box and is killed with SIGKILL before it can
// report; a worker in this process takes the retry, reads the version
// first and does not deploy again: the one-box is deployed once.
func TestDeployNotRepeatedAfterSIGKILL(t *testing.T) {
	if os.Getenv("SHEPHERD_SIGKILL_CHILD") != "" {
		sigkillChild(t)
		return
	}
	if testing.Short() {
		t.Skip("starts a worker process")
	}
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	const queue = "sigkill"
	dir := t.TempDir()
	plan := testfleet.ZonePlan(3, 2, 0, 0)
	for _, id := range rollouttest.AllTargets(plan) {
		if err := os.WriteFile(filepath.Join(dir, id), []byte("v1"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	child := exec.Command(os.Args[0], "-test.run=^TestDeployNotRepeatedAfterSIGKILL$")
	child.Env = append(os.Environ(), "SHEPHERD_SIGKILL_CHILD=1", "SHEPHERD_HOSTPORT="+ts.GetFrontendHostPort(),
		"SHEPHERD_NAMESPACE="+ts.GetDefaultNamespace(), "SHEPHERD_DIR="+dir, "SHEPHERD_QUEUE="+queue)
	child.Stdout, child.Stderr = os.Stderr, os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()
	c := temporal.NewClient(ts.GetDefaultClient(), queue)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	set := temporal.Settings{HeartbeatTimeout: duration.Duration(2 * time.Second)}
	if err := c.Start(ctx, "sigkill", plan, "v2", rollout.Policy{}, set); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "hung")); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the worker process never deployed the one-box")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	ts.NewWorker(queue, func(r worker.Registry) {
		temporal.Register(r, &temporal.Activities{Deployer: fileFleet{dir: dir, worker: "b"}})
	})
	if _, err := c.Wait(ctx, "sigkill"); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	log, err := os.ReadFile(filepath.Join(dir, "deploys.log"))
	if err != nil {
		t.Fatal(err)
	}
	var ob []string
	for _, l := range strings.Split(strings.TrimSpace(string(log)), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[1] == "ob" {
			ob = append(ob, f[0]+":"+f[2])
		}
	}
	if len(ob) != 1 || ob[0] != "a:v2" {
		t.Errorf("one-box deploys %v, want one, by the killed worker a", ob)
	}
}

// sigkillChild is the worker process: it deploys and, after the one-box's
// deploy, says so and hangs until it is killed.
func sigkillChild(t *testing.T) {
	cl, err := client.Dial(client.Options{HostPort: os.Getenv("SHEPHERD_HOSTPORT"), Namespace: os.Getenv("SHEPHERD_NAMESPACE")})
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("SHEPHERD_DIR")
	f := fileFleet{dir: dir, worker: "a", hang: func(tg wave.Target) {
		if tg.ID == "ob" {
			os.WriteFile(filepath.Join(dir, "hung"), nil, 0o644)
			select {}
		}
	}}
	w := temporal.NewWorker(cl, os.Getenv("SHEPHERD_QUEUE"), &temporal.Activities{Deployer: f}, worker.Options{})
	if err := w.Run(worker.InterruptCh()); err != nil {
		t.Fatal(err)
	}
}
