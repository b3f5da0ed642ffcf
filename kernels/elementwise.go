package kernels

// AddBias adds b (length cols) to every row of y (rows×cols).
func AddBias(y, b []float32, rows, cols int) {
	checkLen("AddBias", "y", y, rows*cols)
	checkLen("AddBias", "b", b, cols)
	b = b[:cols]
	parallelRows(rows, cols, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			yr := y[r*cols : (r+1)*cols]
			addRowVec(yr, yr, b)
		}
	})
}

// BiasBackward adds the column sums of dy (rows×cols) into db. A nil db is
// skipped.
func BiasBackward(db, dy []float32, rows, cols int) {
	if db == nil {
		return
	}
	checkLen("BiasBackward", "dy", dy, rows*cols)
	checkLen("BiasBackward", "db", db, cols)
	// Columns are split over threads, so each db element is summed by one
	// goroutine in row order: no partials, same bits for any thread count.
	parallelRows(cols, rows, func(lo, hi int) {
		dbs := db[lo:hi]
		for r := 0; r < rows; r++ {
			addRowVec(dbs, dbs, dy[r*cols+lo:r*cols+hi])
		}
	})
}

// Add sets y = a + b elementwise (the residual connection); y may alias a or b.
func Add(y, a, b []float32) {
	checkLen("Add", "a", a, len(y))
	checkLen("Add", "b", b, len(y))
	parallelRows(len(y), 1, func(lo, hi int) {
		addRowVec(y[lo:hi], a[lo:hi], b[lo:hi])
	})
}

// AddTo adds x into y elementwise (gradient accumulation).
func AddTo(y, x []float32) {
	checkLen("AddTo", "x", x, len(y))
	parallelRows(len(y), 1, func(lo, hi int) {
		addRowVec(y[lo:hi], y[lo:hi], x[lo:hi])
	})
}

// Scale multiplies x by s in place.
func Scale(x []float32, s float32) {
	parallelRows(len(x), 1, func(lo, hi int) {
		xs := x[lo:hi]
		for i := range xs {
			xs[i] *= s
		}
	})
}

// Zero clears x.
func Zero(x []float32) { clear(x) }
