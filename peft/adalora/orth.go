package adalora

import (
	"math"

	"github.com/golora/golora/memory"
	"github.com/golora/golora/nn"
)

// Regularize adds PEFT's orthogonal regulariser to the gradients of every
// lora_A and lora_B and returns its value:
//
//	R = orth_reg_weight · (1/N) · Σ ( ‖A·Aᵀ − I‖_F + ‖Bᵀ·B − I‖_F )
//
// over the N = 2·layers factor matrices (AdaLoraModel.forward adds R to the
// loss). The gradient of ‖C‖_F with C = A·Aᵀ − I is 2·C·A/‖C‖_F, and
// 2·B·C/‖C‖_F with C = Bᵀ·B − I; a matrix with C = 0 contributes no
// gradient. Call it once per optimizer step, after the backward passes:
// the Trainer divides each micro-batch's loss by the accumulation steps, so
// the regulariser, equal in every micro-batch, is counted once.
func (m *Model) Regularize() float64 {
	w := m.cfg.OrthRegWeight
	if k := m.maxRank(); len(m.gram) < k*k {
		m.gram = memory.AllocFloat64(memory.Workspace, k*k)
	}
	var sum float64
	n := 0
	for _, l := range m.layers {
		if l.r == 0 {
			n += 2 // PEFT counts the empty factors too; their norm is 0
			continue
		}
		sum += orthTerm(m.gram, l.A.Value.F32(), l.r, l.Base.In, true, gradOf(l.A), 0)
		sum += orthTerm(m.gram, l.B.Value.F32(), l.Base.Out, l.r, false, gradOf(l.B), 0)
		n += 2
	}
	if n == 0 || w == 0 {
		m.regLoss = 0
		return 0
	}
	scale := w / float64(n)
	// Second pass with the gradient scale known.
	for _, l := range m.layers {
		if l.r == 0 {
			continue
		}
		orthTerm(m.gram, l.A.Value.F32(), l.r, l.Base.In, true, gradOf(l.A), scale)
		orthTerm(m.gram, l.B.Value.F32(), l.Base.Out, l.r, false, gradOf(l.B), scale)
	}
	m.regLoss = scale * sum
	return m.regLoss
}

// gradOf is p's gradient, or nil when p is frozen.
func gradOf(p *nn.Param) []float32 {
	if p.Grad == nil {
		return nil
	}
	return p.Grad.F32()
}

// maxRank is the largest rank of the layers: the Gram matrices are at most
// maxRank².
func (m *Model) maxRank() int {
	k := 0
	for _, l := range m.layers {
		k = max(k, l.r)
	}
	return k
}

// orthTerm returns ‖C − I‖_F for a [rows, cols] matrix x, with C = x·xᵀ
// (rowsGram, A's case) or xᵀ·x (B's case), and adds scale·∂‖C − I‖/∂x
// into g when scale != 0 and g != nil. Sums run in float64; C is kept in
// gram (at least k² values for the k×k Gram matrix).
func orthTerm(gram []float64, x []float32, rows, cols int, rowsGram bool, g []float32, scale float64) float64 {
	k := cols // size of the Gram matrix
	if rowsGram {
		k = rows
	}
	c := gram[:k*k]
	for i := 0; i < k; i++ {
		for j := i; j < k; j++ {
			var s float64
			if rowsGram {
				a, b := x[i*cols:(i+1)*cols], x[j*cols:(j+1)*cols]
				for t := range a {
					s += float64(a[t]) * float64(b[t])
				}
			} else {
				for t := 0; t < rows; t++ {
					s += float64(x[t*cols+i]) * float64(x[t*cols+j])
				}
			}
			if i == j {
				s--
			}
			c[i*k+j], c[j*k+i] = s, s
		}
	}
	var fro float64
	for _, v := range c {
		fro += v * v
	}
	fro = math.Sqrt(fro)
	if scale == 0 || g == nil || fro == 0 {
		return fro
	}
	f := 2 * scale / fro
	if rowsGram { // g += f·C·A: row i of the gradient is Σ_j C[i,j]·A[j,:]
		for i := 0; i < rows; i++ {
			gi := g[i*cols : (i+1)*cols]
			for j := 0; j < rows; j++ {
				cij := f * c[i*k+j]
				if cij == 0 {
					continue
				}
				aj := x[j*cols : (j+1)*cols]
				for t := range gi {
					gi[t] += float32(cij * float64(aj[t]))
				}
			}
		}
		return fro
	}
	for t := 0; t < rows; t++ { // g += f·B·C: row t is Σ_i B[t,i]·C[i,:]
		bt, gt := x[t*cols:(t+1)*cols], g[t*cols:(t+1)*cols]
		for j := 0; j < cols; j++ {
			var s float64
			for i := 0; i < cols; i++ {
				s += float64(bt[i]) * c[i*k+j]
			}
			gt[j] += float32(f * s)
		}
	}
	return fro
}
