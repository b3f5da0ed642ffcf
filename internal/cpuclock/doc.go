// Package cpuclock reads the calling OS thread's CPU clock: unlike the wall
// clock it does not advance while another process holds the core, so
// benchmarks and the planner's calibration on a shared machine time the work,
// not the wait. Callers pin the goroutine (runtime.LockOSThread) around a
// measurement.
package cpuclock
