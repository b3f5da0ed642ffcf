// Package cpuclock reads CPU clocks: the calling OS thread's (Thread) and the
// whole process's (Process). Unlike the wall clock they do not advance while
// another process holds the core, so benchmarks and the planner's
// calibration on a shared machine time the work, not the wait. Callers of
// Thread pin the goroutine (runtime.LockOSThread) around a measurement.
package cpuclock
