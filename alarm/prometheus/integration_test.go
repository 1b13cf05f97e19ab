package prometheus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/alarm/monitor"
	promsource "github.com/shepherd-go/shepherd/alarm/prometheus"
	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/internal/testenv"
)

// app is a test service that exposes a request counter, an error counter
// and a latency histogram, and serves synthetic traffic whose health the
// test switches.
type app struct {
	broken           atomic.Bool
	requests, errors prometheus.Counter
	latency          prometheus.Histogram
	handler          http.Handler
	stop             chan struct{}
	wg               sync.WaitGroup
}

func newApp() *app {
	reg := prometheus.NewRegistry()
	a := &app{
		requests: prometheus.NewCounter(prometheus.CounterOpts{Name: "shepherd_test_requests_total", Help: "Requests served."}),
		errors:   prometheus.NewCounter(prometheus.CounterOpts{Name: "shepherd_test_errors_total", Help: "Requests failed."}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "shepherd_test_latency_seconds", Help: "Request latency.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}}),
		stop: make(chan struct{}),
	}
	reg.MustRegister(a.requests, a.errors, a.latency)
	a.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	a.wg.Add(1)
	go a.traffic()
	return a
}

// traffic serves 5 requests every 20ms: healthy ones fast and successful,
// broken ones slow with 2 errors in 5.
func (a *app) traffic() {
	defer a.wg.Done()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-tick.C:
		}
		broken := a.broken.Load()
		for i := range 5 {
			a.requests.Inc()
			if broken {
				a.latency.Observe(0.7)
				if i < 2 {
					a.errors.Inc()
				}
			} else {
				a.latency.Observe(0.02)
			}
		}
	}
}

func (a *app) close() {
	close(a.stop)
	a.wg.Wait()
}

// startPrometheus runs the real server on a free loopback port with a
// temporary data directory, scraping target every second, and returns its
// address and a function that kills it.
func startPrometheus(t *testing.T, bin, target string) (string, func()) {
	t.Helper()
	dir := t.TempDir()
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: app
    static_configs:
      - targets: [%q]
`, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	var logs bytes.Buffer
	cmd := exec.Command(bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	var once sync.Once
	kill := func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	t.Cleanup(func() {
		kill()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 20s: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "http://" + addr, kill
}

// TestRealPrometheus scrapes a test service with Debian's prometheus and
// watches an error-rate rule and a p99-latency rule through alarm/prometheus
// go OK -> ALARM -> OK as the service breaks and recovers; then stops
// Prometheus and checks that the monitor reports the configured error
// outcome, never OK.
func TestRealPrometheus(t *testing.T) {
	bin := testenv.LookPath(t, "prometheus", "/usr/bin/prometheus")

	a := newApp()
	defer a.close()
	target := httptest.NewServer(a.handler)
	defer target.Close()
	promAddr, kill := startPrometheus(t, bin, target.Listener.Addr().(*net.TCPAddr).String())

	src, err := promsource.New(promsource.Config{Address: promAddr, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Two-second periods, 2 of 3 to alarm: short enough for a test, the
	// same semantics as one-minute periods in production.
	eval := alarm.Evaluation{Period: duration.Duration(2 * time.Second), EvaluationPeriods: 3, DatapointsToAlarm: 2}
	set, err := alarm.NewSet(src,
		alarm.Rule{Name: "error rate", Threshold: &alarm.Threshold{
			Query:      `sum(rate(shepherd_test_errors_total[4s])) / sum(rate(shepherd_test_requests_total[4s]))`,
			Comparison: alarm.GreaterThan, Threshold: 0.1, Evaluation: eval}},
		alarm.Rule{Name: "p99 latency", Threshold: &alarm.Threshold{
			Query:      `histogram_quantile(0.99, sum by (le) (rate(shepherd_test_latency_seconds_bucket[4s])))`,
			Comparison: alarm.GreaterThan, Threshold: 0.25, Evaluation: eval}},
	)
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu  sync.Mutex
		log []monitor.Transition
	)
	m := &monitor.Monitor{Set: set, Interval: 500 * time.Millisecond, OnTransition: func(tr monitor.Transition) {
		mu.Lock()
		log = append(log, tr)
		mu.Unlock()
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- m.Run(ctx) }()
	defer func() {
		m.Close()
		if err := <-runErr; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	waitFor := func(phase string, within time.Duration, ok func(monitor.Status) bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			all := true
			for _, st := range m.Statuses() {
				all = all && ok(st)
			}
			if all {
				t.Logf("%s after %s", phase, time.Since(deadline.Add(-within)).Round(100*time.Millisecond))
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not reached within %s: %+v", phase, within, m.Statuses())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	is := func(s alarm.State) func(monitor.Status) bool {
		return func(st monitor.Status) bool { return st.Err == nil && st.Result.State == s }
	}

	waitFor("healthy: both OK", 20*time.Second, is(alarm.OK))
	a.broken.Store(true)
	waitFor("broken: both ALARM", 15*time.Second, is(alarm.Alarm))
	for _, st := range m.Statuses() {
		t.Logf("%s: %s", st.Result.Name, st.Result.Reason)
	}
	a.broken.Store(false)
	waitFor("recovered: both OK", 20*time.Second, is(alarm.OK))

	kill()
	waitFor("prometheus stopped: error outcome", 10*time.Second, func(st monitor.Status) bool {
		return st.Err != nil && st.Result.State == alarm.Alarm
	})
	if _, err := set.Check(context.Background(), "error rate", time.Now()); err == nil {
		t.Error("Check succeeded with Prometheus stopped")
	}

	mu.Lock()
	defer mu.Unlock()
	for _, tr := range log {
		if tr.Err != nil && tr.Result.State == alarm.OK {
			t.Errorf("an unreadable alarm became OK: %+v", tr)
		}
	}
	var errs []error
	for _, st := range m.Statuses() {
		errs = append(errs, st.Err)
	}
	t.Logf("error outcome: %v", errors.Join(errs...))
}
