package nn

import (
	"slices"

	"github.com/golora/golora/memory"
	"github.com/golora/golora/tensor"
)

// ReuseAs returns an f32 tensor of the given shape, reusing buf's storage
// when it is large enough so that steady-state steps allocate nothing; a new
// buffer is counted in category c (memory.Activations for what a forward
// writes and its backward may read, memory.Workspace for the rest). The
// contents are unspecified; callers overwrite or clear them.
func ReuseAs(c memory.Category, buf *tensor.Tensor, shape ...int) *tensor.Tensor {
	n := tensor.NumElems(shape)
	if buf != nil && buf.DType() == tensor.F32 && cap(buf.F32()) >= n {
		if slices.Equal(buf.Shape(), shape) {
			return buf // not even a new header: a step makes no garbage here
		}
		return tensor.FromF32(buf.F32()[:n], shape...)
	}
	return memory.Tensor(c, shape...)
}

// Reuse is ReuseAs(memory.Workspace, ...).
func Reuse(buf *tensor.Tensor, shape ...int) *tensor.Tensor {
	return ReuseAs(memory.Workspace, buf, shape...)
}

// withLast returns shape with its last dimension replaced by d.
func withLast(shape []int, d int) []int {
	s := append([]int(nil), shape...)
	s[len(s)-1] = d
	return s
}

// OutputBuffer returns a module's output buffer of the given shape: *kept
// (an activation) or, when transient, *temp (workspace, which a model's
// blocks hand on, so one serves them all; see the package doc). The unused
// one is left alone: it may be a buffer that the module only carries for
// the next block.
func OutputBuffer(kept, temp **tensor.Tensor, transient bool, shape ...int) *tensor.Tensor {
	if transient {
		*temp = ReuseAs(memory.Workspace, *temp, shape...)
		return *temp
	}
	*kept = ReuseAs(memory.Activations, *kept, shape...)
	return *kept
}
