package probe

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/duration"
)

// TestRealHTTP probes a real HTTP server on loopback, outside any bubble,
// with short intervals (and so short timeouts, 100ms, ample on loopback): one healthy endpoint whose body is checked and one
// that answers 500.
func TestRealHTTP(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	enough := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path]++
		if seen["/ok"] == 4 && seen["/bad"] >= 4 || seen["/bad"] == 4 && seen["/ok"] >= 4 {
			close(enough)
		}
		mu.Unlock()
		if r.URL.Path == "/bad" {
			http.Error(w, "broken", http.StatusInternalServerError)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()

	period := 100 * time.Millisecond
	p, err := New(Policy{
		Interval: duration.Duration(period),
		Period:   duration.Duration(period),
		Endpoints: []Endpoint{
			{Name: "ok", URL: srv.URL + "/ok", Check: wantBody("ok")},
			{Name: "bad", URL: srv.URL + "/bad"},
		},
	}, WithClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case <-enough:
	case <-ctx.Done():
		t.Fatal("the server did not see four requests per endpoint within a minute")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	// Let the last period end so that every result is reported.
	time.Sleep(period)

	r := alarm.Range{Start: start.Add(-period), End: time.Now(), Step: period}
	for _, tc := range []struct {
		endpoint string
		rate     float64
	}{{"ok", 1}, {"bad", 0}} {
		reqs := points(t, p, "probe:"+tc.endpoint+":requests", r)
		rates := points(t, p, "probe:"+tc.endpoint+":success_rate", r)
		var total int64
		for i, pt := range reqs {
			total += pt.Samples
			if pt.Value != float64(pt.Samples) {
				t.Errorf("%s: point %d: %v requests but %d samples", tc.endpoint, i, pt.Value, pt.Samples)
			}
			if rates[i].Value != tc.rate {
				t.Errorf("%s: point %d: success rate %v, want %v", tc.endpoint, i, rates[i].Value, tc.rate)
			}
		}
		mu.Lock()
		served := int64(seen["/"+tc.endpoint])
		mu.Unlock()
		// The request in flight when Run stopped may be missing, no more.
		if total < 3 || total > served || total < served-1 {
			t.Errorf("%s: %d requests recorded, server saw %d", tc.endpoint, total, served)
		}
	}
}
