package kernels

import (
	"fmt"
	"math"
)

// IgnoreIndex is the target value whose rows contribute no loss (PyTorch's
// default ignore_index).
const IgnoreIndex = -100

// CrossEntropyForward computes softmax(logits) into probs (saved for the
// backward) and returns the mean negative log-likelihood over rows whose
// target is not IgnoreIndex, and the number of such rows. The log-softmax is
// fused: log p = x − max − log Σ exp(x − max), so no probability underflows
// to log(0). A target outside [0, cols) panics.
//
// Rows are summed per fixed chunk and the chunks in order, so the loss has the
// same bits for any thread count.
func CrossEntropyForward(probs, logits []float32, targets []int32, rows, cols int) (loss float64, n int) {
	checkLen("CrossEntropyForward", "logits", logits, rows*cols)
	checkLen("CrossEntropyForward", "probs", probs, rows*cols)
	checkTargets("CrossEntropyForward", targets, rows, cols)
	chunks := numChunks(rows, 8*cols)
	var partLoss [maxChunks]float64
	var partN [maxChunks]int
	forChunks(rows, chunks, func(c, lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, pr := logits[r*cols:(r+1)*cols], probs[r*cols:(r+1)*cols]
			nll := crossEntropyRow(pr, xr, int(targets[r]))
			if targets[r] != IgnoreIndex {
				partLoss[c] += nll
				partN[c]++
			}
		}
	})
	var total float64
	for c := range chunks {
		total += partLoss[c]
		n += partN[c]
	}
	if n == 0 {
		return 0, 0
	}
	return total / float64(n), n
}

// crossEntropyRow sets p = softmax(x) and returns −log p[t] (0 when t is
// IgnoreIndex).
func crossEntropyRow(p, x []float32, t int) float64 {
	if len(x) == 0 {
		return 0
	}
	p = p[:len(x)]
	mx := x[0]
	for _, v := range x {
		if v > mx { // a branch, not max(): see softmaxRow
			mx = v
		}
	}
	m := float64(mx)
	var sum float64
	for j, v := range x {
		e := fastExp(float64(v) - m)
		sum += e
		p[j] = float32(e)
	}
	inv := float32(1 / sum)
	for j := range p {
		p[j] *= inv
	}
	if t == IgnoreIndex {
		return 0
	}
	return math.Log(sum) - (float64(x[t]) - m)
}

func checkTargets(fn string, targets []int32, rows, cols int) {
	if len(targets) < rows {
		panic(fmt.Sprintf("kernels: %s: %d targets for %d rows", fn, len(targets), rows))
	}
	for r, t := range targets[:rows] {
		if t != IgnoreIndex && (t < 0 || int(t) >= cols) {
			panic(fmt.Sprintf("kernels: %s: target %d of row %d outside [0,%d)", fn, t, r, cols))
		}
	}
}

// CrossEntropyBackward adds scale·(probs − onehot(target)) into dlogits for
// each row whose target is not IgnoreIndex. For the mean loss, scale is
// dLoss/n with n from CrossEntropyForward. A nil dlogits is skipped.
func CrossEntropyBackward(dlogits, probs []float32, targets []int32, rows, cols int, scale float32) {
	if dlogits == nil {
		return
	}
	checkLen("CrossEntropyBackward", "probs", probs, rows*cols)
	checkLen("CrossEntropyBackward", "dlogits", dlogits, rows*cols)
	checkTargets("CrossEntropyBackward", targets, rows, cols)
	parallelRows(rows, 2*cols, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			t := int(targets[r])
			if t == IgnoreIndex {
				continue
			}
			pr, dr := probs[r*cols:(r+1)*cols], dlogits[r*cols:(r+1)*cols]
			dr = dr[:len(pr)]
			// The target gets one add of scale·(p − 1), not two: p − 1 is
			// exact for a confident p ≈ 1, and a one-class row gets 0.
			before := dr[t]
			for j, p := range pr {
				dr[j] += scale * p
			}
			dr[t] = before + scale*(pr[t]-1)
		}
	})
}
