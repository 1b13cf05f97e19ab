package haproxy_test

import (
	"context"
	"testing"

	"github.com/shepherd-go/shepherd/traffic"
	"github.com/shepherd-go/shepherd/traffic/haproxy"
)

// benchRouter starts a real haproxy in front of two stable servers and one
// canary and returns a router for it.
func benchRouter(b *testing.B) *haproxy.Router {
	b.Helper()
	versions := map[string][]string{"v1": {"v1a", "v1b"}, "v2": {"v2a"}}
	l := startHAProxy(b, newApp(b, versions), "")
	r, err := haproxy.New(haproxy.Config{Socket: l.socket, Scopes: map[string]haproxy.Scope{"api": {Backend: "app", Versions: versions}}})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkSetRoute measures a change of route on a real haproxy: one
// exchange to read the servers' state and one to set the weights that
// differ (all three servers, alternating between 10% and 50%).
func BenchmarkSetRoute(b *testing.B) {
	r := benchRouter(b)
	ctx := context.Background()
	routes := [2]traffic.Route{{Stable: "v1", Canary: "v2", Percent: 10}, {Stable: "v1", Canary: "v2", Percent: 75}}
	i := 0
	for b.Loop() {
		if err := r.SetRoute(ctx, "api", routes[i%2]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkSetRouteUnchanged measures setting the route the scope already
// has: one exchange, no change.
func BenchmarkSetRouteUnchanged(b *testing.B) {
	r := benchRouter(b)
	ctx := context.Background()
	route := traffic.Route{Stable: "v1", Canary: "v2", Percent: 10}
	if err := r.SetRoute(ctx, "api", route); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := r.SetRoute(ctx, "api", route); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRoute measures reading the route back from haproxy.
func BenchmarkRoute(b *testing.B) {
	r := benchRouter(b)
	ctx := context.Background()
	if err := r.SetRoute(ctx, "api", traffic.Route{Stable: "v1", Canary: "v2", Percent: 10}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := r.Route(ctx, "api"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWeightsFor measures the search for the weights of a share.
func BenchmarkWeightsFor(b *testing.B) {
	for b.Loop() {
		if _, _, err := haproxy.WeightsFor(33.3, 3, 7, 0.01); err != nil {
			b.Fatal(err)
		}
	}
}
