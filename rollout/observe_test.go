package rollout_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestMetricsTracesAndLogs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sleepUntil(monday9.Add(-time.Hour))
		plan := rollouttest.AWSPlan(2, 2, 3)
		f := rollouttest.NewMemFleet(plan, "v1")
		reg := prometheus.NewPedanticRegistry()
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		var logs bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		o := rollout.Config{
			Blockers:       rollouttest.BusinessHours,
			Alarms:         regressionAlarm(f, rollouttest.WaveTargets(plan, 1), "v2"),
			Registerer:     reg,
			TracerProvider: tp,
			Logger:         logger,
		}
		r, err := rollout.Create(t.Context(), rollout.Spec{ID: "obs", Plan: plan, Version: "v2", Policy: rollout.Policy{}}, f, o)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Run(t.Context()); !errors.Is(err, rollout.ErrRolledBack) {
			t.Fatalf("Run = %v", err)
		}
		// A second runner shares the registerer.
		r2, err := rollout.Create(t.Context(), rollout.Spec{ID: "obs2", Plan: rollouttest.ZeroBake(rollouttest.AWSPlan(1, 1, 3)), Version: "v2", Policy: rollout.Policy{}}, rollouttest.NewMemFleet(plan, "v1"), rollout.Config{Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		if err := r2.Run(t.Context()); err != nil {
			t.Fatal(err)
		}

		for _, c := range []struct {
			name, label, value string
			check              func(float64) bool
			want               string
		}{
			{"shepherd_rollout_deploys_total", "result", "ok", func(v float64) bool { return v == float64(len(rollouttest.WaveTargets(plan, 0))+1+3) }, "wave 1, one target of wave 2 and the second rollout's 3"},
			{"shepherd_rollout_rollbacks_total", "reason", "alarm", func(v float64) bool { return v == 1 }, "1"},
			{"shepherd_rollout_target_rollbacks_total", "result", "ok", func(v float64) bool { return v == float64(len(rollouttest.WaveTargets(plan, 0))+1) }, "every changed target"},
			{"shepherd_rollout_blocked_seconds_total", "blocker", "business-hours", func(v float64) bool { return v == 12*3600 }, "12h: an hour before the first window, and the night after wave 1"},
			{"shepherd_rollout_activity_seconds_total", "activity", "baking", func(v float64) bool { return v > 0 }, "> 0"},
			{"shepherd_rollout_stage_duration_seconds", "kind", "zone", func(v float64) bool { return v == float64(len(plan.Waves[0].Stages)+1) }, "one observation per promoted stage of both rollouts"},
			{"shepherd_rollout_outcomes_total", "phase", "rolled-back", func(v float64) bool { return v == 1 }, "1"},
		} {
			if got, ok := metricValue(t, reg, c.name, c.label, c.value); !ok || !c.check(got) {
				t.Errorf("%s{%s=%q} = %v (found %v), want %s", c.name, c.label, c.value, got, ok, c.want)
			}
		}
		if _, err := reg.Gather(); err != nil {
			t.Errorf("gather: %v", err)
		}

		// Spans nest rollout > stage > batch > target.
		byID := map[string]sdktrace.ReadOnlySpan{}
		for _, s := range rec.Ended() {
			byID[s.SpanContext().SpanID().String()] = s
		}
		chain := func(s sdktrace.ReadOnlySpan) string {
			var names []string
			for s != nil {
				names = append([]string{strings.Fields(s.Name())[0]}, names...)
				s = byID[s.Parent().SpanID().String()]
			}
			return strings.Join(names, ">")
		}
		seen := map[string]bool{}
		for _, s := range rec.Ended() {
			seen[chain(s)] = true
		}
		for _, want := range []string{"rollout>stage>batch>deploy", "rollout>stage>batch>read-version", "rollout>rollback>rollback"} {
			if !seen[want] {
				t.Errorf("no span chain %s; have %v", want, seen)
			}
		}
		for _, want := range []string{"rollout: stage-started", "rollout: rollback-started", "level=WARN", "signal=alarm"} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("logs lack %q", want)
			}
		}
	})
}

// metricValue finds a counter's value (or a histogram's count) by name and
// one label.
func metricValue(t *testing.T, g prometheus.Gatherer, name, label, value string) (float64, bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !hasLabel(m, label, value) {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}
