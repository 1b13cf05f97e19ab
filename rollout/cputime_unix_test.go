//go:build unix

package rollout_test

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user and system) the process has used: what a
// benchmark costs the machine, whatever else the machine is doing, where
// wall time on a shared machine measures the neighbours too.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
