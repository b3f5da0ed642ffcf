package tensor

import (
	"fmt"
	"strings"
)

// DType is a storage element type.
type DType uint8

const (
	// F32 is IEEE-754 binary32, the compute type.
	F32 DType = iota + 1
	// BF16 is bfloat16: the top 16 bits of a binary32, rounded to nearest even.
	BF16
	// F16 is IEEE-754 binary16, rounded to nearest even.
	F16
	// Int8 is int8 with one f32 absmax scale per row (LLM.int8-style).
	Int8
	// NF4 is bitsandbytes' 4-bit NormalFloat in blocks of 64 with an absmax
	// per block, optionally double-quantised (see NF4Data).
	NF4
)

// String returns the dtype's name: the safetensors spelling for the plain
// types ("F32", "BF16", "F16"), "INT8" and "NF4" for the quantised ones.
func (d DType) String() string {
	switch d {
	case F32:
		return "F32"
	case BF16:
		return "BF16"
	case F16:
		return "F16"
	case Int8:
		return "INT8"
	case NF4:
		return "NF4"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// DTypes lists every dtype, in the order reports print them.
var DTypes = []DType{F32, BF16, F16, Int8, NF4}

// Quantized reports whether values are stored as codes with scales (Int8,
// NF4) rather than as floats.
func (d DType) Quantized() bool { return d == Int8 || d == NF4 }

// Size returns the bytes one element occupies; it panics for NF4 (half a
// byte plus block scales: use Tensor.Bytes or StorageBytes).
func (d DType) Size() int {
	switch d {
	case F32:
		return 4
	case BF16, F16:
		return 2
	case Int8:
		return 1
	}
	panic(fmt.Sprintf("tensor: Size of dtype %v (use StorageBytes)", d))
}

// StorageBytes is the bytes a tensor of the given shape takes in dtype d,
// scales included, exactly as New and To store it (Int8: a 4-byte scale per
// row of the first dimension; NF4 as NF4Bytes).
func StorageBytes(d DType, doubleQuant bool, shape ...int) int64 {
	n := NumElems(shape)
	switch d {
	case NF4:
		return NF4Bytes(n, doubleQuant)
	case Int8:
		rows := 1
		if len(shape) > 0 {
			rows = shape[0]
		}
		if n == 0 {
			rows = 0
		}
		return int64(n) + 4*int64(rows)
	}
	return int64(n) * int64(d.Size())
}

// ParseDType accepts f32/float32/fp32, bf16/bfloat16, f16/fp16/float16,
// int8 and nf4, in any case.
func ParseDType(s string) (DType, error) {
	switch strings.ToLower(s) {
	case "f32", "float32", "fp32":
		return F32, nil
	case "bf16", "bfloat16":
		return BF16, nil
	case "f16", "fp16", "float16", "half":
		return F16, nil
	case "int8", "i8":
		return Int8, nil
	case "nf4":
		return NF4, nil
	}
	return 0, fmt.Errorf("unknown dtype %q (want f32, bf16, fp16, int8 or nf4)", s)
}
