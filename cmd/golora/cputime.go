package main

import (
	"time"

	"github.com/golora/golora/internal/cpuclock"
)

// cpuTime is the process's CPU time so far (0 where unknown).
func cpuTime() time.Duration {
	t, _ := cpuclock.Process()
	return t
}
