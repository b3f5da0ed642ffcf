package nn

// Rewind returns a function that sets every Dropout under m back to its
// current step, so a recomputed Forward (gradient checkpointing) draws the
// masks of the original one. LoRA dropout keys on the trainer's step alone
// and needs no rewinding.
func Rewind(m Module) func() {
	var ds []*Dropout
	var steps []uint64
	_ = Walk(m, func(x Module) error {
		if d, ok := x.(*Dropout); ok {
			ds, steps = append(ds, d), append(steps, d.Step)
		}
		return nil
	})
	return func() {
		for i, d := range ds {
			d.Step = steps[i]
		}
	}
}
