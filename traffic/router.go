// Package traffic moves a change by share of traffic rather than by host:
// exposure schedules ("send 10% to the new version, hold 5 minutes, then
// 50%..."), presets that expand the published schedules of other tools
// into explicit steps, and the [Router] interface a team implements for its
// load balancer, mesh or flag service.
package traffic

import "context"

// Route is how a scope's traffic is split between two versions: Percent of
// it goes to Canary, the rest to Stable. Percent 0 sends everything to
// Stable (the rollback of exposure); 100 sends everything to Canary (a
// blue/green switch, or the end of a ramp).
type Route struct {
	Stable  string  `json:"stable"`
	Canary  string  `json:"canary"`
	Percent float64 `json:"percent"`
}

// Router sets and reads the split of traffic in a scope: a load balancer, a
// region's ingress, a function alias, a flag. It is owned by the consumer;
// the driver calls it with a deadline and reads the route back to confirm.
//
// SetRoute must be idempotent: setting the route a scope already has does
// no harm. Route reports what the scope serves now, which after a crash may
// differ from what was last asked for.
type Router interface {
	SetRoute(ctx context.Context, scope string, r Route) error
	Route(ctx context.Context, scope string) (Route, error)
}

// Match selects requests that go to the canary version whatever the
// percentage: those carrying a header with a value (a tester's cookie, an
// internal user), or a cohort of entities chosen by a sticky hash of their
// ID.
type Match struct {
	Header string `json:"header,omitempty"`
	Value  string `json:"value,omitempty"`
}

// Matcher is an optional capability of a [Router]: route matching requests
// to the canary (Flagger's iterations with a header match). An empty list
// removes the matches.
type Matcher interface {
	SetMatch(ctx context.Context, scope string, canary string, m []Match) error
}

// Mirrorer is an optional capability of a [Router]: copy Percent of the
// scope's traffic to version, whose responses are discarded (shadow
// traffic). Percent 0 stops mirroring.
type Mirrorer interface {
	SetMirror(ctx context.Context, scope string, version string, percent float64) error
}
