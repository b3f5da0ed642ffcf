package optim

import (
	"errors"
	"fmt"
	"math"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/nn"
)

// ErrNonFiniteNorm reports a NaN or infinite gradient norm (see
// ClipGradNorm).
var ErrNonFiniteNorm = errors.New("optim: gradient norm is not finite")

// GradNorm returns the L2 norm of all gradients of params together (those
// without a gradient count nothing), accumulated in float64.
func GradNorm(params []*nn.Param) float64 {
	var s float64
	for _, p := range params {
		if p.Grad == nil {
			continue
		}
		s += sumSquares(p.Grad.F32())
	}
	return math.Sqrt(s)
}

// SumSquares returns Σ x² accumulated in float64 exactly as GradNorm does
// it, for norms assembled from parts of gradients (sharded ones).
func SumSquares(x []float32) float64 { return sumSquares(x) }

// sumSquares returns Σ x² in float64, four accumulators wide.
func sumSquares(x []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		a, b, c, d := float64(v[0]), float64(v[1]), float64(v[2]), float64(v[3])
		s0 += a * a
		s1 += b * b
		s2 += c * c
		s3 += d * d
	}
	for ; i < len(x); i++ {
		a := float64(x[i])
		s0 += a * a
	}
	return (s0 + s1) + (s2 + s3)
}

// ClipGradNorm is torch.nn.utils.clip_grad_norm_ with the L2 norm: it
// returns the total norm of all gradients and, when
// maxNorm/(total + 1e-6) < 1, scales every gradient by that factor.
//
// A NaN or infinite total is returned with an error wrapping
// ErrNonFiniteNorm and the gradients left untouched, so the caller can skip
// the step (torch would scale them all into NaN). maxNorm must be positive.
func ClipGradNorm(params []*nn.Param, maxNorm float64) (float64, error) {
	if !(maxNorm > 0) || math.IsInf(maxNorm, 0) {
		return 0, fmt.Errorf("optim: invalid max gradient norm %v (want a positive number)", maxNorm)
	}
	total := GradNorm(params)
	if math.IsNaN(total) || math.IsInf(total, 0) {
		return total, fmt.Errorf("%w: %v", ErrNonFiniteNorm, total)
	}
	if c := maxNorm / (total + 1e-6); c < 1 {
		for _, p := range params {
			if p.Grad != nil {
				kernels.Scale(p.Grad.F32(), float32(c))
			}
		}
	}
	return total, nil
}
