package kernels

import "math"

// Packing copies a block of op(A) or op(B) into the order the micro-kernel
// reads it, so that the kernel streams contiguous memory whatever the
// transposes and leading dimensions, and widens bf16 to f32 on the way.
// Panels are zero-padded to full width, so edge tiles need no special loads.

// bf16 widens a bfloat16 exactly (the same as tensor.F32FromBF16, inlined).
func bf16(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// packB packs the kb×nb block of op(B) at (pc, jc) into ceil(nb/nr)
// panels: panel q holds dst[q*kb*nr + p*nr + jj] = op(B)(pc+p, jc+q*nr+jj),
// zero beyond nb. nr is a multiple of 4.
func packB(dst []float32, b Operand, transB bool, pc, kb, jc, nb, nr int) {
	ld := b.Stride
	for q := 0; q*nr < nb; q++ {
		d := dst[q*kb*nr : (q+1)*kb*nr]
		j0 := jc + q*nr
		nn := min(nr, nb-q*nr)
		if nn < nr {
			clear(d)
		}
		if b.BF16 == nil && !b.isF32() {
			packBWiden(d, b, transB, pc, kb, j0, nn, nr)
			continue
		}
		switch {
		case !transB && b.BF16 == nil && nn == 16 && nr == 16:
			// Fixed-size copies compile to a few vector moves, not a
			// call to memmove per row.
			for p := 0; p < kb; p++ {
				*(*[16]float32)(d[p*16:]) = *(*[16]float32)(b.F32[(pc+p)*ld+j0:])
			}
		case !transB && b.BF16 == nil && nn == 32 && nr == 32:
			for p := 0; p < kb; p++ {
				*(*[32]float32)(d[p*32:]) = *(*[32]float32)(b.F32[(pc+p)*ld+j0:])
			}
		case !transB && b.BF16 == nil:
			for p := 0; p < kb; p++ {
				src := b.F32[(pc+p)*ld+j0:]
				copy(d[p*nr:p*nr+nn], src[:nn])
			}
		case !transB && nn == 16 && nr == 16:
			for p := 0; p < kb; p++ {
				src := (*[16]uint16)(b.BF16[(pc+p)*ld+j0:])
				row := (*[16]float32)(d[p*16:])
				for jj, h := range src {
					row[jj] = bf16(h)
				}
			}
		case !transB && nn == 32 && nr == 32:
			for p := 0; p < kb; p++ {
				src := (*[32]uint16)(b.BF16[(pc+p)*ld+j0:])
				row := (*[32]float32)(d[p*32:])
				for jj, h := range src {
					row[jj] = bf16(h)
				}
			}
		case !transB:
			for p := 0; p < kb; p++ {
				src := b.BF16[(pc+p)*ld+j0:]
				src = src[:nn]
				row := d[p*nr : p*nr+nn]
				for jj, h := range src {
					row[jj] = bf16(h)
				}
			}
		case b.BF16 == nil && nn == nr:
			// op(B) = Bᵀ: panel column jj is row j0+jj of B. Four rows at
			// a time, so that each k step writes 4 adjacent floats.
			for jj := 0; jj < nr; jj += 4 {
				o := (j0+jj)*ld + pc
				r0 := b.F32[o : o+kb]
				r1 := b.F32[o+ld : o+ld+kb]
				r2 := b.F32[o+2*ld : o+2*ld+kb]
				r3 := b.F32[o+3*ld : o+3*ld+kb]
				for p := range r0 {
					dp := d[p*nr+jj : p*nr+jj+4 : p*nr+jj+4]
					dp[0], dp[1], dp[2], dp[3] = r0[p], r1[p], r2[p], r3[p]
				}
			}
		case b.BF16 == nil:
			for jj := 0; jj < nn; jj++ {
				src := b.F32[(j0+jj)*ld+pc:]
				src = src[:kb]
				for p, x := range src {
					d[p*nr+jj] = x
				}
			}
		case nn == nr:
			for jj := 0; jj < nr; jj += 4 {
				o := (j0+jj)*ld + pc
				r0 := b.BF16[o : o+kb]
				r1 := b.BF16[o+ld : o+ld+kb]
				r2 := b.BF16[o+2*ld : o+2*ld+kb]
				r3 := b.BF16[o+3*ld : o+3*ld+kb]
				for p := range r0 {
					dp := d[p*nr+jj : p*nr+jj+4 : p*nr+jj+4]
					dp[0], dp[1], dp[2], dp[3] = bf16(r0[p]), bf16(r1[p]), bf16(r2[p]), bf16(r3[p])
				}
			}
		default:
			for jj := 0; jj < nn; jj++ {
				src := b.BF16[(j0+jj)*ld+pc:]
				src = src[:kb]
				for p, h := range src {
					d[p*nr+jj] = bf16(h)
				}
			}
		}
	}
}

// packA packs the mb×kb block of op(A) at (ic, pc) into ceil(mb/mr) panels:
// panel q holds dst[q*kb*mr + p*mr + ii] = op(A)(ic+q*mr+ii, pc+p), zero
// beyond mb.
func packA(dst []float32, a Operand, transA bool, ic, mb, pc, kb, mr int) {
	ld := a.Stride
	for q := 0; q*mr < mb; q++ {
		d := dst[q*kb*mr : (q+1)*kb*mr]
		i0 := ic + q*mr
		mm := min(mr, mb-q*mr)
		if a.BF16 == nil && !a.isF32() {
			if mm < mr {
				clear(d)
			}
			packAWiden(d, a, transA, pc, kb, i0, mm, mr)
			continue
		}
		switch {
		case transA:
			// op(A) = Aᵀ: a k step is mm contiguous elements of row pc+p.
			if mm < mr {
				clear(d)
			}
			for p := 0; p < kb; p++ {
				row := d[p*mr : p*mr+mm]
				if a.BF16 == nil {
					copy(row, a.F32[(pc+p)*ld+i0:(pc+p)*ld+i0+mm])
				} else {
					for ii, h := range a.BF16[(pc+p)*ld+i0 : (pc+p)*ld+i0+mm] {
						row[ii] = bf16(h)
					}
				}
			}
		case mm == 6 && mr == 6 && a.BF16 == nil:
			// Six rows read side by side, one contiguous write stream.
			r0 := a.F32[(i0+0)*ld+pc : (i0+0)*ld+pc+kb]
			r1 := a.F32[(i0+1)*ld+pc : (i0+1)*ld+pc+kb]
			r2 := a.F32[(i0+2)*ld+pc : (i0+2)*ld+pc+kb]
			r3 := a.F32[(i0+3)*ld+pc : (i0+3)*ld+pc+kb]
			r4 := a.F32[(i0+4)*ld+pc : (i0+4)*ld+pc+kb]
			r5 := a.F32[(i0+5)*ld+pc : (i0+5)*ld+pc+kb]
			for p := range r0 {
				col := d[p*6 : p*6+6]
				col[0], col[1], col[2], col[3], col[4], col[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
			}
		case mm == 6 && mr == 6:
			r0 := a.BF16[(i0+0)*ld+pc : (i0+0)*ld+pc+kb]
			r1 := a.BF16[(i0+1)*ld+pc : (i0+1)*ld+pc+kb]
			r2 := a.BF16[(i0+2)*ld+pc : (i0+2)*ld+pc+kb]
			r3 := a.BF16[(i0+3)*ld+pc : (i0+3)*ld+pc+kb]
			r4 := a.BF16[(i0+4)*ld+pc : (i0+4)*ld+pc+kb]
			r5 := a.BF16[(i0+5)*ld+pc : (i0+5)*ld+pc+kb]
			for p := range r0 {
				col := d[p*6 : p*6+6]
				col[0], col[1], col[2], col[3], col[4], col[5] = bf16(r0[p]), bf16(r1[p]), bf16(r2[p]), bf16(r3[p]), bf16(r4[p]), bf16(r5[p])
			}
		default:
			if mm < mr {
				clear(d)
			}
			for ii := 0; ii < mm; ii++ {
				o := (i0+ii)*ld + pc
				if a.BF16 == nil {
					for p, x := range a.F32[o : o+kb] {
						d[p*mr+ii] = x
					}
				} else {
					for p, h := range a.BF16[o : o+kb] {
						d[p*mr+ii] = bf16(h)
					}
				}
			}
		}
	}
}
