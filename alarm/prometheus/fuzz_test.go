package prometheus

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// bodyTransport answers every request with the same status and body, so the
// fuzzer exercises response decoding without a network round trip.
type bodyTransport struct {
	status int
	body   string
}

func (b bodyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: b.status,
		Header:     http.Header{"Content-Type": []string{"application/json"}},
		Body:       io.NopCloser(strings.NewReader(b.body)),
		Request:    r,
	}, nil
}

// FuzzResponse feeds arbitrary API responses to the source: whatever the
// server says, Query returns a series that passes Series.Validate or an
// error, and never panics.
func FuzzResponse(f *testing.F) {
	for _, s := range []string{
		matrix(`{"metric":{"job":"api"},"values":[[1741953480,"0.1"],[1741953540,"NaN"],[1741953600,"+Inf"]]}`),
		matrix(),
		matrix(`{"metric":{"a":"1"},"values":[[1741953480,"1"]]}`, `{"metric":{"a":"2"},"values":[[1741953480,"2"]]}`),
		matrix(`{"metric":{},"values":[[1741953540,"1"],[1741953480,"2"]]}`),
		`{"status":"success","data":{"resultType":"vector","result":[]}}`,
		`{"status":"success","warnings":["partial"],"data":{"resultType":"matrix","result":[]}}`,
		`{"status":"error","errorType":"bad_data","error":"parse error"}`,
		`{"status":"success","data":{"resultType":"matrix","result":[{"values":[["x","y"]]}]}}`,
		`not json`,
		``,
	} {
		f.Add(200, s)
		f.Add(422, s)
	}
	f.Fuzz(func(t *testing.T, status int, body string) {
		if status < 100 || status > 599 {
			return
		}
		for _, combine := range []Combine{nil, Sum, Max} {
			src, err := New(Config{Address: "http://prometheus.invalid", RoundTripper: bodyTransport{status, body}, Combine: combine})
			if err != nil {
				t.Fatal(err)
			}
			s, err := src.Query(context.Background(), "up", window)
			if err != nil {
				continue
			}
			if verr := s.Validate(); verr != nil {
				t.Fatalf("status %d body %q: Query returned an invalid series: %v", status, body, verr)
			}
		}
	})
}
