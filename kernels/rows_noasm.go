//go:build !amd64 || purego

package kernels

// The assembly row kernels do not exist here; the kernel path is always
// "go", so these are never called.

func geluAVX2(y, x *float32, n int) { panic("kernels: geluAVX2 without assembly") }

func geluBackwardAVX2(dx, x, dy *float32, n int) {
	panic("kernels: geluBackwardAVX2 without assembly")
}

func geluBiasBackwardAVX2(dx, db, x, dy *float32, n int) {
	panic("kernels: geluBiasBackwardAVX2 without assembly")
}

func softmaxAVX2(y, x *float32, n int, scale float32) {
	panic("kernels: softmaxAVX2 without assembly")
}

func softmaxBackwardAVX2(dx, y, dy *float32, n int, scale float32) {
	panic("kernels: softmaxBackwardAVX2 without assembly")
}

func addAVX2(y, a, b *float32, n int) { panic("kernels: addAVX2 without assembly") }

func sumAVX2(x *float32, n int) float64 { panic("kernels: sumAVX2 without assembly") }

func sqDevAVX2(x *float32, n int, m float32) float64 {
	panic("kernels: sqDevAVX2 without assembly")
}

func layerNormAVX2(y, x, w, b *float32, n int, m, rs float32) {
	panic("kernels: layerNormAVX2 without assembly")
}

func layerNormGradSumsAVX2(dy, x, w *float32, n int, m float32) (s1, s2 float32) {
	panic("kernels: layerNormGradSumsAVX2 without assembly")
}

func layerNormGradAVX2(dx, dy, x, w *float32, n int, m, rs, c0, c1 float32) {
	panic("kernels: layerNormGradAVX2 without assembly")
}

func layerNormParamGradAVX2(dw, db, dy, x *float32, n int, m, rs float32) {
	panic("kernels: layerNormParamGradAVX2 without assembly")
}

func geluAVX512(y, x *float32, n int) {
	panic("kernels: geluAVX512 without assembly")
}

func geluBackwardAVX512(dx, x, dy *float32, n int) {
	panic("kernels: geluBackwardAVX512 without assembly")
}

func geluBiasBackwardAVX512(dx, db, x, dy *float32, n int) {
	panic("kernels: geluBiasBackwardAVX512 without assembly")
}

func softmaxAVX512(y, x *float32, n int, scale float32) {
	panic("kernels: softmaxAVX512 without assembly")
}

func softmaxBackwardAVX512(dx, y, dy *float32, n int, scale float32) {
	panic("kernels: softmaxBackwardAVX512 without assembly")
}

func addAVX512(y, a, b *float32, n int) {
	panic("kernels: addAVX512 without assembly")
}

func sumAVX512(x *float32, n int) float64 {
	panic("kernels: sumAVX512 without assembly")
}

func sqDevAVX512(x *float32, n int, m float32) float64 {
	panic("kernels: sqDevAVX512 without assembly")
}

func layerNormAVX512(y, x, w, b *float32, n int, m, rs float32) {
	panic("kernels: layerNormAVX512 without assembly")
}

func layerNormGradSumsAVX512(dy, x, w *float32, n int, m float32) (s1, s2 float32) {
	panic("kernels: layerNormGradSumsAVX512 without assembly")
}

func layerNormGradAVX512(dx, dy, x, w *float32, n int, m, rs, c0, c1 float32) {
	panic("kernels: layerNormGradAVX512 without assembly")
}

func layerNormParamGradAVX512(dw, db, dy, x *float32, n int, m, rs float32) {
	panic("kernels: layerNormParamGradAVX512 without assembly")
}

func siluAVX2(y, x *float32, n int) { panic("kernels: siluAVX2 without assembly") }

func siluBackwardAVX2(dx, x, dy *float32, n int) {
	panic("kernels: siluBackwardAVX2 without assembly")
}

func swigluAVX2(y, gate, up *float32, n int) { panic("kernels: swigluAVX2 without assembly") }

func swigluBackwardAVX2(dgate, dup, gate, up, dy *float32, n int) {
	panic("kernels: swigluBackwardAVX2 without assembly")
}

func swigluGateBackwardAVX2(dgate, gate, up, dy *float32, n int) {
	panic("kernels: swigluGateBackwardAVX2 without assembly")
}

func swigluUpBackwardAVX2(dup, gate, dy *float32, n int) {
	panic("kernels: swigluUpBackwardAVX2 without assembly")
}

func siluAVX512(y, x *float32, n int) { panic("kernels: siluAVX512 without assembly") }

func siluBackwardAVX512(dx, x, dy *float32, n int) {
	panic("kernels: siluBackwardAVX512 without assembly")
}

func swigluAVX512(y, gate, up *float32, n int) { panic("kernels: swigluAVX512 without assembly") }

func swigluBackwardAVX512(dgate, dup, gate, up, dy *float32, n int) {
	panic("kernels: swigluBackwardAVX512 without assembly")
}

func swigluGateBackwardAVX512(dgate, gate, up, dy *float32, n int) {
	panic("kernels: swigluGateBackwardAVX512 without assembly")
}

func swigluUpBackwardAVX512(dup, gate, dy *float32, n int) {
	panic("kernels: swigluUpBackwardAVX512 without assembly")
}

func rmsNormAVX2(y, x, w *float32, n int, rs float32) { panic("kernels: rmsNormAVX2 without assembly") }

func rmsNormParamGradAVX2(dw, dy, x *float32, n int, rs float32) {
	panic("kernels: rmsNormParamGradAVX2 without assembly")
}

func rmsNormAVX512(y, x, w *float32, n int, rs float32) {
	panic("kernels: rmsNormAVX512 without assembly")
}

func rmsNormParamGradAVX512(dw, dy, x *float32, n int, rs float32) {
	panic("kernels: rmsNormParamGradAVX512 without assembly")
}
