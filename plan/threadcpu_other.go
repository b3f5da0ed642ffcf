//go:build !linux

package plan

import "time"

// threadCPU is unknown here: calibration falls back to wall time.
func threadCPU() (time.Duration, bool) { return 0, false }
