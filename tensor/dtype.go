package tensor

import "fmt"

// DType is a storage element type.
type DType uint8

const (
	// F32 is IEEE-754 binary32, the compute type.
	F32 DType = iota + 1
	// BF16 is bfloat16: the top 16 bits of a binary32, rounded to nearest even.
	BF16
)

// String returns the safetensors spelling of d ("F32", "BF16").
func (d DType) String() string {
	switch d {
	case F32:
		return "F32"
	case BF16:
		return "BF16"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Size returns the bytes one element occupies.
func (d DType) Size() int {
	switch d {
	case F32:
		return 4
	case BF16:
		return 2
	}
	panic(fmt.Sprintf("tensor: Size of unknown dtype %d", uint8(d)))
}

// ParseDType accepts "f32", "float32", "bf16", "bfloat16" in any case.
func ParseDType(s string) (DType, error) {
	switch s {
	case "f32", "F32", "float32", "fp32":
		return F32, nil
	case "bf16", "BF16", "bfloat16":
		return BF16, nil
	}
	return 0, fmt.Errorf("unknown dtype %q (want f32 or bf16)", s)
}
