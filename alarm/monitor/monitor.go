// Package monitor polls a set of alarms on an interval, keeps the latest
// status of each, reports every change of state, and instruments the polls
// with OpenTelemetry traces and metrics and, optionally, Prometheus
// collectors.
//
// It lives apart from package [alarm] so that the rules, sets and sources
// of alarm (and the packages built on them: bake, blocker, canary) import
// no Prometheus or OpenTelemetry package; only a program that runs a
// [Monitor] pays for them.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/shepherd-go/shepherd/alarm"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ErrorOutcome is the state a [Monitor] gives an alarm whose evaluation
// failed (its source returned an error). It is never OK: an alarm that
// cannot be read is not a healthy alarm.
type ErrorOutcome int

const (
	// ErrorIsAlarm (the default) puts the alarm in ALARM, as a rollback
	// alarm should: a deployment watching it stops.
	ErrorIsAlarm ErrorOutcome = iota
	// ErrorIsInsufficientData puts the alarm in INSUFFICIENT_DATA, for
	// callers that treat that state as "stop" too but want to tell an
	// outage of the metrics from a breach.
	ErrorIsInsufficientData
	// ErrorKeepsState keeps the alarm's previous state (INSUFFICIENT_DATA
	// before its first evaluation). It rides out a flaky source, and so
	// also keeps an OK alarm OK while nobody can see the metric: use it
	// only where another alarm covers the source's health.
	ErrorKeepsState
)

// String returns "ALARM", "INSUFFICIENT_DATA" or "previous state".
func (o ErrorOutcome) String() string {
	switch o {
	case ErrorIsAlarm:
		return "ALARM"
	case ErrorIsInsufficientData:
		return "INSUFFICIENT_DATA"
	case ErrorKeepsState:
		return "previous state"
	}
	return fmt.Sprintf("ErrorOutcome(%d)", int(o))
}

// Status is the latest outcome of one alarm in a [Monitor].
type Status struct {
	// Result is the alarm's latest result. When Err is set, its state is
	// the monitor's [ErrorOutcome] and its reason quotes the error.
	Result alarm.Result
	// Err is the error that kept the alarm from being evaluated at the
	// latest poll, or nil.
	Err error
}

// Transition is a change of an alarm's state seen by a [Monitor].
type Transition struct {
	// From is the state before; an alarm starts in INSUFFICIENT_DATA.
	From alarm.State
	// Status is the alarm's new status; Status.Result.State is the new
	// state.
	Status
}

// Monitor polls a [alarm.Set] on an interval, keeps the latest [Status] of every
// alarm, and reports every change of state.
//
// Configure it by setting its fields before calling [Monitor.Run]; the zero
// values are documented defaults. Run polls immediately, then every
// Interval, until its context is done or [Monitor.Close] is called; it
// returns only after every goroutine it started has stopped. A Monitor runs
// once.
//
// Run uses the time package's timers directly, so under testing/synctest an
// hour of polling takes no real time.
type Monitor struct {
	// Set is the alarms to poll. Required.
	Set *alarm.Set
	// Interval is the time between polls; zero means one minute.
	Interval time.Duration
	// OnError is the state an alarm gets when its evaluation fails; zero
	// means [ErrorIsAlarm].
	OnError ErrorOutcome
	// OnTransition, when set, is called for every change of an alarm's
	// state, from Run's goroutine, after the status is recorded. It must
	// not block for long (polling waits for it) and must not call Close
	// (use Stop). To receive transitions on a channel, send to a buffered
	// channel from here.
	OnTransition func(Transition)

	// Logger receives transitions (Info) and evaluation errors (Warn); nil
	// means silent.
	Logger *slog.Logger
	// TracerProvider traces each poll as a span; nil means the global
	// provider (a no-op until the application installs one).
	TracerProvider trace.TracerProvider
	// MeterProvider records the poll metrics; nil means the global
	// provider.
	MeterProvider metric.MeterProvider
	// Registerer, when set, receives Prometheus collectors for the same
	// metrics for as long as Run runs: shepherd_alarm_polls_total,
	// shepherd_alarm_poll_duration_seconds,
	// shepherd_alarm_evaluations_total{state},
	// shepherd_alarm_errors_total, shepherd_alarm_transitions_total{to}
	// and shepherd_alarm_alarms{state}. nil means none (never the default
	// registry).
	Registerer prometheus.Registerer

	mu     sync.Mutex
	phase  int // 0 new, 1 running, 2 stopped
	cancel context.CancelCauseFunc
	done   chan struct{}
	status map[string]Status
	names  []string // m.Set.Names(), read once by Run: a Set never changes
}

// ErrClosed is returned by [Monitor.Run] after [Monitor.Close] or
// [Monitor.Stop].
var ErrClosed = errors.New("monitor: closed")

const (
	phaseNew = iota
	phaseRunning
	phaseStopped
)

// scope is the instrumentation scope of the monitor's traces and metrics.
const scope = "github.com/shepherd-go/shepherd/alarm/monitor"

// Run polls until ctx is done or Close is called. It returns nil after
// Close or Stop, the context's cause when ctx ends it, and an error without
// polling when the monitor is misconfigured, already ran, or its
// Prometheus collectors cannot be registered.
func (m *Monitor) Run(ctx context.Context) error {
	if m.Set == nil {
		return errors.New("monitor: Set is required")
	}
	if m.Interval < 0 {
		return fmt.Errorf("monitor: Interval must not be negative, got %s", m.Interval)
	}
	if m.OnError < ErrorIsAlarm || m.OnError > ErrorKeepsState {
		return fmt.Errorf("monitor: unknown OnError %d", int(m.OnError))
	}
	m.mu.Lock()
	switch m.phase {
	case phaseRunning:
		m.mu.Unlock()
		return errors.New("monitor: already running")
	case phaseStopped:
		m.mu.Unlock()
		return ErrClosed
	}
	ctx, cancel := context.WithCancelCause(ctx)
	m.phase, m.cancel, m.done = phaseRunning, cancel, make(chan struct{})
	m.names = m.Set.Names()
	m.mu.Unlock()
	defer func() {
		cancel(ErrClosed)
		m.mu.Lock()
		m.phase = phaseStopped
		close(m.done)
		m.mu.Unlock()
	}()

	inst, err := m.instrument()
	if err != nil {
		return err
	}
	defer inst.close()

	interval := m.Interval
	if interval == 0 {
		interval = time.Minute
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		m.poll(ctx, inst)
		select {
		case <-ctx.Done():
			if err := context.Cause(ctx); !errors.Is(err, ErrClosed) {
				return err
			}
			return nil
		case <-ticker.C:
		}
	}
}

// Stop asks Run to return and does not wait. It is safe to call at any
// time, any number of times, including from OnTransition.
func (m *Monitor) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.phase {
	case phaseNew:
		m.phase = phaseStopped
	case phaseRunning:
		m.cancel(ErrClosed)
	}
}

// Close stops Run and waits until it has returned. It is idempotent and
// always returns nil.
func (m *Monitor) Close() error {
	m.Stop()
	m.mu.Lock()
	done := m.done
	m.mu.Unlock()
	if done != nil {
		<-done
	}
	return nil
}

// Status returns the latest status of the named alarm, and false when the
// set holds no such alarm. Before the first poll, the status is
// INSUFFICIENT_DATA with the reason "not evaluated yet".
func (m *Monitor) Status(name string) (Status, bool) {
	if m.Set == nil {
		return Status{}, false
	}
	if _, ok := m.Set.Rule(name); !ok {
		return Status{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.statusLocked(name), true
}

// State returns the latest state of the named alarm: INSUFFICIENT_DATA for
// an alarm not evaluated yet or not in the set.
func (m *Monitor) State(name string) alarm.State {
	st, _ := m.Status(name)
	return st.Result.State
}

// Statuses returns the latest status of every alarm, in the order of
// [alarm.Set.Names].
func (m *Monitor) Statuses() []Status {
	if m.Set == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	names := m.Set.Names()
	out := make([]Status, len(names))
	for i, name := range names {
		out[i] = m.statusLocked(name)
	}
	return out
}

func (m *Monitor) statusLocked(name string) Status {
	if st, ok := m.status[name]; ok {
		return st
	}
	return Status{Result: alarm.Result{Name: name, State: alarm.InsufficientData, Reason: "not evaluated yet"}}
}

func (m *Monitor) logger() *slog.Logger {
	if m.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Logger
}

// poll checks every alarm once and records the outcomes.
func (m *Monitor) poll(ctx context.Context, inst *instruments) {
	start := time.Now()
	ctx, span := inst.tracer.Start(ctx, "alarm.Monitor.poll",
		trace.WithAttributes(attribute.Int("alarm.count", len(m.names))))
	defer span.End()
	// The evaluation time carries no monotonic reading, so that results
	// print and compare as plain wall-clock times.
	outcomes := m.Set.CheckAll(ctx, start.Round(0))
	if ctx.Err() != nil {
		// Stopping: the errors are our own cancellation, not the source's.
		span.SetStatus(codes.Error, "stopped during the poll")
		return
	}
	log := m.logger()
	var transitions []Transition
	failed := 0
	m.mu.Lock()
	if m.status == nil {
		m.status = make(map[string]Status, len(outcomes))
	}
	for _, o := range outcomes {
		name := o.Result.Name
		prev := m.statusLocked(name)
		st := Status{Result: o.Result, Err: o.Err}
		if o.Err != nil {
			failed++
			st.Result = m.errorResult(o, prev.Result.State)
		}
		m.status[name] = st
		inst.evaluated(ctx, st)
		if st.Result.State != prev.Result.State {
			transitions = append(transitions, Transition{From: prev.Result.State, Status: st})
		}
	}
	counts := m.countsLocked()
	m.mu.Unlock()

	inst.polled(ctx, time.Since(start), counts)
	span.SetAttributes(attribute.Int("alarm.errors", failed), attribute.Int("alarm.transitions", len(transitions)))
	if failed > 0 {
		span.SetStatus(codes.Error, fmt.Sprintf("%d alarms could not be evaluated", failed))
	}
	for _, o := range outcomes {
		if o.Err != nil {
			span.RecordError(o.Err)
			log.WarnContext(ctx, "alarm evaluation failed", "alarm", o.Result.Name,
				"outcome", m.OnError.String(), "err", o.Err)
		}
	}
	for _, tr := range transitions {
		inst.transitioned(ctx, tr.Result.State)
		log.InfoContext(ctx, "alarm state changed", "alarm", tr.Result.Name,
			"from", tr.From.String(), "to", tr.Result.State.String(), "reason", tr.Result.Reason)
		if m.OnTransition != nil {
			m.OnTransition(tr)
		}
	}
}

// errorResult applies the error outcome.
func (m *Monitor) errorResult(o alarm.Outcome, prev alarm.State) alarm.Result {
	r := alarm.Result{Name: o.Result.Name, Time: o.Result.Time}
	switch m.OnError {
	case ErrorIsInsufficientData:
		r.State = alarm.InsufficientData
		r.Reason = "could not be evaluated, which counts as INSUFFICIENT_DATA: " + o.Err.Error()
	case ErrorKeepsState:
		r.State = prev
		r.Reason = "could not be evaluated, so the previous state " + prev.String() + " is kept: " + o.Err.Error()
	default:
		r.State = alarm.Alarm
		r.Reason = "could not be evaluated, which counts as ALARM: " + o.Err.Error()
	}
	return r
}

func (m *Monitor) countsLocked() [3]int {
	var c [3]int
	for _, name := range m.names {
		if st := m.statusLocked(name).Result.State; st >= 0 && int(st) < len(c) {
			c[st]++
		}
	}
	return c
}

// instruments are the monitor's tracer and metrics.
type instruments struct {
	tracer trace.Tracer

	polls       metric.Int64Counter
	duration    metric.Float64Histogram
	evaluations metric.Int64Counter
	errs        metric.Int64Counter
	transitions metric.Int64Counter
	gaugeReg    metric.Registration

	mu     sync.Mutex
	counts [3]int

	reg                        prometheus.Registerer
	collectors                 []prometheus.Collector
	pPolls, pErrs              prometheus.Counter
	pDuration                  prometheus.Histogram
	pEvaluations, pTransitions *prometheus.CounterVec
	pAlarms                    *prometheus.GaugeVec
}

var stateLabels = [3]string{"insufficient_data", "ok", "alarm"}

func stateLabel(s alarm.State) string {
	if s >= 0 && int(s) < len(stateLabels) {
		return stateLabels[s]
	}
	return "unknown"
}

func (m *Monitor) instrument() (*instruments, error) {
	tp, mp := m.TracerProvider, m.MeterProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	in := &instruments{tracer: tp.Tracer(scope)}
	meter := mp.Meter(scope)
	var errs []error
	var err error
	in.polls, err = meter.Int64Counter("shepherd.alarm.polls", metric.WithDescription("Polls of the monitored alarms."))
	errs = append(errs, err)
	in.duration, err = meter.Float64Histogram("shepherd.alarm.poll.duration", metric.WithUnit("s"),
		metric.WithDescription("Time to query and evaluate every monitored alarm once."))
	errs = append(errs, err)
	in.evaluations, err = meter.Int64Counter("shepherd.alarm.evaluations",
		metric.WithDescription("Alarm evaluations, by resulting state (evaluation errors count with the state they were given)."))
	errs = append(errs, err)
	in.errs, err = meter.Int64Counter("shepherd.alarm.errors", metric.WithDescription("Alarm evaluations that failed because a source could not be read."))
	errs = append(errs, err)
	in.transitions, err = meter.Int64Counter("shepherd.alarm.transitions", metric.WithDescription("Changes of alarm state, by new state."))
	errs = append(errs, err)
	gauge, err := meter.Int64ObservableGauge("shepherd.alarm.alarms", metric.WithDescription("Monitored alarms, by current state."))
	errs = append(errs, err)
	if err == nil {
		in.gaugeReg, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			in.mu.Lock()
			c := in.counts
			in.mu.Unlock()
			for i, n := range c {
				o.ObserveInt64(gauge, int64(n), metric.WithAttributes(attribute.String("state", stateLabels[i])))
			}
			return nil
		}, gauge)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		in.close()
		return nil, fmt.Errorf("monitor: metrics: %w", err)
	}

	if m.Registerer != nil {
		in.reg = m.Registerer
		in.pPolls = prometheus.NewCounter(prometheus.CounterOpts{Name: "shepherd_alarm_polls_total",
			Help: "Polls of the monitored alarms."})
		in.pDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "shepherd_alarm_poll_duration_seconds",
			Help: "Time to query and evaluate every monitored alarm once.", Buckets: prometheus.DefBuckets})
		in.pEvaluations = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shepherd_alarm_evaluations_total",
			Help: "Alarm evaluations, by resulting state (evaluation errors count with the state they were given)."}, []string{"state"})
		in.pErrs = prometheus.NewCounter(prometheus.CounterOpts{Name: "shepherd_alarm_errors_total",
			Help: "Alarm evaluations that failed because a source could not be read."})
		in.pTransitions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shepherd_alarm_transitions_total",
			Help: "Changes of alarm state, by new state."}, []string{"to"})
		in.pAlarms = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "shepherd_alarm_alarms",
			Help: "Monitored alarms, by current state."}, []string{"state"})
		for _, l := range stateLabels {
			// Expose every series from the start, at zero.
			in.pEvaluations.WithLabelValues(l)
			in.pTransitions.WithLabelValues(l)
			in.pAlarms.WithLabelValues(l)
		}
		for _, c := range []prometheus.Collector{in.pPolls, in.pDuration, in.pEvaluations, in.pErrs, in.pTransitions, in.pAlarms} {
			if err := m.Registerer.Register(c); err != nil {
				in.close()
				return nil, fmt.Errorf("monitor: registering Prometheus metrics: %w", err)
			}
			in.collectors = append(in.collectors, c)
		}
	}
	return in, nil
}

// close unregisters everything instrument registered.
func (in *instruments) close() {
	if in.gaugeReg != nil {
		_ = in.gaugeReg.Unregister()
	}
	for _, c := range in.collectors {
		in.reg.Unregister(c)
	}
}

func (in *instruments) evaluated(ctx context.Context, st Status) {
	state := metric.WithAttributes(attribute.String("state", stateLabel(st.Result.State)))
	in.evaluations.Add(ctx, 1, state)
	if st.Err != nil {
		in.errs.Add(ctx, 1)
	}
	if in.reg != nil {
		in.pEvaluations.WithLabelValues(stateLabel(st.Result.State)).Inc()
		if st.Err != nil {
			in.pErrs.Inc()
		}
	}
}

func (in *instruments) polled(ctx context.Context, d time.Duration, counts [3]int) {
	in.polls.Add(ctx, 1)
	in.duration.Record(ctx, d.Seconds())
	in.mu.Lock()
	in.counts = counts
	in.mu.Unlock()
	if in.reg != nil {
		in.pPolls.Inc()
		in.pDuration.Observe(d.Seconds())
		for i, n := range counts {
			in.pAlarms.WithLabelValues(stateLabels[i]).Set(float64(n))
		}
	}
}

func (in *instruments) transitioned(ctx context.Context, to alarm.State) {
	in.transitions.Add(ctx, 1, metric.WithAttributes(attribute.String("to", stateLabel(to))))
	if in.reg != nil {
		in.pTransitions.WithLabelValues(stateLabel(to)).Inc()
	}
}
