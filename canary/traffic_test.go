package canary

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shepherd-go/shepherd/field"
)

// TestTrafficGuard replays issue 14's canaries without traffic: each must
// stop as Inconclusive with a plain reason, never pass.
func TestTrafficGuard(t *testing.T) {
	p := Policy{TrafficShare: 0.1, Metrics: []Metric{{Name: "errors", Kind: Count}}}
	tests := []struct {
		name       string
		obs        Observation
		wantReason string
	}{
		{"no canary requests", Observation{Metric: "errors", CanaryEvents: 0, BaselineEvents: 90, CanaryRequests: 0, BaselineRequests: 9000},
			"the canary served 0 of about 1000 expected requests"},
		{"one percent of its requests", Observation{Metric: "errors", CanaryEvents: 0, BaselineEvents: 90, CanaryRequests: 10, BaselineRequests: 9000},
			"the canary served 10 of about 1000 expected requests"},
		{"no request counts", Observation{Metric: "errors", CanaryEvents: 0, BaselineEvents: 90},
			"the canary reported 0 of about 20 expected events of errors at the baseline's rate (no request counts)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := NewJudge(p, t0)
			if err != nil {
				t.Fatal(err)
			}
			var d Decision
			m := 1
			for ; m <= 60 && d == Continue; m++ {
				if err := j.Observe(minute(m), tt.obs); err != nil {
					t.Fatal(err)
				}
				d = j.Decide(minute(m))
			}
			v := j.Verdict(minute(m - 1))
			if d != Inconclusive || m-1 > 5 {
				t.Fatalf("decision %v at minute %d: %s", d, m-1, v.Reason)
			}
			if !strings.Contains(v.Reason, tt.wantReason) {
				t.Errorf("reason %q lacks %q", v.Reason, tt.wantReason)
			}
		})
	}
}

// TestTrafficGuardHealthy checks that a canary with its expected traffic is
// not stopped, and that the verdict says how much it served.
func TestTrafficGuardHealthy(t *testing.T) {
	p := Policy{TrafficShare: 0.1, Metrics: []Metric{{Name: "errors", Kind: Count}}}
	j, err := NewJudge(p, t0)
	if err != nil {
		t.Fatal(err)
	}
	for m := 1; m <= 10; m++ {
		if err := j.Observe(minute(m), Observation{Metric: "errors", CanaryEvents: 10 + int64(m%3), BaselineEvents: 90 + int64(m%5),
			CanaryRequests: 1000, BaselineRequests: 9000}); err != nil {
			t.Fatal(err)
		}
	}
	v := j.Verdict(minute(10))
	if v.Decision == Inconclusive || v.Decision == Fail {
		t.Fatalf("%v: %s", v.Decision, v.Reason)
	}
	if diff := cmp.Diff("the canary served 10000 of about 10000 expected requests", v.Traffic); diff != "" {
		t.Errorf("traffic (-want +got):\n%s", diff)
	}
}

func TestZeroErrorsPassWithSlack(t *testing.T) {
	p := Policy{TrafficShare: 0.1, Metrics: []Metric{{Name: "errors", Kind: Count}}}
	j, err := NewJudge(p, t0)
	if err != nil {
		t.Fatal(err)
	}
	var d Decision
	m := 1
	for ; m <= 60 && d == Continue; m++ {
		if err := j.Observe(minute(m), Observation{Metric: "errors", CanaryRequests: 1000, BaselineRequests: 9000}); err != nil {
			t.Fatal(err)
		}
		d = j.Decide(minute(m))
	}
	if d != Pass {
		t.Fatalf("zero errors on both sides: %v at minute %d: %s", d, m-1, j.Verdict(minute(m-1)).Reason)
	}
}

func TestValidateFieldErrors(t *testing.T) {
	err := Policy{Alpha: 2, Metrics: []Metric{{Name: "m", Kind: Mean, Slack: 0.1}}}.Validate()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("%v does not wrap ErrInvalid", err)
	}
	var paths []string
	for _, e := range field.All(err) {
		paths = append(paths, e.Path)
	}
	if diff := cmp.Diff([]string{"Alpha", "Metrics[0].Slack"}, paths); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
}

func TestNegativeSamplesRejected(t *testing.T) {
	p := Policy{Metrics: []Metric{{Name: "latency", Kind: Quantile, Quantile: 0.99}}}
	j, err := NewJudge(p, t0)
	if err != nil {
		t.Fatal(err)
	}
	err = j.Observe(minute(1), Observation{Metric: "latency", CanarySamples: []float64{0.1, -5}, BaselineSamples: []float64{0.1}})
	if !errors.Is(err, ErrBadObservation) || !strings.Contains(err.Error(), "sample -5 is negative") {
		t.Errorf("error %v", err)
	}
	if n := j.State().Metrics[0].Quantile.CanarySamples; n != 0 {
		t.Errorf("%d samples applied", n)
	}
	_ = time.Minute
}
