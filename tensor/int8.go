package tensor

import "math"

// Int8 storage is LLM.int8-style row-wise absmax quantisation (bitsandbytes
// int8_vectorwise_quant): each row of RowLen values keeps its absmax, and
// x_q = round(x·(127/absmax)) (ties to even, as torch.round), so the row's
// largest magnitude maps to ±127. A value is x_q·Scale[row] with Scale =
// absmax/127. A row of zeros has Scale 0 and codes 0.

// Int8Data is the storage of an Int8 tensor.
type Int8Data struct {
	Q      []int8
	Scale  []float32 // per row: absmax/127
	RowLen int       // values per row (the product of all but the first dimension)
}

// QuantizeInt8 quantises src row by row (rows of rowLen values).
func QuantizeInt8(src []float32, rowLen int) *Int8Data {
	if rowLen <= 0 || len(src)%rowLen != 0 {
		panic("tensor: QuantizeInt8: row length does not divide the values")
	}
	d := &Int8Data{Q: make([]int8, len(src)), Scale: make([]float32, len(src)/rowLen), RowLen: rowLen}
	for r := range d.Scale {
		row := src[r*rowLen : (r+1)*rowLen]
		var amax float32
		for _, x := range row {
			amax = max(amax, abs32(x))
		}
		if amax == 0 {
			continue
		}
		inv := 127 / amax
		q := d.Q[r*rowLen : (r+1)*rowLen]
		for i, x := range row {
			q[i] = int8(math.RoundToEven(float64(x * inv)))
		}
		d.Scale[r] = amax / 127
	}
	return d
}

// Dequantize writes values [off, off+len(dst)) into dst.
func (d *Int8Data) Dequantize(dst []float32, off int) {
	for i := range dst {
		e := off + i
		dst[i] = float32(d.Q[e]) * d.Scale[e/d.RowLen]
	}
}

// Bytes is the storage size: a byte per value and 4 per row.
func (d *Int8Data) Bytes() int64 { return int64(len(d.Q)) + 4*int64(len(d.Scale)) }

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }
