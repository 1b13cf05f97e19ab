package rollout_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/shepherd-go/shepherd/duration"
	"github.com/shepherd-go/shepherd/rollout"
)

// TestRetryWait: the waits grow exponentially up to Max with a jitter of
// ±50%, are the same for the same rollout, target and attempt, and differ
// between targets.
func TestRetryWait(t *testing.T) {
	p := rollout.Retry{Initial: duration.Duration(time.Second), Max: duration.Duration(time.Minute)}.WithDefaults(10)
	bases := []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute, time.Minute}
	distinct := map[time.Duration]bool{}
	for attempt, base := range bases {
		for i := range 50 {
			target := fmt.Sprintf("t%d", i)
			w := p.Wait("r", target, attempt)
			if w != p.Wait("r", target, attempt) {
				t.Fatalf("Wait(r, %s, %d) differs between calls", target, attempt)
			}
			if w < base/2 || (base > 0 && w >= base*3/2) || (base == 0 && w != 0) {
				t.Errorf("Wait(r, %s, %d) = %s, want in [%s, %s)", target, attempt, w, base/2, base*3/2)
			}
			distinct[w] = true
		}
	}
	if len(distinct) < 400 {
		t.Errorf("only %d distinct waits of 450: the jitter does not spread targets out", len(distinct))
	}
	if p.Wait("r", "t0", 3) == p.Wait("s", "t0", 3) {
		t.Error("two rollouts wait the same for the same target and attempt")
	}
}
