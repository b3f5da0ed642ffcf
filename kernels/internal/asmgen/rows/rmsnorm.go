package main

// genRMSNormRows writes RMSNorm's own row kernels: rmsNormAVX2 (y = w·(x·rs))
// and rmsNormParamGradAVX2 (dw += (dy·x)·rs), both in the Go loops' order,
// so they give the same bits. The input gradient needs no kernel of its
// own: it is LayerNorm's with mean 0 and c0 = 0 (layerNormGradSums and
// layerNormGrad).
func genRMSNormRows(g *gen) {
	g.function(g.fn("rmsNorm"), "func(y, x, w *float32, n int, rs float32)",
		g.fn("rmsNorm")+" sets y[j] = w[j]·(x[j]·rs) for j < n.")
	y, x, w, n := g.ptr("y"), g.ptr("x"), g.ptr("w"), g.ptr("n")
	rs := g.scalar("rs")
	g.rowLoop(n, "rms", func(a access) {
		v := a.load(x)
		g.VMULPS(rs, v, v)
		g.VMULPS(a.load(w), v, v)
		a.store(v, y)
	})
	g.end()

	g.function(g.fn("rmsNormParamGrad"), "func(dw, dy, x *float32, n int, rs float32)",
		g.fn("rmsNormParamGrad")+" adds dy[j]·x[j]·rs into dw[j] for j < n.")
	dw, dy, x, n := g.ptr("dw"), g.ptr("dy"), g.ptr("x"), g.ptr("n")
	rs = g.scalar("rs")
	g.rowLoop(n, "rmsParam", func(a access) {
		v := a.load(x)
		g.VMULPS(a.load(dy), v, v) // (dy·x)·rs as the Go loop
		wv := a.load(dw)
		g.VFMADD231PS(rs, v, wv)
		a.store(wv, dw)
	})
	g.end()
}
