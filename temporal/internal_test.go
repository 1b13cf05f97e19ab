package temporal

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
	"github.com/shepherd-go/shepherd/wave"
)

// TestRetryPolicyMappingProperty: for random retry policies the core
// accepts, the Temporal policy they map to is one the server accepts
// (initial interval positive and at most the maximum, coefficient 2, at
// least one attempt, never "unlimited"), and the waits Temporal computes
// before each attempt are the core's before jitter (Initial doubled,
// capped at Max, even the first).
func TestRetryPolicyMappingProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	durs := []time.Duration{0, time.Millisecond, time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, time.Hour}
	pick := func() duration.Duration {
		if rng.IntN(3) == 0 {
			return duration.Duration(rng.Int64N(int64(2 * time.Hour)))
		}
		return duration.Duration(durs[rng.IntN(len(durs))])
	}
	for i := range 10000 {
		r := rollout.Retry{MaxAttempts: rng.IntN(20), Initial: pick(), Max: pick()}
		if i%100 == 0 {
			r.MaxAttempts = 1 << 40
		}
		pol := rollout.Policy{Deploy: rollout.DeployPolicy{Retry: r}}
		if pol.Validate() != nil {
			continue
		}
		core := pol.Retries(rollout.ActionDeploy)
		tp := retryPolicy(core)
		if tp.InitialInterval <= 0 || tp.MaximumInterval < tp.InitialInterval || tp.BackoffCoefficient != 2 || tp.MaximumAttempts < 1 {
			t.Fatalf("%+v maps to %+v, which the server refuses", r, tp)
		}
		if want := int32(min(core.MaxAttempts, 1<<31-1)); tp.MaximumAttempts != want {
			t.Fatalf("%+v: %d attempts, want %d", r, tp.MaximumAttempts, want)
		}
		wait := tp.InitialInterval
		for n := 2; n <= 12; n++ {
			// The core's wait with its jitter factor taken out: jitter
			// is in [0.5, 1.5), so the base is within (2/3 w, 2 w].
			w := core.Wait("r", "t", n)
			if float64(w) < 0.5*float64(wait)-1 || float64(w) > 1.5*float64(wait)+1 {
				t.Fatalf("%+v: before attempt %d the core waits %s, Temporal %s", r, n, w, wait)
			}
			wait = min(2*wait, tp.MaximumInterval)
		}
	}
}

// TestHeartbeatEvery: the worker's heartbeat is its setting when that is
// under half the activity's heartbeat timeout, a third of the timeout
// otherwise.
func TestHeartbeatEvery(t *testing.T) {
	for _, tc := range []struct{ set, timeout, want time.Duration }{
		{0, time.Minute, 20 * time.Second},
		{5 * time.Second, time.Minute, 5 * time.Second},
		{30 * time.Second, time.Minute, 20 * time.Second},
		{time.Minute, 2 * time.Second, 666666666},
		{0, 0, 10 * time.Second},
		{3 * time.Second, 0, 3 * time.Second},
	} {
		if got := heartbeatEvery(tc.set, tc.timeout); got != tc.want {
			t.Errorf("heartbeatEvery(%s, %s) = %s, want %s", tc.set, tc.timeout, got, tc.want)
		}
	}
}

// TestStatusBounded: the status of a rollout with thousands of refused
// requests holds the last MaxStatusList of them and counts them all; the
// refusals carried across continue-as-new are bounded too.
func TestStatusBounded(t *testing.T) {
	plan := wave.Plan{Levels: []string{"region"}, Waves: []wave.Wave{{Regions: []string{"r0"}, Stages: []wave.Stage{
		{Name: "r0", Kind: wave.Region, Regions: []string{"r0"}, Batches: []wave.Batch{{Targets: []wave.Target{{ID: "h0", Location: []string{"r0"}}}}}},
	}}}}
	st, err := rollout.NewState("s", plan, "v2", rollout.Policy{}, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	r := &run{st: st}
	for i := range 5000 {
		r.addRefused(rollout.AuditEntry{Time: time.Unix(int64(i), 0), Kind: rollout.ControlPause, Actor: "mallory"})
	}
	if len(r.refused) != DefaultKeepRefused {
		t.Errorf("%d refusals kept, want %d", len(r.refused), DefaultKeepRefused)
	}
	s := r.status()
	if len(s.Audit) != MaxStatusList || s.AuditTotal != 5000 || !s.Audit[MaxStatusList-1].Time.Equal(time.Unix(4999, 0)) {
		t.Errorf("audit of %d entries (total %d), want the last %d of 5000", len(s.Audit), s.AuditTotal, MaxStatusList)
	}
	data, _ := json.Marshal(s)
	t.Logf("status with 5,000 refusals: %d B", len(data))
}
