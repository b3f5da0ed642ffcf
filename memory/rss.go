package memory

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
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
