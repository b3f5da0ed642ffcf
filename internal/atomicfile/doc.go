// Package atomicfile replaces files so that a crash or a failed write never
// leaves a half-written file behind: readers see either the old content or
// the new, complete one.
//
// The new content goes to a temporary file in the destination's directory
// (so the final rename stays on one file system and is atomic), which is
// flushed to disk, renamed over the destination, and followed by an fsync of
// the directory so that the rename itself survives a power loss.
package atomicfile
