package rollout_test

import (
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/rollouttest"
	"github.com/shepherd-go/shepherd/traffic"
)

// BenchmarkExposureRamp steps a whole ramp of one scope (CodeDeploy's
// linear 10% every minute: ten route changes, nine holds) through the
// shared hands and the simulated router, and reports the cost per route
// change.
func BenchmarkExposureRamp(b *testing.B) {
	plan := regionPlan("us-east-1")
	pol := exposurePolicy(traffic.CodeDeployLinear(10, time.Minute))
	t := &testing.T{}
	for b.Loop() {
		st, err := rollout.NewState("bench", plan, "v2", pol, monday9)
		if err != nil {
			b.Fatal(err)
		}
		router := &rollouttest.Router{}
		end := exposureDrive(t, st, router, rollouttest.NewMemFleet(plan, "v1"), nil)
		if end.Phase != rollout.Succeeded {
			b.Fatal(end.Phase)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10, "ns/route-change")
}

// BenchmarkBadVersionBlast runs the acceptance scenario (a bad version
// caught at 10%) and reports its blast radius: the peak share and the
// traffic it served, in seconds at 100%.
func BenchmarkBadVersionBlast(b *testing.B) {
	plan := regionPlan("us-east-1")
	pol := exposurePolicy(traffic.CodeDeployCanary(10, 5*time.Minute))
	t := &testing.T{}
	var blast traffic.Blast
	for b.Loop() {
		st, err := rollout.NewState("bench", plan, "v2", pol, monday9)
		if err != nil {
			b.Fatal(err)
		}
		router := &rollouttest.Router{ErrorRates: map[string]float64{"v2": 0.2}}
		st2 := exposureDriveAlarms(t, st, router, rollouttest.NewMemFleet(plan, "v1"))
		if st2.Phase != rollout.RolledBack {
			b.Fatal(st2.Phase)
		}
		blast = *st2.Rollback.Blast
	}
	b.ReportMetric(blast.Peak, "peak-%")
	b.ReportMetric(blast.Full.Seconds(), "s-at-100%")
	b.ReportMetric(blast.Exposed.Seconds(), "s-exposed")
}

func BenchmarkBucket(b *testing.B) {
	n := 0
	for b.Loop() {
		if traffic.Exposed("flag-42", "user-123456", 10) {
			n++
		}
	}
	_ = n
}
