package sizecheck

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// MemEnv names the environment variable that, when set, replaces the
// measured available memory (a byte count such as 2GiB or 536870912): for
// tests, and for users who want golora to stay under a budget.
const MemEnv = "GOLORA_MEM_AVAILABLE"

// Available returns the bytes of memory this process can still allocate
// and where the figure comes from. It is $GOLORA_MEM_AVAILABLE if set;
// otherwise MemAvailable of /proc/meminfo, lowered to the room left under
// the process's cgroup memory limit if there is one. Where none of these
// can be read, it returns Saturated (unknown: no limit is enforced).
func Available() (int64, string, error) {
	if s, ok := os.LookupEnv(MemEnv); ok {
		n, err := ParseBytes(s)
		if err != nil {
			return 0, "", fmt.Errorf("%s=%q: %w", MemEnv, s, err)
		}
		return n, MemEnv, nil
	}
	avail, src := int64(Saturated), "unknown"
	if v, ok := memAvailable(); ok {
		avail, src = v, "MemAvailable"
	}
	if v, ok := cgroupRoom(); ok && v < avail {
		avail, src = v, "cgroup memory limit"
	}
	return avail, src, nil
}

// Memory checks that need bytes fit in the memory Available: "what would need
// 3.5 GiB, more than the 1.2 GiB of memory available (MemAvailable)".
func Memory(what string, need int64) error {
	avail, src, err := Available()
	if err != nil {
		return err
	}
	if need > avail {
		return fmt.Errorf("%s would need %s, more than the %s of memory available (%s)", what, Bytes(need), Bytes(avail), src)
	}
	return nil
}

// memAvailable reads MemAvailable from /proc/meminfo.
func memAvailable() (int64, bool) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemAvailable:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || kb < 0 {
				return 0, false
			}
			return Mul(kb, 1024), true
		}
	}
	return 0, false
}

// cgroupRoom is the cgroup memory limit minus the current usage, from
// cgroup v2 (memory.max, memory.current) or v1 (memory.limit_in_bytes,
// memory.usage_in_bytes), for the process's own cgroup.
func cgroupRoom() (int64, bool) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var dirs []string
		var limitFile, usageFile string
		switch {
		case parts[0] == "0" && parts[1] == "": // v2
			dirs = []string{filepath.Join("/sys/fs/cgroup", parts[2]), "/sys/fs/cgroup"}
			limitFile, usageFile = "memory.max", "memory.current"
		case strings.Contains(","+parts[1]+",", ",memory,"): // v1
			dirs = []string{filepath.Join("/sys/fs/cgroup/memory", parts[2]), "/sys/fs/cgroup/memory"}
			limitFile, usageFile = "memory.limit_in_bytes", "memory.usage_in_bytes"
		default:
			continue
		}
		for _, d := range dirs {
			limit, ok1 := readInt(filepath.Join(d, limitFile))
			usage, ok2 := readInt(filepath.Join(d, usageFile))
			if ok1 && ok2 {
				return max(limit-usage, 0), true
			}
		}
	}
	return 0, false
}

// readInt reads a file holding one integer; "max" (no limit) is not one.
func readInt(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return v, err == nil && v >= 0
}

// ParseBytes reads a byte size: a plain count ("536870912") or a number
// with a unit, binary (KiB, MiB, GiB, TiB; K, M, G, T) or decimal (KB, MB,
// GB, TB). It must be positive and below 2^62.
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   float64
	}{
		{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"TIB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1},
	}
	mult := 1.0
	up := strings.ToUpper(t)
	for _, u := range units {
		if strings.HasSuffix(up, u.suffix) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || !(v > 0) || v*mult >= 1<<62 {
		return 0, fmt.Errorf("%q is not a positive size like 2GiB or 512MiB", s)
	}
	return int64(v * mult), nil
}
