//go:build unix

package rollout_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

// dirFleet is a deployer whose targets are files in a directory, each
// holding its version, replaced atomically: a fleet that outlives the
// driver's process.
type dirFleet struct {
	dir   string
	delay time.Duration
}

func (f dirFleet) Deploy(ctx context.Context, t wave.Target, v string) error {
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	tmp := filepath.Join(f.dir, "."+t.ID)
	if err := os.WriteFile(tmp, []byte(v), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(f.dir, t.ID))
}

func (f dirFleet) Version(_ context.Context, t wave.Target) (string, error) {
	b, err := os.ReadFile(filepath.Join(f.dir, t.ID))
	if errors.Is(err, os.ErrNotExist) {
		return "v1", nil
	}
	return string(b), err
}

// TestKillLoopDriver is not a test: it is the driver process that
// TestFileStoreSurvivesSIGKILL starts and kills, by running the test
// binary again with SHEPHERD_KILL_LOOP set to the directory of the store
// and the fleet. It creates or opens the rollout and drives it.
func TestKillLoopDriver(t *testing.T) {
	dir := os.Getenv("SHEPHERD_KILL_LOOP")
	if dir == "" {
		t.Skip("run by TestFileStoreSurvivesSIGKILL")
	}
	ctx := context.Background()
	store := &rollout.FileStore{Dir: filepath.Join(dir, "store")}
	fleet := dirFleet{dir: filepath.Join(dir, "fleet"), delay: 10 * time.Millisecond}
	r, err := rollout.Open(ctx, "loop", fleet, rollout.Config{Store: store})
	if errors.Is(err, rollout.ErrNotFound) {
		r, err = rollout.Create(ctx, rollout.Spec{ID: "loop", Plan: rollouttest.ZeroBake(rollouttest.AWSPlan(3, 2, 6)), Version: "v2"}, fleet, rollout.Config{Store: store})
	}
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	if err := r.Run(ctx); err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	fmt.Println("succeeded")
}

// TestFileStoreSurvivesSIGKILL drives a rollout of 36 targets in a
// process that it kills with SIGKILL at random moments and starts again,
// until the rollout ends: every restart reads the journal back (no
// ErrCorrupt, no lost save) and the rollout succeeds with every target on
// the new version.
func TestFileStoreSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	for _, d := range []string{"store", "fleet"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	kills := 0
	for i := 0; ; i++ {
		if i == 40 {
			t.Fatalf("the rollout did not end after %d runs", i)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillLoopDriver$")
		cmd.Env = append(os.Environ(), "SHEPHERD_KILL_LOOP="+dir)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// The first kill lands early; later runs get longer, so that the
		// rollout ends.
		wait := time.Duration(100+rng.IntN(1000+300*i)) * time.Millisecond
		if i == 0 {
			wait = 300 * time.Millisecond
		}
		timer := time.NewTimer(wait)
		select {
		case err := <-done:
			timer.Stop()
			if err != nil || !strings.Contains(out.String(), "succeeded") {
				t.Fatalf("run %d: %v\n%s", i, err, out.String())
			}
			t.Logf("the rollout succeeded on run %d, after %d kills", i+1, kills)
			ents, err := os.ReadDir(filepath.Join(dir, "fleet"))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), ".") {
					continue
				}
				n++
				if b, _ := os.ReadFile(filepath.Join(dir, "fleet", e.Name())); string(b) != "v2" {
					t.Errorf("%s runs %q", e.Name(), b)
				}
			}
			if n != 36 {
				t.Errorf("%d targets deployed, want 36", n)
			}
			return
		case <-timer.C:
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
			kills++
			if strings.Contains(out.String(), "error") {
				t.Fatalf("run %d: %s", i, out.String())
			}
		}
	}
}
