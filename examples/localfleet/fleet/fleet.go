// Package fleet runs a fleet of real processes on loopback for the
// localfleet example: one process of the example's HTTP service per target,
// each on its own port, and a [rollout.Deployer] that deploys a version by
// restarting a target's process with that version.
//
// It is the kind of code a team writes to put shepherd in front of its own
// deploy mechanism, and it passes the rollouttest conformance suite (see
// the package's test).
package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/wave"
)

// Behaviour is how a version of the service behaves.
type Behaviour struct {
	// ErrorRate is the share of requests it answers with 500.
	ErrorRate float64
	// Latency is how long each request takes.
	Latency time.Duration
}

// Config describes a fleet.
type Config struct {
	// Binary is the service's executable (see [Build]). Required.
	Binary string
	// Targets are the fleet's targets; their IDs must be unique.
	Targets []wave.Target
	// Versions are the versions the fleet can run. Deploying any other
	// version fails with a permanent error: there is no build of it.
	Versions map[string]Behaviour
	// Initial is the version every target runs at the start.
	Initial string
	// Logs receives the processes' standard error; nil discards it.
	Logs io.Writer
}

// ErrUnknownTarget is returned, as a permanent error, for a target the
// fleet does not have.
var ErrUnknownTarget = errors.New("fleet: unknown target")

// Fleet is the running fleet. Its methods are safe for concurrent use
// (deploys to one target are serialised).
type Fleet struct {
	cfg     Config
	targets map[string]*node
	client  *http.Client
}

// node is one target: its port and its current process.
type node struct {
	id   string
	addr string

	mu      sync.Mutex // serialises deploys of this target
	pmu     sync.Mutex // guards p
	p       *proc
	version string
}

// proc is a running process of the service.
type proc struct {
	cmd     *exec.Cmd
	stdin   io.Closer
	done    chan struct{} // closed when the process has exited
	version string
}

// Build compiles the service into dir and returns the executable's path.
// It needs the go command and the module's source, as `go run` does.
func Build(ctx context.Context, dir string) (string, error) {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("fleet: cannot locate the service's source")
	}
	src := filepath.Join(filepath.Dir(self), "..", "service")
	out := filepath.Join(dir, "service")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	cmd.Dir = src
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("fleet: building the service: %v\n%s", err, b)
	}
	return out, nil
}

// Start starts every target on the initial version, each on a free port
// of 127.0.0.1, and returns once all of them serve. On error, whatever
// was started is stopped.
func Start(ctx context.Context, c Config) (*Fleet, error) {
	if c.Binary == "" || len(c.Targets) == 0 || c.Initial == "" {
		return nil, errors.New("fleet: Binary, Targets and Initial are required")
	}
	if _, ok := c.Versions[c.Initial]; !ok {
		return nil, fmt.Errorf("fleet: no build of the initial version %q", c.Initial)
	}
	f := &Fleet{
		cfg:     c,
		targets: map[string]*node{},
		client:  &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	for _, t := range c.Targets {
		if _, dup := f.targets[t.ID]; dup || t.ID == "" {
			return nil, fmt.Errorf("fleet: target ID %q is empty or not unique", t.ID)
		}
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		f.targets[t.ID] = &node{id: t.ID, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	}
	for _, t := range c.Targets {
		if err := f.Deploy(ctx, t, c.Initial); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("fleet: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// URL returns the base URL of the target with this ID ("" if unknown).
func (f *Fleet) URL(id string) string {
	n := f.targets[id]
	if n == nil {
		return ""
	}
	return "http://" + n.addr
}

func (f *Fleet) node(t wave.Target) (*node, error) {
	n := f.targets[t.ID]
	if n == nil {
		return nil, rollout.Permanent(fmt.Errorf("%w %q", ErrUnknownTarget, t.ID))
	}
	return n, nil
}

// Deploy puts version on t: unless t already runs it, it stops t's
// process and starts one of version on the same port, then waits until it
// serves. The restart itself is not interrupted (it takes a moment, and a
// target must never be left without a process); cancellation is honoured
// before it, and while waiting for the new process to serve, which then
// still runs version.
func (f *Fleet) Deploy(ctx context.Context, t wave.Target, version string) error {
	n, err := f.node(t)
	if err != nil {
		return err
	}
	b, ok := f.cfg.Versions[version]
	if !ok {
		return rollout.Permanent(fmt.Errorf("fleet: no build of version %q", version))
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if v, err := f.read(ctx, n); err == nil && v == version {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	n.stop()
	if err := f.start(n, version, b); err != nil {
		return err
	}
	return f.wait(ctx, n, "/healthz")
}

// Rollback is Deploy: the fleet has no faster way back.

// Version reads the version t serves, from the process itself
// (GET /version). A process that is still starting is waited for.
func (f *Fleet) Version(ctx context.Context, t wave.Target) (string, error) {
	n, err := f.node(t)
	if err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := f.wait(ctx, n, "/version"); err != nil {
		return "", err
	}
	return f.read(ctx, n)
}

// Healthy implements [rollout.HealthChecker]: t answers its health check.
func (f *Fleet) Healthy(ctx context.Context, t wave.Target) error {
	n, err := f.node(t)
	if err != nil {
		return err
	}
	_, err = f.get(ctx, n, "/healthz")
	return err
}

func (f *Fleet) get(ctx context.Context, n *node, path string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.addr+path, nil)
	if err != nil {
		return "", err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("fleet: %s: %w", n.id, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if err != nil {
		return "", fmt.Errorf("fleet: %s: %w", n.id, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fleet: %s%s: status %d", n.id, path, resp.StatusCode)
	}
	return strings.TrimSpace(string(body)), nil
}

func (f *Fleet) read(ctx context.Context, n *node) (string, error) {
	v, err := f.get(ctx, n, "/version")
	if err == nil && v == "" {
		err = fmt.Errorf("fleet: %s reports an empty version", n.id)
	}
	return v, err
}

// wait polls path on n until it answers, n's process exits, or ctx ends.
func (f *Fleet) wait(ctx context.Context, n *node, path string) error {
	n.pmu.Lock()
	p := n.p
	n.pmu.Unlock()
	if p == nil {
		return fmt.Errorf("fleet: %s is not running", n.id)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := f.get(ctx, n, path); err == nil {
			return nil
		} else if ctx.Err() != nil {
			return ctx.Err()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
			return fmt.Errorf("fleet: %s exited: %v", n.id, p.cmd.ProcessState)
		case <-tick.C:
		}
	}
}

func (f *Fleet) start(n *node, version string, b Behaviour) error {
	cmd := exec.Command(f.cfg.Binary,
		"-addr", n.addr, "-target", n.id, "-version", version,
		"-error-rate", fmt.Sprint(b.ErrorRate), "-latency", b.Latency.String(), "-exit-on-eof")
	cmd.Stdout = f.cfg.Logs
	cmd.Stderr = f.cfg.Logs
	configure(cmd) // its own process group; killed with its parent where the OS can
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		stdin.Close()
		return fmt.Errorf("fleet: starting %s: %w", n.id, err)
	}
	p := &proc{cmd: cmd, stdin: stdin, done: make(chan struct{}), version: version}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	n.pmu.Lock()
	n.p, n.version = p, version
	n.pmu.Unlock()
	return nil
}

// stop ends n's process: SIGTERM to its process group, SIGKILL if it has
// not exited after three seconds; it returns once the process has exited.
func (n *node) stop() {
	n.pmu.Lock()
	p := n.p
	n.p = nil
	n.pmu.Unlock()
	if p == nil {
		return
	}
	p.stdin.Close()
	terminate(p.cmd)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		kill(p.cmd)
		<-p.done
	}
}

// Close stops every process and waits for them to exit. It is idempotent.
func (f *Fleet) Close() error {
	var wg sync.WaitGroup
	for _, n := range f.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.mu.Lock()
			defer n.mu.Unlock()
			n.stop()
		}()
	}
	wg.Wait()
	return nil
}

// Running returns the version each target's process was started with, by
// target ID ("" for a target without a process): what the fleet believes,
// for a summary.
func (f *Fleet) Running() map[string]string {
	out := map[string]string{}
	for id, n := range f.targets {
		n.pmu.Lock()
		if n.p != nil {
			out[id] = n.version
		} else {
			out[id] = ""
		}
		n.pmu.Unlock()
	}
	return out
}

// IDs returns the target IDs, sorted.
func (f *Fleet) IDs() []string {
	var ids []string
	for id := range f.targets {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
