package nn

import (
	"fmt"

	"github.com/golora/golora/tensor"
)

// Kernel is a kind of work a step runs, for the planner's time estimate:
// each corresponds to a function of package kernels.
type Kernel uint8

// The kernels. Sizes are in Op: a GEMM's M, N, K; a row kernel's rows (M)
// and columns (N); an elementwise kernel's N values.
const (
	OpGemm                 Kernel = iota // kernels.Gemm, split over the pool
	OpGemmBatch                          // Batch products by kernels.GemmSerial under ParallelFor (attention's heads)
	OpAddBias                            // rows × cols
	OpBiasBackward                       // rows × cols
	OpAdd                                // y = a + b, N values
	OpAddTo                              // y += x, N values
	OpCopy                               // N values (also gathers and scatters of rows)
	OpClear                              // N values set to zero
	OpDropout                            // kernels.DropoutForward or DropoutBackward, N values
	OpLayerNorm                          // rows × cols
	OpLayerNormBackward                  // rows × cols
	OpSoftmax                            // rows × cols (Causal)
	OpSoftmaxBackward                    // rows × cols
	OpGELU                               // N values, erf form
	OpGELUBackward                       // N values
	OpGELUTanh                           // N values, tanh approximation
	OpGELUTanhBackward                   // N values
	OpReLU                               // N values
	OpReLUBackward                       // N values
	OpCrossEntropy                       // rows × cols
	OpCrossEntropyBackward               // rows × cols
	OpAdamW                              // N values
	OpSiLU                               // N values
	OpSiLUBackward                       // N values
	OpTanh                               // N values
	OpTanhBackward                       // N values
	OpRMSNorm                            // rows × cols
	OpRMSNormBackward                    // rows × cols
	OpSwiGLU                             // N values: silu(gate) ⊙ up
	OpSwiGLUBackward                     // N values
	OpRotary                             // rows (tokens) × cols (heads·d), in place
	NumKernels
)

var kernelNames = [NumKernels]string{"gemm", "gemm-batch", "add-bias", "bias-backward", "add", "add-to", "copy", "clear",
	"dropout", "layernorm", "layernorm-backward", "softmax", "softmax-backward", "gelu", "gelu-backward",
	"gelu-tanh", "gelu-tanh-backward", "relu", "relu-backward", "cross-entropy", "cross-entropy-backward", "adamw",
	"silu", "silu-backward", "tanh", "tanh-backward", "rmsnorm", "rmsnorm-backward", "swiglu", "swiglu-backward", "rotary"}

// String is the kernel's short name.
func (k Kernel) String() string {
	if k >= NumKernels {
		return fmt.Sprintf("Kernel(%d)", int(k))
	}
	return kernelNames[k]
}

// Op is one call of a kernel with its sizes: what the planner times on
// the running machine. Ops are comparable, so a step's work is a count per
// distinct Op (Cost.Ops).
type Op struct {
	Kernel  Kernel
	M, N, K int
	// GEMM only: transposes, the row strides of A, B and C as stored (the
	// dense ones when 0), the storage dtypes of A and B (a frozen weight's;
	// 0 is f32), and for OpGemmBatch how many products run.
	TransA, TransB bool
	LdA, LdB, LdC  int
	AType, BType   tensor.DType
	DoubleQuant    bool // the NF4 operand is double-quantised
	Batch          int
	// OpSoftmax only.
	Causal bool
}

// GemmOp is a Gemm of op(A) m×k by op(B) k×n with dense f32 operands.
func GemmOp(transA, transB bool, m, n, k int) Op {
	return Op{Kernel: OpGemm, M: m, N: n, K: k, TransA: transA, TransB: transB, BType: tensor.F32}
}

// Elementwise is an Op of kernel k over n values.
func Elementwise(k Kernel, n int) Op { return Op{Kernel: k, N: n} }

// Rows is an Op of row kernel k over rows × cols.
func Rows(k Kernel, rows, cols int) Op { return Op{Kernel: k, M: rows, N: cols} }

// Calls is how many kernel calls one Op stands for (OpGemmBatch: Batch).
func (o Op) Calls() int64 {
	if o.Kernel == OpGemmBatch {
		return int64(o.Batch)
	}
	return 1
}

// FLOPs is 2·M·N·K per product for a GEMM (times Batch), 0 otherwise.
func (o Op) FLOPs() int64 {
	switch o.Kernel {
	case OpGemm:
		return gemm(o.M, o.N, o.K)
	case OpGemmBatch:
		return int64(o.Batch) * gemm(o.M, o.N, o.K)
	}
	return 0
}

// String describes the op ("gemm 1576x192x768 NT bf16").
func (o Op) String() string {
	switch o.Kernel {
	case OpGemm, OpGemmBatch:
		t := func(b bool) string {
			if b {
				return "T"
			}
			return "N"
		}
		s := fmt.Sprintf("%v %dx%dx%d %s%s", o.Kernel, o.M, o.N, o.K, t(o.TransA), t(o.TransB))
		if o.Kernel == OpGemmBatch {
			s = fmt.Sprintf("%s x%d", s, o.Batch)
		}
		if o.AType != 0 && o.AType != tensor.F32 {
			s += " A:" + o.AType.String()
		}
		if o.BType != 0 && o.BType != tensor.F32 {
			s += " " + o.BType.String()
		}
		if o.DoubleQuant {
			s += "-dq"
		}
		return s
	case OpAddBias, OpBiasBackward, OpLayerNorm, OpLayerNormBackward, OpSoftmax, OpSoftmaxBackward, OpCrossEntropy, OpCrossEntropyBackward, OpRMSNorm, OpRMSNormBackward, OpRotary:
		return fmt.Sprintf("%v %dx%d", o.Kernel, o.M, o.N)
	}
	return fmt.Sprintf("%v %d", o.Kernel, o.N)
}

// Run declares that the step runs op n times (a GEMM op's FLOPs are
// counted in Forward, BackwardDX or BackwardDW by the caller as before).
func (c *Cost) Run(op Op, n int64) {
	if n == 0 {
		return
	}
	m := make(map[Op]int64, len(c.Ops)+1)
	for k, v := range c.Ops {
		m[k] = v
	}
	m[op] += n
	c.Ops = m
}

// Ran is Run(op, 1).
func (c *Cost) Ran(op Op) { c.Run(op, 1) }

// Restorable declares that Restore would run op once (see Cost.Restores).
func (c *Cost) Restorable(op Op) {
	m := make(map[Op]int64, len(c.Restores)+1)
	for k, v := range c.Restores {
		m[k] = v
	}
	m[op]++
	c.Restores = m
}

// addOps returns a + b, counts of the same op added.
func addOps(a, b map[Op]int64) map[Op]int64 {
	if len(b) == 0 {
		return a
	}
	m := make(map[Op]int64, len(a)+len(b))
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] += v
	}
	return m
}

// ScaleOps returns ops with every count multiplied by n.
func ScaleOps(ops map[Op]int64, n int64) map[Op]int64 {
	m := make(map[Op]int64, len(ops))
	for k, v := range ops {
		m[k] = v * n
	}
	return m
}

// AddOps returns a + b (new map): counts of the same op add up.
func AddOps(a, b map[Op]int64) map[Op]int64 { return addOps(addOps(nil, a), b) }
