package sizecheck

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
)

// Int checks lo <= v <= hi. The error names the field and the range:
// "hidden_size 1000000 is out of range: want 1 to 65,536".
func Int(field string, v, lo, hi int64) error {
	if v < lo || v > hi {
		return fmt.Errorf("%s %d is out of range: want %s to %s", field, v, Count(lo), Count(hi))
	}
	return nil
}

// Float checks that v is finite and lo <= v <= hi.
func Float(field string, v, lo, hi float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < lo || v > hi {
		return fmt.Errorf("%s %v is out of range: want a finite value from %g to %g", field, v, lo, hi)
	}
	return nil
}

// Saturated is the value Mul and Add return when the exact result does not
// fit in an int64: larger than any file or memory.
const Saturated = math.MaxInt64

// Mul returns the product of non-negative factors, or Saturated if it
// overflows an int64. A negative factor is an error of the caller's bounds
// checks and also gives Saturated, so it can never pass a size check.
func Mul(factors ...int64) int64 {
	var p uint64 = 1
	for _, f := range factors {
		if f < 0 {
			return Saturated
		}
		hi, lo := bits.Mul64(p, uint64(f))
		if hi != 0 || lo > math.MaxInt64 {
			// A later zero factor still makes the product zero.
			for _, g := range factors {
				if g == 0 {
					return 0
				}
			}
			return Saturated
		}
		p = lo
	}
	return int64(p)
}

// Add returns the sum of non-negative terms, or Saturated if it overflows
// (or a term is negative).
func Add(terms ...int64) int64 {
	var s int64
	for _, t := range terms {
		if t < 0 || s > math.MaxInt64-t {
			return Saturated
		}
		s += t
	}
	return s
}

// Bytes formats a byte count for messages: "512 B", "3.0 KiB", "1.5 GiB",
// and "more than 8 EiB" for Saturated.
func Bytes(n int64) string {
	if n == Saturated {
		return "more than 8 EiB"
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v, u := float64(n), 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	if u == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", v, units[u])
}

// Count formats a count with thousands separators ("1,000,000"), and
// Saturated as "more than 9.2e18".
func Count(n int64) string {
	if n == Saturated {
		return "more than 9.2e18"
	}
	if n < 0 {
		return "-" + Count(-n)
	}
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
