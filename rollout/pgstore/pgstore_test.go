//go:build unix

package pgstore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollout/pgstore"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/wave"
)

func newStore(t *testing.T, pool *pgxpool.Pool, c pgstore.Config) *pgstore.Store {
	t.Helper()
	s, err := pgstore.New(context.Background(), pool, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStoreConforms(t *testing.T) {
	srv := startPostgres(t)
	pool := srv.pool(t)
	rollouttest.RunStore(t, rollouttest.StoreSuite{
		Store: newStore(t, pool, pgstore.Config{Holder: "store"}),
		Peer:  newStore(t, srv.pool(t), pgstore.Config{Holder: "peer"}),
		Corrupt: func(id string) error {
			// Flip a bit in the middle of the first record, the snapshot.
			_, err := pool.Exec(context.Background(), `UPDATE shepherd_rollout_records
				SET record = set_byte(record, length(record)/2, get_byte(record, length(record)/2) # 32)
				WHERE id = $1 AND seq = (SELECT min(seq) FROM shepherd_rollout_records WHERE id = $1)`, id)
			return err
		},
	})
}

func TestConfigValidation(t *testing.T) {
	srv := startPostgres(t)
	pool := srv.pool(t)
	for _, tc := range []struct {
		name string
		c    pgstore.Config
	}{
		{"short lease", pgstore.Config{Lease: time.Millisecond}},
		{"bad prefix", pgstore.Config{Prefix: "x; DROP TABLE y"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := pgstore.New(context.Background(), pool, tc.c); !errors.Is(err, rollout.ErrInvalid) {
				t.Errorf("New = %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := pgstore.New(context.Background(), nil, pgstore.Config{}); !errors.Is(err, rollout.ErrInvalid) {
		t.Errorf("New(nil pool) = %v, want ErrInvalid", err)
	}
}

// TestStaleHolderIsFencedByTheDatabase: a holder whose lease expired while
// it was paused (here: its expiry is set in the past, and its renewals are
// far apart) still believes it holds the lease; its save reaches the
// database, which refuses it because another replica took over.
func TestStaleHolderIsFencedByTheDatabase(t *testing.T) {
	srv := startPostgres(t)
	pool := srv.pool(t)
	ctx := context.Background()
	a := newStore(t, pool, pgstore.Config{Holder: "a", Lease: time.Minute})
	b := newStore(t, srv.pool(t), pgstore.Config{Holder: "b", Lease: time.Minute})
	_, tokA, err := a.Load(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Save(ctx, "x", tokA, []byte("a's state")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Load(ctx, "x"); !errors.Is(err, rollout.ErrLocked) {
		t.Fatalf("b.Load while a holds the lease = %v, want ErrLocked", err)
	}
	if _, err := pool.Exec(ctx, `UPDATE shepherd_rollout_leases SET expires = now() - interval '1 second' WHERE id = 'x'`); err != nil {
		t.Fatal(err)
	}
	got, tokB, err := b.Load(ctx, "x")
	if err != nil || string(got) != "a's state" || tokB <= tokA {
		t.Fatalf("b.Load after the lease expired = %q, token %d, %v; want a's state and a token above %d", got, tokB, err, tokA)
	}
	if err := a.Save(ctx, "x", tokA, []byte("stale")); !errors.Is(err, rollout.ErrFenced) {
		t.Fatalf("the stale holder's Save = %v, want ErrFenced", err)
	}
	if err := b.Save(ctx, "x", tokB, []byte("b's state")); err != nil {
		t.Fatal(err)
	}
	// The stale holder's Release does not free b's lease.
	if err := a.Release(ctx, "x", tokA); err != nil {
		t.Fatal(err)
	}
	infos, err := b.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].Holder != "b" || infos[0].Token != tokB {
		t.Fatalf("List = %+v, want x held by b with token %d", infos, tokB)
	}
}

func TestListByPhase(t *testing.T) {
	srv := startPostgres(t)
	s := newStore(t, srv.pool(t), pgstore.Config{})
	ctx := context.Background()
	plan := smallPlan(t)
	d := newDeployer(io.Discard, "")
	for _, id := range []string{"done-1", "done-2", "running-1"} {
		r, err := rollout.Create(ctx, rollout.Spec{ID: id, Plan: plan, Version: "v2"}, d, rollout.Config{Store: s})
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(id, "done") {
			if err := r.Run(ctx); err != nil {
				t.Fatal(err)
			}
		} else {
			r.Close()
		}
	}
	ids := func(phases ...rollout.Phase) []string {
		infos, err := s.List(ctx, phases...)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, in := range infos {
			out = append(out, in.ID+":"+string(in.Phase))
		}
		return out
	}
	for _, tc := range []struct {
		phases []rollout.Phase
		want   []string
	}{
		{nil, []string{"done-1:succeeded", "done-2:succeeded", "running-1:running"}},
		{[]rollout.Phase{rollout.Succeeded}, []string{"done-1:succeeded", "done-2:succeeded"}},
		{[]rollout.Phase{rollout.Running, rollout.RolledBack}, []string{"running-1:running"}},
	} {
		if diff := cmp.Diff(tc.want, ids(tc.phases...)); diff != "" {
			t.Errorf("List(%v) (-want +got):\n%s", tc.phases, diff)
		}
	}
}

// smallPlan is a plan of 3 regions x 2 zones x 4 hosts with no bakes.
func smallPlan(t testing.TB) wave.Plan {
	none := wave.BakeSchedule{OneBox: duration.None, Zone: duration.None, FirstWave: duration.None, LaterWaves: duration.None, Final: duration.None}
	p, err := wave.Policy{Bake: none}.Plan(rollouttest.Hosts([]string{"r1", "r2", "r3"}, 2, 4))
	if err != nil {
		t.Fatal(err)
	}
	return *p
}

// deployer lands deploys at once and writes "deploy ROLLOUT TARGET" for
// each to w. When block is set, the first deploy writes "deploying" and
// waits for it to be closed.
type deployer struct {
	mu      sync.Mutex
	w       io.Writer
	rollout string
	v       map[string]string
	block   chan struct{}
	once    sync.Once
}

func newDeployer(w io.Writer, id string) *deployer {
	return &deployer{w: w, rollout: id, v: map[string]string{}}
}

func (d *deployer) Deploy(ctx context.Context, t wave.Target, v string) error {
	if d.block != nil {
		d.once.Do(func() {
			d.mu.Lock()
			fmt.Fprintln(d.w, "deploying")
			d.mu.Unlock()
			select {
			case <-d.block:
			case <-ctx.Done():
			}
		})
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.v[t.ID] = v
	fmt.Fprintf(d.w, "deploy %s %s\n", d.rollout, t.ID)
	return nil
}

func (d *deployer) Version(_ context.Context, t wave.Target) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if v, ok := d.v[t.ID]; ok {
		return v, nil
	}
	return "v1", nil
}

// replicaLease is the lease of the replica processes: short, so that a
// takeover after a SIGKILL happens within the test.
const replicaLease = 2 * time.Second

// TestReplicaProcess is not a test: it is the replica process that
// TestTwoReplicas and TestKilledReplica start, by running the test binary
// again with SHEPHERD_PG_REPLICA set. Its protocol is lines on stdin and
// stdout.
func TestReplicaProcess(t *testing.T) {
	mode := os.Getenv("SHEPHERD_PG_REPLICA")
	if mode == "" {
		t.Skip("run by TestTwoReplicas and TestKilledReplica")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("SHEPHERD_PG_DSN"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s, err := pgstore.New(ctx, pool, pgstore.Config{Lease: replicaLease, Holder: "replica-" + strconv.Itoa(os.Getpid())})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := &lockedWriter{w: os.Stdout}
	in := bufio.NewScanner(os.Stdin)
	waitFor := func(line string) {
		for in.Scan() {
			if in.Text() == line {
				return
			}
		}
		t.Fatalf("stdin closed before %q", line)
	}
	ids := strings.Split(os.Getenv("SHEPHERD_PG_IDS"), ",")
	switch mode {
	case "race":
		// Open every rollout it can, then, once told, drive those.
		fmt.Fprintln(out, "ready")
		waitFor("open")
		var runners []*rollout.Runner
		var held []string
		for _, id := range ids {
			r, err := rollout.Open(ctx, id, newDeployer(out, id), rollout.Config{Store: s})
			switch {
			case errors.Is(err, rollout.ErrLocked):
				fmt.Fprintln(out, "locked", id)
			case err != nil:
				fmt.Fprintln(out, "error", id, err)
			default:
				fmt.Fprintln(out, "held", id)
				runners, held = append(runners, r), append(held, id)
			}
		}
		fmt.Fprintln(out, "opened")
		waitFor("run")
		for i, r := range runners {
			if err := r.Run(ctx); err != nil {
				fmt.Fprintln(out, "failed", held[i], err)
			} else {
				fmt.Fprintln(out, "done", held[i])
			}
		}
	case "loop":
		// Drive the rollout to its end, creating it if need be, taking
		// it over once the lease of a killed predecessor expires.
		fleet := dirFleet{dir: os.Getenv("SHEPHERD_PG_FLEET"), delay: 100 * time.Millisecond}
		var r *rollout.Runner
		for {
			r, err = rollout.Open(ctx, ids[0], fleet, rollout.Config{Store: s})
			if errors.Is(err, rollout.ErrNotFound) {
				r, err = rollout.Create(ctx, rollout.Spec{ID: ids[0], Plan: smallPlan(t), Version: "v2"}, fleet, rollout.Config{Store: s})
			}
			if !errors.Is(err, rollout.ErrLocked) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err == nil {
			fmt.Fprintln(out, "driving")
			err = r.Run(ctx)
		}
		if err != nil {
			fmt.Fprintln(out, "error", err)
			os.Exit(3)
		}
		fmt.Fprintln(out, "succeeded")
	case "hold":
		// Drive one rollout whose first deploy blocks until told.
		d := newDeployer(out, ids[0])
		d.block = make(chan struct{})
		r, err := rollout.Open(ctx, ids[0], d, rollout.Config{Store: s})
		if err != nil {
			fmt.Fprintln(out, "error", err)
			return
		}
		go func() {
			waitFor("go")
			close(d.block)
		}()
		err = r.Run(ctx)
		switch {
		case errors.Is(err, rollout.ErrFenced):
			fmt.Fprintln(out, "fenced")
		case err != nil:
			fmt.Fprintln(out, "failed", err)
		default:
			fmt.Fprintln(out, "done")
		}
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// replica is a replica process started by a test.
type replica struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // its stdout, line by line; closed when it exits
	mu    sync.Mutex
	all   []string
}

func startReplica(t *testing.T, srv *server, mode string, ids ...string) *replica {
	t.Helper()
	return startReplicaEnv(t, srv, mode, nil, ids...)
}

func startReplicaEnv(t *testing.T, srv *server, mode string, env []string, ids ...string) *replica {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestReplicaProcess$", "-test.v=false")
	cmd.Env = append(os.Environ(), "SHEPHERD_PG_REPLICA="+mode, "SHEPHERD_PG_DSN="+srv.dsn, "SHEPHERD_PG_IDS="+strings.Join(ids, ","))
	cmd.Env = append(cmd.Env, env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &replica{cmd: cmd, stdin: stdin, lines: make(chan string, 1000)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.mu.Lock()
			r.all = append(r.all, sc.Text())
			r.mu.Unlock()
			r.lines <- sc.Text()
		}
		close(r.lines)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return r
}

func (r *replica) send(t *testing.T, line string) {
	t.Helper()
	if _, err := fmt.Fprintln(r.stdin, line); err != nil {
		t.Fatalf("writing %q to replica %d: %v", line, r.cmd.Process.Pid, err)
	}
}

// expect reads lines until one starts with prefix, and returns it.
func (r *replica) expect(t *testing.T, prefix string, within time.Duration) string {
	t.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-r.lines:
			if !ok {
				t.Fatalf("replica %d exited before %q; it wrote:\n%s", r.cmd.Process.Pid, prefix, r.output())
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timer.C:
			t.Fatalf("replica %d wrote no %q within %s; it wrote:\n%s", r.cmd.Process.Pid, prefix, within, r.output())
		}
	}
}

func (r *replica) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.all, "\n")
}

// wait waits for the replica to exit and returns everything it wrote.
func (r *replica) wait(t *testing.T) []string {
	t.Helper()
	for range r.lines {
	}
	if err := r.cmd.Wait(); err != nil {
		t.Errorf("replica %d: %v\n%s", r.cmd.Process.Pid, err, r.output())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.all)
}

// createRollouts records new rollouts of smallPlan, not yet driven.
func createRollouts(t *testing.T, s rollout.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		r, err := rollout.Create(context.Background(), rollout.Spec{ID: id, Plan: smallPlan(t), Version: "v2"}, newDeployer(io.Discard, id), rollout.Config{Store: s})
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
}

// TestTwoReplicas: two processes race to take over the same eight
// rollouts (in opposite orders) and drive those they got; each rollout is driven by exactly
// one, the other got ErrLocked, and every rollout succeeds.
func TestTwoReplicas(t *testing.T) {
	srv := startPostgres(t)
	s := newStore(t, srv.pool(t), pgstore.Config{})
	var ids []string
	for i := range 8 {
		ids = append(ids, "race-"+strconv.Itoa(i))
	}
	createRollouts(t, s, ids...)
	// In opposite orders, so that they meet in the middle.
	a := startReplica(t, srv, "race", ids...)
	rev := slices.Clone(ids)
	slices.Reverse(rev)
	b := startReplica(t, srv, "race", rev...)
	for _, r := range []*replica{a, b} {
		r.expect(t, "ready", time.Minute)
	}
	// Both start opening at once, then both run once both have tried
	// every rollout: a rollout driven to its end is released, and the
	// other would then take it legitimately.
	a.send(t, "open")
	b.send(t, "open")
	for _, r := range []*replica{a, b} {
		r.expect(t, "opened", time.Minute)
	}
	a.send(t, "run")
	b.send(t, "run")
	outA, outB := a.wait(t), b.wait(t)

	type verdict struct{ held, locked, done, deployers int }
	got := map[string]*verdict{}
	for _, id := range ids {
		got[id] = &verdict{}
	}
	for _, out := range [][]string{outA, outB} {
		deployed := map[string]bool{}
		for _, l := range out {
			f := strings.Fields(l)
			if len(f) < 2 {
				continue
			}
			v := got[f[1]]
			if v == nil {
				t.Errorf("unexpected line %q", l)
				continue
			}
			switch f[0] {
			case "held":
				v.held++
			case "locked":
				v.locked++
			case "done":
				v.done++
			case "deploy":
				if !deployed[f[1]] {
					deployed[f[1]] = true
					v.deployers++
				}
			default:
				t.Errorf("replica: %s", l)
			}
		}
	}
	want := map[string]*verdict{}
	for _, id := range ids {
		want[id] = &verdict{held: 1, locked: 1, done: 1, deployers: 1}
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(verdict{})); diff != "" {
		t.Errorf("per rollout: held, locked, done, processes that deployed (-want +got):\n%s\nreplica A:\n%s\nreplica B:\n%s",
			diff, strings.Join(outA, "\n"), strings.Join(outB, "\n"))
	}
	infos, err := s.List(context.Background(), rollout.Succeeded)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != len(ids) {
		t.Errorf("%d rollouts succeeded, want %d: %+v", len(infos), len(ids), infos)
	}
	drove := func(out []string) int {
		n := 0
		for _, l := range out {
			if strings.HasPrefix(l, "done ") {
				n++
			}
		}
		return n
	}
	t.Logf("replica A drove %d rollouts, replica B %d", drove(outA), drove(outB))
}

// TestKilledReplica: a replica driving a rollout is killed with SIGKILL in
// the middle of a deploy; another takes the rollout over once the lease
// expires, not before, with a larger token, and finishes it. A replica
// that is only paused (SIGSTOP) past its lease is fenced off when it
// wakes: its next save fails with ErrFenced and it stops driving.
func TestKilledReplica(t *testing.T) {
	srv := startPostgres(t)
	ctx := context.Background()
	s := newStore(t, srv.pool(t), pgstore.Config{Holder: "survivor"})
	createRollouts(t, s, "killed", "paused")

	takeOver := func(id string, lease time.Time) (*rollout.Runner, uint64, time.Duration) {
		t.Helper()
		start := time.Now()
		for {
			r, err := rollout.Open(ctx, id, newDeployer(io.Discard, id), rollout.Config{Store: s})
			if err == nil {
				infos, _ := s.List(ctx)
				for _, in := range infos {
					if in.ID == id {
						return r, in.Token, time.Since(start)
					}
				}
				t.Fatalf("%s is not listed", id)
			}
			if !errors.Is(err, rollout.ErrLocked) {
				t.Fatalf("Open(%s) = %v, want ErrLocked until the lease expires", id, err)
			}
			if time.Now().After(lease.Add(5 * time.Second)) {
				t.Fatalf("Open(%s) still ErrLocked 5s after the lease should have expired", id)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	leaseOf := func(id string) (time.Time, uint64) {
		infos, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range infos {
			if in.ID == id {
				return in.Expires, in.Token
			}
		}
		t.Fatalf("%s is not listed", id)
		return time.Time{}, 0
	}

	t.Run("SIGKILL", func(t *testing.T) {
		k := startReplica(t, srv, "hold", "killed")
		k.expect(t, "deploying", time.Minute)
		if _, err := rollout.Open(ctx, "killed", newDeployer(io.Discard, "killed"), rollout.Config{Store: s}); !errors.Is(err, rollout.ErrLocked) {
			t.Fatalf("Open while the replica holds the lease = %v, want ErrLocked", err)
		}
		if err := k.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		_ = k.cmd.Wait()
		_, staleToken := leaseOf("killed")
		r, token, _ := takeOver("killed", killed.Add(replicaLease))
		after := time.Since(killed)
		t.Logf("taken over %s after the SIGKILL (lease %s), token %d after %d", after.Round(time.Millisecond), replicaLease, token, staleToken)
		if token <= staleToken {
			t.Errorf("token %d after the killed replica's %d: tokens must grow", token, staleToken)
		}
		// The lease was renewed at most a third of it before the kill.
		if after < replicaLease/2 {
			t.Errorf("taken over %s after the SIGKILL, before the lease of %s could expire", after, replicaLease)
		}
		if err := r.Run(ctx); err != nil {
			t.Fatalf("the survivor's Run = %v", err)
		}
		if err := s.Save(ctx, "killed", staleToken, []byte("stale")); !errors.Is(err, rollout.ErrFenced) {
			t.Errorf("Save with the killed replica's token = %v, want ErrFenced", err)
		}
	})

	t.Run("SIGSTOP", func(t *testing.T) {
		p := startReplica(t, srv, "hold", "paused")
		p.expect(t, "deploying", time.Minute)
		if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		expires, staleToken := leaseOf("paused")
		r, token, _ := takeOver("paused", expires)
		if token <= staleToken {
			t.Errorf("token %d after the paused replica's %d", token, staleToken)
		}
		// The paused replica wakes, its deploy returns, and it tries to
		// save.
		if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		p.send(t, "go")
		if l := p.expect(t, "", time.Minute); l != "fenced" {
			for l == "" || strings.HasPrefix(l, "deploy ") {
				l = p.expect(t, "", time.Minute)
			}
			if l != "fenced" {
				t.Fatalf("the paused replica, woken: %q, want fenced", l)
			}
		}
		if err := r.Run(ctx); err != nil {
			t.Fatalf("the survivor's Run = %v", err)
		}
		infos, err := s.List(ctx, rollout.Succeeded)
		if err != nil {
			t.Fatal(err)
		}
		if len(infos) != 2 {
			t.Errorf("succeeded: %+v, want both rollouts", infos)
		}
	})
}

// dirFleet is a deployer whose targets are files in a directory, each
// holding its version: a fleet that outlives the replicas.
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

// TestReplicaSIGKILLLoop drives a rollout in replica processes that it
// kills with SIGKILL at random moments, starting a new one each time,
// which takes the rollout over once the dead one's lease expires, until
// the rollout ends: it succeeds, with every target on the new version.
func TestReplicaSIGKILLLoop(t *testing.T) {
	srv := startPostgres(t)
	fleet := t.TempDir()
	rng := rand.New(rand.NewPCG(2, uint64(time.Now().UnixNano())))
	kills := 0
	for i := 0; ; i++ {
		if i == 30 {
			t.Fatalf("the rollout did not end after %d replicas", i)
		}
		r := startReplicaEnv(t, srv, "loop", []string{"SHEPHERD_PG_FLEET=" + fleet}, "loop")
		r.expect(t, "driving", time.Minute)
		// The first kill lands early, in the first stage; later replicas
		// get longer, so that the rollout ends.
		wait := time.Duration(50+rng.IntN(500+200*i)) * time.Millisecond
		if i == 0 {
			wait = 200 * time.Millisecond
		}
		timer := time.NewTimer(wait)
		select {
		case l, ok := <-r.lines:
			timer.Stop()
			for ok && strings.HasPrefix(l, "deploy") {
				l, ok = <-r.lines
			}
			if l != "succeeded" {
				t.Fatalf("replica %d: %q\n%s", i, l, r.output())
			}
			_ = r.cmd.Wait()
			t.Logf("the rollout succeeded in replica %d, after %d kills", i+1, kills)
			ents, err := os.ReadDir(fleet)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), ".") {
					continue
				}
				n++
				if b, _ := os.ReadFile(filepath.Join(fleet, e.Name())); string(b) != "v2" {
					t.Errorf("%s runs %q", e.Name(), b)
				}
			}
			if n != 24 {
				t.Errorf("%d targets deployed, want 24", n)
			}
			return
		case <-timer.C:
			_ = r.cmd.Process.Signal(syscall.SIGKILL)
			_ = r.cmd.Wait()
			kills++
			if strings.Contains(r.output(), "error") {
				t.Fatalf("replica %d: %s", i, r.output())
			}
		}
	}
}
