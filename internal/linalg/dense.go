package linalg

import (
	"fmt"
	"math"
)

// Dense is a row-major matrix: element (i, j) is Data[i*Cols+j].
type Dense struct {
	Rows, Cols int
	Data       []float64
}

// NewDense returns a zero rows×cols matrix.
func NewDense(rows, cols int) *Dense {
	return &Dense{Rows: rows, Cols: cols, Data: make([]float64, rows*cols)}
}

// FromF32 copies an f32 row-major rows×cols matrix.
func FromF32(v []float32, rows, cols int) *Dense {
	if len(v) != rows*cols {
		panic(fmt.Sprintf("linalg: %d values for a %dx%d matrix", len(v), rows, cols))
	}
	d := NewDense(rows, cols)
	for i, x := range v {
		d.Data[i] = float64(x)
	}
	return d
}

// At returns element (i, j).
func (a *Dense) At(i, j int) float64 { return a.Data[i*a.Cols+j] }

// Set sets element (i, j).
func (a *Dense) Set(i, j int, v float64) { a.Data[i*a.Cols+j] = v }

// Row returns row i (shared storage).
func (a *Dense) Row(i int) []float64 { return a.Data[i*a.Cols : (i+1)*a.Cols] }

// T returns the transpose as a new matrix.
func (a *Dense) T() *Dense {
	t := NewDense(a.Cols, a.Rows)
	for i := 0; i < a.Rows; i++ {
		for j := 0; j < a.Cols; j++ {
			t.Data[j*a.Rows+i] = a.Data[i*a.Cols+j]
		}
	}
	return t
}

// Clone returns a copy.
func (a *Dense) Clone() *Dense {
	return &Dense{Rows: a.Rows, Cols: a.Cols, Data: append([]float64(nil), a.Data...)}
}

// Mul returns a·b.
func Mul(a, b *Dense) *Dense {
	if a.Cols != b.Rows {
		panic(fmt.Sprintf("linalg: Mul of %dx%d and %dx%d", a.Rows, a.Cols, b.Rows, b.Cols))
	}
	c := NewDense(a.Rows, b.Cols)
	for i := 0; i < a.Rows; i++ {
		ci := c.Row(i)
		for k, aik := range a.Row(i) {
			if aik == 0 {
				continue
			}
			for j, bkj := range b.Row(k) {
				ci[j] += aik * bkj
			}
		}
	}
	return c
}

// ColSlice returns the matrix of columns [j0, j1) of a (a copy).
func (a *Dense) ColSlice(j0, j1 int) *Dense {
	c := NewDense(a.Rows, j1-j0)
	for i := 0; i < a.Rows; i++ {
		copy(c.Row(i), a.Data[i*a.Cols+j0:i*a.Cols+j1])
	}
	return c
}

// RowSlice returns the matrix of rows [i0, i1) of a (a copy).
func (a *Dense) RowSlice(i0, i1 int) *Dense {
	return &Dense{Rows: i1 - i0, Cols: a.Cols, Data: append([]float64(nil), a.Data[i0*a.Cols:i1*a.Cols]...)}
}

// MaxAbsDiff returns max |a−b| over all elements.
func MaxAbsDiff(a, b *Dense) float64 {
	if a.Rows != b.Rows || a.Cols != b.Cols {
		return math.Inf(1)
	}
	var d float64
	for i, v := range a.Data {
		d = math.Max(d, math.Abs(v-b.Data[i]))
	}
	return d
}

// FrobeniusNorm returns ‖a‖_F.
func (a *Dense) FrobeniusNorm() float64 {
	var s float64
	for _, v := range a.Data {
		s += v * v
	}
	return math.Sqrt(s)
}

// finite reports whether every element of a is finite.
func (a *Dense) finite() bool {
	for _, v := range a.Data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}
