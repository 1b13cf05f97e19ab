package probe_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/alarm/probe"
	"github.com/shepherd-go/shepherd/duration"
)

// A prober answers alarm queries about its endpoints. Here one minute of
// results is recorded by hand, as Run would record them: four good
// requests, then two answered 503.
func Example() {
	p, err := probe.New(probe.Policy{
		Endpoints: []probe.Endpoint{{Name: "checkout", URL: "https://shop.internal/checkout/health"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	start := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 6 {
		r := probe.Result{Endpoint: "checkout", Time: start.Add(time.Duration(i)*10*time.Second + time.Second),
			Latency: time.Duration(80+10*i) * time.Millisecond, Status: 200}
		if i >= 4 {
			r.Status, r.Err = 503, &probe.StatusError{Endpoint: "checkout", Status: 503, Want: "2xx"}
		}
		if err := p.Record(r); err != nil {
			fmt.Println(err)
		}
	}

	ctx := context.Background()
	rg := alarm.Range{Start: start, End: start.Add(time.Minute), Step: time.Minute}
	for _, q := range []string{
		"probe:checkout:requests",
		"probe:checkout:success_rate",
		"probe:checkout:status_5xx",
		"probe:checkout:latency_p99_seconds",
	} {
		s, err := p.Query(ctx, q, rg)
		if err != nil {
			fmt.Println(err)
			continue
		}
		for _, pt := range s.Points {
			fmt.Printf("%-35s %s %.3g (%d samples)\n", q, pt.Time.Format("15:04"), pt.Value, pt.Samples)
		}
	}
	_, err = p.Query(ctx, "probe:checkout:latency_p99", rg)
	fmt.Println(err)
	// Output:
	// probe:checkout:requests             12:01 6 (6 samples)
	// probe:checkout:success_rate         12:01 0.667 (6 samples)
	// probe:checkout:status_5xx           12:01 2 (6 samples)
	// probe:checkout:latency_p99_seconds  12:01 0.13 (6 samples)
	// probe: bad query "probe:checkout:latency_p99": unknown metric "latency_p99" (want one of requests, successes, failures, success_rate, failure_rate, latency_mean_seconds, latency_max_seconds, latency_p<q>_seconds, status_<code>, status_<d>xx)
}

// Run sends the requests until its context ends and returns once its
// goroutines have stopped. Here it probes a local server for half a second,
// three requests at the start and then every 200ms.
func ExampleProber_Run() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	defer srv.Close()

	period := 200 * time.Millisecond
	p, err := probe.New(probe.Policy{
		Interval:  duration.Duration(period),
		Period:    duration.Duration(period),
		Endpoints: []probe.Endpoint{{Name: "home", URL: srv.URL, Expect: []int{http.StatusOK}}},
	}, probe.WithClient(srv.Client()))
	if err != nil {
		fmt.Println(err)
		return
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	fmt.Println("Run returned:", p.Run(ctx))

	time.Sleep(period) // let the last period end
	s, err := p.Query(context.Background(), "probe:home:success_rate",
		alarm.Range{Start: start, End: time.Now(), Step: period})
	if err != nil {
		fmt.Println(err)
		return
	}
	healthy := len(s.Points) > 0
	for _, pt := range s.Points {
		healthy = healthy && pt.Value == 1
	}
	fmt.Println("every point healthy:", healthy)
	// Output:
	// Run returned: context deadline exceeded
	// every point healthy: true
}
