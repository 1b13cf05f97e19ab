package canary

import (
	"fmt"
	"math"
)

// TrafficState counts the requests behind a canary's observations, for the
// traffic guard: per interval, the requests of the Count observation with
// the most of them (several Count metrics usually share one request
// count).
type TrafficState struct {
	// CanaryRequests and BaselineRequests are the requests so far.
	CanaryRequests   int64 `json:"canaryRequests,omitempty"`
	BaselineRequests int64 `json:"baselineRequests,omitempty"`
}

// trafficCheck is the traffic guard's conclusion at one instant.
type trafficCheck struct {
	// active is false when the policy has no TrafficShare.
	active bool
	// stop: the canary is shown to serve less than MinTraffic of its
	// expected traffic. ok: shown to serve more (a Pass needs it).
	stop, ok bool
	// what counts the traffic: "requests", "samples" or a count metric's
	// events; served and expected are the canary's count and about how
	// many were expected from the baseline's; base is the baseline's.
	what             string
	served, expected float64
	base             float64
}

// observeTraffic adds the requests of one Observe call.
func (j *Judge) observeTraffic(obs []Observation) {
	var bestC, bestB int64
	for k := range obs {
		o := &obs[k]
		if o.CanaryRequests+o.BaselineRequests > bestC+bestB {
			bestC, bestB = o.CanaryRequests, o.BaselineRequests
		}
	}
	if math.MaxInt64-j.st.Traffic.CanaryRequests < bestC || math.MaxInt64-j.st.Traffic.BaselineRequests < bestB {
		return
	}
	j.st.Traffic.CanaryRequests += bestC
	j.st.Traffic.BaselineRequests += bestB
}

// traffic runs the guard. The canary's share of the traffic is tested
// against shareAt(TrafficShare, MinTraffic), the share it has when it
// serves MinTraffic of its expected requests, with the exact mixture tests
// of the count metrics: stop when the share is shown below it (the
// evidence reaches 1/Alpha), ok when the confidence sequence at level
// 1 - PassAlpha excludes it from below.
//
// The traffic is counted, in order of preference, by request counts (of
// Count observations), by the samples of the first Quantile metric that
// has some, or else by each Count metric's events, every one of which
// must be ok (and none stop): without request counts, a canary with no
// events against a baseline with many looks like a canary without traffic,
// and is stopped rather than passed. With no traffic counted at all, the
// guard is never ok, so the canary cannot pass.
func (j *Judge) traffic() trafficCheck {
	rho := j.p.TrafficShare
	if rho == 0 {
		return trafficCheck{ok: true}
	}
	pMin := shareAt(rho, j.p.minTraffic())
	logStop := math.Log(1 / j.p.alpha())
	check := func(what string, c, b float64) trafficCheck {
		tc := trafficCheck{active: true, what: what, served: c, base: b, expected: b * rho / (1 - rho)}
		if c+b == 0 {
			return tc
		}
		// "The share is below pMin" is "the baseline's share is above 1-pMin".
		tc.stop = shareLogEvidence(b, c, 1-pMin) >= logStop
		tc.ok = c/(c+b) > pMin && shareExcludes(c, b, rho, pMin, j.p.passAlpha())
		return tc
	}
	if t := j.st.Traffic; t.CanaryRequests+t.BaselineRequests > 0 {
		return check("requests", float64(t.CanaryRequests), float64(t.BaselineRequests))
	}
	for i, m := range j.p.Metrics {
		if q := j.st.Metrics[i].Quantile; m.Kind == Quantile && q.CanarySamples+q.BaselineSamples > 0 {
			return check(m.Name+" samples", float64(q.CanarySamples), float64(q.BaselineSamples))
		}
	}
	out := trafficCheck{active: true, what: "events"}
	first := true
	for i, m := range j.p.Metrics {
		if m.Kind != Count {
			continue
		}
		c := j.st.Metrics[i].Count
		tc := check("events of "+m.Name, float64(c.CanaryEvents), float64(c.BaselineEvents))
		switch {
		case tc.stop:
			return tc
		case first || !tc.ok:
			ok := tc.ok && (first || out.ok)
			out = tc
			out.ok = ok
		}
		first = false
	}
	return out
}

// sentence explains the guard's state.
func (tc trafficCheck) sentence() string {
	if !tc.active {
		return ""
	}
	if tc.served+tc.base == 0 {
		return "no traffic counted yet (no requests, samples or events on either side)"
	}
	what := tc.what
	s := fmt.Sprintf("the canary served %s of about %s expected %s", fmtCount(tc.served), fmtCount(tc.expected), what)
	if what != "requests" && tc.what != "" && !isSamples(what) {
		s = fmt.Sprintf("the canary reported %s of about %s expected %s at the baseline's rate (no request counts)",
			fmtCount(tc.served), fmtCount(tc.expected), what)
	}
	return s
}

func isSamples(what string) bool {
	return len(what) >= 7 && what[len(what)-7:] == "samples"
}

// fmtCount formats a count for a sentence: whole numbers, with no
// fractional noise.
func fmtCount(v float64) string {
	if v >= 1e7 {
		return fmt.Sprintf("%.3g", v)
	}
	return fmt.Sprintf("%.0f", v)
}
