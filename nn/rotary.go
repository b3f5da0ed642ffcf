package nn

import (
	"fmt"
	"math"
)

// RopeScaling is a config.json rope_scaling entry (transformers'
// ROPE_INIT_FUNCTIONS): "default" (none), "linear" (positions divided by
// Factor) or "llama3" (Llama 3.1's frequency-dependent scaling). Others
// ("dynamic", "yarn", "longrope", …) are refused.
type RopeScaling struct {
	Type                          string  `json:"rope_type"`
	Factor                        float64 `json:"factor"`
	LowFreqFactor                 float64 `json:"low_freq_factor,omitempty"`
	HighFreqFactor                float64 `json:"high_freq_factor,omitempty"`
	OriginalMaxPositionEmbeddings int     `json:"original_max_position_embeddings,omitempty"`
}

// Rotary holds the inverse frequencies of rotary position embeddings and
// the cos/sin tables derived from them, shared by all layers of a model.
// The tables grow on demand to the longest position used; they are a few
// KiB to a few hundred KiB of plain memory, not counted by package memory
// (like a module's saved token ids).
type Rotary struct {
	HeadDim int
	// InvFreq are the HeadDim/2 inverse frequencies, float32 as
	// transformers computes them.
	InvFreq  []float32
	cos, sin []float32 // [positions, HeadDim/2]
	n        int       // positions tabulated
}

// NewRotary returns rotary embeddings over heads of headDim values with
// base theta (rope_theta) and optional scaling, computed as transformers'
// _compute_default_rope_parameters (in float32: inv_freq = 1 /
// theta^(2i/d)) and its linear and llama3 variants.
func NewRotary(headDim int, theta float64, scaling *RopeScaling) (*Rotary, error) {
	if headDim <= 0 || headDim%2 != 0 {
		return nil, fmt.Errorf("rotary embeddings need an even head dimension, got %d", headDim)
	}
	if !(theta > 0) || math.IsInf(theta, 0) {
		return nil, fmt.Errorf("rope_theta %v: want a positive number", theta)
	}
	half := headDim / 2
	inv := make([]float32, half)
	base := float32(theta)
	for i := range inv {
		e := float32(2*i) / float32(headDim)
		inv[i] = 1 / float32(math.Pow(float64(base), float64(e)))
	}
	if scaling != nil {
		if err := scaling.apply(inv); err != nil {
			return nil, err
		}
	}
	return &Rotary{HeadDim: headDim, InvFreq: inv}, nil
}

// apply scales the inverse frequencies in place.
func (s *RopeScaling) apply(inv []float32) error {
	switch s.Type {
	case "", "default":
		return nil
	case "linear":
		if !(s.Factor >= 1) || math.IsInf(s.Factor, 0) {
			return fmt.Errorf("rope_scaling: linear factor %v, want >= 1", s.Factor)
		}
		for i := range inv {
			inv[i] /= float32(s.Factor)
		}
		return nil
	case "llama3":
		if !(s.Factor >= 1) || math.IsInf(s.Factor, 0) || !(s.LowFreqFactor > 0) || !(s.HighFreqFactor > s.LowFreqFactor) || s.OriginalMaxPositionEmbeddings <= 0 {
			return fmt.Errorf("rope_scaling: llama3 needs factor >= 1, 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0, got %+v", *s)
		}
		old := float64(s.OriginalMaxPositionEmbeddings)
		lowWave, highWave := old/s.LowFreqFactor, old/s.HighFreqFactor
		for i, f := range inv {
			wave := 2 * math.Pi / float64(f)
			v := float64(f)
			switch {
			case wave > lowWave: // low frequencies: scaled
				v /= s.Factor
			case wave >= highWave: // medium: interpolated
				smooth := (old/wave - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor)
				v = (1-smooth)*v/s.Factor + smooth*v
			}
			inv[i] = float32(v)
		}
		return nil
	}
	return fmt.Errorf("rope_scaling type %q is not supported (golora implements default, linear and llama3)", s.Type)
}

// Tables returns cos and sin [positions, HeadDim/2] for positions 0 …
// n-1 at least: angle p·inv_freq[i] (a float32 product, as transformers'
// matmul of position ids and inv_freq), cos and sin rounded to float32.
func (r *Rotary) Tables(n int) (cos, sin []float32) {
	if n > r.n {
		grow := max(n, 2*r.n, 64)
		half := r.HeadDim / 2
		c, s := make([]float32, grow*half), make([]float32, grow*half)
		copy(c, r.cos)
		copy(s, r.sin)
		for p := r.n; p < grow; p++ {
			for i, f := range r.InvFreq {
				a := float64(float32(p) * f)
				c[p*half+i], s[p*half+i] = float32(math.Cos(a)), float32(math.Sin(a))
			}
		}
		r.cos, r.sin, r.n = c, s, grow
	}
	return r.cos, r.sin
}
