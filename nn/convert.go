package nn

import (
	"fmt"
	"math"
	"slices"

	"github.com/golora/golora/tensor"
)

// Storage says how the weights of frozen Linear layers are stored: a base
// for LoRA in bf16 or fp16 (half the bytes), int8 (row-wise absmax, about
// a quarter) or NF4 (bitsandbytes' 4-bit NormalFloat, about an eighth),
// widened to f32 inside the GEMM's packing. Int8 keeps one scale per
// stored row: per output of a torch Linear's [out, in] weight (as
// bitsandbytes), per input of a fan_in_fan_out [in, out] one. NF4 blocks
// run over the flattened weight, as bitsandbytes quantises it.
type Storage struct {
	DType tensor.DType
	// DoubleQuant also quantises NF4's block absmax values to 8 bits
	// (bitsandbytes' bnb_4bit_use_double_quant); NF4 only.
	DoubleQuant bool
	// Keep names modules whose weight a quantised dtype (int8, NF4) leaves
	// as it is, as bitsandbytes' llm_int8_skip_modules (transformers keeps
	// the output head that way). Linears with Conv set are kept too:
	// bitsandbytes replaces only torch.nn.Linear. The float dtypes (bf16,
	// fp16) convert every frozen Linear, as torch_dtype does.
	Keep []string
}

// String is the storage's name: "f32", "bf16", "fp16", "int8", "nf4" or
// "nf4-dq" (double quantisation), as golora's flags spell it.
func (s Storage) String() string { return StorageName(s.DType, s.DoubleQuant) }

// StorageName is Storage.String of a dtype and a double-quantisation flag.
func StorageName(dt tensor.DType, doubleQuant bool) string {
	switch dt {
	case tensor.F16:
		return "fp16"
	case tensor.NF4:
		if doubleQuant {
			return "nf4-dq"
		}
	}
	return lower(dt.String())
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Validate reports a storage that cannot be made.
func (s Storage) Validate() error {
	if !slices.Contains(tensor.DTypes, s.DType) {
		return fmt.Errorf("nn: unknown weight dtype %v", s.DType)
	}
	if s.DoubleQuant && s.DType != tensor.NF4 {
		return fmt.Errorf("nn: double quantisation is for NF4 weights, not %v", s.DType)
	}
	return nil
}

// converts reports whether s stores l's (frozen) weight in s.DType.
func (s Storage) converts(l *Linear) bool {
	if l.Weight.Trainable {
		return false
	}
	if s.DType.Quantized() && (l.Conv || slices.Contains(s.Keep, l.Name())) {
		return false
	}
	v := l.Weight.Value
	return v.DType() != s.DType || s.DType == tensor.NF4 && v.DoubleQuant() != s.DoubleQuant
}

// ConvertFrozenLinears stores the weight of every frozen Linear under root
// as s says (see Storage) and returns the bytes saved (negative when
// widening; s.DType F32 dequantises everything back). Trainable weights,
// biases and every other parameter stay as they are, so call it after
// deciding what trains: only f32 weights train.
//
// Quantising a weight that holds a NaN or an infinity is an error (its
// whole block or row would dequantise to garbage); nothing is converted
// then.
func ConvertFrozenLinears(root Module, s Storage) (int64, error) {
	if err := s.Validate(); err != nil {
		return 0, err
	}
	var todo []*Linear
	_ = Walk(root, func(m Module) error {
		if l, ok := m.(*Linear); ok && s.converts(l) {
			todo = append(todo, l)
		}
		return nil
	})
	if s.DType.Quantized() {
		for _, l := range todo {
			if i, v, bad := nonFinite(l.Weight.Value); bad {
				return 0, fmt.Errorf("nn: cannot quantise %s to %v: value %d is %v", l.Weight.Name, s, i, v)
			}
		}
	}
	var saved int64
	for _, l := range todo {
		before := l.Weight.Value.Bytes()
		l.Weight.Value = l.Weight.Value.Quantize(s.DType, s.DoubleQuant)
		saved += before - l.Weight.Value.Bytes()
	}
	return saved, nil
}

// nonFinite finds the first NaN or infinite value of t.
func nonFinite(t *tensor.Tensor) (int, float32, bool) {
	buf := make([]float32, min(t.Len(), 1<<14))
	for off := 0; off < t.Len(); off += len(buf) {
		chunk := buf[:min(len(buf), t.Len()-off)]
		t.Dequantize(chunk, off)
		for i, v := range chunk {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return off + i, v, true
			}
		}
	}
	return 0, 0, false
}
