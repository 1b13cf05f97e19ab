package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/duration"
)

// fakeTransport answers every request with the function's status and body
// after the function's latency, honouring the request's context as a real
// transport does. It only uses timers, so it is safe inside a synctest
// bubble.
type fakeTransport func(req *http.Request) (status int, body string, latency time.Duration)

func (f fakeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	status, body, latency := f(req)
	t := time.NewTimer(latency)
	defer t.Stop()
	select {
	case <-req.Context().Done():
		return nil, req.Context().Err()
	case <-t.C:
	}
	return &http.Response{
		StatusCode: status,
		Status:     http.StatusText(status),
		Header:     http.Header{},
		Body:       io.NopCloser(strings.NewReader(body)),
		Request:    req,
	}, nil
}

func client(f fakeTransport) *http.Client { return &http.Client{Transport: f} }

// run runs p for d inside the current bubble and checks that Run returns the
// context's cause after its goroutines stopped.
func run(t *testing.T, p *Prober, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancelCause(t.Context())
	stop := errors.New("test over")
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	time.Sleep(d)
	cancel(stop)
	if err := <-done; !errors.Is(err, stop) {
		t.Fatalf("Run returned %v, want the cause %v", err, stop)
	}
}

func points(t *testing.T, p *Prober, q string, r alarm.Range) []alarm.Point {
	t.Helper()
	s, err := p.Query(t.Context(), q, r)
	if err != nil {
		t.Fatalf("Query(%q): %v", q, err)
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("Query(%q) returned an invalid series: %v", q, err)
	}
	return s.Points
}

// series builds the expected points: one per minute from start+1m.
func series(start time.Time, step time.Duration, samples int64, values ...float64) []alarm.Point {
	out := make([]alarm.Point, len(values))
	for i, v := range values {
		out[i] = alarm.Point{Time: start.Add(time.Duration(i+1) * step), Value: v, Samples: samples}
	}
	return out
}

// TestRunScenario runs two endpoints for five minutes of bubble time: the
// checkout starts failing at minute 3, the search slows down at minute 2.
// Each one-minute point must hold the six requests of its minute and the
// in-progress minute must not be reported.
func TestRunScenario(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		tr := fakeTransport(func(req *http.Request) (int, string, time.Duration) {
			since := time.Since(start)
			switch req.URL.Path {
			case "/checkout":
				if since >= 3*time.Minute {
					return http.StatusServiceUnavailable, "", 100 * time.Millisecond
				}
				return http.StatusOK, "", 100 * time.Millisecond
			default:
				if since >= 2*time.Minute {
					return http.StatusOK, "", 2 * time.Second
				}
				return http.StatusOK, "", 100 * time.Millisecond
			}
		})
		p, err := New(Policy{Endpoints: []Endpoint{
			{Name: "checkout", URL: "http://shop.test/checkout"},
			{Name: "search", URL: "http://shop.test/search"},
		}}, WithClient(client(tr)))
		if err != nil {
			t.Fatal(err)
		}
		run(t, p, 5*time.Minute+time.Second)

		// End lies in the future: the minute in progress must still be left out.
		r := alarm.Range{Start: start, End: start.Add(time.Hour), Step: time.Minute}
		tests := []struct {
			query string
			want  []alarm.Point
		}{
			{"probe:checkout:requests", series(start, time.Minute, 6, 6, 6, 6, 6, 6)},
			{"probe:checkout:success_rate", series(start, time.Minute, 6, 1, 1, 1, 0, 0)},
			{"probe:checkout:failure_rate", series(start, time.Minute, 6, 0, 0, 0, 1, 1)},
			{"probe:checkout:failures", series(start, time.Minute, 6, 0, 0, 0, 6, 6)},
			{"probe:checkout:successes", series(start, time.Minute, 6, 6, 6, 6, 0, 0)},
			{"probe:checkout:status_503", series(start, time.Minute, 6, 0, 0, 0, 6, 6)},
			{"probe:checkout:status_5xx", series(start, time.Minute, 6, 0, 0, 0, 6, 6)},
			{"probe:checkout:status_2xx", series(start, time.Minute, 6, 6, 6, 6, 0, 0)},
			{"probe:search:latency_p99_seconds", series(start, time.Minute, 6, 0.1, 0.1, 2, 2, 2)},
			{"probe:search:latency_max_seconds", series(start, time.Minute, 6, 0.1, 0.1, 2, 2, 2)},
			{"probe:search:success_rate", series(start, time.Minute, 6, 1, 1, 1, 1, 1)},
		}
		for _, tc := range tests {
			if diff := cmp.Diff(tc.want, points(t, p, tc.query, r)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.query, diff)
			}
		}

		// A five-minute step aggregates the raw results of the five minutes.
		r5 := alarm.Range{Start: start, End: start.Add(5 * time.Minute), Step: 5 * time.Minute}
		want := []alarm.Point{{Time: start.Add(5 * time.Minute), Value: 18.0 / 30, Samples: 30}}
		if diff := cmp.Diff(want, points(t, p, "probe:checkout:success_rate", r5)); diff != "" {
			t.Errorf("five-minute success rate (-want +got):\n%s", diff)
		}
		// 30 latencies: 12 of 0.1s, 18 of 2s; the median is the 15th: 2s.
		want = []alarm.Point{{Time: start.Add(5 * time.Minute), Value: 2, Samples: 30}}
		if diff := cmp.Diff(want, points(t, p, "probe:search:latency_p50_seconds", r5)); diff != "" {
			t.Errorf("five-minute median latency (-want +got):\n%s", diff)
		}

		// A range inside the run selects only its own minutes.
		r23 := alarm.Range{Start: start.Add(2 * time.Minute), End: start.Add(3 * time.Minute), Step: time.Minute}
		want = []alarm.Point{
			{Time: start.Add(2 * time.Minute), Value: 1, Samples: 6},
			{Time: start.Add(3 * time.Minute), Value: 1, Samples: 6},
		}
		if diff := cmp.Diff(want, points(t, p, "probe:checkout:success_rate", r23)); diff != "" {
			t.Errorf("minutes 2 and 3 (-want +got):\n%s", diff)
		}
	})
}

// lockedBuffer is a bytes.Buffer safe for the prober's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: slog.LevelWarn,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// TestFailures checks each way a request can fail, with its recorded
// status, latency and reason.
func TestFailures(t *testing.T) {
	tests := []struct {
		name     string
		ep       Endpoint
		status   int
		body     string
		latency  time.Duration
		wantOK   bool
		wantLat  float64
		wantCode string // status metric expected to count the request
		wantLog  string
	}{
		{
			name: "any 2xx by default", ep: Endpoint{Name: "e", URL: "http://x.test/"},
			status: 204, latency: time.Second, wantOK: true, wantLat: 1, wantCode: "status_204",
		},
		{
			name: "unexpected status", ep: Endpoint{Name: "e", URL: "http://x.test/"},
			status: 500, latency: time.Second, wantLat: 1, wantCode: "status_500",
			wantLog: `error="probe: e: status 500, want 2xx"`,
		},
		{
			name: "explicit expectation", ep: Endpoint{Name: "e", URL: "http://x.test/", Expect: []int{301, 302}},
			status: 200, latency: time.Second, wantLat: 1, wantCode: "status_200",
			wantLog: `error="probe: e: status 200, want 301 or 302"`,
		},
		{
			name: "redirect expected", ep: Endpoint{Name: "e", URL: "http://x.test/", Expect: []int{301, 302}},
			status: 302, latency: time.Second, wantOK: true, wantLat: 1, wantCode: "status_3xx",
		},
		{
			name: "timeout counts its wait", ep: Endpoint{Name: "e", URL: "http://x.test/", Timeout: duration.Duration(2 * time.Second)},
			status: 200, latency: time.Hour, wantLat: 2,
			wantLog: `error="probe: e: timed out after 2s: Get \"http://x.test/\": context deadline exceeded"`,
		},
		{
			name: "check fails", ep: Endpoint{Name: "e", URL: "http://x.test/", Check: wantBody("ok")},
			status: 200, body: "degraded", latency: 500 * time.Millisecond, wantLat: 0.5, wantCode: "status_200",
			wantLog: `error="probe: e: check: body \"degraded\", want \"ok\""`,
		},
		{
			name: "check passes", ep: Endpoint{Name: "e", URL: "http://x.test/", Check: wantBody("ok")},
			status: 200, body: "ok", latency: 500 * time.Millisecond, wantOK: true, wantLat: 0.5, wantCode: "status_200",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				var logs lockedBuffer
				tr := fakeTransport(func(*http.Request) (int, string, time.Duration) { return tc.status, tc.body, tc.latency })
				p, err := New(Policy{Endpoints: []Endpoint{tc.ep}}, WithClient(client(tr)), WithLogger(logger(&logs)))
				if err != nil {
					t.Fatal(err)
				}
				// One request: the next would start at 10s.
				run(t, p, 5*time.Second)
				time.Sleep(time.Minute)
				r := alarm.Range{Start: start, End: start.Add(time.Minute), Step: time.Minute}
				rate := 0.0
				if tc.wantOK {
					rate = 1
				}
				got := map[string][]alarm.Point{
					"success_rate":        points(t, p, "probe:e:success_rate", r),
					"latency_max_seconds": points(t, p, "probe:e:latency_max_seconds", r),
				}
				want := map[string][]alarm.Point{
					"success_rate":        series(start, time.Minute, 1, rate),
					"latency_max_seconds": series(start, time.Minute, 1, tc.wantLat),
				}
				if tc.wantCode != "" {
					got[tc.wantCode] = points(t, p, "probe:e:"+tc.wantCode, r)
					want[tc.wantCode] = series(start, time.Minute, 1, 1)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("points (-want +got):\n%s", diff)
				}
				if tc.wantLog == "" && logs.String() != "" {
					t.Errorf("logged %q for a success", logs.String())
				}
				if !strings.Contains(logs.String(), tc.wantLog) {
					t.Errorf("log %q does not contain %q", logs.String(), tc.wantLog)
				}
			})
		})
	}
}

func wantBody(want string) func(*http.Response, []byte) error {
	return func(_ *http.Response, body []byte) error {
		if string(body) != want {
			return fmt.Errorf("body %q, want %q", body, want)
		}
		return nil
	}
}

// TestRequestShape checks that method, headers and body reach the wire.
func TestRequestShape(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var got []string
		tr := fakeTransport(func(req *http.Request) (int, string, time.Duration) {
			b, _ := io.ReadAll(req.Body)
			mu.Lock()
			got = append(got, fmt.Sprintf("%s %s token=%s body=%s", req.Method, req.URL, req.Header.Get("X-Token"), b))
			mu.Unlock()
			return 200, "", 0
		})
		p, err := New(Policy{Endpoints: []Endpoint{{
			Name: "order", URL: "https://shop.test/orders", Method: http.MethodPost,
			Header: http.Header{"X-Token": {"canary"}}, Body: `{"sku":1}`,
		}}}, WithClient(client(tr)))
		if err != nil {
			t.Fatal(err)
		}
		run(t, p, 15*time.Second) // requests at 0s and 10s
		want := []string{
			`POST https://shop.test/orders token=canary body={"sku":1}`,
			`POST https://shop.test/orders token=canary body={"sku":1}`,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("requests (-want +got):\n%s", diff)
		}
	})
}

// TestStoppingIsNotAFailure checks that a request cut short by the end of
// Run is not recorded as a failure of the endpoint.
func TestStoppingIsNotAFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		tr := fakeTransport(func(*http.Request) (int, string, time.Duration) { return 200, "", 5 * time.Second })
		p, err := New(Policy{Endpoints: []Endpoint{{Name: "e", URL: "http://x.test/"}}}, WithClient(client(tr)))
		if err != nil {
			t.Fatal(err)
		}
		run(t, p, 12*time.Second) // first request done at 5s; second cut at 12s
		time.Sleep(time.Minute)
		r := alarm.Range{Start: start, End: start.Add(time.Minute), Step: time.Minute}
		if diff := cmp.Diff(series(start, time.Minute, 1, 1), points(t, p, "probe:e:requests", r)); diff != "" {
			t.Errorf("requests (-want +got):\n%s", diff)
		}
	})
}

func TestRunTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := fakeTransport(func(*http.Request) (int, string, time.Duration) { return 200, "", 0 })
		p, err := New(Policy{Endpoints: []Endpoint{{Name: "e", URL: "http://x.test/"}}}, WithClient(client(tr)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		synctest.Wait()
		if err := p.Run(ctx); !errors.Is(err, ErrRunning) {
			t.Errorf("second Run = %v, want ErrRunning", err)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
		// Stopped, it can run again.
		run(t, p, time.Second)
	})
}

// TestRetention checks that results older than the retention are dropped.
func TestRetention(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		tr := fakeTransport(func(*http.Request) (int, string, time.Duration) { return 200, "", 0 })
		p, err := New(Policy{
			Retention: duration.Duration(2 * time.Minute),
			Endpoints: []Endpoint{{Name: "e", URL: "http://x.test/"}},
		}, WithClient(client(tr)))
		if err != nil {
			t.Fatal(err)
		}
		run(t, p, 5*time.Minute+time.Second)
		// The last record, at 5m00s, dropped the periods that ended before 3m.
		r := alarm.Range{Start: start, End: start.Add(time.Hour), Step: time.Minute}
		want := []alarm.Point{
			{Time: start.Add(3 * time.Minute), Value: 6, Samples: 6},
			{Time: start.Add(4 * time.Minute), Value: 6, Samples: 6},
			{Time: start.Add(5 * time.Minute), Value: 6, Samples: 6},
		}
		if diff := cmp.Diff(want, points(t, p, "probe:e:requests", r)); diff != "" {
			t.Errorf("requests (-want +got):\n%s", diff)
		}
	})
}

// TestPercentiles checks the nearest-rank percentiles and the mean on a
// hundred results recorded directly.
func TestPercentiles(t *testing.T) {
	p, err := New(Policy{Endpoints: []Endpoint{{Name: "e", URL: "http://x.test/"}}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := 1; i <= 100; i++ {
		r := Result{Endpoint: "e", Time: start.Add(time.Duration(i) * 100 * time.Millisecond), Latency: time.Duration(i) * time.Millisecond, Status: 200}
		if err := p.Record(r); err != nil {
			t.Fatal(err)
		}
	}
	rg := alarm.Range{Start: start, End: start.Add(time.Minute), Step: time.Minute}
	for _, tc := range []struct {
		metric string
		want   float64
	}{
		{"latency_p50_seconds", 0.050},
		{"latency_p99_seconds", 0.099},
		{"latency_p99.9_seconds", 0.100},
		{"latency_p100_seconds", 0.100},
		{"latency_p0.5_seconds", 0.001},
		{"latency_p1_seconds", 0.001},
		{"latency_max_seconds", 0.100},
		{"latency_mean_seconds", 0.0505},
	} {
		got := points(t, p, "probe:e:"+tc.metric, rg)
		want := []alarm.Point{{Time: start.Add(time.Minute), Value: tc.want, Samples: 100}}
		if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-12 && b-a < 1e-12 })); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.metric, diff)
		}
	}
}

func TestRecordErrors(t *testing.T) {
	p, err := New(Policy{Endpoints: []Endpoint{{Name: "e", URL: "http://x.test/"}}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		r    Result
		want string
	}{
		{Result{Endpoint: "nope", Time: now}, `probe: record: probe: unknown endpoint "nope"`},
		{Result{Endpoint: "e"}, "probe: record: e: zero time"},
		{Result{Endpoint: "e", Time: now, Latency: -1}, "probe: record: e: negative latency -1ns"},
		{Result{Endpoint: "e", Time: now, Status: 42}, "probe: record: e: status 42 is not a status code (100-599) or 0"},
	}
	for _, tc := range tests {
		err := p.Record(tc.r)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Record(%+v) = %v, want %q", tc.r, err, tc.want)
		}
	}
	rg := alarm.Range{Start: now.Add(-time.Hour), End: now.Add(time.Hour), Step: time.Minute}
	if got := points(t, p, "probe:e:requests", rg); len(got) != 0 {
		t.Errorf("rejected records were stored: %v", got)
	}
}

func TestQueryErrors(t *testing.T) {
	p, err := New(Policy{Endpoints: []Endpoint{{Name: "e", URL: "http://x.test/"}}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	good := alarm.Range{Start: now, End: now.Add(time.Hour), Step: time.Minute}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name   string
		ctx    context.Context
		query  string
		r      alarm.Range
		is     error
		substr string
	}{
		{"bad grammar", context.Background(), "e:success_rate", good, ErrBadQuery, `want "probe:<endpoint>:<metric>"`},
		{"unknown metric", context.Background(), "probe:e:latency", good, ErrBadQuery, `unknown metric "latency"`},
		{"unknown endpoint", context.Background(), "probe:cart:requests", good, ErrUnknownEndpoint, `unknown endpoint "cart" (have [e])`},
		{"bad range", context.Background(), "probe:e:requests", alarm.Range{Start: now, End: now, Step: 0}, nil, "step must be positive"},
		{"step below period", context.Background(), "probe:e:requests", alarm.Range{Start: now, End: now, Step: 30 * time.Second}, nil, "step 30s is not a whole multiple of the probe period 1m0s"},
		{"step not a multiple", context.Background(), "probe:e:requests", alarm.Range{Start: now, End: now, Step: 90 * time.Second}, nil, "not a whole multiple"},
		{"cancelled", cancelled, "probe:e:requests", good, context.Canceled, "canceled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.Query(tc.ctx, tc.query, tc.r)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("error %q does not say %q", err, tc.substr)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewPedanticRegistry()
		tr := fakeTransport(func(req *http.Request) (int, string, time.Duration) {
			if req.URL.Path == "/bad" {
				return 500, "", 20 * time.Millisecond
			}
			return 200, "", 20 * time.Millisecond
		})
		p, err := New(Policy{Endpoints: []Endpoint{
			{Name: "good", URL: "http://x.test/good"},
			{Name: "bad", URL: "http://x.test/bad"},
		}}, WithClient(client(tr)), WithRegisterer(reg))
		if err != nil {
			t.Fatal(err)
		}
		run(t, p, 25*time.Second) // three requests each
		want := map[string]float64{
			"shepherd_probe_requests_total{endpoint=bad,result=failure}":   3,
			"shepherd_probe_requests_total{endpoint=bad,result=success}":   0,
			"shepherd_probe_requests_total{endpoint=good,result=failure}":  0,
			"shepherd_probe_requests_total{endpoint=good,result=success}":  3,
			"shepherd_probe_request_duration_seconds{endpoint=bad} count":  3,
			"shepherd_probe_request_duration_seconds{endpoint=bad} sum":    0.06,
			"shepherd_probe_request_duration_seconds{endpoint=good} count": 3,
			"shepherd_probe_request_duration_seconds{endpoint=good} sum":   0.06,
		}
		approx := cmp.Comparer(func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 })
		if diff := cmp.Diff(want, gather(t, reg), approx); diff != "" {
			t.Errorf("metrics (-want +got):\n%s", diff)
		}

		// A second prober on the same registry fails and registers nothing.
		if _, err := New(Policy{Endpoints: []Endpoint{{Name: "x", URL: "http://x.test/"}}}, WithRegisterer(reg)); err == nil {
			t.Error("second prober registered its metrics twice")
		}
		reg2 := prometheus.NewPedanticRegistry()
		reg2.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "shepherd_probe_request_duration_seconds", Help: "taken"}))
		if _, err := New(Policy{Endpoints: []Endpoint{{Name: "x", URL: "http://x.test/"}}}, WithRegisterer(reg2)); err == nil {
			t.Error("conflicting registry accepted")
		}
		// The request counter was registered first; it must have been
		// taken back, so the same name registers again.
		again := prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shepherd_probe_requests_total",
			Help: "Synthetic requests completed by the continuous canary, by endpoint and result (success or failure).",
		}, []string{"endpoint", "result"})
		if err := reg2.Register(again); err != nil {
			t.Errorf("failed New left its request counter registered: %v", err)
		}
	})
}

func TestPolicyValidate(t *testing.T) {
	ep := Endpoint{Name: "e", URL: "http://x.test/"}
	tests := []struct {
		name string
		p    Policy
		want []string
	}{
		{"defaults", Policy{Endpoints: []Endpoint{ep}}, nil},
		{"no endpoints", Policy{}, []string{"probe: policy: Endpoints: no endpoint to probe"}},
		{"negative durations", Policy{Interval: -1, Period: -1, Retention: -1, Endpoints: []Endpoint{ep}}, []string{
			"probe: policy: Interval: -1ns is negative",
			"probe: policy: Period: -1ns is negative",
			"probe: policy: Retention: -1ns is negative",
		}},
		{"period below interval", Policy{Interval: duration.Duration(time.Minute), Period: duration.Duration(30 * time.Second), Retention: duration.Duration(10 * time.Second), Endpoints: []Endpoint{ep}}, []string{
			"probe: policy: Period: 30s is shorter than Interval 1m0s: some periods would hold no request",
			"probe: policy: Retention: 10s is shorter than Period 30s",
		}},
		{"every endpoint problem", Policy{Interval: duration.Duration(5 * time.Second), Endpoints: []Endpoint{
			{Name: "", URL: "x.test/path", Method: "GE T", Expect: []int{200, 99, 600}, Timeout: duration.Duration(6 * time.Second)},
			{Name: "a:b", URL: "ftp://x.test/", Timeout: -1},
			{Name: "c", URL: "http://x.test/"},
			{Name: "c", URL: "http://%zz"},
		}}, []string{
			"probe: policy: Endpoints[0].Name: empty",
			`probe: policy: Endpoints[0].URL: "x.test/path" is not an absolute http or https URL`,
			`probe: policy: Endpoints[0].Method: "GE T" is not a valid HTTP method`,
			"probe: policy: Endpoints[0].Expect[1]: 99 is not a status code (100-599)",
			"probe: policy: Endpoints[0].Expect[2]: 600 is not a status code (100-599)",
			"probe: policy: Endpoints[0].Timeout: 6s is longer than Interval 5s",
			`probe: policy: Endpoints[1].Name: "a:b" has characters other than letters, digits, '.', '_' and '-'`,
			`probe: policy: Endpoints[1].URL: "ftp://x.test/" is not an absolute http or https URL`,
			"probe: policy: Endpoints[1].Timeout: -1ns is negative",
			`probe: policy: Endpoints[3].Name: "c" is also the name of Endpoints[2]`,
			`probe: policy: Endpoints[3].URL: parse "http://%zz": invalid URL escape "%zz"`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			if err := tc.p.Validate(); err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
			if _, err := New(tc.p); (err != nil) != (tc.want != nil) {
				t.Errorf("New error %v disagrees with Validate", err)
			}
		})
	}
}

// gather flattens the registry's shepherd_probe_ metrics into
// "name{label=value,...}" keys (histograms as their count and sum).
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := make(map[string]float64)
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "shepherd_probe_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			key := mf.GetName() + "{" + strings.Join(ls, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				out[key+" count"] = float64(m.GetHistogram().GetSampleCount())
				out[key+" sum"] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

func durationOf(ns int64) duration.Duration { return duration.Duration(ns) }

// TestPolicyJSON reads a policy as it would sit in a config file.
func TestPolicyJSON(t *testing.T) {
	const config = `{
		"interval": "15s",
		"period": "1m",
		"endpoints": [
			{"name": "checkout", "url": "https://shop.internal/checkout/health", "expect": [200, 204], "timeout": "5s"},
			{"name": "search", "url": "https://shop.internal/search?q=canary", "method": "POST", "body": "{}",
			 "header": {"Content-Type": ["application/json"]}}
		]
	}`
	var p Policy
	if err := json.Unmarshal([]byte(config), &p); err != nil {
		t.Fatal(err)
	}
	want := Policy{
		Interval: duration.Duration(15 * time.Second),
		Period:   duration.Duration(time.Minute),
		Endpoints: []Endpoint{
			{Name: "checkout", URL: "https://shop.internal/checkout/health", Expect: []int{200, 204}, Timeout: duration.Duration(5 * time.Second)},
			{Name: "search", URL: "https://shop.internal/search?q=canary", Method: "POST", Body: "{}",
				Header: http.Header{"Content-Type": {"application/json"}}},
		},
	}
	if diff := cmp.Diff(want, p, cmpopts.IgnoreFields(Endpoint{}, "Check")); diff != "" {
		t.Errorf("decoded policy (-want +got):\n%s", diff)
	}
	if err := p.Validate(); err != nil {
		t.Error(err)
	}
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Policy
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, back, cmpopts.IgnoreFields(Endpoint{}, "Check")); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
}
