package probe

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrBadQuery is wrapped by the error of a query that does not follow the
// grammar in the package documentation.
var ErrBadQuery = errors.New("probe: bad query")

// Query is a parsed query: an endpoint and one of its metrics. See the
// package documentation for the grammar.
type Query struct {
	// Endpoint is the endpoint's name.
	Endpoint string
	// Metric is the metric as written, for example "success_rate" or
	// "latency_p99_seconds".
	Metric string

	kind     metricKind
	quantile float64 // in (0, 1], for latency percentiles
	status   int     // the code, or the class digit
}

type metricKind int

const (
	mRequests metricKind = iota + 1
	mSuccesses
	mFailures
	mSuccessRate
	mFailureRate
	mLatencyMean
	mLatencyMax
	mLatencyQuantile
	mStatus
	mStatusClass
)

var plainMetrics = map[string]metricKind{
	"requests":             mRequests,
	"successes":            mSuccesses,
	"failures":             mFailures,
	"success_rate":         mSuccessRate,
	"failure_rate":         mFailureRate,
	"latency_mean_seconds": mLatencyMean,
	"latency_max_seconds":  mLatencyMax,
}

const metricList = "requests, successes, failures, success_rate, failure_rate, " +
	"latency_mean_seconds, latency_max_seconds, latency_p<q>_seconds, status_<code>, status_<d>xx"

// String returns the query in its written form, "probe:<endpoint>:<metric>".
func (q Query) String() string { return "probe:" + q.Endpoint + ":" + q.Metric }

// ParseQuery parses a query such as "probe:checkout:latency_p99_seconds".
// Its errors wrap [ErrBadQuery] and say what is wrong and what was expected.
func ParseQuery(s string) (Query, error) {
	bad := func(format string, args ...any) (Query, error) {
		return Query{}, fmt.Errorf("%w %q: %s", ErrBadQuery, s, fmt.Sprintf(format, args...))
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 || parts[0] != "probe" {
		return bad(`want "probe:<endpoint>:<metric>"`)
	}
	q := Query{Endpoint: parts[1], Metric: parts[2]}
	if !validName(q.Endpoint) {
		return bad("endpoint %q: want letters, digits, '.', '_' and '-'", q.Endpoint)
	}
	m := q.Metric
	if k, ok := plainMetrics[m]; ok {
		q.kind = k
		return q, nil
	}
	switch {
	case strings.HasPrefix(m, "latency_p") && strings.HasSuffix(m, "_seconds") && len(m) > len("latency_p_seconds"):
		num := m[len("latency_p") : len(m)-len("_seconds")]
		// Plain decimals only: ParseFloat alone would also take signs,
		// exponents, hex, underscores, NaN and Inf.
		for _, c := range num {
			if (c < '0' || c > '9') && c != '.' {
				return bad("percentile %q: want a decimal number such as 99 or 99.9", num)
			}
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || num[0] == '.' || num[len(num)-1] == '.' {
			return bad("percentile %q: want a decimal number such as 99 or 99.9", num)
		}
		if v <= 0 || v > 100 {
			return bad("percentile %s is outside (0, 100]", num)
		}
		q.kind, q.quantile = mLatencyQuantile, v/100
		return q, nil
	case strings.HasPrefix(m, "status_"):
		code := m[len("status_"):]
		if len(code) == 3 && code[1:] == "xx" && code[0] >= '1' && code[0] <= '5' {
			q.kind, q.status = mStatusClass, int(code[0]-'0')
			return q, nil
		}
		if len(code) == 3 && allDigits(code) {
			c, _ := strconv.Atoi(code)
			if c >= 100 && c <= 599 {
				q.kind, q.status = mStatus, c
				return q, nil
			}
		}
		return bad("status %q: want a code from 100 to 599 or a class from 1xx to 5xx", code)
	}
	return bad("unknown metric %q (want one of %s)", m, metricList)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
