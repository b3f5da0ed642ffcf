// Package safetensors reads and writes the Hugging Face safetensors format
// strictly.
//
// A file is an 8-byte little-endian header length N, N bytes of UTF-8 JSON,
// and a byte buffer. The JSON object maps each tensor name to
// {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the
// buffer's start) and may hold "__metadata__", a map of strings to strings.
//
// Parse checks everything the reference Rust implementation checks, and
// says which tensor is wrong: the header is at most 100,000,000 bytes and
// fits in the file, is valid UTF-8 and JSON with an object at the top, each
// dtype is known, shapes and offsets are non-negative integers, the byte
// length of each tensor equals its element count times its dtype size, and
// the tensors, sorted by offset, tile the buffer exactly: no overlap, no
// hole, nothing after the last tensor. Duplicate keys, which the format
// disallows, are rejected too. No allocation depends on a number read from
// the file, only on the file's length, so a lying header cannot exhaust
// memory.
//
// Save writes what the reference writer writes, byte for byte: tensors
// ordered by dtype alignment (largest first) and then by name, compact JSON
// with "__metadata__" first, and the header padded with spaces to a
// multiple of 8 bytes so that every tensor starts 8-byte aligned. The one
// freedom taken: metadata keys are sorted (the reference writes them in
// hash-map order, which varies from run to run).
package safetensors
