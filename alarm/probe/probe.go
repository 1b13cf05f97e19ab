// Package probe runs continuous canaries: synthetic HTTP requests sent to a
// service's endpoints on an interval, whose outcomes (success, status code,
// latency) become an [alarm.Source], so that a rollout can watch what a user
// would see and not only what the servers report about themselves.
//
// A [Prober] is configured by a [Policy]: the endpoints to call (name, URL,
// method, expected status codes or a check function, timeout), how often to
// call each one ([Policy.Interval], 10s by default) and how results are
// grouped into datapoints ([Policy.Period], one minute by default). Run it
// for as long as the rollout lasts:
//
//	p, err := probe.New(probe.Policy{Endpoints: []probe.Endpoint{
//		{Name: "checkout", URL: "https://shop.internal/checkout/health"},
//	}})
//	...
//	ctx, stop := context.WithCancel(ctx)
//	done := make(chan error, 1)
//	go func() { done <- p.Run(ctx) }()
//	... // the rollout, with alarm rules reading p
//	stop()
//	<-done // Run returns after its goroutines have stopped
//
// and point alarm rules at it with queries such as
// "probe:checkout:success_rate" or "probe:checkout:latency_p99_seconds".
// Every query starts with "probe:", so a source that serves several
// backends can route on that prefix.
// Every datapoint carries the number of requests behind it as its sample
// count, so rules with a minimum sample count, M-of-N evaluation and
// missing-data treatment work as they do on any other source. A period in
// which no probe completed has no datapoint at all: it is missing data, which
// a rollback alarm should treat as breaching (a canary that cannot run is not
// a healthy canary).
//
// # Query grammar
//
//	query    = "probe:" endpoint ":" metric
//	endpoint = the Endpoint.Name, made of letters, digits, '.', '_' and '-'
//	metric   = "requests"          completed requests in the period
//	         | "successes"         requests that met their expectation
//	         | "failures"          requests that did not (wrong status, check
//	                               failed, timeout, connection error)
//	         | "success_rate"      successes / requests, from 0 to 1
//	         | "failure_rate"      failures / requests, from 0 to 1
//	         | "latency_mean_seconds"
//	         | "latency_max_seconds"
//	         | "latency_p" q "_seconds"   the q-th percentile, 0 < q <= 100,
//	                               for example p50, p99, p99.9 (nearest rank)
//	         | "status_" code      responses with that status code, 100-599
//	         | "status_" d "xx"    responses in a class, 1xx to 5xx
//
// Latency covers every completed request, failed ones included: a request
// that timed out counts with the time it waited, because that is what a user
// waited too. A request that was cut short because Run was stopping is not
// recorded at all.
//
// A query's [alarm.Range.Step] must be a whole multiple of the policy's
// Period: the points are then aggregated over Step (exactly, from the raw
// results, so a percentile over five minutes is the percentile of the five
// minutes' requests). Each point is stamped with the end of its window,
// windows are aligned to the Unix epoch, and a window is reported only once
// it has ended, so that a rule never reads a half-filled datapoint.
//
// # With alarm rules
//
// The prober has already turned each period's requests into one value, so
// rules over it use the [alarm.AsReported] statistic (the default) with an
// [alarm.Evaluation.Period] equal to the policy's Period, or a multiple of
// it. A canary sends few requests (six a minute by default), which matters
// for percentiles: [alarm.PercentileMinSamples] asks for 1,000 samples behind
// a p99, so a p99 rule with that minimum would see only missing data. Watch
// the canary's success_rate or failures, its latency_max_seconds or a low
// percentile, or aggregate over a longer Step. For example, "ALARM when the
// success rate is below 90% in 3 of the last 5 minutes, and treat a silent
// canary as breaching":
//
//	alarm.Rule{Name: "checkout-canary", Threshold: &alarm.Threshold{
//		Query:      "probe:checkout:success_rate",
//		Comparison: alarm.LessThan,
//		Threshold:  0.9,
//		Evaluation: alarm.Evaluation{
//			Period:            duration.Duration(time.Minute),
//			EvaluationPeriods: 5,
//			DatapointsToAlarm: 3,
//			TreatMissingData:  alarm.Breaching,
//		},
//	}}
//
// # Results from other canaries
//
// [Prober.Record] stores a [Result] obtained elsewhere (a gRPC call, a
// browser test, a queue round trip) under one of the policy's endpoints, so
// that any synthetic check can feed the same source; Run is only the HTTP
// driver around it.
//
// # Metrics
//
// With [WithRegisterer], the prober exports shepherd_probe_requests_total
// (counter; labels endpoint and result, "success" or "failure") and
// shepherd_probe_request_duration_seconds (histogram; label endpoint). The
// endpoint label is bounded: endpoints are the few user journeys a team
// chooses to probe, never one per host or target.
package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shepherd-go/shepherd/duration"
)

// Defaults for the zero values of [Policy] and [Endpoint].
const (
	// DefaultInterval is the time between two requests to one endpoint.
	// Continuous canaries in the reference run every minute; probing more
	// often puts several requests behind each one-minute datapoint, so that a
	// single lost request does not turn a whole datapoint into a failure.
	DefaultInterval = 10 * time.Second
	// DefaultPeriod is the length of one datapoint, the usual period of an
	// alarm rule.
	DefaultPeriod = time.Minute
	// DefaultRetention is how long results are kept for queries: long enough
	// for the longest bake and its baseline.
	DefaultRetention = 24 * time.Hour
	// DefaultTimeout bounds one request (connection, headers and body). It
	// is lowered to the interval when the interval is shorter.
	DefaultTimeout = 10 * time.Second
	// MaxBody is the number of bytes of a response body read and handed to
	// [Endpoint.Check]; the rest is discarded.
	MaxBody = 1 << 20
)

// Policy says which endpoints to probe and how. The zero values of its
// fields are the documented defaults; Endpoints must not be empty.
type Policy struct {
	// Interval is the time between the starts of two requests to the same
	// endpoint; zero means [DefaultInterval]. Requests to one endpoint never
	// overlap: when a request outlasts the interval, the next one starts as
	// soon as it ends.
	Interval duration.Duration `json:"interval,omitempty"`
	// Period is the length of one datapoint; zero means [DefaultPeriod]. It
	// must be at least Interval, so that every period holds a request.
	Period duration.Duration `json:"period,omitempty"`
	// Retention is how long results are kept; zero means
	// [DefaultRetention]. It must be at least Period.
	Retention duration.Duration `json:"retention,omitempty"`
	// Endpoints are the requests to send, each probed on its own.
	Endpoints []Endpoint `json:"endpoints"`
}

// Endpoint is one synthetic request and what a good answer looks like.
type Endpoint struct {
	// Name identifies the endpoint in queries ("probe:<Name>:<metric>") and
	// in metric labels: letters, digits, '.', '_' and '-', unique within the
	// policy.
	Name string `json:"name"`
	// URL is the absolute http or https URL to call.
	URL string `json:"url"`
	// Method is the HTTP method; empty means GET.
	Method string `json:"method,omitempty"`
	// Header is sent with every request.
	Header http.Header `json:"header,omitempty"`
	// Body is sent with every request (for a POST, say); empty sends none.
	Body string `json:"body,omitempty"`
	// Expect lists the status codes that count as success; empty means any
	// 2xx.
	Expect []int `json:"expect,omitempty"`
	// Timeout bounds one request, body included; zero means
	// [DefaultTimeout] or the interval, whichever is shorter. It must not
	// exceed the interval.
	Timeout duration.Duration `json:"timeout,omitempty"`
	// Check, when set, runs after the status code was accepted, with the
	// response and the first [MaxBody] bytes of its body; an error makes
	// the request a failure and is its reason. Check must not keep resp or
	// body after it returns.
	Check func(resp *http.Response, body []byte) error `json:"-"`
}

// Result is the outcome of one synthetic request.
type Result struct {
	// Endpoint is the name of the endpoint probed.
	Endpoint string
	// Time is when the request completed; it decides the result's period.
	Time time.Time
	// Latency is how long the request took, body included.
	Latency time.Duration
	// Status is the response's status code, or 0 when there was no response
	// (timeout, connection refused).
	Status int
	// Err is nil when the request met its expectation and says why not
	// otherwise.
	Err error
}

// OK reports whether the request met its expectation.
func (r Result) OK() bool { return r.Err == nil }

var (
	// ErrRunning is returned by [Prober.Run] when the prober is already
	// running.
	ErrRunning = errors.New("probe: already running")
	// ErrUnknownEndpoint is wrapped by the errors of queries and records
	// that name an endpoint the policy does not have.
	ErrUnknownEndpoint = errors.New("probe: unknown endpoint")
)

// StatusError is the [Result.Err] of a request answered with a status code
// that the endpoint does not expect.
type StatusError struct {
	Endpoint string
	// Status is the code received.
	Status int
	// Want describes the accepted codes, for example "2xx" or "200 or 204".
	Want string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("probe: %s: status %d, want %s", e.Endpoint, e.Status, e.Want)
}

// Validate reports every problem of the policy, each with its field path.
func (p Policy) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("probe: policy: %s: %s", field, fmt.Sprintf(format, args...)))
	}
	if p.Interval < 0 {
		add("Interval", "%s is negative", p.Interval)
	}
	if p.Period < 0 {
		add("Period", "%s is negative", p.Period)
	}
	if p.Retention < 0 {
		add("Retention", "%s is negative", p.Retention)
	}
	d := p.withDefaults()
	if p.Interval >= 0 && p.Period >= 0 && d.Period < d.Interval {
		add("Period", "%s is shorter than Interval %s: some periods would hold no request", d.Period, d.Interval)
	}
	if p.Period >= 0 && p.Retention >= 0 && d.Retention < d.Period {
		add("Retention", "%s is shorter than Period %s", d.Retention, d.Period)
	}
	if len(p.Endpoints) == 0 {
		add("Endpoints", "no endpoint to probe")
	}
	seen := make(map[string]int)
	for i, e := range p.Endpoints {
		f := fmt.Sprintf("Endpoints[%d]", i)
		switch {
		case e.Name == "":
			add(f+".Name", "empty")
		case !validName(e.Name):
			add(f+".Name", "%q has characters other than letters, digits, '.', '_' and '-'", e.Name)
		default:
			if j, ok := seen[e.Name]; ok {
				add(f+".Name", "%q is also the name of Endpoints[%d]", e.Name, j)
			} else {
				seen[e.Name] = i
			}
		}
		if u, err := url.Parse(e.URL); err != nil {
			add(f+".URL", "%v", err)
		} else if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			add(f+".URL", "%q is not an absolute http or https URL", e.URL)
		}
		if e.Method != "" && !validMethod(e.Method) {
			add(f+".Method", "%q is not a valid HTTP method", e.Method)
		}
		for j, c := range e.Expect {
			if c < 100 || c > 599 {
				add(fmt.Sprintf("%s.Expect[%d]", f, j), "%d is not a status code (100-599)", c)
			}
		}
		if e.Timeout < 0 {
			add(f+".Timeout", "%s is negative", e.Timeout)
		} else if p.Interval >= 0 && e.Timeout.Std() > d.Interval.Std() {
			add(f+".Timeout", "%s is longer than Interval %s", e.Timeout, d.Interval)
		}
	}
	return errors.Join(errs...)
}

func (p Policy) withDefaults() Policy {
	if p.Interval <= 0 {
		p.Interval = duration.Duration(DefaultInterval)
	}
	if p.Period <= 0 {
		p.Period = duration.Duration(DefaultPeriod)
	}
	if p.Retention <= 0 {
		p.Retention = duration.Duration(DefaultRetention)
	}
	return p
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}

// validMethod reports whether m is an HTTP token (RFC 9110, section 5.6.2).
func validMethod(m string) bool {
	for i := 0; i < len(m); i++ {
		c := m[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return m != ""
}

// Option configures a [Prober]'s wiring.
type Option func(*options)

type options struct {
	client *http.Client
	reg    prometheus.Registerer
	log    *slog.Logger
}

// WithClient sets the HTTP client that sends the requests; nil or unset
// means a client over [http.DefaultTransport]. Tests pass a client whose
// Transport is a fake [http.RoundTripper], which lets a whole prober run
// inside a testing/synctest bubble. The client's own Timeout, if any, applies
// on top of each endpoint's.
func WithClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithRegisterer registers the prober's Prometheus metrics with reg; nil or
// unset means no metrics. To run two probers against one registry, wrap it
// with [prometheus.WrapRegistererWith] and a distinguishing label.
func WithRegisterer(reg prometheus.Registerer) Option { return func(o *options) { o.reg = reg } }

// WithLogger logs every failed request at Warn and every successful one at
// Debug; nil or unset means silence.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// Prober sends the policy's synthetic requests while [Prober.Run] runs and
// answers queries about their outcomes as an [alarm.Source]. Its methods are
// safe for concurrent use.
type Prober struct {
	policy    Policy // defaults applied
	endpoints []endpoint
	byName    map[string]int
	client    *http.Client
	log       *slog.Logger
	metrics   *metrics
	running   atomic.Bool

	mu    sync.Mutex
	store map[string]*history
}

type endpoint struct {
	Endpoint
	timeout time.Duration
	expect  []int
}

// New validates the policy and returns a prober for it. It returns the
// policy's problems, or an error when the metrics cannot be registered.
func New(p Policy, opts ...Option) (*Prober, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	pr := &Prober{
		policy: p.withDefaults(),
		byName: make(map[string]int),
		client: o.client,
		log:    o.log,
		store:  make(map[string]*history),
	}
	if pr.client == nil {
		pr.client = &http.Client{Transport: http.DefaultTransport}
	}
	if pr.log == nil {
		pr.log = slog.New(slog.DiscardHandler)
	}
	for i, e := range p.Endpoints {
		ep := endpoint{Endpoint: e, timeout: e.Timeout.Std(), expect: slices.Clone(e.Expect)}
		if ep.Method == "" {
			ep.Method = http.MethodGet
		}
		if ep.timeout == 0 {
			ep.timeout = min(DefaultTimeout, pr.policy.Interval.Std())
		}
		ep.Header = e.Header.Clone()
		pr.endpoints = append(pr.endpoints, ep)
		pr.byName[e.Name] = i
		pr.store[e.Name] = &history{}
	}
	if o.reg != nil {
		m, err := newMetrics(o.reg, p.Endpoints)
		if err != nil {
			return nil, err
		}
		pr.metrics = m
	}
	return pr, nil
}

// Run probes every endpoint, once at the start and then every Interval,
// until ctx is done. It returns only after all the goroutines it started
// have stopped, with the context's cause, or [ErrRunning] at once when the
// prober is already running. A stopped prober can be run again; its results
// are kept.
func (p *Prober) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer p.running.Store(false)
	var wg sync.WaitGroup
	for i := range p.endpoints {
		e := &p.endpoints[i]
		wg.Go(func() { p.loop(ctx, e) })
	}
	wg.Wait()
	return context.Cause(ctx)
}

func (p *Prober) loop(ctx context.Context, e *endpoint) {
	t := time.NewTicker(p.policy.Interval.Std())
	defer t.Stop()
	for {
		if r, ok := p.probe(ctx, e); ok {
			// Record cannot fail here: the endpoint is the policy's own.
			_ = p.Record(r)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// probe sends one request. ok is false when the request was cut short
// because ctx (Run's context) ended: that says nothing about the endpoint.
func (p *Prober) probe(ctx context.Context, e *endpoint) (r Result, ok bool) {
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	status, err := p.do(rctx, e)
	if ctx.Err() != nil {
		return Result{}, false
	}
	if err != nil && rctx.Err() == context.DeadlineExceeded {
		// The transport's error says where it was cut; say why.
		err = fmt.Errorf("probe: %s: timed out after %s: %w", e.Name, e.timeout, err)
	}
	end := time.Now()
	return Result{Endpoint: e.Name, Time: end, Latency: end.Sub(start), Status: status, Err: err}, true
}

func (p *Prober) do(ctx context.Context, e *endpoint) (status int, err error) {
	var body io.Reader
	if e.Body != "" {
		body = strings.NewReader(e.Body)
	}
	req, err := http.NewRequestWithContext(ctx, e.Method, e.URL, body)
	if err != nil {
		return 0, fmt.Errorf("probe: %s: %w", e.Name, err)
	}
	for k, v := range e.Header {
		req.Header[k] = slices.Clone(v)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return 0, err // probe prefixes it with the timeout
		}
		return 0, fmt.Errorf("probe: %s: %w", e.Name, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, rerr := io.Copy(&buf, io.LimitReader(resp.Body, MaxBody))
	if rerr == nil {
		// Drain the rest so that the connection can be reused.
		_, rerr = io.Copy(io.Discard, resp.Body)
	}
	if rerr != nil {
		return resp.StatusCode, fmt.Errorf("probe: %s: reading the body: %w", e.Name, rerr)
	}
	if !e.accepts(resp.StatusCode) {
		return resp.StatusCode, &StatusError{Endpoint: e.Name, Status: resp.StatusCode, Want: e.want()}
	}
	if e.Check != nil {
		if err := e.Check(resp, buf.Bytes()); err != nil {
			return resp.StatusCode, fmt.Errorf("probe: %s: check: %w", e.Name, err)
		}
	}
	return resp.StatusCode, nil
}

func (e *endpoint) accepts(code int) bool {
	if len(e.expect) == 0 {
		return code >= 200 && code <= 299
	}
	return slices.Contains(e.expect, code)
}

func (e *endpoint) want() string {
	if len(e.expect) == 0 {
		return "2xx"
	}
	s := make([]string, len(e.expect))
	for i, c := range e.expect {
		s[i] = fmt.Sprint(c)
	}
	return strings.Join(s, " or ")
}

// Record stores the result of one synthetic request, made by Run or by any
// other canary, under its endpoint. It fails, storing nothing, when the
// endpoint is not one of the policy's, the time is zero or the latency is
// negative. Results older than the retention are dropped as new ones arrive.
func (p *Prober) Record(r Result) error {
	i, ok := p.byName[r.Endpoint]
	switch {
	case !ok:
		return fmt.Errorf("probe: record: %w %q", ErrUnknownEndpoint, r.Endpoint)
	case r.Time.IsZero():
		return fmt.Errorf("probe: record: %s: zero time", r.Endpoint)
	case r.Latency < 0:
		return fmt.Errorf("probe: record: %s: negative latency %s", r.Endpoint, r.Latency)
	case r.Status != 0 && (r.Status < 100 || r.Status > 599):
		return fmt.Errorf("probe: record: %s: status %d is not a status code (100-599) or 0", r.Endpoint, r.Status)
	}
	if p.metrics != nil {
		p.metrics.observe(r)
	}
	if r.OK() {
		p.log.LogAttrs(context.Background(), slog.LevelDebug, "probe succeeded",
			slog.String("endpoint", r.Endpoint), slog.Int("status", r.Status), slog.Duration("latency", r.Latency))
	} else {
		p.log.LogAttrs(context.Background(), slog.LevelWarn, "probe failed",
			slog.String("endpoint", r.Endpoint), slog.Int("status", r.Status), slog.Duration("latency", r.Latency),
			slog.String("error", r.Err.Error()))
	}
	period := p.policy.Period.Std()
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.store[p.endpoints[i].Name]
	h.add(r, period)
	h.prune(r.Time.Add(-p.policy.Retention.Std()))
	return nil
}
