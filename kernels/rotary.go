package kernels

// RotaryForward applies rotary position embeddings in place, with Hugging
// Face's rotate_half convention (LLaMA, GPT-NeoX): each head's d values are
// two halves x1, x2, and for i < d/2
//
//	x1[i], x2[i] = x1[i]·cos − x2[i]·sin, x2[i]·cos + x1[i]·sin
//
// with cos = cos[p·d/2 + i], sin likewise, p the token's position. x holds
// tokens rows of stride ld, each with heads heads of d values from offset 0;
// row r is token r mod t of its sequence, at position pos0 + r mod t. With
// inverse the rotation goes backwards (sin negated): the backward of the
// forward, as a rotation's transpose is its inverse.
func RotaryForward(x []float32, tokens, t, pos0, heads, d, ld int, cos, sin []float32, inverse bool) {
	if d%2 != 0 {
		panic("kernels: RotaryForward: odd head dimension")
	}
	if heads*d > ld {
		panic("kernels: RotaryForward: heads·d exceeds the row stride")
	}
	checkLen("RotaryForward", "x", x, (tokens-1)*ld+heads*d)
	half := d / 2
	maxPos := pos0 + min(t, tokens)
	checkLen("RotaryForward", "cos", cos, maxPos*half)
	checkLen("RotaryForward", "sin", sin, maxPos*half)
	sign := float32(1)
	if inverse {
		sign = -1
	}
	parallelRows(tokens, 3*heads*d, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			p := pos0 + r%t
			c, s := cos[p*half:(p+1)*half], sin[p*half:(p+1)*half]
			row := x[r*ld : r*ld+heads*d]
			for h := 0; h < heads; h++ {
				rotaryRowVec(row[h*d:(h+1)*d], c, s, sign)
			}
		}
	})
}

// rotaryRowVec rotates one head (the dispatch point for a vector version).
func rotaryRowVec(x, c, s []float32, sign float32) { rotaryRow(x, c, s, sign) }

func rotaryRow(x, c, s []float32, sign float32) {
	half := len(x) / 2
	x1, x2 := x[:half], x[half:2*half]
	c, s = c[:half], s[:half]
	for i := range x1 {
		a, b, si := x1[i], x2[i], sign*s[i]
		x1[i] = a*c[i] - b*si
		x2[i] = b*c[i] + a*si
	}
}
