//go:build unix

package cpuclock

import (
	"syscall"
	"time"
)

// Process is the process's user plus system CPU time so far, over all its
// threads, and whether it is known: beside the wall clock, what work cost
// when other processes share the cores.
func Process() (time.Duration, bool) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
