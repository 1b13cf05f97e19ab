package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

const scope = "github.com/shepherd-go/shepherd/rollout"

// Metrics are the Prometheus collectors of the driver. Every name starts
// with shepherd_rollout_; no label carries a host or target.
type metrics struct {
	stage     *prometheus.HistogramVec // shepherd_rollout_stage_duration_seconds{kind}
	deploys   *prometheus.CounterVec   // shepherd_rollout_deploys_total{result}
	rollbacks *prometheus.CounterVec   // shepherd_rollout_rollbacks_total{reason}
	reverted  *prometheus.CounterVec   // shepherd_rollout_target_rollbacks_total{result}
	blocked   *prometheus.CounterVec   // shepherd_rollout_blocked_seconds_total{blocker}
	activity  *prometheus.CounterVec   // shepherd_rollout_activity_seconds_total{activity}
	outcomes  *prometheus.CounterVec   // shepherd_rollout_outcomes_total{phase}
}

// metricsFor registers the collectors, or finds those a runner registered
// before, so that many runners can share one registerer.
func metricsFor(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shepherd_rollout_stage_duration_seconds",
			Help:    "Time from a stage's start to its promotion, blocked and bake time included.",
			Buckets: []float64{60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 16 * 3600, 24 * 3600, 48 * 3600, 96 * 3600},
		}, []string{"kind"}),
		deploys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shepherd_rollout_deploys_total",
			Help: "Target deploys by result (ok, failed, unchanged).",
		}, []string{"result"}),
		rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shepherd_rollout_rollbacks_total",
			Help: "Rollouts that started rolling back, by the signal that stopped them.",
		}, []string{"reason"}),
		reverted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shepherd_rollout_target_rollbacks_total",
			Help: "Target rollbacks by result (ok, failed).",
		}, []string{"result"}),
		blocked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shepherd_rollout_blocked_seconds_total",
			Help: "Time stages were held by each blocker.",
		}, []string{"blocker"}),
		activity: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shepherd_rollout_activity_seconds_total",
			Help: "Time rollouts spent per activity (blocked, approval, deploying, baking, judging, paused, rolling-back).",
		}, []string{"activity"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shepherd_rollout_outcomes_total",
			Help: "Rollouts that ended, by final phase.",
		}, []string{"phase"}),
	}
	m.stage = register(reg, m.stage)
	m.deploys = register(reg, m.deploys)
	m.rollbacks = register(reg, m.rollbacks)
	m.reverted = register(reg, m.reverted)
	m.blocked = register(reg, m.blocked)
	m.activity = register(reg, m.activity)
	m.outcomes = register(reg, m.outcomes)
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		// A conflicting collector of the same name: keep ours
		// unregistered rather than fail the rollout over metrics.
	}
	return c
}

// observer turns events into callbacks, log lines, metrics and spans.
type observer struct {
	r        *Runner
	log      *slog.Logger
	tracer   trace.Tracer
	m        *metrics
	reported Timings // activity time already counted in metrics

	runCtx  context.Context
	stages  map[string]spanCtx
	batches map[string]spanCtx // by stage name
	rbCtx   *spanCtx
	// silent: the run's span neither records nor has an identity to
	// propagate (no tracing configured), and nor will any span under it.
	silent bool
}

type spanCtx struct {
	ctx  context.Context
	span trace.Span
}

func newObserver(r *Runner, st *State) *observer {
	tp := r.o.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return &observer{
		r:        r,
		log:      r.o.Logger,
		tracer:   tp.Tracer(scope),
		m:        metricsFor(r.o.Registerer),
		reported: st.Timings,
		stages:   map[string]spanCtx{},
		batches:  map[string]spanCtx{},
	}
}

func (o *observer) startRun(ctx context.Context) (context.Context, func(error)) {
	ctx, span := o.tracer.Start(ctx, "rollout", trace.WithAttributes(
		attribute.String("rollout.id", o.r.id),
		attribute.String("rollout.version", o.r.st.Version),
		attribute.Bool("rollout.resumed", o.r.resumed)))
	o.runCtx = ctx
	o.silent = !span.IsRecording() && !span.SpanContext().IsValid()
	return ctx, func(err error) {
		for _, b := range o.batches {
			b.span.End()
		}
		for _, s := range o.stages {
			s.span.End()
		}
		if o.rbCtx != nil {
			o.rbCtx.span.End()
		}
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}

func (o *observer) startTarget(ctx context.Context, a *Action) (context.Context, func(*Observation)) {
	if o.silent {
		return ctx, nil // nothing to find the parent span for
	}
	parent := ctx
	if a.Kind == ActionRollback && o.rbCtx != nil {
		parent = o.rbCtx.ctx
	} else if b, ok := o.batches[a.Stage]; ok {
		parent = b.ctx
	} else if s, ok := o.stages[a.Stage]; ok {
		parent = s.ctx
	}
	// Keep ctx's cancellation, take the parent span from the tree.
	ps := trace.SpanFromContext(parent)
	if !ps.IsRecording() {
		// Nothing records this rollout's spans (no SDK, or sampled out):
		// a target's span would be thrown away, at the cost of a few
		// allocations for each of 100,000 targets. The parent still
		// travels for propagation when it has an identity.
		if ps.SpanContext().IsValid() {
			ctx = trace.ContextWithSpan(ctx, ps)
		}
		return ctx, nil
	}
	ctx = trace.ContextWithSpan(ctx, ps)
	ctx, span := o.tracer.Start(ctx, string(a.Kind), trace.WithAttributes(
		attribute.String("rollout.target", a.Target.ID),
		attribute.String("rollout.stage", a.Stage),
		attribute.String("rollout.version", a.Version)))
	return ctx, func(ob *Observation) {
		if ob.Err != "" {
			span.SetStatus(codes.Error, ob.Err)
		}
		if ob.Attempts > 0 {
			span.SetAttributes(attribute.Int("rollout.attempts", ob.Attempts))
		}
		span.End()
	}
}

func (o *observer) retrying(a Action, n int, err error, wait time.Duration) {
	if o.log != nil {
		o.log.Warn("rollout: retrying", "rollout", o.r.id, "action", a.Kind, "target", a.Target.ID,
			"attempt", n, "wait", wait, "err", err)
	}
}

// panicked logs a panic in the team's code, with its stack.
func (o *observer) panicked(a Action, v any, stack []byte) {
	if o.log != nil {
		o.log.Error("rollout: panic in a call; the action fails closed", "rollout", o.r.id, "action", a.Kind,
			"target", a.Target.ID, "stage", a.Stage, "panic", fmt.Sprint(v), "stack", string(stack))
	}
}

// abandoned logs a call abandoned past its deadline and grace.
func (o *observer) abandoned(a Action, err error) {
	if o.log != nil {
		o.log.Error("rollout: call abandoned", "rollout", o.r.id, "action", a.Kind, "target", a.Target.ID,
			"stage", a.Stage, "err", err)
	}
}

// events reports the events of one step. It runs on the goroutine that
// runs the rollout, so its maps need no lock.
func (o *observer) events(ctx context.Context, evs []Event) {
	for i := range evs {
		e := &evs[i]
		if o.r.o.OnEvent != nil {
			o.r.o.OnEvent(*e)
		}
		o.logEvent(ctx, e)
		o.trace(e)
		o.metric(e)
	}
	if o.m != nil {
		o.r.mu.Lock()
		now := o.r.st.Timings
		o.r.mu.Unlock()
		for _, a := range Activities {
			if d := now.Get(a) - o.reported.Get(a); d > 0 {
				o.m.activity.WithLabelValues(string(a)).Add(d.Seconds())
			}
		}
		o.reported = now
	}
}

func (o *observer) logEvent(ctx context.Context, e *Event) {
	if o.log == nil {
		return
	}
	level := slog.LevelInfo
	switch e.Kind {
	case EventTargetDeployed, EventTargetUnchanged, EventTargetRolledBack, EventBakeProgress, EventBatchStarted, EventControl:
		level = slog.LevelDebug
	case EventTargetFailed, EventAlarm, EventSignal, EventBlocked, EventRollbackStarted:
		level = slog.LevelWarn
	case EventRollbackError:
		level = slog.LevelError
	case EventRollbackFinished:
		level = slog.LevelWarn
	}
	if !o.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{slog.String("rollout", e.Rollout)}
	if e.Stage != "" {
		attrs = append(attrs, slog.String("stage", e.Stage))
	}
	if e.Target != "" {
		attrs = append(attrs, slog.String("target", e.Target), slog.Int("batch", e.Batch))
	}
	if e.Version != "" {
		attrs = append(attrs, slog.String("version", e.Version))
	}
	if e.Actor != "" {
		attrs = append(attrs, slog.String("actor", e.Actor))
	}
	if e.Signal != "" {
		attrs = append(attrs, slog.String("signal", string(e.Signal)))
	}
	if e.Duration != 0 {
		attrs = append(attrs, slog.Duration("duration", e.Duration))
	}
	if e.Targets != 0 {
		attrs = append(attrs, slog.Int("targets", e.Targets))
	}
	if e.Reason != "" {
		attrs = append(attrs, slog.String("reason", e.Reason))
	}
	o.log.LogAttrs(ctx, level, "rollout: "+string(e.Kind), attrs...)
}

func (o *observer) trace(e *Event) {
	switch e.Kind {
	case EventStageStarted:
		ctx, span := o.tracer.Start(o.runCtx, "stage "+e.Stage, trace.WithTimestamp(e.Time), trace.WithAttributes(
			attribute.String("rollout.stage", e.Stage), attribute.String("rollout.stage_kind", string(e.StageKind))))
		o.stages[e.Stage] = spanCtx{ctx, span}
	case EventBatchStarted:
		parent, ok := o.stages[e.Stage]
		if !ok {
			// A resumed run: the stage began under an earlier run.
			ctx, span := o.tracer.Start(o.runCtx, "stage "+e.Stage, trace.WithAttributes(
				attribute.String("rollout.stage", e.Stage), attribute.Bool("rollout.resumed", true)))
			parent = spanCtx{ctx, span}
			o.stages[e.Stage] = parent
		}
		ctx, span := o.tracer.Start(parent.ctx, "batch", trace.WithTimestamp(e.Time), trace.WithAttributes(
			attribute.Int("rollout.batch", e.Batch), attribute.Int("rollout.targets", e.Targets)))
		o.batches[e.Stage] = spanCtx{ctx, span}
	case EventBatchFinished:
		if b, ok := o.batches[e.Stage]; ok {
			b.span.SetAttributes(attribute.String("rollout.result", e.Reason))
			b.span.End(trace.WithTimestamp(e.Time))
			delete(o.batches, e.Stage)
		}
	case EventStagePromoted:
		if s, ok := o.stages[e.Stage]; ok {
			s.span.End(trace.WithTimestamp(e.Time))
			delete(o.stages, e.Stage)
		}
	case EventBlocked, EventUnblocked, EventAwaitingApproval, EventApproved, EventBakeStarted,
		EventBakeSkipped, EventCanaryVerdict, EventAlarm, EventSignal, EventPaused, EventResumed:
		if s, ok := o.stages[e.Stage]; ok {
			s.span.AddEvent(string(e.Kind), trace.WithTimestamp(e.Time), trace.WithAttributes(attribute.String("reason", e.Reason)))
		}
	case EventRollbackStarted:
		ctx, span := o.tracer.Start(o.runCtx, "rollback", trace.WithTimestamp(e.Time), trace.WithAttributes(
			attribute.String("rollout.signal", string(e.Signal)), attribute.String("reason", e.Reason)))
		o.rbCtx = &spanCtx{ctx, span}
	case EventRollbackFinished:
		if o.rbCtx != nil {
			if e.Phase == RollbackFailed {
				o.rbCtx.span.SetStatus(codes.Error, e.Reason)
			}
			o.rbCtx.span.End(trace.WithTimestamp(e.Time))
			o.rbCtx = nil
		}
	}
}

func (o *observer) metric(e *Event) {
	m := o.m
	if m == nil {
		return
	}
	switch e.Kind {
	case EventStagePromoted:
		m.stage.WithLabelValues(string(e.StageKind)).Observe(e.Duration.Seconds())
	case EventTargetDeployed:
		m.deploys.WithLabelValues("ok").Inc()
	case EventTargetFailed:
		m.deploys.WithLabelValues("failed").Inc()
	case EventTargetUnchanged:
		m.deploys.WithLabelValues("unchanged").Inc()
	case EventRollbackStarted:
		m.rollbacks.WithLabelValues(string(e.Signal)).Inc()
	case EventTargetRolledBack:
		m.reverted.WithLabelValues("ok").Inc()
	case EventRollbackError:
		m.reverted.WithLabelValues("failed").Inc()
	case EventUnblocked:
		for b, d := range e.Blockers {
			m.blocked.WithLabelValues(b).Add(d.Seconds())
		}
	case EventSucceeded:
		m.outcomes.WithLabelValues(string(Succeeded)).Inc()
	case EventRollbackFinished:
		m.outcomes.WithLabelValues(string(e.Phase)).Inc()
	}
}
