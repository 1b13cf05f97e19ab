//go:build !unix

package rollout_test

import "time"

// cpuTime is not measured here: benchmarks report 0 for it.
func cpuTime() time.Duration { return 0 }
