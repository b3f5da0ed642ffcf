package models

import (
	"slices"

	"github.com/golora/golora/nn"
)

// StoreBase stores m's frozen Linear weights as s (bf16, fp16, int8 or
// NF4; see nn.ConvertFrozenLinears) and returns the bytes saved. Under a
// quantised dtype the output head stays in its dtype, as transformers'
// bitsandbytes integration keeps it (llm_int8_skip_modules defaults to the
// last module). Call it once trainability is decided: trainable weights
// stay f32.
func StoreBase(m Model, s nn.Storage) (int64, error) {
	if h := m.OutputHead(); h != "" {
		s.Keep = append(slices.Clip(s.Keep), h)
	}
	return nn.ConvertFrozenLinears(m, s)
}
