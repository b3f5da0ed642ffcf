//go:build !unix

package cpuclock

import "time"

// Process is unknown here; callers fall back to the wall clock.
func Process() (time.Duration, bool) { return 0, false }
