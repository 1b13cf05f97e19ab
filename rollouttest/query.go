package rollouttest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/bake"
	"github.com/shepherd-go/shepherd/rollout"
)

// ErrBadQuery is wrapped by the error of a query that does not follow the
// grammar of [Fleet.Query], or names a target, zone or region the fleet
// does not have.
var ErrBadQuery = errors.New("rollouttest: bad query")

// MaxPoints is the most points one query may return, as in Prometheus.
const MaxPoints = 11000

// Query implements [alarm.Source] over the fleet's synthetic traffic. A
// query names a metric and, in PromQL's manner, the scope it is read over:
//
//	query   = metric [ "{" [ matcher { "," matcher } ] "}" ]
//	metric  = "requests"                 requests served in the step
//	        | "errors"                   requests that failed
//	        | "error_rate"               errors / requests
//	        | "latency_mean_seconds"     mean latency
//	        | "latency_p" q "_seconds"   q-th percentile, 0 < q < 100
//	matcher = label ( "=" | "!=" ) value       value: quoted or bare
//	label   = "target" | "zone" | "region" | "version"
//
// Matchers combine with AND; no matcher means the whole fleet. target,
// zone and region select targets (their values must exist in the fleet);
// version selects the time each target spent on a version, so that
// `error_rate{version="v2"}` is the change wherever it runs and
// `error_rate{version!="v2"}` its baseline, the rest of the fleet. Common
// scopes:
//
//	error_rate{target="use1-az1-1"}                  one box
//	error_rate{region="us-east-1",target!="use1-az1-1"}  its region's other boxes
//	error_rate{zone="use1-az2"}                      one zone
//	error_rate{region="us-east-1"}                   one region
//	error_rate                                       the fleet
//
// Points are Prometheus-shaped: one at Start, Start+Step, ... up to End
// (and never after the fleet's present), each the value over the Step
// before it, counted in whole periods of [Traffic.Period] (Step must be a
// whole multiple of the period). Each point's Samples is its number of
// requests. Rates and latencies have no point where no request was served
// (missing data); counts are 0 there. The series' Labels are the
// matchers.
func (f *Fleet) Query(ctx context.Context, query string, r alarm.Range) (alarm.Series, error) {
	if err := ctx.Err(); err != nil {
		return alarm.Series{}, err
	}
	q, err := f.parsed(query)
	if err != nil {
		return alarm.Series{}, err
	}
	if err := r.Validate(); err != nil {
		return alarm.Series{}, fmt.Errorf("rollouttest: query %q: %w", query, err)
	}
	P := time.Duration(f.traffic.period)
	if r.Step%P != 0 {
		return alarm.Series{}, fmt.Errorf("rollouttest: query %q: step %s is not a whole multiple of the period %s", query, r.Step, P)
	}
	if n := r.End.Sub(r.Start) / r.Step; n >= MaxPoints {
		return alarm.Series{}, fmt.Errorf("rollouttest: query %q: %d points exceed the maximum of %d; use a larger step", query, n+1, MaxPoints)
	}
	out := alarm.Series{Labels: maps.Clone(q.labels)}
	now := f.now()
	var hist [][]segment
	acc := tally{keep: q.metric == mLatencyMean || q.metric == mLatencyQuantile}
	for t := r.Start; !t.After(r.End) && !t.After(now); t = t.Add(r.Step) {
		if err := ctx.Err(); err != nil {
			return alarm.Series{}, err
		}
		key := pointKey{query: query, time: t.UnixNano(), step: int64(r.Step)}
		f.mu.Lock()
		c, hit := f.points[key]
		f.mu.Unlock()
		if hit {
			if c.ok {
				c.p.Time = t
				out.Points = append(out.Points, c.p)
			}
			continue
		}
		if hist == nil {
			hist = make([][]segment, len(q.targets))
			for j, i := range q.targets {
				hist[j] = f.history(i)
			}
		}
		p, ok := f.point(q, hist, &acc, t, r.Step)
		f.mu.Lock()
		if len(f.points) >= maxCachedPoints {
			clear(f.points)
		}
		if f.points == nil {
			f.points = map[pointKey]cachedPoint{}
		}
		f.points[key] = cachedPoint{p, ok}
		f.mu.Unlock()
		if ok {
			out.Points = append(out.Points, p)
		}
	}
	return out, nil
}

// point computes the datapoint stamped t: the value over the step that
// ends at t (truncated to the period); ok is false for a rate or a
// latency without requests.
func (f *Fleet) point(q *parsedQuery, hist [][]segment, acc *tally, t time.Time, step time.Duration) (alarm.Point, bool) {
	P := f.traffic.period
	end := floorDiv(t.UnixNano(), P) * P
	start := end - int64(step)
	acc.reset()
	for j, i := range q.targets {
		f.serve(i, hist[j], start, end, q.keep, func(_ string, p part) { acc.add(p) })
	}
	p := alarm.Point{Time: t, Samples: acc.requests}
	if acc.requests == 0 && q.metric != mRequests && q.metric != mErrors {
		return p, false
	}
	switch q.metric {
	case mRequests:
		p.Value = float64(acc.requests)
	case mErrors:
		p.Value = float64(acc.errors)
	case mErrorRate:
		p.Value = float64(acc.errors) / float64(acc.requests)
	case mLatencyMean:
		p.Value = f.meanLatency(acc.parts)
	case mLatencyQuantile:
		p.Value = f.quantile(acc.parts, q.quantile)
	}
	return p, true
}

type metricKind int

const (
	mRequests metricKind = iota + 1
	mErrors
	mErrorRate
	mLatencyMean
	mLatencyQuantile
)

type matcher struct {
	label, value string
	neg          bool
}

type parsedQuery struct {
	metric   metricKind
	quantile float64
	targets  []int
	keep     func(string) bool // version filter; nil: every version
	labels   map[string]string
}

// parsed returns the query parsed, from a cache.
func (f *Fleet) parsed(s string) (*parsedQuery, error) {
	f.mu.Lock()
	q := f.queries[s]
	f.mu.Unlock()
	if q != nil {
		return q, nil
	}
	q, err := f.parse(s)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	if f.queries == nil || len(f.queries) > 4096 {
		f.queries = map[string]*parsedQuery{}
	}
	f.queries[s] = q
	f.mu.Unlock()
	return q, nil
}

// parse parses and resolves a query against the fleet.
func (f *Fleet) parse(s string) (*parsedQuery, error) {
	bad := func(format string, args ...any) (*parsedQuery, error) {
		return nil, fmt.Errorf("%w %q: %s", ErrBadQuery, s, fmt.Sprintf(format, args...))
	}
	name, rest, braces := strings.Cut(strings.TrimSpace(s), "{")
	name = strings.TrimSpace(name)
	q := &parsedQuery{}
	switch {
	case name == "requests":
		q.metric = mRequests
	case name == "errors":
		q.metric = mErrors
	case name == "error_rate":
		q.metric = mErrorRate
	case name == "latency_mean_seconds":
		q.metric = mLatencyMean
	case strings.HasPrefix(name, "latency_p") && strings.HasSuffix(name, "_seconds"):
		num := strings.TrimSuffix(strings.TrimPrefix(name, "latency_p"), "_seconds")
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || !(v > 0 && v < 100) || strings.ContainsAny(num, "eE+-") {
			return bad("percentile %q: want a number in (0, 100), for example latency_p99_seconds", num)
		}
		q.metric, q.quantile = mLatencyQuantile, v/100
	default:
		return bad("unknown metric %q (want requests, errors, error_rate, latency_mean_seconds or latency_p<q>_seconds)", name)
	}
	var ms []matcher
	if braces {
		body, ok := strings.CutSuffix(strings.TrimSpace(rest), "}")
		if !ok {
			return bad("missing the closing brace")
		}
		var err error
		if ms, err = parseMatchers(body); err != nil {
			return bad("%v", err)
		}
	}
	q.labels = map[string]string{"__name__": name}
	var versions []matcher
	for _, m := range ms {
		op := "="
		if m.neg {
			op = "!="
		}
		q.labels[m.label] = op + m.value
		switch m.label {
		case "version":
			versions = append(versions, m)
		case "target":
			if _, ok := f.index[m.value]; !ok {
				return bad("no target %q in the fleet", m.value)
			}
		case "zone":
			if !slices.Contains(f.zone, m.value) {
				return bad("no zone %q in the fleet", m.value)
			}
		case "region":
			if !slices.Contains(f.region, m.value) {
				return bad("no region %q in the fleet", m.value)
			}
		}
	}
	for i, t := range f.targets {
		ok := true
		for _, m := range ms {
			var got string
			switch m.label {
			case "target":
				got = t.ID
			case "zone":
				got = f.zone[i]
			case "region":
				got = f.region[i]
			default:
				continue
			}
			if (got == m.value) == m.neg {
				ok = false
				break
			}
		}
		if ok {
			q.targets = append(q.targets, i)
		}
	}
	if len(versions) > 0 {
		q.keep = func(v string) bool {
			for _, m := range versions {
				if (v == m.value) == m.neg {
					return false
				}
			}
			return true
		}
	}
	return q, nil
}

func parseMatchers(body string) ([]matcher, error) {
	var out []matcher
	body = strings.TrimSpace(body)
	for body != "" {
		i := strings.IndexAny(body, "!=")
		if i < 0 {
			return nil, fmt.Errorf("matcher %q: want label=value or label!=value", body)
		}
		m := matcher{label: strings.TrimSpace(body[:i])}
		switch m.label {
		case "target", "zone", "region", "version":
		default:
			return nil, fmt.Errorf("unknown label %q (want target, zone, region or version)", m.label)
		}
		body = body[i:]
		switch {
		case strings.HasPrefix(body, "!="):
			m.neg, body = true, body[2:]
		case strings.HasPrefix(body, "="):
			body = body[1:]
		default:
			return nil, fmt.Errorf("label %q: want = or !=", m.label)
		}
		body = strings.TrimSpace(body)
		if strings.HasPrefix(body, `"`) {
			end := strings.IndexByte(body[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("label %q: unterminated quoted value", m.label)
			}
			m.value, body = body[1:end+1], body[end+2:]
		} else {
			end := strings.IndexAny(body, ", ")
			if end < 0 {
				end = len(body)
			}
			m.value, body = body[:end], body[end:]
		}
		if m.value == "" {
			return nil, fmt.Errorf("label %q: empty value", m.label)
		}
		out = append(out, m)
		body = strings.TrimSpace(body)
		if body == "" {
			break
		}
		if body[0] != ',' {
			return nil, fmt.Errorf("unexpected %q after %s: want a comma", body, m.label)
		}
		body = strings.TrimSpace(body[1:])
		if body == "" {
			return nil, errors.New("trailing comma")
		}
	}
	return out, nil
}

// Evidence implements [rollout.Evidence]. A requirement whose query is a
// bare counter, "requests" or "errors", counts what the stage's targets
// served with the stage's version from since to now: a bake that needs
// 1,000 requests then waits for a thousand requests to the change, however
// long the night is. Any other query is run as written over the fleet's
// metrics, with [bake.Measure].
//
// A bake reads its evidence again and again over a growing span; the
// whole periods already counted are remembered, so each read costs only
// what is new.
func (f *Fleet) Evidence(ctx context.Context, s rollout.Subject, reqs []bake.Requirement, since, now time.Time) ([]float64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if since.IsZero() {
		return nil, errors.New("rollouttest: evidence: zero start time")
	}
	out := make([]float64, 0, len(reqs))
	var counts map[string]float64
	for i := range reqs {
		q := strings.TrimSpace(reqs[i].Query)
		if q != "requests" && q != "errors" {
			var err error
			if out, err = bake.Measure(ctx, f, reqs[i:i+1], since, now, out); err != nil {
				return nil, err
			}
			continue
		}
		if counts == nil {
			var err error
			if counts, err = f.served(s, since, now); err != nil {
				return nil, err
			}
		}
		out = append(out, counts[q])
	}
	return out, nil
}

// served counts the requests and errors of the subject's targets with its
// version over [since, now).
func (f *Fleet) served(s rollout.Subject, since, now time.Time) (map[string]float64, error) {
	idx := make([]int, len(s.Targets))
	for j, id := range s.Targets {
		i, ok := f.index[id]
		if !ok {
			return nil, fmt.Errorf("rollouttest: evidence: %w %q", ErrUnknownTarget, id)
		}
		idx[j] = i
	}
	keep := func(v string) bool { return v == s.Version }
	count := func(a, b int64) (req, errs int64) {
		for _, i := range idx {
			f.serve(i, f.history(i), a, b, keep, func(_ string, p part) {
				req += p.requests
				errs += p.errors
			})
		}
		return req, errs
	}
	a, b := ns(since), ns(now)
	key := s.Version + "\x00" + strconv.FormatInt(a, 10) + "\x00" + strings.Join(s.Targets, "\x00")
	f.mu.Lock()
	m, ok := f.evidence[key]
	f.mu.Unlock()
	if !ok || m.upTo > b {
		m = evidenceMemo{upTo: a}
	}
	// Whole periods that ended by now are final: nothing can change them.
	if whole := floorDiv(b, f.traffic.period) * f.traffic.period; whole > m.upTo {
		req, errs := count(m.upTo, whole)
		m.requests += req
		m.errors += errs
		m.upTo = whole
		f.mu.Lock()
		if f.evidence == nil || len(f.evidence) > 1024 {
			f.evidence = map[string]evidenceMemo{}
		}
		f.evidence[key] = m
		f.mu.Unlock()
	}
	req, errs := count(m.upTo, b)
	return map[string]float64{"requests": float64(m.requests + req), "errors": float64(m.errors + errs)}, nil
}

type evidenceMemo struct {
	upTo             int64 // ns: counted from since up to here
	requests, errors int64
}

// Served counts the requests and errors that the target with this ID
// served with version from..to (every version when version is empty).
func (f *Fleet) Served(id, version string, from, to time.Time) (requests, errors int64) {
	i, ok := f.index[id]
	if !ok || from.IsZero() {
		return 0, 0
	}
	var keep func(string) bool
	if version != "" {
		keep = func(v string) bool { return v == version }
	}
	f.serve(i, f.history(i), ns(from), ns(to), keep, func(_ string, p part) {
		requests += p.requests
		errors += p.errors
	})
	return requests, errors
}

// Load is the share of its daily peak that the target with this ID
// serves at t, in [Traffic.Trough, 1] (0 for an unknown target).
func (f *Fleet) Load(id string, t time.Time) float64 {
	i, ok := f.index[id]
	if !ok {
		return 0
	}
	return f.traffic.load(i, t.UnixNano())
}
