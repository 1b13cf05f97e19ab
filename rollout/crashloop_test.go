package rollout_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/internal/journal"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/wave"
)

// The crash loop: real processes, the file store, SIGKILL at random
// moments. A child process (this test binary, re-executed) drives a
// rollout over a fleet kept in files, so that the fleet survives the
// kills; the parent kills it at random, starts it again (it takes the
// rollout over with rollout.Open), and so on until a child finishes. Every
// run must end in the phase and versions of an uninterrupted run, the
// state file must always be readable, and a deploy may be repeated only
// when a kill landed in the middle of that very call.

const crashChildEnv = "SHEPHERD_CRASH_CHILD"

// crashPlan is small and quick: three regions of four hosts, bakes of
// 30ms.
func crashPlan() wave.Plan {
	var ts []wave.Target
	for r := range 3 {
		for h := range 4 {
			ts = append(ts, wave.Target{ID: fmt.Sprintf("r%d-h%d", r, h), Location: []string{fmt.Sprintf("r%d", r), fmt.Sprintf("r%d-a", r)}})
		}
	}
	ms := duration.Duration(30 * time.Millisecond)
	p, err := wave.Policy{Bake: wave.BakeSchedule{OneBox: ms, Zone: ms, FirstWave: ms, LaterWaves: ms, Final: ms}}.Plan(ts)
	if err != nil {
		panic(err)
	}
	return *p
}

var crashPolicy = rollout.Policy{
	Alarms: rollout.AlarmPolicy{Interval: duration.Duration(10 * time.Millisecond)},
	Bake:   bake.Schedule{Base: bake.Policy{PollInterval: duration.Duration(10 * time.Millisecond)}},
}

// fileFleet keeps each target's version in a file, and logs every deploy
// call's start and end to an append-only log.
type fileFleet struct {
	dir string
	mu  sync.Mutex
	log *os.File
}

func (f *fileFleet) path(id string) string { return filepath.Join(f.dir, id) }

func (f *fileFleet) note(line string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log.WriteString(line + "\n")
	f.log.Sync()
}

func (f *fileFleet) Deploy(ctx context.Context, t wave.Target, v string) error {
	f.note("start " + t.ID + " " + v)
	time.Sleep(10 * time.Millisecond) // a window for a kill in the middle
	if err := os.WriteFile(f.path(t.ID)+".tmp", []byte(v), 0o644); err != nil {
		return err
	}
	if err := os.Rename(f.path(t.ID)+".tmp", f.path(t.ID)); err != nil {
		return err
	}
	f.note("end " + t.ID + " " + v)
	return nil
}

func (f *fileFleet) Version(ctx context.Context, t wave.Target) (string, error) {
	b, err := os.ReadFile(f.path(t.ID))
	return string(b), err
}

// TestCrashLoopChild is the child: it is skipped unless the parent runs it.
func TestCrashLoopChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("run by TestCrashLoop")
	}
	log, err := os.OpenFile(filepath.Join(dir, "calls.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f := &fileFleet{dir: filepath.Join(dir, "fleet"), log: log}
	version := os.Getenv(crashChildEnv + "_VERSION")
	// The alarm fires while any target runs a bad version.
	alarms := rollout.AlarmsFunc(func(ctx context.Context, s rollout.Subject, now time.Time) ([]alarm.Result, error) {
		ents, err := os.ReadDir(f.dir)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if b, _ := os.ReadFile(filepath.Join(f.dir, e.Name())); strings.HasPrefix(string(b), "bad") {
				return []alarm.Result{{Name: "errors", State: alarm.Alarm, Reason: "bad version", Time: now}}, nil
			}
		}
		return []alarm.Result{{Name: "errors", State: alarm.OK, Time: now}}, nil
	})
	store := &rollout.FileStore{Dir: filepath.Join(dir, "state")}
	cfg := rollout.Config{Store: store, Alarms: alarms}
	ctx := context.Background()
	r, err := rollout.Open(ctx, "crash", f, cfg)
	if errors.Is(err, rollout.ErrNotFound) {
		r, err = rollout.Create(ctx, rollout.Spec{ID: "crash", Plan: crashPlan(), Version: version, Policy: crashPolicy}, f, cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644) // the parent's cue
	err = r.Run(ctx)
	p := r.Progress()
	json.NewEncoder(os.Stdout).Encode(map[string]string{"phase": string(p.Phase), "err": fmt.Sprint(err)})
}

type crashRun struct {
	phase    rollout.Phase
	versions map[string]string
	kills    int
	midCall  int // kills that landed during a deploy call
	midSave  int // kills that left a save's temporary file
	repeats  int // deploy calls repeated after a kill mid-call
	took     time.Duration
}

// crashOnce runs one rollout of version to its end, killing its driver at
// random moments within kill of each start when kill is not zero.
func crashOnce(t *testing.T, version string, rng *rand.Rand, kill time.Duration) crashRun {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"fleet", "state"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	plan := crashPlan()
	for _, w := range plan.Waves {
		for _, st := range w.Stages {
			for _, b := range st.Batches {
				for _, tg := range b.Targets {
					os.WriteFile(filepath.Join(dir, "fleet", tg.ID), []byte("v1"), 0o644)
				}
			}
		}
	}
	var run crashRun
	var began time.Time
	open := 0 // calls started and not ended, after the last kill
	for attempt := 0; ; attempt++ {
		if attempt > 500 {
			t.Fatal("the rollout never finished")
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashLoopChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashChildEnv+"_VERSION="+version)
		var out strings.Builder
		cmd.Stdout = &out
		cmd.Stderr = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if began.IsZero() {
			// The clean run's driving time is measured from the child
			// holding the rollout.
			for i := 0; i < 5000; i++ {
				if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
					break
				}
				time.Sleep(time.Millisecond)
			}
			began = time.Now()
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		stop := make(chan struct{})
		var timer <-chan time.Time
		if kill > 0 {
			// Kills fall anywhere in the driving of the rollout: from the
			// moment the child holds it to as long as a whole
			// uninterrupted run drives it.
			ready := filepath.Join(dir, "ready")
			for i := 0; i < 2000; i++ {
				if _, err := os.Stat(ready); err == nil {
					break
				}
				time.Sleep(time.Millisecond)
			}
			os.Remove(ready)
			if rng.IntN(2) == 0 {
				// Half the kills aim at a deploy call in flight.
				timer = inCall(filepath.Join(dir, "calls.log"), rng, stop)
			} else {
				timer = time.After(time.Duration(rng.Int64N(int64(kill))))
			}
		}
		select {
		case err := <-done:
			close(stop)
			if err != nil {
				t.Fatalf("child failed: %v\n%s", err, out.String())
			}
			var res map[string]string
			for _, line := range strings.Split(out.String(), "\n") {
				if strings.HasPrefix(line, "{") {
					json.Unmarshal([]byte(line), &res)
				}
			}
			run.phase = rollout.Phase(res["phase"])
			run.took = time.Since(began)
			run.versions = fleetVersions(t, filepath.Join(dir, "fleet"))
			run.repeats, run.midCall = callStats(t, filepath.Join(dir, "calls.log"), run.midCall)
			return run
		case <-timer:
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
			close(stop)
			run.kills++
			if n := openCalls(t, filepath.Join(dir, "calls.log")); n > open {
				run.midCall++ // this kill left a call unfinished
				open = n
			}
			// A kill in the middle of a save leaves a torn record at the
			// journal's end (or a compaction's temporary file).
			if b, err := os.ReadFile(filepath.Join(dir, "state", "crash.journal")); err == nil {
				if j, err := journal.Replay(b); err != nil {
					t.Fatalf("after kill %d the journal does not replay: %v", run.kills, err)
				} else if j.Valid < len(b) {
					run.midSave++
				}
			}
			if tmps, _ := filepath.Glob(filepath.Join(dir, "state", ".*.tmp")); len(tmps) > 0 {
				run.midSave++
			}
			// The saved state is always readable, by the store a new
			// driver opens it with.
			fs := &rollout.FileStore{Dir: filepath.Join(dir, "state")}
			data, tok, err := fs.Load(context.Background(), "crash")
			if err != nil {
				t.Fatalf("after kill %d the store cannot load the rollout: %v", run.kills, err)
			}
			if data != nil {
				if _, err := rollout.DecodeState(data); err != nil {
					t.Fatalf("after kill %d the saved state does not decode: %v", run.kills, err)
				}
			}
			fs.Release(context.Background(), "crash", tok)
		}
	}
}

func fleetVersions(t *testing.T, dir string) map[string]string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		out[e.Name()] = string(b)
	}
	return out
}

// inCall fires a few milliseconds after a deploy call starts (one still
// in flight), or never if the child ends first.
func inCall(log string, rng *rand.Rand, stop <-chan struct{}) <-chan time.Time {
	fire := make(chan time.Time, 1)
	delay := time.Duration(rng.Int64N(int64(8 * time.Millisecond)))
	go func() {
		seen := 0
		if b, err := os.ReadFile(log); err == nil {
			seen = strings.Count(string(b), "start ")
		}
		for {
			select {
			case <-time.After(500 * time.Microsecond):
			case <-stop:
				return
			}
			b, _ := os.ReadFile(log)
			if strings.Count(string(b), "start ") > seen && strings.HasPrefix(lastLine(string(b)), "start ") {
				time.Sleep(delay)
				fire <- time.Now()
				return
			}
		}
	}()
	return fire
}

func lastLine(s string) string {
	s = strings.TrimSuffix(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// openCalls counts the calls of the log that started and did not end.
func openCalls(t *testing.T, path string) int {
	open := map[string]int{}
	readLog(t, path, func(kind, key string) {
		if kind == "start" {
			open[key]++
		} else {
			open[key]--
		}
	})
	total := 0
	for _, n := range open {
		total += max(n, 0)
	}
	return total
}

// callStats counts deploy calls repeated for the same target and version,
// and fails the test for a repeat that no kill in the middle of the
// earlier call explains. midCall is carried through.
func callStats(t *testing.T, path string, midCall int) (repeats, mid int) {
	started := map[string]int{}
	ended := map[string]int{}
	readLog(t, path, func(kind, key string) {
		switch kind {
		case "start":
			if started[key] > 0 {
				if ended[key] >= started[key] {
					t.Errorf("deploy %s repeated although the earlier call ended", key)
				}
				repeats++
			}
			started[key]++
		case "end":
			ended[key]++
		}
	})
	return repeats, midCall
}

func readLog(t *testing.T, path string, fn func(kind, key string)) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		kind, key, ok := strings.Cut(sc.Text(), " ")
		if ok {
			fn(kind, key)
		}
	}
}

func TestCrashLoop(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in the child")
	}
	if testing.Short() {
		t.Skip("real processes; not in -short")
	}
	rng := rand.New(rand.NewPCG(7, 11))
	type tally struct{ kills, midCall, midSave, repeats int }
	var total tally
	for _, tc := range []struct {
		version string
		want    rollout.Phase
		on      string
	}{
		{"v2", rollout.Succeeded, "v2"},
		{"bad3", rollout.RolledBack, "v1"},
	} {
		clean := crashOnce(t, tc.version, rng, 0)
		if clean.phase != tc.want {
			t.Fatalf("uninterrupted run of %s ended %s, want %s", tc.version, clean.phase, tc.want)
		}
		for round := 0; total.kills < 60 || round < 2; round++ {
			if round > 40 {
				break
			}
			got := crashOnce(t, tc.version, rng, clean.took)
			if got.phase != clean.phase {
				t.Errorf("%s after %d kills ended %s, want %s as uninterrupted", tc.version, got.kills, got.phase, clean.phase)
			}
			for id, v := range clean.versions {
				if got.versions[id] != v {
					t.Errorf("%s after %d kills: %s runs %q, want %q as uninterrupted", tc.version, got.kills, id, got.versions[id], v)
				}
			}
			total.kills += got.kills
			total.midCall += got.midCall
			total.midSave += got.midSave
			total.repeats += got.repeats
			if total.kills >= 60 && round >= 2 {
				break
			}
		}
	}
	t.Logf("crash loop: %d kills, %d during a deploy call, %d during a save; %d deploy calls repeated, each after a kill in that call",
		total.kills, total.midCall, total.midSave, total.repeats)
	if total.kills < 50 {
		t.Errorf("only %d kills", total.kills)
	}
	if total.midCall == 0 {
		t.Error("no kill landed during a deploy call")
	}
}
