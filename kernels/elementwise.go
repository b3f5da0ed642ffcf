package kernels

// AddBias adds b (length cols) to every row of y (rows×cols).
func AddBias(y, b []float32, rows, cols int) {
	checkLen("AddBias", "y", y, rows*cols)
	checkLen("AddBias", "b", b, cols)
	ParallelFor(rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			yr := y[r*cols : (r+1)*cols]
			for j := range yr {
				yr[j] += b[j]
			}
		}
	})
}

// BiasBackward adds the column sums of dy (rows×cols) into db.
func BiasBackward(db, dy []float32, rows, cols int) {
	checkLen("BiasBackward", "dy", dy, rows*cols)
	checkLen("BiasBackward", "db", db, cols)
	ParallelFor(cols, func(lo, hi int) {
		for r := 0; r < rows; r++ {
			dyr := dy[r*cols : (r+1)*cols]
			for j := lo; j < hi; j++ {
				db[j] += dyr[j]
			}
		}
	})
}

// Add sets y = a + b elementwise (the residual connection); y may alias a or b.
func Add(y, a, b []float32) {
	checkLen("Add", "a", a, len(y))
	checkLen("Add", "b", b, len(y))
	ParallelFor(len(y), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y[i] = a[i] + b[i]
		}
	})
}

// AddTo adds x into y elementwise (gradient accumulation).
func AddTo(y, x []float32) {
	checkLen("AddTo", "x", x, len(y))
	ParallelFor(len(y), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y[i] += x[i]
		}
	})
}

// Scale multiplies x by s in place.
func Scale(x []float32, s float32) {
	ParallelFor(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x[i] *= s
		}
	})
}

// Zero clears x.
func Zero(x []float32) { clear(x) }
