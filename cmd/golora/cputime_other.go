//go:build !unix

package main

import "time"

// cpuTime is unavailable here.
func cpuTime() time.Duration { return 0 }
