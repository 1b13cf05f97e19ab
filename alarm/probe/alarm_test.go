package probe

import (
	"context"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shepherd-go/shepherd/alarm"
	"github.com/shepherd-go/shepherd/duration"
)

// TestAlarmRule watches a prober with a CloudWatch-style rule, "success
// rate below 90% in 3 of the last 5 minutes, silence breaches", through
// alarm.Set, inside a bubble: OK while the endpoint is healthy, ALARM three
// minutes into a regression, OK once it is over, and ALARM again when the
// canary itself stops (missing data breaches).
func TestAlarmRule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		tr := fakeTransport(func(*http.Request) (int, string, time.Duration) {
			if since := time.Since(start); since >= 10*time.Minute && since < 14*time.Minute {
				return http.StatusBadGateway, "", 50 * time.Millisecond
			}
			return http.StatusOK, "", 50 * time.Millisecond
		})
		p, err := New(Policy{Endpoints: []Endpoint{{Name: "checkout", URL: "http://shop.test/checkout"}}}, WithClient(client(tr)))
		if err != nil {
			t.Fatal(err)
		}
		set, err := alarm.NewSet(p, alarm.Rule{Name: "canary", Threshold: &alarm.Threshold{
			Query:      "probe:checkout:success_rate",
			Comparison: alarm.LessThan,
			Threshold:  0.9,
			Evaluation: alarm.Evaluation{
				Period:            duration.Duration(time.Minute),
				EvaluationPeriods: 5,
				DatapointsToAlarm: 3,
				TreatMissingData:  alarm.Breaching,
				MinSamples:        3,
			},
		}})
		if err != nil {
			t.Fatal(err)
		}
		check := func(want alarm.State) {
			t.Helper()
			res, err := set.Check(t.Context(), "canary", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if res.State != want {
				t.Errorf("at +%s: %s, want %s", time.Since(start), res, want)
			}
		}

		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()

		time.Sleep(9*time.Minute + 30*time.Second)
		check(alarm.OK) // nine good minutes
		time.Sleep(2 * time.Minute)
		check(alarm.OK) // one bad minute of five
		time.Sleep(2 * time.Minute)
		check(alarm.Alarm) // three bad minutes of five (10-11, 11-12, 12-13)
		time.Sleep(7 * time.Minute)
		check(alarm.OK) // recovered at 14: the last five minutes are good

		cancel()
		<-done
		// The endpoint is healthy, but nobody is watching it any more: no
		// data, which breaches.
		time.Sleep(10 * time.Minute)
		check(alarm.Alarm)
	})
}
