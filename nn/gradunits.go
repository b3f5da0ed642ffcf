package nn

// GradUnits is implemented by models whose Backward finishes the gradients
// of their parameters part by part (the head, each block, the embeddings)
// and says so as it goes. Data-parallel training with sharded gradients
// (ZeRO-2) then reduce-scatters each part's gradients as soon as they are
// final and reuses their buffer for the next part, so the whole gradient
// never exists at once. Without it the whole model is one part.
type GradUnits interface {
	// GradUnits lists the parts in the order Backward finishes them. No
	// parameter may be in two parts.
	GradUnits() []Module
	// OnGradUnit sets fn (nil: none), which Backward calls with a part's
	// index as soon as nothing later in that Backward writes the gradients
	// of the part's parameters. Backward may stop before the lowest parts
	// (when nothing below needs a gradient) without reporting them.
	OnGradUnit(fn func(unit int))
}
