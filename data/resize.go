package data

import "math"

// Resizing follows Pillow's Image.resize with BILINEAR (resample=2), which
// is what ViTImageProcessor calls, so the result is the same to the last
// bit: a separable convolution with the triangle filter whose support
// widens by the scale factor when shrinking (antialiasing), weights in
// 22-bit fixed point, a horizontal pass rounded to 8 bits, then a vertical
// pass rounded to 8 bits.

// precisionBits is Pillow's fixed-point precision for 8-bit images.
const precisionBits = 32 - 8 - 2

// resampleCoeffs holds, for each output pixel, the first input pixel it
// reads, how many it reads, and their fixed-point weights (ksize per pixel).
type resampleCoeffs struct {
	start, count []int
	weights      []int32
	ksize        int
}

// newResampleCoeffs computes the weights that map inSize pixels to outSize.
func newResampleCoeffs(inSize, outSize int) resampleCoeffs {
	scale := float64(inSize) / float64(outSize)
	filterScale := max(scale, 1)
	support := 1.0 * filterScale // the triangle filter's support is 1
	ksize := int(math.Ceil(support))*2 + 1
	c := resampleCoeffs{
		start: make([]int, outSize), count: make([]int, outSize),
		weights: make([]int32, outSize*ksize), ksize: ksize,
	}
	ss := 1 / filterScale
	w := make([]float64, ksize)
	for xx := range outSize {
		center := (float64(xx) + 0.5) * scale
		lo := max(int(center-support+0.5), 0)
		hi := min(int(center+support+0.5), inSize)
		n := hi - lo
		sum := 0.0
		for x := range n {
			w[x] = triangle((float64(x+lo) - center + 0.5) * ss)
			sum += w[x]
		}
		for x := range n {
			if sum != 0 {
				w[x] /= sum
			}
			// Round half away from zero, as Pillow's normalize_coeffs_8bpc.
			// The explicit conversion keeps the compiler from fusing the
			// multiply and add, which would change the rounding.
			v := float64(w[x] * (1 << precisionBits))
			if v < 0 {
				c.weights[xx*ksize+x] = int32(v - 0.5)
			} else {
				c.weights[xx*ksize+x] = int32(v + 0.5)
			}
		}
		c.start[xx], c.count[xx] = lo, n
	}
	return c
}

// triangle is the bilinear filter kernel.
func triangle(x float64) float64 {
	x = math.Abs(x)
	if x < 1 {
		return 1 - x
	}
	return 0
}

// clip8 rounds a fixed-point sum (which already holds the half) to a byte.
func clip8(v int32) uint8 {
	if v >= 255<<precisionBits {
		return 255
	}
	if v <= 0 {
		return 0
	}
	return uint8(v >> precisionBits)
}

// resizer resizes images to a fixed size, caching coefficients per input
// size and reusing its scratch buffers.
type resizer struct {
	height, width int
	coeffs        map[int]resampleCoeffs // keyed by input size; output sizes are fixed per axis
	vcoeffs       map[int]resampleCoeffs
	tmp, out      []uint8
	acc           []int32
}

func newResizer(height, width int) *resizer {
	return &resizer{height: height, width: width,
		coeffs: map[int]resampleCoeffs{}, vcoeffs: map[int]resampleCoeffs{}}
}

// resize returns img at the resizer's size. An image already of that size
// comes back unchanged (Pillow returns a copy there). The result lives in
// the resizer's buffer until the next call.
func (r *resizer) resize(img Image) Image {
	if img.Height == r.height && img.Width == r.width {
		return img
	}
	c := img.Channels
	src, h, w := img.Pix, img.Height, img.Width
	if w != r.width {
		hc, ok := r.coeffs[w]
		if !ok {
			hc = newResampleCoeffs(w, r.width)
			r.coeffs[w] = hc
		}
		r.tmp = grow(r.tmp, h*r.width*c)
		for y := range h {
			row := src[y*w*c : (y+1)*w*c]
			dst := r.tmp[y*r.width*c : (y+1)*r.width*c]
			for xx := range r.width {
				k := hc.weights[xx*hc.ksize : xx*hc.ksize+hc.count[xx]]
				lo := hc.start[xx]
				for ch := range c {
					ss := int32(1 << (precisionBits - 1))
					for x, wt := range k {
						ss += int32(row[(lo+x)*c+ch]) * wt
					}
					dst[xx*c+ch] = clip8(ss)
				}
			}
		}
		src, w = r.tmp[:h*r.width*c], r.width
	}
	if h != r.height {
		vc, ok := r.vcoeffs[h]
		if !ok {
			vc = newResampleCoeffs(h, r.height)
			r.vcoeffs[h] = vc
		}
		r.out = grow(r.out, r.height*w*c)
		rowLen := w * c
		r.acc = growInt32(r.acc, rowLen)
		for yy := range r.height {
			// Accumulate whole rows tap by tap: sequential memory access.
			acc := r.acc
			for i := range acc {
				acc[i] = 1 << (precisionBits - 1)
			}
			lo := vc.start[yy]
			for y, wt := range vc.weights[yy*vc.ksize : yy*vc.ksize+vc.count[yy]] {
				row := src[(lo+y)*rowLen : (lo+y+1)*rowLen]
				for i, v := range row {
					acc[i] += int32(v) * wt
				}
			}
			dst := r.out[yy*rowLen : (yy+1)*rowLen]
			for i, v := range acc {
				dst[i] = clip8(v)
			}
		}
		src = r.out[:r.height*rowLen]
	}
	return Image{Height: r.height, Width: r.width, Channels: c, Pix: src}
}

func growInt32(b []int32, n int) []int32 {
	if cap(b) < n {
		return make([]int32, n)
	}
	return b[:n]
}

func grow(b []uint8, n int) []uint8 {
	if cap(b) < n {
		return make([]uint8, n)
	}
	return b[:n]
}
