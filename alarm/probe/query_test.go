package probe

import (
	"errors"
	"strings"
	"testing"
)

func TestParseQuery(t *testing.T) {
	tests := []struct {
		query   string
		want    Query // only the exported fields are compared
		wantErr string
	}{
		{query: "probe:checkout:success_rate", want: Query{Endpoint: "checkout", Metric: "success_rate"}},
		{query: "probe:api.v2-read_x:requests", want: Query{Endpoint: "api.v2-read_x", Metric: "requests"}},
		{query: "probe:c:latency_p99_seconds", want: Query{Endpoint: "c", Metric: "latency_p99_seconds"}},
		{query: "probe:c:latency_p99.9_seconds", want: Query{Endpoint: "c", Metric: "latency_p99.9_seconds"}},
		{query: "probe:c:latency_p100_seconds", want: Query{Endpoint: "c", Metric: "latency_p100_seconds"}},
		{query: "probe:c:status_503", want: Query{Endpoint: "c", Metric: "status_503"}},
		{query: "probe:c:status_4xx", want: Query{Endpoint: "c", Metric: "status_4xx"}},
		{query: "", wantErr: `probe: bad query "": want "probe:<endpoint>:<metric>"`},
		{query: "checkout:success_rate", wantErr: `want "probe:<endpoint>:<metric>"`},
		{query: "prom:checkout:success_rate", wantErr: `want "probe:<endpoint>:<metric>"`},
		{query: "probe:a:b:requests", wantErr: `want "probe:<endpoint>:<metric>"`},
		{query: "probe::requests", wantErr: `endpoint "": want letters`},
		{query: "probe:check out:requests", wantErr: `endpoint "check out": want letters`},
		{query: "probe:c:", wantErr: `unknown metric "" (want one of requests, successes`},
		{query: "probe:c:latency", wantErr: `unknown metric "latency"`},
		{query: "probe:c:latency_p_seconds", wantErr: `unknown metric "latency_p_seconds"`},
		{query: "probe:c:latency_p0_seconds", wantErr: "percentile 0 is outside (0, 100]"},
		{query: "probe:c:latency_p100.5_seconds", wantErr: "percentile 100.5 is outside (0, 100]"},
		{query: "probe:c:latency_p-1_seconds", wantErr: `percentile "-1": want a decimal number`},
		{query: "probe:c:latency_p1e2_seconds", wantErr: `percentile "1e2": want a decimal number`},
		{query: "probe:c:latency_pNaN_seconds", wantErr: `percentile "NaN": want a decimal number`},
		{query: "probe:c:latency_p9.9.9_seconds", wantErr: `percentile "9.9.9": want a decimal number`},
		{query: "probe:c:latency_p.5_seconds", wantErr: `percentile ".5": want a decimal number`},
		{query: "probe:c:latency_p99._seconds", wantErr: `percentile "99.": want a decimal number`},
		{query: "probe:c:status_600", wantErr: `status "600": want a code from 100 to 599`},
		{query: "probe:c:status_6xx", wantErr: `status "6xx": want a code`},
		{query: "probe:c:status_50", wantErr: `status "50": want a code`},
		{query: "probe:c:status_", wantErr: `status "": want a code`},
	}
	for _, tc := range tests {
		got, err := ParseQuery(tc.query)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrBadQuery) {
				t.Errorf("ParseQuery(%q) = %v, want an ErrBadQuery saying %q", tc.query, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseQuery(%q): %v", tc.query, err)
			continue
		}
		if got.Endpoint != tc.want.Endpoint || got.Metric != tc.want.Metric || got.String() != tc.query {
			t.Errorf("ParseQuery(%q) = %+v (%s), want %+v", tc.query, got, got, tc.want)
		}
	}
}

// FuzzParseQuery checks that parsing never panics, that every error wraps
// ErrBadQuery, and that an accepted query prints back as written.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"probe:checkout:success_rate", "probe:c:latency_p99.9_seconds", "probe:c:status_5xx",
		"probe:c:status_503", "probe:c:latency_p1e2_seconds", "probe::", "probe:c:latency_p_seconds", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuery(s)
		if err != nil {
			if !errors.Is(err, ErrBadQuery) {
				t.Fatalf("ParseQuery(%q) error %v does not wrap ErrBadQuery", s, err)
			}
			return
		}
		if q.String() != s {
			t.Fatalf("ParseQuery(%q).String() = %q", s, q)
		}
		if q.kind == 0 {
			t.Fatalf("ParseQuery(%q) accepted without a metric kind", s)
		}
		if q.kind == mLatencyQuantile && (q.quantile <= 0 || q.quantile > 1) {
			t.Fatalf("ParseQuery(%q) quantile %v outside (0, 1]", s, q.quantile)
		}
	})
}

// FuzzPolicyValidate checks that Validate never panics and that New accepts
// exactly the policies Validate accepts.
func FuzzPolicyValidate(f *testing.F) {
	f.Add("checkout", "http://x.test/", "GET", int64(0), int64(0), 200)
	f.Add("a:b", "ftp://x", "GE T", int64(-1), int64(5e9), 99)
	f.Fuzz(func(t *testing.T, name, url, method string, interval, timeout int64, code int) {
		p := Policy{Interval: durationOf(interval), Endpoints: []Endpoint{{
			Name: name, URL: url, Method: method, Timeout: durationOf(timeout), Expect: []int{code},
		}}}
		verr := p.Validate()
		_, nerr := New(p)
		if (verr == nil) != (nerr == nil) {
			t.Fatalf("Validate = %v but New = %v", verr, nerr)
		}
	})
}
