package haproxy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/alarm/monitor"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/internal/testenv"
	"github.com/shepherd-go/shepherd/traffic"
	"github.com/shepherd-go/shepherd/traffic/haproxy"
)

// app is a fleet of test backends: HTTP servers on their own loopback
// ports, each answering with the version it runs (header X-Version and
// body), with status 500 when its version is bad.
type app struct {
	addr    map[string]string // server -> host:port
	bad     sync.Map          // version -> true
	servers []*httptest.Server
}

// newApp starts one server per name in versions.
func newApp(t testing.TB, versions map[string][]string) *app {
	t.Helper()
	a := &app{addr: make(map[string]string)}
	for v, names := range versions {
		for _, n := range names {
			v := v
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Version", v)
				if _, bad := a.bad.Load(v); bad {
					w.WriteHeader(http.StatusInternalServerError)
				}
				io.WriteString(w, v)
			}))
			t.Cleanup(s.Close)
			a.addr[n] = s.Listener.Addr().String()
			a.servers = append(a.servers, s)
		}
	}
	return a
}

// lb is a running haproxy.
type lb struct {
	socket string // the admin socket's path
	front  string // the frontend's host:port
}

// startHAProxy runs Debian's haproxy in the foreground with a temporary
// configuration: an admin socket, a frontend on a free loopback port and a
// roundrobin backend "app" over the app's servers (each at weight 1 to
// begin with, so that before any route every server takes requests), plus
// the extra configuration given. It stops haproxy when the test ends.
func startHAProxy(t testing.TB, a *app, extra string) lb {
	t.Helper()
	bin := testenv.LookPath(t, "haproxy", "/usr/sbin/haproxy")
	dir := t.TempDir()
	l := lb{socket: filepath.Join(dir, "admin.sock"), front: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `global
    stats socket %s mode 600 level admin
    nbthread 1
    maxconn 1000

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s

frontend fe
    bind %s
    default_backend app

backend app
    balance roundrobin
`, l.socket, l.front)
	for _, n := range sortedKeys(a.addr) {
		fmt.Fprintf(&cfg, "    server %s %s weight 1\n", n, a.addr[n])
	}
	cfg.WriteString(extra)
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("haproxy output:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("unix", l.socket)
		if err == nil {
			c.Close()
			if c, err = net.Dial("tcp", l.front); err == nil {
				c.Close()
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy not ready after 10s: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// response is what the load generator saw of one request.
type response struct {
	sent, done time.Time
	version    string
	status     int
}

// client sends requests through the frontend on keep-alive connections;
// HAProxy balances every request, not every connection.
func client(workers int) *http.Client {
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers},
	}
}

func get(c *http.Client, url string) (response, error) {
	r := response{sent: time.Now()}
	resp, err := c.Get(url)
	if err != nil {
		return r, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r.done, r.version, r.status = time.Now(), resp.Header.Get("X-Version"), resp.StatusCode
	return r, err
}

// send sends n requests with the given number of workers and counts the
// answers per version.
func send(t *testing.T, c *http.Client, front string, n, workers int) map[string]int {
	t.Helper()
	var (
		mu     sync.Mutex
		counts = make(map[string]int)
		next   atomic.Int64
		wg     sync.WaitGroup
		errs   = make(chan error, workers)
	)
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				r, err := get(c, "http://"+front+"/")
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				counts[r.version]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("request through haproxy: %v", err)
	}
	return counts
}

// TestSplit ramps a canary through a schedule on a real haproxy in front of
// three backends (two run the stable version, one the canary) and checks at
// every step that the route reads back as set and that the split of 2,000
// real requests is within 3 percentage points of the step's share.
func TestSplit(t *testing.T) {
	versions := map[string][]string{"v1": {"v1a", "v1b"}, "v2": {"v2a"}}
	a := newApp(t, versions)
	l := startHAProxy(t, a, "")
	r, err := haproxy.New(haproxy.Config{
		Socket: l.socket,
		Scopes: map[string]haproxy.Scope{"api": {Backend: "app", Versions: versions}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := client(4)
	const n = 2000
	t.Logf("%8s %10s %10s %8s", "step %", "measured %", "error pp", "requests")
	for _, p := range []float64{0, 1, 5, 10, 25, 50, 100, 0} {
		want := traffic.Route{Stable: "v1", Canary: "v2", Percent: p}
		if err := r.SetRoute(ctx, "api", want); err != nil {
			t.Fatalf("SetRoute(%v%%): %v", p, err)
		}
		// Again: idempotent.
		if err := r.SetRoute(ctx, "api", want); err != nil {
			t.Fatalf("SetRoute(%v%%) a second time: %v", p, err)
		}
		got, err := r.Route(ctx, "api")
		if err != nil {
			t.Fatalf("Route at %v%%: %v", p, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Route at %v%% (-want +got):\n%s", p, diff)
		}
		counts := send(t, c, l.front, n, 4)
		if counts["v1"]+counts["v2"] != n {
			t.Fatalf("at %v%%: answers %v, want %d from v1 and v2", p, counts, n)
		}
		measured := 100 * float64(counts["v2"]) / n
		e := measured - p
		t.Logf("%8v %10.2f %+10.2f %8d", p, measured, e, n)
		if e > 3 || e < -3 {
			t.Errorf("at %v%%: the canary answered %.2f%% of %d requests, more than 3 points off", p, measured, n)
		}
		if p == 0 && counts["v2"] != 0 || p == 100 && counts["v1"] != 0 {
			t.Errorf("at %v%%: answers %v, want one version only", p, counts)
		}
	}

	// A new router (as after a crash) reads the split HAProxy serves, with
	// no memory of what was set.
	if err := r.SetRoute(ctx, "api", traffic.Route{Stable: "v1", Canary: "v2", Percent: 25}); err != nil {
		t.Fatal(err)
	}
	fresh, err := haproxy.New(haproxy.Config{Socket: l.socket, Scopes: map[string]haproxy.Scope{"api": {Backend: "app", Versions: versions}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := fresh.Route(ctx, "api")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(traffic.Route{Stable: "v1", Canary: "v2", Percent: 25}, got); diff != "" {
		t.Errorf("a new router's Route (-want +got):\n%s", diff)
	}
}

// TestRefusals checks HAProxy's refusals come back naming the backend and
// server, and that a refused route changes nothing.
func TestRefusals(t *testing.T) {
	versions := map[string][]string{"v1": {"s1"}, "v2": {"s2"}}
	a := newApp(t, versions)
	l := startHAProxy(t, a, `
backend static
    balance static-rr
    server s1 `+a.addr["s1"]+`
    server s2 `+a.addr["s2"]+` weight 0
`)
	ctx := context.Background()
	route := traffic.Route{Stable: "v1", Canary: "v2", Percent: 10}
	for _, tc := range []struct {
		name  string
		scope haproxy.Scope
		want  []string // in the error
	}{
		{"no backend", haproxy.Scope{Backend: "nope", Versions: versions}, []string{"backend nope", "Can't find backend."}},
		{"no server", haproxy.Scope{Backend: "app", Versions: map[string][]string{"v1": {"s1"}, "v2": {"s3"}}},
			[]string{"server app/s3", "No such server", `version "v2"`}},
		{"static balance", haproxy.Scope{Backend: "static", Versions: versions},
			[]string{"server static/s", "static LB algorithm"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := haproxy.New(haproxy.Config{Socket: l.socket, Scopes: map[string]haproxy.Scope{"api": tc.scope}})
			if err != nil {
				t.Fatal(err)
			}
			err = r.SetRoute(ctx, "api", route)
			if !errors.Is(err, haproxy.ErrRefused) {
				t.Fatalf("SetRoute: %v, want an error wrapping ErrRefused", err)
			}
			var re *haproxy.RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("SetRoute: %v, want a *RefusedError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("SetRoute: %q does not say %q", err, w)
				}
			}
		})
	}
	// The static backend's weights are as configured: the refused route
	// was undone (or never applied).
	r, err := haproxy.New(haproxy.Config{Socket: l.socket, Scopes: map[string]haproxy.Scope{"api": {Backend: "static", Versions: versions}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Route(ctx, "api")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(traffic.Route{Stable: "v1"}, got); diff != "" {
		t.Errorf("static backend after the refusal (-want +got):\n%s", diff)
	}
}

// TestBadCanaryBackToZero exposes a version that answers 500 to 10% of
// real traffic, watches an error-rate alarm over the responses the load
// generator sees, and checks that the canary's share is 0 (read back from
// HAProxy) within one alarm interval of the alarm firing, and that no
// request sent after that reaches the canary.
func TestBadCanaryBackToZero(t *testing.T) {
	versions := map[string][]string{"v1": {"v1a", "v1b"}, "v2": {"v2a"}}
	a := newApp(t, versions)
	a.bad.Store("v2", true)
	l := startHAProxy(t, a, "")
	r, err := haproxy.New(haproxy.Config{Socket: l.socket, Scopes: map[string]haproxy.Scope{"api": {Backend: "app", Versions: versions}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := r.SetRoute(ctx, "api", traffic.Route{Stable: "v1", Canary: "v2", Percent: 0}); err != nil {
		t.Fatal(err)
	}

	// The metric: the ratio of 5xx answers per 100ms period, computed
	// from what the load generator sees, stamped at the period's end.
	const period = 100 * time.Millisecond
	const interval = 500 * time.Millisecond // the alarm's polling interval
	src := new(alarm.Memory)
	var (
		mu        sync.Mutex
		responses []response
	)
	var load sync.WaitGroup
	c := client(4)
	for range 4 {
		load.Go(func() {
			for ctx.Err() == nil {
				resp, err := get(c, "http://"+l.front+"/")
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("request through haproxy: %v", err)
					}
					return
				}
				mu.Lock()
				responses = append(responses, resp)
				mu.Unlock()
			}
		})
	}
	load.Go(func() {
		tick := time.NewTicker(period)
		defer tick.Stop()
		seen := 0
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				mu.Lock()
				batch := responses[seen:]
				seen = len(responses)
				mu.Unlock()
				bad := 0
				for _, r := range batch {
					if r.status >= 500 {
						bad++
					}
				}
				if len(batch) > 0 {
					src.Record("error_ratio", now, float64(bad)/float64(len(batch)), int64(len(batch)))
				}
			}
		}
	})
	defer load.Wait()
	defer cancel()

	set, err := alarm.NewSet(src, alarm.Rule{Name: "errors", Threshold: &alarm.Threshold{
		Query: "error_ratio", Comparison: alarm.GreaterThan, Threshold: 0.02,
		Evaluation: alarm.Evaluation{Period: duration.Duration(period), EvaluationPeriods: 3, DatapointsToAlarm: 2,
			MinSamples: 20},
	}})
	if err != nil {
		t.Fatal(err)
	}
	fired := make(chan time.Time, 1)
	m := &monitor.Monitor{Set: set, Interval: interval, OnTransition: func(tr monitor.Transition) {
		if tr.Result.State == alarm.Alarm {
			select {
			case fired <- time.Now():
			default:
			}
		}
	}}
	monDone := make(chan error, 1)
	go func() { monDone <- m.Run(ctx) }()
	defer func() {
		m.Close()
		<-monDone
	}()

	// A healthy second on the stable version: the alarm must stay quiet.
	select {
	case at := <-fired:
		t.Fatalf("the alarm fired at %s with only the good version serving", at)
	case <-time.After(time.Second):
	}
	if st := m.State("errors"); st != alarm.OK {
		t.Fatalf("after a healthy second the alarm is %v, want OK", st)
	}

	exposed := time.Now()
	if err := r.SetRoute(ctx, "api", traffic.Route{Stable: "v1", Canary: "v2", Percent: 10}); err != nil {
		t.Fatal(err)
	}
	var at time.Time
	select {
	case at = <-fired:
	case <-time.After(10 * time.Second):
		t.Fatalf("the alarm did not fire within 10s of exposing a version that answers 500; state %v", m.State("errors"))
	}
	// The reaction: weight back to 0 first, then read it back from HAProxy.
	if err := r.SetRoute(ctx, "api", traffic.Route{Stable: "v1", Canary: "v2", Percent: 0}); err != nil {
		t.Fatal(err)
	}
	set0 := time.Now()
	got, err := r.Route(ctx, "api")
	if err != nil {
		t.Fatal(err)
	}
	zero := time.Now()
	if got.Percent != 0 {
		t.Fatalf("Route after the rollback: %+v, want 0%%", got)
	}
	// Traffic for a few more periods, then count what reached the canary.
	time.Sleep(3 * period)
	cancel()
	load.Wait()

	mu.Lock()
	defer mu.Unlock()
	var afterZero, toCanary, total int
	var lastCanary time.Time
	for _, resp := range responses {
		if resp.sent.After(exposed) {
			total++
		}
		if resp.version == "v2" {
			toCanary++
			if resp.done.After(lastCanary) {
				lastCanary = resp.done
			}
			if resp.sent.After(set0) {
				afterZero++
			}
		}
	}
	t.Logf("alarm fired %s after exposure; share set to 0 in %s and read back as 0 %s after the alarm fired (bound: one alarm interval, %s)",
		at.Sub(exposed).Round(time.Millisecond), set0.Sub(at).Round(time.Microsecond), zero.Sub(at).Round(time.Microsecond), interval)
	t.Logf("blast radius: %d of %d requests sent after exposure reached the canary (%.2f%%); the last canary answer came %s after the alarm fired",
		toCanary, total, 100*float64(toCanary)/float64(max(total, 1)), lastCanary.Sub(at).Round(time.Microsecond))
	if d := zero.Sub(at); d > interval {
		t.Errorf("the canary's share read back as 0 %s after the alarm fired, more than one alarm interval (%s)", d, interval)
	}
	if afterZero != 0 {
		t.Errorf("%d requests sent after the share was set to 0 reached the canary", afterZero)
	}
	if toCanary == 0 {
		t.Errorf("no request reached the canary at 10%%: the test exposed nothing")
	}
}

// TestMatch sends requests with a tester's header to the canary through a
// map the router fills at run time, on a real haproxy, while the canary's
// share is 0%; then removes the match.
func TestMatch(t *testing.T) {
	versions := map[string][]string{"v1": {"v1a", "v1b"}, "v2": {"v2a"}}
	a := newApp(t, versions)
	mapFile := filepath.Join(t.TempDir(), "canary.map")
	if err := os.WriteFile(mapFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	l := startHAProxy(t, a, fmt.Sprintf(
		"    use-server %%[req.hdr(X-Canary),map(%[1]s)] if { req.hdr(X-Canary),map(%[1]s) -m found }\n", mapFile))
	r, err := haproxy.New(haproxy.Config{Socket: l.socket, Scopes: map[string]haproxy.Scope{"api": {
		Backend: "app", Versions: versions, Match: &haproxy.Match{Header: "X-Canary", Map: mapFile}}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := r.SetRoute(ctx, "api", traffic.Route{Stable: "v1", Canary: "v2", Percent: 0}); err != nil {
		t.Fatal(err)
	}
	c := client(1)
	count := func(value string) map[string]int {
		t.Helper()
		counts := make(map[string]int)
		for range 200 {
			req, err := http.NewRequest("GET", "http://"+l.front+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			if value != "" {
				req.Header.Set("X-Canary", value)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			counts[resp.Header.Get("X-Version")]++
		}
		return counts
	}
	if err := r.SetMatch(ctx, "api", "v2", []traffic.Match{{Header: "X-Canary", Value: "alice"}, {Header: "x-canary", Value: "bob"}}); err != nil {
		t.Fatal(err)
	}
	for value, want := range map[string]map[string]int{
		"alice": {"v2": 200}, "bob": {"v2": 200}, "carol": {"v1": 200}, "": {"v1": 200},
	} {
		if diff := cmp.Diff(want, count(value)); diff != "" {
			t.Errorf("answers with X-Canary %q at 0%% (-want +got):\n%s", value, diff)
		}
	}
	// Replaced whole: alice only.
	if err := r.SetMatch(ctx, "api", "v2", []traffic.Match{{Header: "X-Canary", Value: "alice"}}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"v1": 200}, count("bob")); diff != "" {
		t.Errorf("bob after the matches were replaced (-want +got):\n%s", diff)
	}
	if err := r.SetMatch(ctx, "api", "v2", nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"v1": 200}, count("alice")); diff != "" {
		t.Errorf("alice after the matches were removed (-want +got):\n%s", diff)
	}

	// A map haproxy does not know is HAProxy's refusal, named.
	bad, err := haproxy.New(haproxy.Config{Socket: l.socket, Scopes: map[string]haproxy.Scope{"api": {
		Backend: "app", Versions: versions, Match: &haproxy.Match{Header: "X-Canary", Map: "/nonexistent.map"}}}})
	if err != nil {
		t.Fatal(err)
	}
	err = bad.SetMatch(ctx, "api", "v2", []traffic.Match{{Header: "X-Canary", Value: "alice"}})
	if !errors.Is(err, haproxy.ErrRefused) || !strings.Contains(err.Error(), "Unknown map identifier") {
		t.Errorf("SetMatch on an unknown map: %v", err)
	}
}
