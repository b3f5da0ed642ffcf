package memory

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// PeakRSS is the process's peak resident set size in bytes (VmHWM of
// /proc/self/status) since start or the last ResetPeak.
func PeakRSS() (int64, error) { return status("VmHWM") }

// CurrentRSS is the process's resident set size in bytes (VmRSS).
func CurrentRSS() (int64, error) { return status("VmRSS") }

func status(key string) (int64, error) {
	if runtime.GOOS != "linux" {
		return 0, fmt.Errorf("memory: %s needs Linux's /proc/self/status (running on %s)", key, runtime.GOOS)
	}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), key+":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
		kb, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("memory: /proc/self/status %s: %w", key, err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("memory: /proc/self/status: %w", err)
	}
	return 0, fmt.Errorf("memory: /proc/self/status has no %s line", key)
}

// resetRSS resets VmHWM to the current RSS (Linux >= 4.0: writing 5 to
// clear_refs); failure only means the peak keeps counting from earlier.
func resetRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// GCHeadroom sets the garbage collector's target so that garbage may grow
// the heap by about headroom bytes above what is live now (measured after
// a collection), and returns the previous GC percent to restore. Go's
// default of 100 % lets a process whose heap is mostly long-lived step
// buffers grow by as much again before it collects: a training step that
// leaves a hundred KiB of small garbage behind would, after a few thousand
// steps, double the resident set. The percent is at least 1. Call it once
// the step's buffers exist (after the first step).
func GCHeadroom(headroom int64) (previous int) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	live := max(int64(ms.HeapAlloc), 1)
	percent := int(max(1, (100*headroom+live-1)/live))
	return debug.SetGCPercent(percent)
}
