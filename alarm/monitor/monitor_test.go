package monitor

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/duration"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// recorder collects transitions; OnTransition runs on Run's goroutine while
// the test reads from its own.
type recorder struct {
	mu  sync.Mutex
	got []Transition
}

func (r *recorder) record(tr Transition) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, tr)
}

func (r *recorder) transitions() []Transition {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Transition(nil), r.got...)
}

// start runs the monitor in the background and returns a function that
// closes it and returns Run's error.
func start(t *testing.T, m *Monitor) func() error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- m.Run(context.Background()) }()
	return func() error {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		return <-errc
	}
}

// TestMonitorHour polls a 2-of-3 rule every minute for an hour of fake time
// in which the error rate breaches for minutes 20 to 29.
func TestMonitorHour(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		begin := time.Now()
		src := new(alarm.Memory)
		for i := range 61 {
			v := 0.01
			if i >= 20 && i <= 29 {
				v = 0.2
			}
			src.Record("errors", begin.Add(time.Duration(i)*time.Minute), v, 100)
		}
		set, err := alarm.NewSet(src,
			alarm.Rule{Name: "errors", Threshold: minuteRule("errors", 0.1)},
			alarm.Rule{Name: "rollback", Composite: &alarm.Composite{Expression: "ALARM(errors) OR INSUFFICIENT_DATA(errors)"}},
		)
		if err != nil {
			t.Fatal(err)
		}
		var rec recorder
		reg := prometheus.NewPedanticRegistry()
		m := &Monitor{Set: set, Interval: time.Minute, OnTransition: rec.record, Registerer: reg}
		if st := m.State("errors"); st != alarm.InsufficientData {
			t.Errorf("before the first poll: %s", st)
		}
		stop := start(t, m)

		time.Sleep(time.Hour + 30*time.Second)
		synctest.Wait()
		if got := counterValue(t, reg, "shepherd_alarm_polls_total"); got != 61 {
			t.Errorf("polls = %v, want 61 (at 0, 1, ..., 60 minutes)", got)
		}
		if n, err := gatherCount(reg); err != nil || n != 6 {
			t.Errorf("gathering metrics: %d, %v", n, err)
		}
		if err := stop(); err != nil {
			t.Errorf("Run = %v, want nil after Close", err)
		}
		if n, _ := gatherCount(reg); n != 0 {
			t.Errorf("%d metrics still registered after Run returned", n)
		}

		type tr struct {
			Name     string
			From, To alarm.State
			Minute   int
		}
		var got []tr
		for _, x := range rec.transitions() {
			got = append(got, tr{x.Result.Name, x.From, x.Result.State, int(x.Result.Time.Sub(begin) / time.Minute)})
		}
		want := []tr{
			{"errors", alarm.InsufficientData, alarm.OK, 0},
			{"rollback", alarm.InsufficientData, alarm.OK, 0},
			{"errors", alarm.OK, alarm.Alarm, 21},
			{"rollback", alarm.OK, alarm.Alarm, 21},
			{"errors", alarm.Alarm, alarm.OK, 31},
			{"rollback", alarm.Alarm, alarm.OK, 31},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}
		st, ok := m.Status("errors")
		if !ok || st.Err != nil || st.Result.State != alarm.OK || !st.Result.Time.Equal(begin.Add(time.Hour)) {
			t.Errorf("final status = %+v, %v", st, ok)
		}
		if _, ok := m.Status("nope"); ok {
			t.Error("status of an unknown alarm")
		}
	})
}

// gatherCount returns the number of metric families a registry holds.
func gatherCount(g prometheus.Gatherer) (int, error) {
	mfs, err := g.Gather()
	return len(mfs), err
}

// counterValue gathers a counter's value from a registry.
func counterValue(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestMonitorSourceErrors(t *testing.T) {
	boom := errors.New("connection refused")
	for _, tt := range []struct {
		outcome ErrorOutcome
		want    alarm.State
		reason  string
	}{
		{ErrorIsAlarm, alarm.Alarm, "could not be evaluated, which counts as ALARM: "},
		{ErrorIsInsufficientData, alarm.InsufficientData, "could not be evaluated, which counts as INSUFFICIENT_DATA: "},
		{ErrorKeepsState, alarm.OK, "could not be evaluated, so the previous state OK is kept: "},
	} {
		t.Run(tt.outcome.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				begin := time.Now()
				src := new(alarm.Memory)
				for i := range 30 {
					src.Record("latency", begin.Add(time.Duration(i)*time.Minute), 0.1, 100)
				}
				set, err := alarm.NewSet(src,
					alarm.Rule{Name: "latency", Threshold: minuteRule("latency", 0.5)},
					alarm.Rule{Name: "agg", Composite: &alarm.Composite{Expression: "ALARM(latency)"}})
				if err != nil {
					t.Fatal(err)
				}
				var rec recorder
				m := &Monitor{Set: set, OnError: tt.outcome, OnTransition: rec.record}
				stop := start(t, m)
				time.Sleep(5 * time.Minute)
				synctest.Wait()
				if got := m.State("latency"); got != alarm.OK {
					t.Fatalf("before the outage: %s", got)
				}
				src.SetError("latency", boom)
				time.Sleep(5 * time.Minute)
				synctest.Wait()
				for _, name := range []string{"latency", "agg"} {
					st, _ := m.Status(name)
					if !errors.Is(st.Err, boom) || st.Result.State != tt.want || !strings.HasPrefix(st.Result.Reason, tt.reason) {
						t.Errorf("%s during the outage: %+v", name, st)
					}
				}
				src.SetError("latency", nil)
				time.Sleep(5 * time.Minute)
				synctest.Wait()
				if st, _ := m.Status("latency"); st.Err != nil || st.Result.State != alarm.OK {
					t.Errorf("after the outage: %+v", st)
				}
				if err := stop(); err != nil {
					t.Error(err)
				}
				for _, tr := range rec.transitions() {
					if tr.Err != nil && tr.Result.State == alarm.OK && tt.outcome != ErrorKeepsState {
						t.Errorf("an error became OK: %+v", tr)
					}
				}
			})
		})
	}
}

func TestMonitorErrorKeepsStateWithoutHistory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := new(alarm.Memory)
		src.SetError("q", errors.New("down"))
		set, _ := alarm.NewSet(src, alarm.Rule{Name: "a", Threshold: minuteRule("q", 1)})
		m := &Monitor{Set: set, OnError: ErrorKeepsState}
		stop := start(t, m)
		synctest.Wait()
		if st, _ := m.Status("a"); st.Result.State != alarm.InsufficientData || st.Err == nil {
			t.Errorf("first poll failed: %+v", st)
		}
		stop()
	})
}

func TestMonitorLifecycle(t *testing.T) {
	set, err := alarm.NewSet(nil, alarm.Rule{Name: "t", Composite: &alarm.Composite{Expression: "TRUE"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("context cancel", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			m := &Monitor{Set: set}
			errc := make(chan error, 1)
			go func() { errc <- m.Run(ctx) }()
			time.Sleep(90 * time.Second)
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Errorf("Run = %v, want context.Canceled", err)
			}
			if err := m.Run(context.Background()); !errors.Is(err, ErrClosed) {
				t.Errorf("second Run = %v, want ErrClosed", err)
			}
			m.Close()
			m.Close()
		})
	})
	t.Run("close before run", func(t *testing.T) {
		m := &Monitor{Set: set}
		m.Close()
		m.Stop()
		if err := m.Run(context.Background()); !errors.Is(err, ErrClosed) {
			t.Errorf("Run after Close = %v", err)
		}
	})
	t.Run("run twice", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := &Monitor{Set: set}
			stop := start(t, m)
			synctest.Wait()
			if err := m.Run(context.Background()); err == nil || errors.Is(err, ErrClosed) {
				t.Errorf("concurrent Run = %v", err)
			}
			if err := stop(); err != nil {
				t.Error(err)
			}
		})
	})
	t.Run("stop from the callback", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := &Monitor{Set: set}
			m.OnTransition = func(Transition) { m.Stop() }
			if err := m.Run(context.Background()); err != nil {
				t.Errorf("Run = %v", err)
			}
			if m.State("t") != alarm.Alarm {
				t.Errorf("state %s", m.State("t"))
			}
		})
	})
	t.Run("misconfigured", func(t *testing.T) {
		for _, m := range []*Monitor{{}, {Set: set, Interval: -1}, {Set: set, OnError: 7}} {
			if err := m.Run(context.Background()); err == nil {
				t.Errorf("%+v: Run succeeded", m)
			}
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "shepherd_alarm_polls_total"}))
		if err := (&Monitor{Set: set, Registerer: reg}).Run(context.Background()); err == nil {
			t.Error("Run with a conflicting registry succeeded")
		}
	})
}

func TestMonitorTelemetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := new(alarm.Memory)
		src.SetError("q", errors.New("down"))
		set, _ := alarm.NewSet(src,
			alarm.Rule{Name: "a", Threshold: minuteRule("q", 1)},
			alarm.Rule{Name: "t", Composite: &alarm.Composite{Expression: "TRUE"}})
		spans := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
		reader := sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		m := &Monitor{Set: set, TracerProvider: tp, MeterProvider: mp}
		stop := start(t, m)
		time.Sleep(2*time.Minute + time.Second)
		synctest.Wait()
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		stop()
		sums := map[string]int64{}
		for _, sm := range rm.ScopeMetrics {
			if sm.Scope.Name != scope {
				t.Errorf("scope %q", sm.Scope.Name)
			}
			for _, mt := range sm.Metrics {
				switch d := mt.Data.(type) {
				case metricdata.Sum[int64]:
					for _, p := range d.DataPoints {
						sums[mt.Name] += p.Value
					}
				case metricdata.Gauge[int64]:
					for _, p := range d.DataPoints {
						sums[mt.Name] += p.Value
					}
				}
			}
		}
		want := map[string]int64{
			"shepherd.alarm.polls":       3,
			"shepherd.alarm.evaluations": 6,
			"shepherd.alarm.errors":      3,
			"shepherd.alarm.transitions": 2, // both to ALARM at the first poll
			"shepherd.alarm.alarms":      2,
		}
		if diff := cmp.Diff(want, sums); diff != "" {
			t.Errorf("metrics (-want +got):\n%s", diff)
		}
		ended := spans.Ended()
		if len(ended) != 3 {
			t.Fatalf("%d spans, want 3", len(ended))
		}
		if s := ended[0]; s.Name() != "alarm.Monitor.poll" || s.Status().Description != "1 alarms could not be evaluated" || len(s.Events()) != 1 {
			t.Errorf("span %s: %+v, %d events", s.Name(), s.Status(), len(s.Events()))
		}
	})
}

func minuteRule(query string, threshold float64) *alarm.Threshold {
	return &alarm.Threshold{Query: query, Comparison: alarm.GreaterThan, Threshold: threshold,
		Evaluation: alarm.Evaluation{Period: duration.Duration(time.Minute), EvaluationPeriods: 3, DatapointsToAlarm: 2}}
}
