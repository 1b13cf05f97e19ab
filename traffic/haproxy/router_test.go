package haproxy_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/field"
	"github.com/shepherd-go/shepherd/traffic"
	"github.com/shepherd-go/shepherd/traffic/haproxy"
)

// fake is a stand-in for HAProxy's runtime API on a Unix socket: one
// backend whose servers' weights and states it keeps, answering "show
// servers state" and "set server ... weight" as HAProxy 2.6 does. It
// records every command and, after every weight change, the canary's share
// (for the ordering tests).
type fake struct {
	mu      sync.Mutex
	backend string
	order   []string
	servers map[string]*fakeServer
	refuse  map[string]string // server -> refusal message of a weight change
	hang    bool              // read the command, never answer
	cmds    []string
	after   func(f *fake) // called after each weight change, locked
}

type fakeServer struct{ weight, op, admin int }

func startFake(t *testing.T, backend string, servers ...string) (*fake, string) {
	t.Helper()
	f := &fake{backend: backend, servers: make(map[string]*fakeServer), refuse: make(map[string]string)}
	for _, s := range servers {
		f.order = append(f.order, s)
		f.servers[s] = &fakeServer{weight: 1, op: 2}
	}
	path := filepath.Join(t.TempDir(), "admin.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil {
					return
				}
				f.mu.Lock()
				hang := f.hang
				f.mu.Unlock()
				if hang {
					c.Read(make([]byte, 1)) // until the client gives up
					return
				}
				var out strings.Builder
				for _, cmd := range strings.Split(strings.TrimSuffix(line, "\n"), ";") {
					out.WriteString(f.do(cmd))
				}
				c.Write([]byte(out.String()))
			})
		}
	})
	return f, path
}

func (f *fake) do(cmd string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = append(f.cmds, cmd)
	if b, ok := strings.CutPrefix(cmd, "show servers state "); ok {
		if b != f.backend {
			return "Can't find backend.\n\n"
		}
		var out strings.Builder
		out.WriteString("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight\n")
		for i, n := range f.order {
			s := f.servers[n]
			fmt.Fprintf(&out, "3 %s %d %s 127.0.0.1 %d %d %d 1\n", f.backend, i+1, n, s.op, s.admin, s.weight)
		}
		return out.String() + "\n"
	}
	var b, n string
	var w int
	if _, err := fmt.Sscanf(cmd, "set server %s weight %d", &b, &w); err == nil {
		b, n, _ = strings.Cut(b, "/")
		switch s := f.servers[n]; {
		case b != f.backend:
			return "No such backend.\n\n"
		case s == nil:
			return "No such server.\n\n"
		case f.refuse[n] != "":
			return f.refuse[n] + "\n\n"
		default:
			s.weight = w
			if f.after != nil {
				f.after(f)
			}
			return "\n"
		}
	}
	return "Unknown command.\n\n"
}

func (f *fake) weights() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := make(map[string]int)
	for n, s := range f.servers {
		w[n] = s.weight
	}
	return w
}

func (f *fake) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.cmds
	f.cmds = nil
	return c
}

var fleet = map[string][]string{"v1": {"a", "b"}, "v2": {"c"}, "v3": {"d"}}

func newRouter(t *testing.T, socket string) *haproxy.Router {
	t.Helper()
	r, err := haproxy.New(haproxy.Config{Socket: socket, Scopes: map[string]haproxy.Scope{"api": {Backend: "app", Versions: fleet}}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSetRouteWeights(t *testing.T) {
	for _, tc := range []struct {
		route traffic.Route
		want  map[string]int
	}{
		{traffic.Route{Stable: "v1", Canary: "v2", Percent: 10}, map[string]int{"a": 9, "b": 9, "c": 2, "d": 0}},
		{traffic.Route{Stable: "v1", Canary: "v2", Percent: 50}, map[string]int{"a": 1, "b": 1, "c": 2, "d": 0}},
		{traffic.Route{Stable: "v1", Canary: "v2", Percent: 1}, map[string]int{"a": 99, "b": 99, "c": 2, "d": 0}},
		{traffic.Route{Stable: "v1", Canary: "v2", Percent: 0}, map[string]int{"a": 1, "b": 1, "c": 0, "d": 0}},
		{traffic.Route{Stable: "v1", Canary: "v2", Percent: 100}, map[string]int{"a": 0, "b": 0, "c": 1, "d": 0}},
		{traffic.Route{Stable: "v3", Canary: "v2", Percent: 25}, map[string]int{"a": 0, "b": 0, "c": 1, "d": 3}},
		{traffic.Route{Stable: "v2", Canary: "v1", Percent: 12.5}, map[string]int{"a": 1, "b": 1, "c": 14, "d": 0}},
		{traffic.Route{Stable: "v3"}, map[string]int{"a": 0, "b": 0, "c": 0, "d": 1}},
	} {
		f, sock := startFake(t, "app", "a", "b", "c", "d")
		r := newRouter(t, sock)
		ctx := context.Background()
		if err := r.SetRoute(ctx, "api", tc.route); err != nil {
			t.Fatalf("SetRoute(%+v): %v", tc.route, err)
		}
		if diff := cmp.Diff(tc.want, f.weights()); diff != "" {
			t.Errorf("SetRoute(%+v): weights (-want +got):\n%s", tc.route, diff)
		}
		got, err := r.Route(ctx, "api")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.route, got); diff != "" {
			t.Errorf("Route after SetRoute(%+v) (-want +got):\n%s", tc.route, diff)
		}
	}
}

// TestSetRouteIdempotent checks that setting the route a scope has sends
// no change: one read, no write.
func TestSetRouteIdempotent(t *testing.T) {
	f, sock := startFake(t, "app", "a", "b", "c", "d")
	r := newRouter(t, sock)
	route := traffic.Route{Stable: "v1", Canary: "v2", Percent: 5}
	if err := r.SetRoute(context.Background(), "api", route); err != nil {
		t.Fatal(err)
	}
	f.commands()
	if err := r.SetRoute(context.Background(), "api", route); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"show servers state app"}, f.commands()); diff != "" {
		t.Errorf("commands of a repeated SetRoute (-want +got):\n%s", diff)
	}
}

// TestSetRouteOrder checks, for random pairs of routes, that no state
// between the old weights and the new gives the canary a larger share
// than both, and that a rollback to 0% zeroes the canary first.
func TestSetRouteOrder(t *testing.T) {
	f, sock := startFake(t, "app", "a", "b", "c", "d")
	r := newRouter(t, sock)
	ctx := context.Background()
	var shares []float64
	f.after = func(f *fake) {
		c := f.servers["c"].weight
		total := 0
		for _, s := range f.servers {
			total += s.weight
		}
		if total > 0 {
			shares = append(shares, 100*float64(c)/float64(total))
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	percents := []float64{0, 1, 2, 5, 10, 20, 25, 33, 50, 75, 90, 99, 100}
	prev := 0.0
	stable := "v1"
	for i := range 300 {
		p := percents[rng.IntN(len(percents))]
		if i%17 == 0 {
			stable = []string{"v1", "v3"}[rng.IntN(2)] // the stable side changes too
		}
		f.mu.Lock()
		shares = nil
		f.mu.Unlock()
		if err := r.SetRoute(ctx, "api", traffic.Route{Stable: stable, Canary: "v2", Percent: p}); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		for _, s := range shares {
			if s > max(prev, p)+1e-9 {
				t.Errorf("from %v%% to %v%%: an intermediate state gave the canary %v%%", prev, p, s)
			}
		}
		f.mu.Unlock()
		prev = p
	}

	if err := r.SetRoute(ctx, "api", traffic.Route{Stable: "v1", Canary: "v2", Percent: 50}); err != nil {
		t.Fatal(err)
	}
	f.commands()
	if err := r.SetRoute(ctx, "api", traffic.Route{Stable: "v1", Canary: "v2", Percent: 0}); err != nil {
		t.Fatal(err)
	}
	if cmds := f.commands(); len(cmds) < 2 || cmds[1] != "set server app/c weight 0" {
		t.Errorf("rollback to 0%%: commands %q, want the canary zeroed first", cmds)
	}
}

func TestRouteReadsHAProxy(t *testing.T) {
	ctx := context.Background()
	f, sock := startFake(t, "app", "a", "b", "c", "d")
	r := newRouter(t, sock)
	set := func(w map[string]int, op map[string]int, admin map[string]int) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for n, s := range f.servers {
			s.weight, s.op, s.admin = w[n], 2, 0
			if v, ok := op[n]; ok {
				s.op = v
			}
			s.admin = admin[n]
		}
	}
	for _, tc := range []struct {
		name      string
		w         map[string]int
		op, admin map[string]int
		want      traffic.Route
		err       string
	}{
		{name: "by hand", w: map[string]int{"a": 3, "c": 1}, want: traffic.Route{Stable: "v1", Canary: "v2", Percent: 25}},
		{name: "canary larger", w: map[string]int{"a": 1, "c": 3}, want: traffic.Route{Stable: "v2", Canary: "v1", Percent: 25}},
		{name: "one version", w: map[string]int{"d": 7}, want: traffic.Route{Stable: "v3"}},
		{name: "canary down", w: map[string]int{"a": 1, "b": 1, "c": 1}, op: map[string]int{"c": 0},
			want: traffic.Route{Stable: "v1"}},
		{name: "stable draining", w: map[string]int{"a": 1, "b": 1, "c": 2}, admin: map[string]int{"a": 8},
			want: traffic.Route{Stable: "v2", Canary: "v1", Percent: 100.0 / 3}},
		{name: "maintenance", w: map[string]int{"a": 1, "c": 1}, admin: map[string]int{"c": 1},
			want: traffic.Route{Stable: "v1"}},
		{name: "nothing", w: map[string]int{}, err: "serves nothing"},
		{name: "three versions", w: map[string]int{"a": 1, "c": 1, "d": 1}, err: "3 versions (v1, v2, v3)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set(tc.w, tc.op, tc.admin)
			got, err := r.Route(ctx, "api")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Route: %+v, %v; want an error saying %q", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Route (-want +got):\n%s", diff)
			}
		})
	}

	// A route the router set names its versions as set, even where the
	// larger share is the canary's.
	if err := r.SetRoute(ctx, "api", traffic.Route{Stable: "v1", Canary: "v2", Percent: 90}); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Route(ctx, "api"); err != nil || got != (traffic.Route{Stable: "v1", Canary: "v2", Percent: 90}) {
		t.Errorf("Route after SetRoute 90%%: %+v, %v", got, err)
	}
	// The canary goes down: Route says what HAProxy serves.
	f.mu.Lock()
	f.servers["c"].op = 0
	f.mu.Unlock()
	if got, err := r.Route(ctx, "api"); err != nil || got != (traffic.Route{Stable: "v1", Canary: "v2", Percent: 0}) {
		t.Errorf("Route with the canary down: %+v, %v", got, err)
	}
}

func TestUnlistedServer(t *testing.T) {
	f, sock := startFake(t, "app", "a", "b", "c", "d", "x")
	r := newRouter(t, sock)
	err := r.SetRoute(context.Background(), "api", traffic.Route{Stable: "v1", Canary: "v2", Percent: 10})
	if err == nil || !strings.Contains(err.Error(), "server app/x takes requests (weight 1) but runs no configured version") {
		t.Fatalf("SetRoute with an unlisted server taking requests: %v", err)
	}
	if diff := cmp.Diff(map[string]int{"a": 1, "b": 1, "c": 1, "d": 1, "x": 1}, f.weights()); diff != "" {
		t.Errorf("weights changed by a refused route (-want +got):\n%s", diff)
	}
	f.mu.Lock()
	f.servers["x"].weight = 0
	f.mu.Unlock()
	if err := r.SetRoute(context.Background(), "api", traffic.Route{Stable: "v1", Canary: "v2", Percent: 10}); err != nil {
		t.Errorf("SetRoute with an unlisted server at weight 0: %v", err)
	}
}

// TestRefusedMidway checks what SetRoute leaves when HAProxy refuses one
// weight change: the old weights when the route raised the canary's share,
// the lowered canary when it was a rollback.
func TestRefusedMidway(t *testing.T) {
	ctx := context.Background()
	f, sock := startFake(t, "app", "a", "b", "c", "d")
	r := newRouter(t, sock)
	if err := r.SetRoute(ctx, "api", traffic.Route{Stable: "v1", Canary: "v2", Percent: 10}); err != nil {
		t.Fatal(err)
	}
	before := f.weights()
	f.mu.Lock()
	f.refuse["c"] = "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'."
	f.mu.Unlock()
	err := r.SetRoute(ctx, "api", traffic.Route{Stable: "v1", Canary: "v2", Percent: 75})
	var re *haproxy.RefusedError
	if !errors.As(err, &re) || re.Backend != "app" || re.Server != "c" || !strings.Contains(err.Error(), "static LB") {
		t.Fatalf("SetRoute refused on server c: %v", err)
	}
	if diff := cmp.Diff(before, f.weights()); diff != "" {
		t.Errorf("weights after a refused raise (-want +got):\n%s", diff)
	}

	// A rollback whose stable side is refused keeps the canary at 0.
	f.mu.Lock()
	f.refuse = map[string]string{"a": "Permission denied"}
	f.mu.Unlock()
	err = r.SetRoute(ctx, "api", traffic.Route{Stable: "v1", Canary: "v2", Percent: 0})
	if !errors.As(err, &re) || re.Server != "a" {
		t.Fatalf("SetRoute refused on server a: %v", err)
	}
	if w := f.weights(); w["c"] != 0 {
		t.Errorf("after a refused rollback the canary has weight %d, want 0", w["c"])
	}
}

func TestBadRoute(t *testing.T) {
	f, sock := startFake(t, "app", "a", "b", "c", "d")
	r := newRouter(t, sock)
	for _, tc := range []struct {
		scope string
		route traffic.Route
		paths []string
	}{
		{"web", traffic.Route{Stable: "v1"}, []string{"scope"}},
		{"api", traffic.Route{}, []string{"route.Stable"}},
		{"api", traffic.Route{Stable: "v9", Canary: "v8", Percent: 101}, []string{"route.Stable", "route.Canary", "route.Percent"}},
		{"api", traffic.Route{Stable: "v1", Canary: "v1", Percent: 5}, []string{"route.Canary"}},
		{"api", traffic.Route{Stable: "v1", Percent: 5}, []string{"route.Percent"}},
		{"api", traffic.Route{Stable: "v1", Canary: "v2", Percent: math.NaN()}, []string{"route.Percent"}},
	} {
		err := r.SetRoute(context.Background(), tc.scope, tc.route)
		if !errors.Is(err, haproxy.ErrInvalid) {
			t.Errorf("SetRoute(%q, %+v): %v, want ErrInvalid", tc.scope, tc.route, err)
			continue
		}
		var paths []string
		for _, e := range field.Flatten(err) {
			var fe *field.Error
			if errors.As(e, &fe) {
				paths = append(paths, fe.Path)
			}
		}
		if diff := cmp.Diff(tc.paths, paths); diff != "" {
			t.Errorf("SetRoute(%q, %+v): %v\npaths (-want +got):\n%s", tc.scope, tc.route, err, diff)
		}
	}
	if cmds := f.commands(); len(cmds) != 0 {
		t.Errorf("bad routes sent %q", cmds)
	}

	err := r.SetRoute(context.Background(), "api", traffic.Route{Stable: "v1", Canary: "v2", Percent: 0.1})
	if !errors.Is(err, haproxy.ErrUnrealisable) || !strings.Contains(err.Error(), "nearest is 0.1949%") {
		t.Errorf("SetRoute(0.1%%): %v, want ErrUnrealisable naming the nearest share", err)
	}
}

// TestDeadline checks that a socket that never answers costs the caller
// Config.Timeout, or less when the caller's context ends first.
func TestDeadline(t *testing.T) {
	f, sock := startFake(t, "app", "a", "b", "c", "d")
	f.hang = true
	r, err := haproxy.New(haproxy.Config{Socket: sock, Timeout: duration.Duration(50 * time.Millisecond),
		Scopes: map[string]haproxy.Scope{"api": {Backend: "app", Versions: fleet}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Route(context.Background(), "api")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "did not answer") {
		t.Errorf("Route on a silent socket: %v, want a deadline error", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	slow, err := haproxy.New(haproxy.Config{Socket: sock, Timeout: duration.Duration(time.Hour),
		Scopes: map[string]haproxy.Scope{"api": {Backend: "app", Versions: fleet}}})
	if err != nil {
		t.Fatal(err)
	}
	err = slow.SetRoute(ctx, "api", traffic.Route{Stable: "v1", Canary: "v2", Percent: 10})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("SetRoute cancelled: %v, want context.Canceled", err)
	}

	// No socket at all.
	r, err = haproxy.New(haproxy.Config{Socket: filepath.Join(t.TempDir(), "none.sock"),
		Scopes: map[string]haproxy.Scope{"api": {Backend: "app", Versions: fleet}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Route(context.Background(), "api"); err == nil || !strings.Contains(err.Error(), "none.sock") {
		t.Errorf("Route with no socket: %v, want an error naming it", err)
	}
}

// TestConcurrentSetRoute checks that concurrent calls for one scope never
// interleave: the weights at the end are those of one of the routes asked.
func TestConcurrentSetRoute(t *testing.T) {
	f, sock := startFake(t, "app", "a", "b", "c", "d")
	r := newRouter(t, sock)
	if err := r.SetRoute(context.Background(), "api", traffic.Route{Stable: "v1"}); err != nil {
		t.Fatal(err)
	}
	valid := make(map[string]bool)
	var wg sync.WaitGroup
	for i := range 16 {
		p := float64(i * 5)
		w, _, err := haproxy.WeightsFor(p, 1, 2, 0)
		if err != nil {
			t.Fatal(err)
		}
		valid[strconv.Itoa(w.Stable)+"/"+strconv.Itoa(w.Canary)] = true
		wg.Go(func() {
			if err := r.SetRoute(context.Background(), "api", traffic.Route{Stable: "v1", Canary: "v2", Percent: p}); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			if _, err := r.Route(context.Background(), "api"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	w := f.weights()
	if w["a"] != w["b"] || !valid[strconv.Itoa(w["a"])+"/"+strconv.Itoa(w["c"])] || w["d"] != 0 {
		t.Errorf("weights after concurrent routes: %v, a mix of routes", w)
	}
}

func TestBadMatch(t *testing.T) {
	_, sock := startFake(t, "app", "a", "b", "c", "d")
	r, err := haproxy.New(haproxy.Config{Socket: sock, Scopes: map[string]haproxy.Scope{
		"api": {Backend: "app", Versions: fleet, Match: &haproxy.Match{Header: "X-Canary", Map: "/etc/haproxy/canary.map"}},
		"web": {Versions: fleet},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		scope, canary string
		m             []traffic.Match
		paths         []string
	}{
		{"web", "v2", nil, []string{"scope"}},
		{"nope", "v2", nil, []string{"scope"}},
		{"api", "v9", []traffic.Match{{Header: "X-Canary", Value: "a"}}, []string{"canary"}},
		{"api", "v2", []traffic.Match{{Header: "X-Other", Value: "a"}, {Header: "X-Canary", Value: "a b"},
			{Header: "X-Canary", Value: "x;show info"}, {Header: "X-Canary", Value: ""}, {Header: "X-Canary", Value: "k"}, {Header: "X-Canary", Value: "k"}},
			[]string{"m[0].Header", "m[1].Value", "m[2].Value", "m[3].Value", "m[5].Value"}},
	} {
		err := r.SetMatch(context.Background(), tc.scope, tc.canary, tc.m)
		if !errors.Is(err, haproxy.ErrInvalid) {
			t.Errorf("SetMatch(%q, %q, %v): %v, want ErrInvalid", tc.scope, tc.canary, tc.m, err)
			continue
		}
		if diff := cmp.Diff(tc.paths, paths(err)); diff != "" {
			t.Errorf("SetMatch(%q, %q, %v): %v\npaths (-want +got):\n%s", tc.scope, tc.canary, tc.m, err, diff)
		}
	}
}
