package prometheus_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	promsource "github.com/shepherd-go/shepherd/alarm/prometheus"
	"github.com/shepherd-go/shepherd/duration"
)

// An error-rate alarm read from Prometheus. The server here is a stand-in
// that answers the range query with five one-minute points.
func Example() {
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[`+
			`[1741953360,"0.002"],[1741953420,"0.031"],[1741953480,"NaN"],[1741953540,"0.044"],[1741953600,"0.052"]]}]}}`)
	}))
	defer fake.Close()

	src, err := promsource.New(promsource.Config{
		Address: fake.URL,
		// RoundTripper: a transport with your TLS config and credentials.
		Timeout: 10 * time.Second,
	})
	if err != nil {
		panic(err)
	}
	rule := alarm.Threshold{
		Query:      `sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))`,
		Comparison: alarm.GreaterThan,
		Threshold:  0.03,
		Evaluation: alarm.Evaluation{
			Period:            duration.Duration(time.Minute),
			EvaluationPeriods: 3,
			DatapointsToAlarm: 2,
		},
	}
	now := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	series, err := src.Query(context.Background(), rule.Query, rule.Window(now))
	if err != nil {
		panic(err) // an alarm that cannot be read is never OK
	}
	fmt.Println(rule.Evaluate(now, series))
	// Output:
	// ALARM (3 of the last 3 datapoints (1m0s periods) > 0.03, 2 needed for ALARM [newest first: 0.052, 0.044, 0.031])
}
