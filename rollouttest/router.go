package rollouttest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/rollout"
	shtraffic "github.com/shepherd-go/shepherd/traffic"
)

// DefaultRouterErrorRate is the error rate of a version a [Router] has no
// rate for.
const DefaultRouterErrorRate = 0.001

// Router is a simulated routed fleet: an in-memory [shtraffic.Router] (and
// [shtraffic.Matcher], [shtraffic.Mirrorer], [shtraffic.Retirer]) whose scopes
// split their requests between two versions as routed, so that the error
// rate a scope serves follows the share the bad version gets. With
// [Router.Alarms] it makes a policy with exposure steps unit-testable: a
// bad version at 10% raises the scope's error rate by a tenth of its own,
// enough or not to cross the threshold.
//
// Its zero value is ready to use; set ErrorRates before the run. It is
// safe for concurrent use and bubble-safe (it never blocks).
type Router struct {
	// ErrorRates is each version's share of failed requests; a version
	// not here fails at [DefaultRouterErrorRate].
	ErrorRates map[string]float64
	// Clock, if set, is the time of route changes; nil means time.Now
	// (the bubble's clock inside testing/synctest). [Simulate] sets it to
	// its simulated clock while it runs.
	Clock func() time.Time
	// FailSet makes the next FailSet calls of SetRoute fail.
	FailSet int

	mu     sync.Mutex
	scopes map[string]*routedScope
	calls  []RouteCall
}

// RouteCall is one call a [Router] received.
type RouteCall struct {
	// At is when; Op the method ("set", "match", "mirror", "retire");
	// Scope where.
	At    time.Time
	Op    string
	Scope string
	// Route is the route set (Op "set").
	Route shtraffic.Route
	// Version is the version matched, mirrored or retired; Percent the
	// share mirrored.
	Version string
	Percent float64
	// Err is the error returned, if any.
	Err error
}

// RouteChange is a scope's route from At on.
type RouteChange struct {
	At    time.Time
	Route shtraffic.Route
}

type routedScope struct {
	history []RouteChange
	match   []shtraffic.Match
	mirror  float64
	retired []string
}

func (r *Router) now() time.Time {
	if r.Clock != nil {
		return r.Clock()
	}
	return time.Now()
}

func (r *Router) scope(name string) *routedScope {
	if r.scopes == nil {
		r.scopes = map[string]*routedScope{}
	}
	s := r.scopes[name]
	if s == nil {
		s = &routedScope{}
		r.scopes[name] = s
	}
	return s
}

// SetRoute routes r.Percent of scope's requests to r.Canary.
func (r *Router) SetRoute(ctx context.Context, scope string, rt shtraffic.Route) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	c := RouteCall{At: now, Op: "set", Scope: scope, Route: rt}
	if r.FailSet > 0 {
		r.FailSet--
		c.Err = fmt.Errorf("rollouttest: router: scope %s: scripted failure", scope)
		r.calls = append(r.calls, c)
		return c.Err
	}
	if !(rt.Percent >= 0 && rt.Percent <= 100) {
		c.Err = rollout.Permanent(fmt.Errorf("rollouttest: router: share %v is not a percentage", rt.Percent))
		r.calls = append(r.calls, c)
		return c.Err
	}
	r.calls = append(r.calls, c)
	s := r.scope(scope)
	s.history = append(s.history, RouteChange{At: now, Route: rt})
	return nil
}

// Route returns scope's route; a scope never set serves its stable
// version alone (the zero route).
func (r *Router) Route(ctx context.Context, scope string) (shtraffic.Route, error) {
	if err := ctx.Err(); err != nil {
		return shtraffic.Route{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.scope(scope)
	if len(s.history) == 0 {
		return shtraffic.Route{}, nil
	}
	return s.history[len(s.history)-1].Route, nil
}

// SetMatch records the matches of scope.
func (r *Router) SetMatch(ctx context.Context, scope, canary string, m []shtraffic.Match) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, RouteCall{At: r.now(), Op: "match", Scope: scope, Version: canary})
	r.scope(scope).match = slices.Clone(m)
	return ctx.Err()
}

// SetMirror records the mirroring of scope.
func (r *Router) SetMirror(ctx context.Context, scope, version string, percent float64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, RouteCall{At: r.now(), Op: "mirror", Scope: scope, Version: version, Percent: percent})
	r.scope(scope).mirror = percent
	return ctx.Err()
}

// Retire records that scope's set of version was retired.
func (r *Router) Retire(ctx context.Context, scope, version string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, RouteCall{At: r.now(), Op: "retire", Scope: scope, Version: version})
	s := r.scope(scope)
	s.retired = append(s.retired, version)
	return ctx.Err()
}

// Calls returns every call received, in order.
func (r *Router) Calls() []RouteCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// History returns scope's routes over time, in order.
func (r *Router) History(scope string) []RouteChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.scope(scope).history)
}

// Scopes lists the scopes routed, sorted.
func (r *Router) Scopes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for k, s := range r.scopes {
		if len(s.history) > 0 {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Retired lists the versions retired in scope.
func (r *Router) Retired(scope string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.scope(scope).retired)
}

func (r *Router) rate(version string) float64 {
	if e, ok := r.ErrorRates[version]; ok {
		return e
	}
	return DefaultRouterErrorRate
}

// ErrorRate is the share of scope's requests that failed over [from, to):
// each instant's rate is the routed mix of the two versions' rates.
func (r *Router) ErrorRate(scope string, from, to time.Time) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !to.After(from) {
		to = from.Add(time.Nanosecond)
	}
	h := r.scope(scope).history
	mix := func(rt shtraffic.Route) float64 {
		p := rt.Percent / 100
		return (1-p)*r.rate(rt.Stable) + p*r.rate(rt.Canary)
	}
	total := 0.0
	cur := shtraffic.Route{}
	if len(h) > 0 {
		cur = shtraffic.Route{Stable: h[0].Route.Stable}
	}
	t := from
	for _, c := range h {
		if !c.At.After(t) {
			cur = c.Route
			continue
		}
		if !c.At.Before(to) {
			break
		}
		total += mix(cur) * float64(c.At.Sub(t))
		t, cur = c.At, c.Route
	}
	total += mix(cur) * float64(to.Sub(t))
	return total / float64(to.Sub(from))
}

// Exposure returns version's share of scope's traffic over time, from
// the router's own records: a check on the driver's account.
func (r *Router) Exposure(scope, version string, now time.Time) shtraffic.Blast {
	var e shtraffic.Exposure
	for _, c := range r.History(scope) {
		p := 0.0
		if c.Route.Canary == version {
			p = c.Route.Percent
		} else if c.Route.Stable == version {
			p = 100 - c.Route.Percent
		}
		e.Set(c.At, p)
	}
	return e.Blast(now)
}

// Alarms watches the error rate of every scope routed so far, each over
// the window before now: a scope above threshold is in ALARM, named with
// its rate. A rollout's alarms are watched to its end, so a scope ramped
// earlier stays watched while the next ramps.
func (r *Router) Alarms(threshold float64, window time.Duration) rollout.Alarms {
	return rollout.AlarmsFunc(func(ctx context.Context, _ rollout.Subject, now time.Time) ([]alarm.Result, error) {
		var out []alarm.Result
		for _, sc := range r.Scopes() {
			rate := r.ErrorRate(sc, now.Add(-window), now)
			res := alarm.Result{Name: "error-rate " + sc, State: alarm.OK, Time: now,
				Reason: fmt.Sprintf("%.4f%% of requests failed over %s (threshold %.4f%%)", rate*100, window, threshold*100)}
			if rate > threshold {
				res.State = alarm.Alarm
			}
			out = append(out, res)
		}
		return out, ctx.Err()
	})
}
