package prometheus

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/shepherd-go/shepherd/alarm"
)

var t0 = time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)

// fakeAPI answers /api/v1/query_range with a canned response per query.
type fakeAPI struct {
	t         *testing.T
	responses map[string]response
	requests  atomic.Int32
}

type response struct {
	status int
	body   string
	block  bool // wait until the request is canceled
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if r.URL.Path != "/api/v1/query_range" {
		http.NotFound(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	res, ok := f.responses[r.Form.Get("query")]
	if !ok {
		f.t.Errorf("unexpected query %q", r.Form.Get("query"))
		http.NotFound(w, r)
		return
	}
	if res.block {
		<-r.Context().Done()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if res.status != 0 {
		w.WriteHeader(res.status)
	}
	w.Write([]byte(res.body))
}

func newFake(t *testing.T, responses map[string]response) (*fakeAPI, *httptest.Server) {
	f := &fakeAPI{t: t, responses: responses}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func matrix(series ...string) string {
	return `{"status":"success","data":{"resultType":"matrix","result":[` + strings.Join(series, ",") + `]}}`
}

var window = alarm.Range{Start: t0.Add(-2 * time.Minute), End: t0, Step: time.Minute}

func TestQuery(t *testing.T) {
	nan := math.NaN()
	a := `{"metric":{"job":"api","instance":"a"},"values":[[1741953480,"0.1"],[1741953540,"NaN"],[1741953600,"+Inf"]]}`
	b := `{"metric":{"job":"api","instance":"b"},"values":[[1741953480,"0.3"],[1741953540,"0.2"]]}`
	_, srv := newFake(t, map[string]response{
		"one":   {body: matrix(a)},
		"empty": {body: matrix()},
		"two":   {body: matrix(a, b)},
	})
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	tests := []struct {
		query   string
		combine Combine
		want    alarm.Series
		err     string
	}{
		{"one", nil, alarm.Series{Labels: map[string]string{"job": "api", "instance": "a"},
			Points: []alarm.Point{{Time: at(-2), Value: 0.1}, {Time: at(-1), Value: nan}, {Time: at(0), Value: math.Inf(1)}}}, ""},
		{"empty", nil, alarm.Series{}, ""},
		{"two", nil, alarm.Series{}, `query "two" returned 2 series; aggregate it (sum, max) or set Config.Combine: {instance="a", job="api"} {instance="b", job="api"}`},
		{"two", Sum, alarm.Series{Points: []alarm.Point{{Time: at(-2), Value: 0.4}, {Time: at(-1), Value: 0.2}, {Time: at(0), Value: math.Inf(1)}}}, ""},
		{"two", Max, alarm.Series{Points: []alarm.Point{{Time: at(-2), Value: 0.3}, {Time: at(-1), Value: 0.2}, {Time: at(0), Value: math.Inf(1)}}}, ""},
		{"two", Min, alarm.Series{Points: []alarm.Point{{Time: at(-2), Value: 0.1}, {Time: at(-1), Value: 0.2}, {Time: at(0), Value: math.Inf(1)}}}, ""},
		{"two", Select(map[string]string{"instance": "b"}), alarm.Series{Labels: map[string]string{"job": "api", "instance": "b"},
			Points: []alarm.Point{{Time: at(-2), Value: 0.3}, {Time: at(-1), Value: 0.2}}}, ""},
		{"two", Select(map[string]string{"instance": "c"}), alarm.Series{}, ""},
		{"two", Select(map[string]string{"job": "api"}), alarm.Series{}, `combining 2 series: 2 series match {job="api"}`},
		{"empty", Sum, alarm.Series{Points: []alarm.Point{}}, ""},
	}
	for _, tt := range tests {
		src, err := New(Config{Address: srv.URL, Combine: tt.combine})
		if err != nil {
			t.Fatal(err)
		}
		got, err := src.Query(context.Background(), tt.query, window)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err = %v, want %q", tt.query, err, tt.err)
			}
			var mse *MultipleSeriesError
			if !errors.As(err, &mse) || mse.Query != tt.query {
				t.Errorf("%s: %v is not a MultipleSeriesError for the query", tt.query, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.query, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmpopts.EquateNaNs(), cmpopts.EquateApprox(0, 1e-12), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.query, diff)
		}
	}
}

func TestQueryErrors(t *testing.T) {
	_, srv := newFake(t, map[string]response{
		"malformed":   {body: `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"0.1"]`},
		"not json":    {body: `<html>proxy error</html>`},
		"server":      {status: http.StatusServiceUnavailable, body: "overloaded"},
		"bad query":   {status: http.StatusBadRequest, body: `{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected <EOF>"}`},
		"vector":      {body: `{"status":"success","data":{"resultType":"vector","result":[]}}`},
		"histograms":  {body: matrix(`{"metric":{"a":"b"},"histograms":[[1741953600,{"count":"1","sum":"1","buckets":[[0,"0","1","1"]]}]]}`)},
		"unreachable": {block: true},
	})
	src, err := New(Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		query string
		want  string
	}{
		{"malformed", `alarm/prometheus: query "malformed": `},
		{"not json", `alarm/prometheus: query "not json": bad_response`},
		{"server", "server error: 503"},
		{"bad query", "bad_data: 1:5: parse error"},
		{"vector", "unexpected result type vector"},
		{"histograms", "native histograms"},
	}
	for _, tt := range tests {
		s, err := src.Query(context.Background(), tt.query, window)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.query, err, tt.want)
		}
		if s.Len() != 0 {
			t.Errorf("%s: a series came with the error", tt.query)
		}
	}
	var apiErr *v1.Error
	if _, err := src.Query(context.Background(), "bad query", window); !errors.As(err, &apiErr) || apiErr.Type != v1.ErrBadData {
		t.Errorf("bad query: %v does not carry the API error", err)
	}
	if _, err := src.Query(context.Background(), "", window); err == nil {
		t.Error("empty query accepted")
	}
	if _, err := src.Query(context.Background(), "one", alarm.Range{Start: t0, End: t0.Add(-time.Second), Step: time.Second}); err == nil {
		t.Error("reversed range accepted")
	}

	// Timeouts: the caller's context and Config.Timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := src.Query(ctx, "unreachable", window); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("context deadline: %v", err)
	}
	short, _ := New(Config{Address: srv.URL, Timeout: 50 * time.Millisecond})
	if _, err := short.Query(context.Background(), "unreachable", window); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Config.Timeout: %v", err)
	}

	// A server that is gone.
	srv.Close()
	if _, err := src.Query(context.Background(), "server", window); err == nil {
		t.Error("a closed server answered")
	}
}

func TestWarnings(t *testing.T) {
	body := `{"status":"success","warnings":["partial data: store-2 unavailable"],"data":{"resultType":"matrix","result":[` +
		`{"metric":{},"values":[[1741953600,"1"]]}]}}`
	_, srv := newFake(t, map[string]response{"q": {body: body}})
	var logs bytes.Buffer
	src, _ := New(Config{Address: srv.URL, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	s, warnings, err := src.QueryRange(context.Background(), "q", window)
	if err != nil || s.Len() != 1 {
		t.Fatalf("QueryRange = %v, %v", s, err)
	}
	if diff := cmp.Diff([]string{"partial data: store-2 unavailable"}, warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if _, err := src.Query(context.Background(), "q", window); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `level=WARN msg="prometheus query returned warnings" query=q warnings="[partial data: store-2 unavailable]"`) {
		t.Errorf("warning not logged: %q", logs.String())
	}
	strict, _ := New(Config{Address: srv.URL, FailOnWarnings: true})
	var we *WarningsError
	if _, err := strict.Query(context.Background(), "q", window); !errors.As(err, &we) || len(we.Warnings) != 1 {
		t.Errorf("FailOnWarnings: %v", err)
	}
}

// authTransport adds a bearer token, as a caller's RoundTripper would.
type authTransport struct{ token string }

func (a authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+a.token)
	return http.DefaultTransport.RoundTrip(r)
}

func TestRoundTripperAndParameters(t *testing.T) {
	var got struct{ auth, start, end, step, timeout string }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		got.auth = r.Header.Get("Authorization")
		got.start, got.end, got.step, got.timeout = r.Form.Get("start"), r.Form.Get("end"), r.Form.Get("step"), r.Form.Get("timeout")
		w.Write([]byte(matrix()))
	}))
	defer srv.Close()
	src, err := New(Config{Address: srv.URL, RoundTripper: authTransport{"s3cret"}, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Query(context.Background(), "up", window); err != nil {
		t.Fatal(err)
	}
	want := struct{ auth, start, end, step, timeout string }{"Bearer s3cret", "1741953480", "1741953600", "60", "10s"}
	if got != want {
		t.Errorf("request = %+v, want %+v", got, want)
	}
}

func TestNew(t *testing.T) {
	for _, cfg := range []Config{{}, {Address: "http://x", Timeout: -1}, {Address: "://bad"}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}
