package haproxy_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/traffic"
	"github.com/shepherd-go/shepherd/traffic/haproxy"
)

// A canary ramp on a live HAProxy whose backend "api" has two servers on
// the stable build and one on the new one. It needs haproxy running with
// the admin socket of the package documentation, so it has no output to
// check; TestSplit runs the same ramp on a real haproxy.
func Example() {
	r, err := haproxy.New(haproxy.Config{
		Socket:  "/run/haproxy/admin.sock",
		Timeout: duration.Duration(2 * time.Second),
		Scopes: map[string]haproxy.Scope{
			"api": {Versions: map[string][]string{
				"v1.4": {"api1", "api2"},
				"v1.5": {"api3"},
			}},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for _, p := range []float64{1, 5, 25, 50, 100} {
		if err := r.SetRoute(ctx, "api", traffic.Route{Stable: "v1.4", Canary: "v1.5", Percent: p}); err != nil {
			// Roll back: weight to 0 first, the fastest safe action.
			_ = r.SetRoute(ctx, "api", traffic.Route{Stable: "v1.4", Canary: "v1.5", Percent: 0})
			log.Fatal(err)
		}
		got, err := r.Route(ctx, "api") // read back from HAProxy
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s gets %v%% of the requests\n", got.Canary, got.Percent)
		// ... bake, watch alarms ...
	}
}

// The weights a share takes: with two stable servers and one canary, 10%
// is a weight of 2 on the canary and 9 on each stable server (2 of 20).
// A share the weights cannot express is refused with the nearest one.
func ExampleWeightsFor() {
	for _, p := range []float64{1, 10, 50, 12.5} {
		w, got, err := haproxy.WeightsFor(p, 1, 2, 0)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%v%%: canary weight %d, stable weights %d (%v%%)\n", p, w.Canary, w.Stable, got)
	}
	_, _, err := haproxy.WeightsFor(0.1, 1, 2, 0)
	fmt.Println(err)
	// Output:
	// 1%: canary weight 2, stable weights 99 (1%)
	// 10%: canary weight 2, stable weights 9 (10%)
	// 50%: canary weight 2, stable weights 1 (50%)
	// 12.5%: canary weight 2, stable weights 7 (12.5%)
	// haproxy: share not realisable with server weights: 0.1% with 1 canary and 2 stable servers: the nearest is 0.1949% (canary weight 1, stable weight 256); set Config.Tolerance to accept it
}

// Configuration problems are reported all at once, each with its field.
func ExampleConfig_Validate() {
	err := haproxy.Config{
		Socket: "/run/haproxy/admin.sock",
		Scopes: map[string]haproxy.Scope{
			"api": {Versions: map[string][]string{
				"v1": {"api1", "api2"},
				"v2": {"api2"},
			}},
		},
	}.Validate()
	fmt.Println(err)
	// Output:
	// haproxy: Config.Scopes["api"].Versions["v2"][0]: server "api2" already runs version "v1": a server runs one version
}
