package lora

import (
	"math"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// DoRA (Liu et al. 2024) as PEFT's DoraLinearLayer and DoraLinearVariant:
// the adapted weight is m ⊙ (W + s·B·A) / ‖W + s·B·A‖, one norm per output
// row (per column of a fan_in_fan_out weight), with the magnitude m
// trainable (lora_magnitude_vector, initialised to the norm itself) and the
// norm detached from the gradient (DoRA §4.3). With c = m/‖·‖ the layer
// adds to the base output
//
//	(c − 1)⊙(W·x̃) + c⊙(s·B·A·x̃)
//
// where x̃ is the LoRA dropout's output. Without dropout (or in evaluation)
// x̃ = x and W·x̃ is the base result minus its bias (PEFT PR #2122): the
// output is c⊙(W·x + s·B·A·x) + b, with no extra product. With dropout in
// training PEFT multiplies the dropped-out input by W once more: so do we.
//
// Forward saves z = W·x̃ + s·B·A·x̃ [n, out] (one buffer where autograd
// keeps two), c and the norm; backward is
//
//	dz = c⊙dy,  dm = Σ_rows dy⊙z / ‖·‖,  dB = s·dzᵀ·h,  dh = s·dz·B,
//	dA = dhᵀ·x̃,  dx = dy·W + drop′((c − 1)⊙dy·W + dh·A)
//
// and without dropout dx = dz·W + dh·A (one product with W, as plain LoRA).
//
// The norm is never materialised as W + s·B·A: per row,
//
//	‖W_j + s·(BA)_j‖² = ‖W_j‖² + 2s·Σ_k B_jk·(W·Aᵀ)_jk + s²·Σ_k B_jk·(B·A·Aᵀ)_jk
//
// which costs the products W·Aᵀ (out·in·r), A·Aᵀ (r²·in) and B·(A·Aᵀ)
// (out·r²) and [out, r] workspace, where PEFT builds the [out, in] matrix
// (out·in·r for B·A plus an out·in pass). The sums run in float64; the
// products are f32 GEMMs, so the norm carries f32 rounding of the order of
// PEFT's own f32 computation.

// isDoRA reports whether adapter a is a DoRA adapter.
func (a *adapter) isDoRA() bool { return a.M != nil }

// initMagnitude creates the magnitude vector m = ‖W + s·B·A‖ per output
// row with the current factors (PEFT's DoraLinearLayer.update_layer, run
// after the LoRA init, so a PiSSA base is already the residual).
func (l *Linear) initMagnitude(a *adapter, name string) {
	out, r := l.Base.Out, a.r
	a.M = nn.NewParam(l.Name()+".lora_magnitude_vector."+name+".weight", tensor.New(tensor.F32, out))
	// Scratch of its own: the layer's workspace is shared between blocks
	// and allocated by the first Forward.
	l.weightNorm(a, a.M.Value.F32(), make([]float32, out*r), make([]float32, out*r), make([]float32, r*r))
}

// normWorkspace returns the layer's workspace for weightNorm.
func (l *Linear) normWorkspace(out, r int) (p, q, g []float32) {
	l.wp = nn.ReuseAs(memory.Workspace, l.wp, out, r)
	l.wq = nn.ReuseAs(memory.Workspace, l.wq, out, r)
	l.wg = nn.ReuseAs(memory.Workspace, l.wg, r, r)
	return l.wp.F32(), l.wq.F32(), l.wg.F32()
}

// weightNorm writes ‖W + s·B·A‖ of every output row into dst [out], with
// scratch p, q [out, r] and g [r, r].
func (l *Linear) weightNorm(a *adapter, dst, p, q, g []float32) {
	in, out, r := l.Base.In, l.Base.Out, a.r
	s := float64(a.scale)
	av, bv := a.A.Value.F32(), a.B.Value.F32()
	// P = W·Aᵀ [out, r]; a fan_in_fan_out W is stored [in, out].
	kernels.Gemm(l.Base.FanInFanOut, true, out, r, in, 1, l.Base.WeightOperand(), kernels.F32Operand(av, in), 0, p, r)
	kernels.Sgemm(false, true, r, r, in, 1, av, in, av, in, 0, g, r) // G = A·Aᵀ
	kernels.Sgemm(false, false, out, r, r, 1, bv, r, g, r, 0, q, r)  // Q = B·G
	sq := l.rowSquares()
	for j := 0; j < out; j++ {
		bj, pj, qj := bv[j*r:(j+1)*r], p[j*r:(j+1)*r], q[j*r:(j+1)*r]
		var cross, quad float64
		for k, b := range bj {
			cross += float64(b) * float64(pj[k])
			quad += float64(b) * float64(qj[k])
		}
		n2 := sq[j] + 2*s*cross + s*s*quad
		dst[j] = float32(math.Sqrt(math.Max(n2, 0)))
	}
}

// rowSquares returns ‖W_j‖² of every output row, in float64. The weight
// is read in its storage dtype (a row at a time through workspace when it
// is not f32).
func (l *Linear) rowSquares() []float64 {
	in, out := l.Base.In, l.Base.Out
	if cap(l.sq) < out {
		l.sq = make([]float64, out)
	}
	sq := l.sq[:out]
	clear(sq)
	w := l.Base.Weight.Value
	rows, cols := out, in
	if l.Base.FanInFanOut {
		rows, cols = in, out
	}
	var buf []float32
	if w.DType() != tensor.F32 {
		l.wrow = nn.ReuseAs(memory.Workspace, l.wrow, cols)
		buf = l.wrow.F32()
	}
	for i := 0; i < rows; i++ {
		var row []float32
		if buf == nil {
			row = w.F32()[i*cols : (i+1)*cols]
		} else {
			w.Dequantize(buf, i*cols)
			row = buf
		}
		if l.Base.FanInFanOut { // row i holds input i of every output
			for j, v := range row {
				sq[j] += float64(v) * float64(v)
			}
			continue
		}
		var s float64
		for _, v := range row {
			s += float64(v) * float64(v)
		}
		sq[i] = s
	}
	return sq
}

// forwardDoRA finishes Forward for a DoRA adapter: y holds the base output
// W·x + b, xd the dropped-out input and l.h = xd·Aᵀ.
func (l *Linear) forwardDoRA(a *adapter, x *tensor.Tensor, xd []float32, y *tensor.Tensor) {
	in, out, r := l.Base.In, l.Base.Out, a.r
	n := x.Len() / in
	l.mn = nn.ReuseAs(memory.Activations, l.mn, 2, out)
	norm, c := l.mn.F32()[:out], l.mn.F32()[out:]
	if l.fixedNorm != nil {
		copy(norm, l.fixedNorm)
	} else {
		p, q, g := l.normWorkspace(out, a.r)
		l.weightNorm(a, norm, p, q, g)
	}
	for j, m := range a.M.Value.F32() {
		c[j] = m / norm[j]
	}
	l.z = nn.ReuseAs(memory.Activations, l.z, n, out)
	z, yv := l.z.F32(), y.F32()
	var bias []float32
	if l.Base.Bias != nil {
		bias = l.Base.Bias.Value.F32()
	}
	dropped := l.training && a.dropout != 0
	if dropped { // z = W·x̃ (no bias); y −= z
		kernels.Gemm(false, !l.Base.FanInFanOut, n, out, in, 1, kernels.F32Operand(xd, in), l.Base.WeightOperand(), 0, z, out)
		for i, v := range z {
			yv[i] -= v
		}
	} else { // z = y − b, the base result without its bias
		copy(z, yv)
		if bias != nil {
			for t := 0; t < n; t++ {
				zt := z[t*out : (t+1)*out]
				for j, b := range bias {
					zt[j] -= b
				}
			}
		}
	}
	kernels.Sgemm(false, true, n, out, r, a.scale, l.h.F32(), r, a.B.Value.F32(), r, 1, z, out) // z += s·h·Bᵀ
	for t := 0; t < n; t++ {
		zt, yt := z[t*out:(t+1)*out], yv[t*out:(t+1)*out]
		if dropped { // y += c⊙z
			for j, cj := range c {
				yt[j] += cj * zt[j]
			}
			continue
		}
		for j, cj := range c { // y = c⊙z + b
			yt[j] = cj * zt[j]
			if bias != nil {
				yt[j] += bias[j]
			}
		}
	}
}

// backwardDoRA is Backward for a DoRA adapter.
func (l *Linear) backwardDoRA(a *adapter, dy *tensor.Tensor) *tensor.Tensor {
	in, out, r := l.Base.In, l.Base.Out, a.r
	n := dy.Len() / out
	g := dy.F32()
	norm, c := l.mn.F32()[:out], l.mn.F32()[out:]
	z := l.z.F32()
	if a.M.Trainable { // dm_j += Σ_t dy_tj·z_tj / ‖·‖_j
		if cap(l.acc) < out {
			l.acc = make([]float64, out)
		}
		acc := l.acc[:out]
		clear(acc)
		for t := 0; t < n; t++ {
			gt, zt := g[t*out:(t+1)*out], z[t*out:(t+1)*out]
			for j := range acc {
				acc[j] += float64(gt[j]) * float64(zt[j])
			}
		}
		dm := a.M.Grad.F32()
		for j, v := range acc {
			dm[j] += float32(v) / norm[j]
		}
	}
	l.dz = nn.ReuseAs(memory.Workspace, l.dz, n, out)
	dz := l.dz.F32()
	for t := 0; t < n; t++ {
		gt, dt := g[t*out:(t+1)*out], dz[t*out:(t+1)*out]
		for j, cj := range c {
			dt[j] = cj * gt[j]
		}
	}
	if a.B.Trainable { // dB += s·dzᵀ·h
		kernels.Sgemm(true, false, out, r, n, a.scale, dz, out, l.h.F32(), r, 1, a.B.Grad.F32(), r)
	}
	var dh []float32
	if a.A.Trainable || l.needDX { // dh = s·dz·B
		l.dh = nn.ReuseAs(memory.Workspace, l.dh, n, r)
		dh = l.dh.F32()
		kernels.Sgemm(false, false, n, r, out, a.scale, dz, out, a.B.Value.F32(), r, 0, dh, r)
	}
	if a.A.Trainable { // dA += dhᵀ·x̃
		xd := l.dropped(l.x, a)
		kernels.Sgemm(true, false, r, in, n, 1, dh, r, xd, in, 1, a.A.Grad.F32(), in)
	}
	dropped := l.training && a.dropout != 0
	if !dropped && !l.Base.Weight.Trainable {
		// dx = dz·W + dh·A: the base layer multiplies by c⊙dy instead of dy;
		// its bias, if trained, still needs Σ dy, so add Σ (dy − dz).
		var bias []float32
		if l.Base.Bias != nil && l.Base.Bias.Trainable {
			l.colsum = nn.ReuseAs(memory.Workspace, l.colsum, out)
			bias = l.colsum.F32()
			clear(bias)
			kernels.BiasBackward(bias, g, n, out)
		}
		dx := l.Base.Backward(l.dz)
		if bias != nil {
			db := l.Base.Bias.Grad.F32()
			for j, s := range bias {
				db[j] += (1 - c[j]) * s
			}
		}
		if dx != nil {
			kernels.Sgemm(false, false, n, in, r, 1, dh, r, a.A.Value.F32(), in, 1, dx.F32(), in)
		}
		return dx
	}
	// dx = dy·W (the base's own backward, bias and all) plus, through the
	// dropout, (c − 1)⊙dy·W + dh·A.
	dx := l.Base.Backward(dy)
	if dx == nil {
		return nil
	}
	for i := range dz { // dz ← (c − 1)⊙dy
		dz[i] -= g[i]
	}
	l.tmp = nn.ReuseAs(memory.Workspace, l.tmp, n, in)
	tmp := l.tmp.F32()
	kernels.Gemm(false, l.Base.FanInFanOut, n, in, out, 1, kernels.F32Operand(dz, out), l.Base.WeightOperand(), 0, tmp, in)
	kernels.Sgemm(false, false, n, in, r, 1, dh, r, a.A.Value.F32(), in, 1, tmp, in)
	if dropped {
		kernels.DropoutBackward(dx.F32(), tmp, a.dropout, l.seed, nn.ShardOffset(l.shard, len(tmp)))
	} else {
		kernels.AddTo(dx.F32(), tmp)
	}
	return dx
}

// mergeDoRA folds a DoRA adapter into w: W ← (m/‖W + ΔW‖)⊙(W + ΔW) per
// output row, keeping the norm for unmergeDoRA (PEFT caches it because the
// merged weight no longer gives it).
func (l *Linear) mergeDoRA(w []float32, a *adapter) {
	l.deltaInto(w, a, 1)
	in, out := l.Base.In, l.Base.Out
	norm := make([]float32, out)
	sq := make([]float64, out)
	for i := 0; i < out*in; i++ {
		j := i / in // output row
		if l.Base.FanInFanOut {
			j = i % out
		}
		sq[j] += float64(w[i]) * float64(w[i])
	}
	for j, v := range sq {
		norm[j] = float32(math.Sqrt(v))
	}
	a.mergedNorm = norm
	l.scaleRows(w, a.M.Value.F32(), norm, false)
}

// unmergeDoRA undoes mergeDoRA: W ← W/(m/‖·‖) − ΔW with the cached norm.
func (l *Linear) unmergeDoRA(w []float32, a *adapter) {
	l.scaleRows(w, a.M.Value.F32(), a.mergedNorm, true)
	a.mergedNorm = nil
	l.deltaInto(w, a, -1)
}

// scaleRows multiplies (or divides) every output row of w by m/norm.
func (l *Linear) scaleRows(w, m, norm []float32, divide bool) {
	in, out := l.Base.In, l.Base.Out
	for i := 0; i < out*in; i++ {
		j := i / in
		if l.Base.FanInFanOut {
			j = i % out
		}
		f := m[j] / norm[j]
		if divide {
			w[i] /= f
		} else {
			w[i] *= f
		}
	}
}

// planDoRA is the DoRA part of Plan for n rows beyond the base layer, h
// and the dropped input: the activations z, the norm and c; the norm's
// workspace and products; the update and every backward product; dz, the
// bias correction and, with dropout, the extra products with W.
func (l *Linear) planDoRA(a *adapter, n int, backward bool) nn.Cost {
	in, out, r := l.Base.In, l.Base.Out, a.r
	var k nn.Cost
	k.Bytes[memory.Activations] += 4 * int64(n*out+2*out)
	k.Bytes[memory.Workspace] += 4 * int64(2*out*r+r*r)
	if l.Base.Weight.Value.DType() != tensor.F32 {
		cols := in
		if l.Base.FanInFanOut {
			cols = out
		}
		k.Bytes[memory.Workspace] += 4 * int64(cols)
	}
	norm := nn.GemmFLOPs(out, r, in) + nn.GemmFLOPs(r, r, in) + nn.GemmFLOPs(out, r, r)
	k.Forward = norm + nn.GemmFLOPs(n, out, r)
	k.LowRank = k.Forward
	// The ops, for the step time. The passes over [n, out] that DoRA runs
	// as plain loops (scaling by c, the bias, dm) are declared as adds of
	// the same size, and ‖W_j‖² (one pass over the weight) as a copy: an
	// approximation of their cost.
	w, dq := l.Base.Weight.Value.DType(), l.Base.Weight.Value.DoubleQuant()
	k.Ran(nn.Op{Kernel: nn.OpGemm, M: out, N: r, K: in, TransA: l.Base.FanInFanOut, TransB: true, AType: w, BType: tensor.F32, DoubleQuant: dq})
	k.Ran(nn.GemmOp(false, true, r, r, in))
	k.Ran(nn.GemmOp(false, false, out, r, r))
	k.Ran(nn.Elementwise(nn.OpCopy, out*in))
	k.Ran(nn.GemmOp(false, true, n, out, r))
	dropped := l.training && a.dropout != 0
	if dropped {
		k.Forward += nn.GemmFLOPs(n, out, in)
		k.Ran(nn.Op{Kernel: nn.OpGemm, M: n, N: out, K: in, TransB: !l.Base.FanInFanOut, BType: w, DoubleQuant: dq})
	} else {
		k.Ran(nn.Elementwise(nn.OpCopy, n*out))
	}
	k.Run(nn.Elementwise(nn.OpAdd, n*out), 2)
	if !backward {
		return k
	}
	k.Bytes[memory.Workspace] += 4 * int64(n*out)
	if a.M.Trainable {
		k.Ran(nn.Elementwise(nn.OpAdd, n*out))
	}
	k.Ran(nn.Elementwise(nn.OpAdd, n*out)) // dz = c⊙dy
	if a.B.Trainable {
		k.BackwardDW += nn.GemmFLOPs(out, r, n)
		k.LowRank += nn.GemmFLOPs(out, r, n)
		k.Ran(nn.GemmOp(true, false, out, r, n))
	}
	if a.A.Trainable || l.needDX {
		k.Bytes[memory.Workspace] += 4 * int64(n*r)
		k.BackwardDX += nn.GemmFLOPs(n, r, out)
		k.LowRank += nn.GemmFLOPs(n, r, out)
		k.Ran(nn.GemmOp(false, false, n, r, out))
	}
	if a.A.Trainable {
		k.BackwardDW += nn.GemmFLOPs(r, in, n)
		k.LowRank += nn.GemmFLOPs(r, in, n)
		if dropped {
			k.Ran(nn.Elementwise(nn.OpDropout, n*in))
		}
		k.Ran(nn.GemmOp(true, false, r, in, n))
	}
	if !dropped && !l.Base.Weight.Trainable {
		if l.Base.Bias != nil && l.Base.Bias.Trainable {
			k.Bytes[memory.Workspace] += 4 * int64(out)
			k.Ran(nn.Rows(nn.OpBiasBackward, n, out))
		}
		if l.Base.InputGrad() {
			k.BackwardDX += nn.GemmFLOPs(n, in, r)
			k.LowRank += nn.GemmFLOPs(n, in, r)
			k.Ran(nn.GemmOp(false, false, n, in, r))
		}
		return k
	}
	if l.Base.InputGrad() {
		k.Bytes[memory.Workspace] += 4 * int64(n*in)
		k.BackwardDX += nn.GemmFLOPs(n, in, out) + nn.GemmFLOPs(n, in, r)
		k.LowRank += nn.GemmFLOPs(n, in, r)
		k.Ran(nn.Elementwise(nn.OpAdd, n*out)) // dz ← (c − 1)⊙dy
		k.Ran(nn.Op{Kernel: nn.OpGemm, M: n, N: in, K: out, TransB: l.Base.FanInFanOut, BType: w, DoubleQuant: dq})
		k.Ran(nn.GemmOp(false, false, n, in, r))
		if dropped {
			k.Ran(nn.Elementwise(nn.OpDropout, n*in))
		} else {
			k.Ran(nn.Elementwise(nn.OpAddTo, n*in))
		}
	}
	return k
}
