//go:build unix

package wave

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time the process has used so far (user and
// system, all threads, the garbage collector's included), so that
// benchmarks on a shared machine can report work done and not only wall
// time, which other processes inflate.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
