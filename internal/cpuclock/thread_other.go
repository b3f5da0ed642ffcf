//go:build !linux

package cpuclock

import "time"

// Thread is unknown here; callers fall back to the wall clock.
func Thread() (time.Duration, bool) { return 0, false }
