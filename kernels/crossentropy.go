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
func CrossEntropyForward(probs, logits []float32, targets []int32, rows, cols int) (loss float64, n int) {
	checkLen("CrossEntropyForward", "logits", logits, rows*cols)
	checkLen("CrossEntropyForward", "probs", probs, rows*cols)
	if len(targets) < rows {
		panic(fmt.Sprintf("kernels: CrossEntropyForward: %d targets for %d rows", len(targets), rows))
	}
	var total float64
	for r := 0; r < rows; r++ {
		xr, pr := logits[r*cols:(r+1)*cols], probs[r*cols:(r+1)*cols]
		mx := xr[0]
		for _, v := range xr {
			if v > mx {
				mx = v
			}
		}
		var sum float64
		for j, v := range xr {
			e := math.Exp(float64(v - mx))
			pr[j] = float32(e)
			sum += e
		}
		inv := float32(1 / sum)
		for j := range pr {
			pr[j] *= inv
		}
		t := int(targets[r])
		if t == IgnoreIndex {
			continue
		}
		if t < 0 || t >= cols {
			panic(fmt.Sprintf("kernels: CrossEntropyForward: target %d of row %d outside [0,%d)", t, r, cols))
		}
		total += -(float64(xr[t]-mx) - math.Log(sum))
		n++
	}
	if n == 0 {
		return 0, 0
	}
	return total / float64(n), n
}

// CrossEntropyBackward adds scale·(probs − onehot(target)) into dlogits for
// each row whose target is not IgnoreIndex. For the mean loss, scale is
// dLoss/n with n from CrossEntropyForward.
func CrossEntropyBackward(dlogits, probs []float32, targets []int32, rows, cols int, scale float32) {
	checkLen("CrossEntropyBackward", "probs", probs, rows*cols)
	checkLen("CrossEntropyBackward", "dlogits", dlogits, rows*cols)
	for r := 0; r < rows; r++ {
		t := int(targets[r])
		if t == IgnoreIndex {
			continue
		}
		pr, dr := probs[r*cols:(r+1)*cols], dlogits[r*cols:(r+1)*cols]
		for j := range pr {
			dr[j] += scale * pr[j]
		}
		dr[t] -= scale
	}
}
