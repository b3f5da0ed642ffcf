package kernels

import "github.com/golora/golora/tensor"

// Widening of fp16, int8 and NF4 operands while packing. The packers call
// packBWiden/packAWiden for these storages; both reduce to widenRun, which
// converts a run of consecutive elements of one stored row into a strided
// destination. Nothing here depends on the micro-kernel's tile shape
// beyond the panel widths passed in (those of the call's kernel), so every
// kernel gets the same widening.

// packBWiden fills one B panel d (kb rows of nr, nn columns used) with
// op(B)(pc+p, j0+jj).
func packBWiden(d []float32, b Operand, transB bool, pc, kb, j0, nn, nr int) {
	if !transB { // row pc+p of B, columns j0..j0+nn
		for p := 0; p < kb; p++ {
			widenRun(d[p*nr:p*nr+nn], 1, b, pc+p, j0, nn)
		}
		return
	}
	// op(B) = Bᵀ: panel column jj is row j0+jj of B, k values from pc.
	for jj := 0; jj < nn; jj++ {
		widenRun(d[jj:], nr, b, j0+jj, pc, kb)
	}
}

// packAWiden fills one A panel d (kb columns of mr, mm rows used) with
// op(A)(i0+ii, pc+p).
func packAWiden(d []float32, a Operand, transA bool, pc, kb, i0, mm, mr int) {
	if transA { // op(A) = Aᵀ: a k step is mm elements of row pc+p
		for p := 0; p < kb; p++ {
			widenRun(d[p*mr:p*mr+mm], 1, a, pc+p, i0, mm)
		}
		return
	}
	for ii := 0; ii < mm; ii++ {
		widenRun(d[ii:], mr, a, i0+ii, pc, kb)
	}
}

// widenRun sets dst[t*stride] = o(row, col+t) for t < n.
func widenRun(dst []float32, stride int, o Operand, row, col, n int) {
	if n <= 0 {
		return
	}
	_ = dst[(n-1)*stride]
	e := row*o.Stride + col
	switch {
	case o.F16 != nil:
		for t, h := range o.F16[e : e+n] {
			dst[t*stride] = tensor.F32FromF16(h)
		}
	case o.BF16 != nil:
		for t, h := range o.BF16[e : e+n] {
			dst[t*stride] = bf16(h)
		}
	case o.Int8 != nil:
		s := o.Int8.Scale[row]
		for t, q := range o.Int8.Q[e : e+n] {
			dst[t*stride] = float32(q) * s
		}
	case o.NF4 != nil:
		widenNF4(dst, stride, o.NF4, e, n)
	default:
		for t, x := range o.F32[e : e+n] {
			dst[t*stride] = x
		}
	}
}

// widenNF4 dequantises n consecutive NF4 values from flat index e, a run
// within one block at a time. A run of at least nf4LUTRun values first
// scales the block's 16 levels (the same products as Level·absmax value by
// value) so that every value is one table load; a shorter run (a row of a
// B panel in dY·W is gemmNR values) multiplies value by value instead.
func widenNF4(dst []float32, stride int, q *tensor.NF4Data, e, n int) {
	t := 0
	for t < n {
		b := (e + t) / tensor.NF4BlockSize
		end := min(n, (b+1)*tensor.NF4BlockSize-e) // run end within block b
		s := q.BlockScale(b)
		if end-t < nf4LUTRun {
			widenNF4Run(dst, stride, q.Packed, &tensor.NF4Levels, s, e, t, end)
			t = end
			continue
		}
		var lut [16]float32
		for i, l := range tensor.NF4Levels {
			lut[i] = l * s
		}
		widenNF4Run(dst, stride, q.Packed, &lut, 1, e, t, end)
		t = end
	}
}

// nf4LUTRun is the shortest run for which scaling the 16 levels first pays.
const nf4LUTRun = 32

// widenNF4Run sets dst[t*stride] = lut[code(e+t)]·s for t in [t0, end).
// With s = 1 the product is exact, so the scaled table gives the same bits.
func widenNF4Run(dst []float32, stride int, packed []byte, lut *[16]float32, s float32, e, t0, end int) {
	t := t0
	if (e+t)&1 == 1 && t < end { // odd start: the low nibble of a byte
		dst[t*stride] = lut[packed[(e+t)>>1]&15] * s
		t++
	}
	for ; t+1 < end; t += 2 {
		c := packed[(e+t)>>1]
		dst[t*stride] = lut[c>>4] * s
		dst[(t+1)*stride] = lut[c&15] * s
	}
	if t < end { // a last even element: the high nibble
		dst[t*stride] = lut[packed[(e+t)>>1]>>4] * s
	}
}
