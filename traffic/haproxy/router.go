// Package haproxy is a [traffic.Router] for HAProxy: it splits a backend's
// requests between two versions by setting its servers' weights through
// the runtime API on HAProxy's admin socket, and reads the split back from
// HAProxy's own state.
//
// HAProxy needs a stats socket at level admin, and a backend per scope that
// balances with a dynamic algorithm: roundrobin, whose split of requests
// follows the ratio of weights (within a fraction of a percentage point
// over 2,000 requests in the integration test), leastconn, random or
// consistent hashing:
//
//	global
//	    stats socket /run/haproxy/admin.sock mode 600 level admin
//
//	backend api
//	    balance roundrobin
//	    server api1 10.0.0.1:8080 check
//	    server api2 10.0.0.2:8080 check
//	    server api3 10.0.0.3:8080 check weight 0
//
// The router's [Config] says which servers run which version:
//
//	r, err := haproxy.New(haproxy.Config{
//		Socket: "/run/haproxy/admin.sock",
//		Scopes: map[string]haproxy.Scope{
//			"api": {Versions: map[string][]string{
//				"v1.4": {"api1", "api2"},
//				"v1.5": {"api3"},
//			}},
//		},
//	})
//	...
//	err = r.SetRoute(ctx, "api", traffic.Route{Stable: "v1.4", Canary: "v1.5", Percent: 10})
//
// SetRoute sends 10% of the requests to api3 by giving it weight 2 and api1
// and api2 weight 9 each (2 of 20), and every server of any other version
// weight 0. [WeightsFor] tells which weights a share takes.
//
// # What the router promises
//
//   - Exact shares: whole percentages, and any share that weights from 0 to
//     256 realise, are set exactly; others are refused with
//     [ErrUnrealisable] unless [Config.Tolerance] accepts the nearest.
//   - Idempotence: SetRoute reads the weights first and changes only those
//     that differ; setting the route a scope has sends no change at all.
//   - No more exposure than asked, even for a moment: weights that lower
//     the canary's share are changed before those that raise it, so that no
//     state between the old route and the new gives the canary more than
//     either.
//   - Route reads HAProxy, not memory: the share is computed from the
//     servers' current weights and states, so a server that is down, in
//     maintenance or draining counts for nothing, and a split changed by
//     hand is reported as it is.
//   - Every exchange with the socket ends by [Config.Timeout] or the
//     caller's context, whichever is first; a refusal names the backend,
//     the server, the command and HAProxy's words ([*RefusedError]).
//   - A Router is safe for concurrent use; calls for one scope are
//     serialised, so that two SetRoute calls never interleave their
//     weights.
//
// # Header matches
//
// A scope with a [Match] map also routes requests that carry a header value
// to the canary, whatever the weights ([Router.SetMatch], the
// [traffic.Matcher] capability). The rule lives in haproxy.cfg once; the
// router replaces the map's entries at run time, atomically.
//
// The router does not offer the optional [traffic.Mirrorer] capability:
// HAProxy 2.6 mirrors only through an external SPOE agent, not through the
// runtime API. A mirror step routed through it fails at once, permanently,
// with "the router cannot mirror", before any traffic moves.
package haproxy

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shepherd-go/shepherd/field"
	"github.com/shepherd-go/shepherd/traffic"
)

// Router sets and reads the split of traffic of HAProxy backends. Make one
// with [New]; it holds no connection between calls, so it needs no Close.
type Router struct {
	cfg           Config
	network, addr string
	timeout       time.Duration

	locks map[string]chan struct{} // per scope, a semaphore a ctx can abandon

	mu   sync.Mutex
	last map[string]traffic.Route // per scope, the route last set: names the versions, never the share
}

var (
	_ traffic.Router  = (*Router)(nil)
	_ traffic.Matcher = (*Router)(nil)
)

// New returns a router for cfg, or cfg's problems (see [Config.Validate]).
// It does not connect: the first call does.
func New(cfg Config) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Router{
		cfg:     cfg,
		timeout: cfg.Timeout.Std(),
		locks:   make(map[string]chan struct{}, len(cfg.Scopes)),
		last:    make(map[string]traffic.Route),
	}
	// A copy, so that a caller who edits the maps afterwards changes
	// nothing under a running router.
	r.cfg.Scopes = make(map[string]Scope, len(cfg.Scopes))
	for name, s := range cfg.Scopes {
		vs := make(map[string][]string, len(s.Versions))
		for v, servers := range s.Versions {
			vs[v] = slices.Clone(servers)
		}
		var m *Match
		if s.Match != nil {
			mc := *s.Match
			m = &mc
		}
		r.cfg.Scopes[name] = Scope{Backend: s.Backend, Versions: vs, Match: m}
		r.locks[name] = make(chan struct{}, 1)
	}
	if r.timeout == 0 {
		r.timeout = DefaultTimeout
	}
	r.network, r.addr = socketAddr(cfg.Socket)
	return r, nil
}

// SetRoute gives the canary version r.Percent of the scope's requests and
// the stable version the rest, by setting the weights of their servers;
// the servers of the scope's other versions get weight 0. A route with no
// Canary (and Percent 0) sends everything to Stable.
//
// It is idempotent: only weights that differ from HAProxy's are changed.
// The route is checked whole before anything is sent, so a bad route
// changes nothing. If HAProxy refuses a change midway (its configuration
// changed under the router), SetRoute puts back the weights it had
// changed, unless the route lowers the canary's share: then the weights
// already lowered stay, because undoing part of a rollback would expose the
// canary again.
func (rt *Router) SetRoute(ctx context.Context, scope string, r traffic.Route) error {
	sc, err := rt.scope(scope)
	if err != nil {
		return err
	}
	want, err := rt.plan(scope, sc, r)
	if err != nil {
		return err
	}
	unlock, err := rt.lock(ctx, scope)
	if err != nil {
		return err
	}
	defer unlock()

	backend := sc.backend(scope)
	servers, err := rt.state(ctx, backend)
	if err != nil {
		return err
	}
	if err := checkServers(backend, sc, servers); err != nil {
		return err
	}
	old := make(map[string]int, len(servers))
	for _, s := range servers {
		old[s.Name] = s.Weight
	}
	oldShare := canaryShare(servers, sc, r.Canary)
	cmds, names := changes(backend, old, want, r.Canary, sc)
	rt.remember(scope, r)
	if len(cmds) == 0 {
		return nil
	}
	applied, err := rt.apply(ctx, backend, cmds, names)
	if err == nil {
		return nil
	}
	if r.Percent <= oldShare {
		return err
	}
	// Put back what was applied, in reverse, so that no state on the way
	// back exposes the canary more than the last one did.
	var undo []string
	var undoNames []string
	for i := len(applied) - 1; i >= 0; i-- {
		n := applied[i]
		undo = append(undo, setWeight(backend, n, old[n]))
		undoNames = append(undoNames, n)
	}
	if len(undo) == 0 {
		return err
	}
	// The caller's context may be what ended the change; the undo gets
	// its own deadline so that it still runs.
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rt.timeout)
	defer cancel()
	if _, uerr := rt.apply(uctx, backend, undo, undoNames); uerr != nil {
		return errors.Join(err, fmt.Errorf("haproxy: backend %s: putting back the weights changed before the refusal: %w", backend, uerr))
	}
	return err
}

// Route reports the split the scope serves now, read from HAProxy: the
// canary's share is its servers' weight over the weight of every server
// that takes requests (up, not in maintenance, not draining).
//
// HAProxy knows weights, not which version is the canary. Route names the
// versions as the router's last SetRoute for the scope did when the
// versions that get traffic are among those two. Otherwise (a new router
// after a crash, or weights changed by hand) the version with the larger
// share is Stable (the first by name on a tie), and a version that gets
// everything is Stable with no Canary and Percent 0. Either way the
// traffic that Route describes is the traffic HAProxy sends.
//
// It is an error, not a guess, when the scope serves nothing, when more
// than two versions get traffic, or when a server that no version lists
// gets traffic.
func (rt *Router) Route(ctx context.Context, scope string) (traffic.Route, error) {
	sc, err := rt.scope(scope)
	if err != nil {
		return traffic.Route{}, err
	}
	backend := sc.backend(scope)
	servers, err := rt.state(ctx, backend)
	if err != nil {
		return traffic.Route{}, err
	}
	if err := checkServers(backend, sc, servers); err != nil {
		return traffic.Route{}, err
	}
	weight := make(map[string]int)
	var serving []string
	total := 0
	for _, v := range sortedKeys(sc.Versions) {
		w := sideWeight(servers, sc.Versions[v])
		weight[v] = w
		total += w
		if w > 0 {
			serving = append(serving, v)
		}
	}
	switch {
	case total == 0:
		return traffic.Route{}, fmt.Errorf("haproxy: backend %s serves nothing: every server of every version is down, in maintenance, draining or at weight 0", backend)
	case len(serving) > 2:
		return traffic.Route{}, fmt.Errorf("haproxy: backend %s sends traffic to %d versions (%s); a route has two", backend, len(serving), strings.Join(serving, ", "))
	}
	rt.mu.Lock()
	last, ok := rt.last[scope]
	rt.mu.Unlock()
	if ok && slices.ContainsFunc(serving, func(v string) bool { return v != last.Stable && v != last.Canary }) {
		ok = false
	}
	if !ok {
		last = traffic.Route{Stable: serving[0]}
		if len(serving) == 2 {
			last.Canary = serving[1]
			if weight[serving[1]] > weight[serving[0]] {
				last.Stable, last.Canary = serving[1], serving[0]
			}
		}
	}
	p, _ := share(weight[last.Canary], total-weight[last.Canary]) // 0 with no canary
	return traffic.Route{Stable: last.Stable, Canary: last.Canary, Percent: p}, nil
}

// scope returns the named scope's configuration.
func (rt *Router) scope(name string) (Scope, error) {
	sc, ok := rt.cfg.Scopes[name]
	if !ok {
		return Scope{}, &field.Error{Path: "scope", Problem: fmt.Sprintf("unknown scope %q (configured: %s)", name, strings.Join(sortedKeys(rt.cfg.Scopes), ", ")), Err: ErrInvalid}
	}
	return sc, nil
}

// plan checks r against the scope and returns the weight of every server
// of every version.
func (rt *Router) plan(scope string, sc Scope, r traffic.Route) (map[string]int, error) {
	var l field.List
	known := func(path, v string) {
		if _, ok := sc.Versions[v]; !ok {
			l.Add(ErrInvalid, path, "scope %q has no version %q (configured: %s)", scope, v, strings.Join(sortedKeys(sc.Versions), ", "))
		}
	}
	if r.Stable == "" {
		l.Add(ErrInvalid, "route.Stable", "must name a version")
	} else {
		known("route.Stable", r.Stable)
	}
	if r.Canary != "" {
		known("route.Canary", r.Canary)
		if r.Canary == r.Stable {
			l.Add(ErrInvalid, "route.Canary", "is the stable version %q too", r.Stable)
		}
	}
	if math.IsNaN(r.Percent) || r.Percent < 0 || r.Percent > 100 {
		l.Add(ErrInvalid, "route.Percent", "must be between 0 and 100, got %v", r.Percent)
	} else if r.Canary == "" && r.Percent != 0 {
		l.Add(ErrInvalid, "route.Percent", "is %v but the route has no Canary", r.Percent)
	}
	if err := l.Err(); err != nil {
		return nil, err
	}
	w := Weights{Stable: 1}
	if r.Canary != "" {
		var err error
		w, _, err = WeightsFor(r.Percent, len(sc.Versions[r.Canary]), len(sc.Versions[r.Stable]), rt.cfg.Tolerance)
		if err != nil {
			return nil, fmt.Errorf("haproxy: scope %q: %w", scope, err)
		}
	}
	want := make(map[string]int)
	for v, servers := range sc.Versions {
		for _, s := range servers {
			switch v {
			case r.Stable:
				want[s] = w.Stable
			case r.Canary:
				want[s] = w.Canary
			default:
				want[s] = 0
			}
		}
	}
	return want, nil
}

// changes returns the weight commands that take backend from old to want,
// and the servers they change, in a safe order: first the changes that
// lower the canary's share (its servers' weights down, the others' up),
// then those that raise it (the others' down, the canary's up). Every state
// on the way then gives the canary no more than the old route or the new
// one: the first group only lowers its share from the old, the second only
// raises it towards the new. The canary's servers come first of all, so that
// a rollback to 0% stops the canary's traffic with its first command.
func changes(backend string, old, want map[string]int, canary string, sc Scope) (cmds, names []string) {
	isCanary := make(map[string]bool)
	for _, s := range sc.Versions[canary] {
		isCanary[s] = true
	}
	rank := func(n string) int {
		up := want[n] > old[n]
		switch {
		case isCanary[n] && !up:
			return 0
		case !isCanary[n] && up:
			return 1
		case !isCanary[n]:
			return 2
		}
		return 3
	}
	for _, n := range sortedKeys(want) {
		if want[n] != old[n] {
			names = append(names, n)
		}
	}
	slices.SortStableFunc(names, func(a, b string) int { return rank(a) - rank(b) })
	for _, n := range names {
		cmds = append(cmds, setWeight(backend, n, want[n]))
	}
	return cmds, names
}

// setWeight is the runtime API's command.
func setWeight(backend, server string, w int) string {
	return fmt.Sprintf("set server %s/%s weight %d", backend, server, w)
}

// apply sends cmds (weight changes of the named servers of backend) as one
// exchange and returns the servers whose change HAProxy accepted, with the
// refusals joined.
func (rt *Router) apply(ctx context.Context, backend string, cmds, names []string) (applied []string, err error) {
	answers, err := rt.exchange(ctx, cmds...)
	if err != nil {
		// Whether HAProxy ran some of the commands is unknown: the
		// caller reads the route back to find out.
		return nil, err
	}
	var errs []error
	for i, a := range answers {
		if a == "" {
			applied = append(applied, names[i])
			continue
		}
		errs = append(errs, &RefusedError{Backend: backend, Server: names[i], Command: cmds[i], Message: a})
	}
	return applied, errors.Join(errs...)
}

// state returns the servers of backend as HAProxy reports them.
func (rt *Router) state(ctx context.Context, backend string) ([]server, error) {
	cmd := "show servers state " + backend
	answers, err := rt.exchange(ctx, cmd)
	if err != nil {
		return nil, err
	}
	return parseState(backend, answers[0])
}

// checkServers reports configured servers that the backend lacks, and
// servers the configuration does not list that take requests.
func checkServers(backend string, sc Scope, servers []server) error {
	have := make(map[string]bool, len(servers))
	for _, s := range servers {
		have[s.Name] = true
	}
	listed := make(map[string]bool)
	var errs []error
	for _, v := range sortedKeys(sc.Versions) {
		for _, s := range sc.Versions[v] {
			listed[s] = true
			if !have[s] {
				errs = append(errs, &RefusedError{Backend: backend, Server: s, Command: "show servers state " + backend,
					Message: fmt.Sprintf("No such server (configured for version %q).", v)})
			}
		}
	}
	for _, s := range servers {
		if !listed[s.Name] && s.effective() > 0 {
			errs = append(errs, fmt.Errorf("haproxy: server %s/%s takes requests (weight %d) but runs no configured version; list it in Scope.Versions or set its weight to 0", backend, s.Name, s.Weight))
		}
	}
	return errors.Join(errs...)
}

// sideWeight is the weight with which the named servers take requests now.
func sideWeight(servers []server, names []string) int {
	total := 0
	for _, s := range servers {
		if slices.Contains(names, s.Name) {
			total += s.effective()
		}
	}
	return total
}

// canaryShare is the share of the backend's requests that the canary's
// servers take now (0 with no canary, or when nothing takes requests).
func canaryShare(servers []server, sc Scope, canary string) float64 {
	total := 0
	for _, v := range sc.Versions {
		total += sideWeight(servers, v)
	}
	c := 0
	if canary != "" {
		c = sideWeight(servers, sc.Versions[canary])
	}
	p, _ := share(c, total-c)
	return p
}

// remember records which versions the scope's route names, for Route.
func (rt *Router) remember(scope string, r traffic.Route) {
	rt.mu.Lock()
	rt.last[scope] = traffic.Route{Stable: r.Stable, Canary: r.Canary}
	rt.mu.Unlock()
}

// lock takes the scope's semaphore, or gives up when ctx ends.
func (rt *Router) lock(ctx context.Context, scope string) (unlock func(), err error) {
	sem := rt.locks[scope]
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}
