package vit

import (
	"fmt"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/memory"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// PatchEmbeddings is ViTPatchEmbeddings: Conv2d(C→H, kernel = stride = p)
// written as patchify + Linear. Patch (py, px) becomes row py·(S/p)+px (the
// order of conv(...).flatten(2).transpose(1, 2)), and within a row the
// values go in the order of the weight's [C, p, p] axes, so the
// checkpoint's [H, C, p, p] weight is used unchanged.
type PatchEmbeddings struct {
	name string
	// Projection is a slot ("…patch_embeddings.projection").
	Projection nn.Layer
	Channels   int
	Image      int
	Patch      int

	needDX   bool
	b        int
	patches  *tensor.Tensor // [B, N, C·p·p], kept when the projection's backward reads it
	patchesT *tensor.Tensor // the same, when not
	dpix     *tensor.Tensor
}

func newPatchEmbeddings(name string, cfg *Config) *PatchEmbeddings {
	c, p := cfg.NumChannels, cfg.PatchSize
	proj := nn.NewLinear(nn.Join(name, "projection"), c*p*p, cfg.HiddenSize, true)
	proj.Weight.Value = tensor.New(tensor.F32, cfg.HiddenSize, c, p, p)
	proj.Conv = true // a Conv2d in transformers: not quantised (bitsandbytes replaces Linears only)
	return &PatchEmbeddings{name: name, Projection: proj, Channels: c, Image: cfg.ImageSize, Patch: p}
}

// Name implements nn.Module.
func (e *PatchEmbeddings) Name() string { return e.name }

// Params implements nn.Module.
func (e *PatchEmbeddings) Params() []*nn.Param { return nil }

// Children implements nn.Module.
func (e *PatchEmbeddings) Children() []nn.Module { return []nn.Module{e.Projection} }

// SetInputGrad sets whether Backward returns dL/dpixel_values.
func (e *PatchEmbeddings) SetInputGrad(need bool) { e.needDX = need }

// Forward maps pixel_values [B, C, S, S] to patch embeddings [B, N, H].
func (e *PatchEmbeddings) Forward(pix *tensor.Tensor) *tensor.Tensor {
	s, c, p := e.Image, e.Channels, e.Patch
	if sh := pix.Shape(); len(sh) != 4 || sh[1] != c || sh[2] != s || sh[3] != s {
		panic(fmt.Sprintf("vit: pixel_values %v, want [batch %d %d %d]", pix, c, s, s))
	}
	B, g := pix.Dim(0), s/p
	e.b = B
	e.prepare()
	patches := nn.OutputBuffer(&e.patches, &e.patchesT, !nn.NeedsInput(e.Projection), B, g*g, c*p*p)
	src, dst := pix.F32(), patches.F32()
	row := c * p * p
	kernels.ParallelFor(B*g*g, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			b, py, px := r/(g*g), (r%(g*g))/g, r%g
			out := dst[r*row : (r+1)*row]
			for ch := 0; ch < c; ch++ {
				for ky := 0; ky < p; ky++ {
					in := src[((b*c+ch)*s+py*p+ky)*s+px*p:]
					copy(out[(ch*p+ky)*p:(ch*p+ky+1)*p], in[:p])
				}
			}
		}
	})
	return e.Projection.Forward(patches)
}

// prepare sets the projection's flags: its output is read only by the
// embeddings' sum.
func (e *PatchEmbeddings) prepare() {
	e.Projection.SetInputGrad(e.needDX)
	nn.KeepOutput(e.Projection, false)
}

// Backward takes dL/d(patch embeddings) [B, N, H] and returns
// dL/dpixel_values, or nil when input gradients are off. With a frozen
// projection and no input gradient it does nothing.
func (e *PatchEmbeddings) Backward(dy *tensor.Tensor) *tensor.Tensor {
	if !e.needDX && !nn.HasTrainable(e.Projection) {
		return nil
	}
	e.prepare()
	dp := e.Projection.Backward(dy)
	if !e.needDX {
		return nil
	}
	s, c, p, B := e.Image, e.Channels, e.Patch, e.b
	g, row := s/p, c*p*p
	e.dpix = nn.ReuseAs(memory.Workspace, e.dpix, B, c, s, s)
	src, dst := dp.F32(), e.dpix.F32()
	// Patches tile the image, so each pixel gets exactly one value.
	kernels.ParallelFor(B*g*g, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			b, py, px := r/(g*g), (r%(g*g))/g, r%g
			in := src[r*row : (r+1)*row]
			for ch := 0; ch < c; ch++ {
				for ky := 0; ky < p; ky++ {
					copy(dst[((b*c+ch)*s+py*p+ky)*s+px*p:][:p], in[(ch*p+ky)*p:(ch*p+ky+1)*p])
				}
			}
		}
	})
	return e.dpix
}

// Embeddings is ViTEmbeddings: CLS token, patch embeddings, position
// embeddings, dropout.
type Embeddings struct {
	name               string
	CLSToken           *nn.Param // [1, 1, H]
	PositionEmbeddings *nn.Param // [1, N+1, H]
	Patch              *PatchEmbeddings
	Dropout            *nn.Dropout

	needDX bool
	b      int
	y      *tensor.Tensor // [B, N+1, H]
	dproj  *tensor.Tensor // [B, N, H]
}

func newEmbeddings(name string, cfg *Config, seed uint64) *Embeddings {
	h := cfg.HiddenSize
	return &Embeddings{
		name:               name,
		CLSToken:           nn.NewParam(nn.Join(name, "cls_token"), tensor.New(tensor.F32, 1, 1, h)),
		PositionEmbeddings: nn.NewParam(nn.Join(name, "position_embeddings"), tensor.New(tensor.F32, 1, cfg.Tokens(), h)),
		Patch:              newPatchEmbeddings(nn.Join(name, "patch_embeddings"), cfg),
		Dropout:            nn.NewDropout(nn.Join(name, "dropout"), float32(cfg.HiddenDropoutProb), seed),
	}
}

// Name implements nn.Module.
func (e *Embeddings) Name() string { return e.name }

// Params implements nn.Module.
func (e *Embeddings) Params() []*nn.Param { return []*nn.Param{e.CLSToken, e.PositionEmbeddings} }

// Children implements nn.Module.
func (e *Embeddings) Children() []nn.Module { return []nn.Module{e.Patch, e.Dropout} }

// SetInputGrad sets whether Backward returns dL/dpixel_values.
func (e *Embeddings) SetInputGrad(need bool) { e.needDX = need }

// Forward maps pixel_values [B, C, S, S] to the token sequence [B, N+1, H].
func (e *Embeddings) Forward(pix *tensor.Tensor) *tensor.Tensor {
	e.Patch.SetInputGrad(e.needDX)
	proj := e.Patch.Forward(pix).F32()
	B := pix.Dim(0)
	T, H := e.PositionEmbeddings.Value.Dim(1), e.PositionEmbeddings.Value.Dim(2)
	e.b = B
	e.y = nn.ReuseAs(memory.Activations, e.y, B, T, H)
	y, cls, pos := e.y.F32(), e.CLSToken.Value.F32(), e.PositionEmbeddings.Value.F32()
	for b := 0; b < B; b++ {
		yb := y[b*T*H : (b+1)*T*H]
		kernels.Add(yb[:H], cls, pos[:H])
		kernels.Add(yb[H:], proj[b*(T-1)*H:(b+1)*(T-1)*H], pos[H:])
	}
	return e.Dropout.Forward(e.y)
}

// Backward takes dL/dsequence [B, N+1, H], accumulates the gradients of
// trainable embeddings and returns dL/dpixel_values or nil.
func (e *Embeddings) Backward(dy *tensor.Tensor) *tensor.Tensor {
	needPatch := e.needDX || nn.HasTrainable(e.Patch)
	if !needPatch && !e.CLSToken.Trainable && !e.PositionEmbeddings.Trainable {
		return nil
	}
	B := e.b
	T, H := e.PositionEmbeddings.Value.Dim(1), e.PositionEmbeddings.Value.Dim(2)
	e.Dropout.SetInputGrad(true)
	g := e.Dropout.Backward(dy).F32()
	for b := 0; b < B; b++ {
		gb := g[b*T*H : (b+1)*T*H]
		if e.CLSToken.Trainable {
			kernels.AddTo(e.CLSToken.Grad.F32(), gb[:H])
		}
		if e.PositionEmbeddings.Trainable {
			kernels.AddTo(e.PositionEmbeddings.Grad.F32(), gb)
		}
	}
	if !needPatch {
		return nil
	}
	e.dproj = nn.ReuseAs(memory.Workspace, e.dproj, B, T-1, H)
	for b := 0; b < B; b++ {
		copy(e.dproj.F32()[b*(T-1)*H:(b+1)*(T-1)*H], g[b*T*H+H:(b+1)*T*H])
	}
	e.Patch.SetInputGrad(e.needDX)
	return e.Patch.Backward(e.dproj)
}

// Buffers implements nn.Buffered.
func (e *PatchEmbeddings) Buffers() (act, work []**tensor.Tensor) {
	return []**tensor.Tensor{&e.patches}, []**tensor.Tensor{&e.dpix, &e.patchesT}
}

// Plan implements nn.Planner for pixel_values [B, C, S, S]: the patches
// (the projection's input: an activation when its backward reads it), the
// projection, dpix (workspace).
func (e *PatchEmbeddings) Plan(in []int, backward bool) nn.Cost {
	B, g, row := in[0], e.Image/e.Patch, e.Channels*e.Patch*e.Patch
	var c nn.Cost
	e.prepare()
	if nn.NeedsInput(e.Projection) {
		c.Slot(e.name+"#patches", memory.Activations, B*g*g*row)
	} else {
		c.Slot(e.name+"#patchesT", memory.Workspace, B*g*g*row)
	}
	c.Ran(nn.Elementwise(nn.OpCopy, B*g*g*row)) // patchify
	bw := backward && (e.needDX || nn.HasTrainable(e.Projection))
	if bw && e.needDX {
		c.Bytes[memory.Workspace] = 4 * int64(tensor.NumElems(in))
		c.Ran(nn.Elementwise(nn.OpCopy, tensor.NumElems(in)))
	}
	return c.Plus(nn.PlanOf(e.Projection, []int{B, g * g, row}, bw))
}

// Buffers implements nn.Buffered.
func (e *Embeddings) Buffers() (act, work []**tensor.Tensor) {
	return []**tensor.Tensor{&e.y}, []**tensor.Tensor{&e.dproj}
}

// Plan implements nn.Planner for pixel_values [B, C, S, S].
func (e *Embeddings) Plan(in []int, backward bool) nn.Cost {
	B := in[0]
	T, H := e.PositionEmbeddings.Value.Dim(1), e.PositionEmbeddings.Value.Dim(2)
	needPatch := e.needDX || nn.HasTrainable(e.Patch)
	bw := backward && (needPatch || e.CLSToken.Trainable || e.PositionEmbeddings.Trainable)
	var c nn.Cost
	c.Bytes[memory.Activations] = 4 * int64(B*T*H)
	c.Run(nn.Elementwise(nn.OpAdd, H), int64(B))       // CLS + its position
	c.Run(nn.Elementwise(nn.OpAdd, (T-1)*H), int64(B)) // patches + theirs
	if bw {
		e.Dropout.SetInputGrad(true)
		e.Patch.SetInputGrad(e.needDX)
		if e.CLSToken.Trainable {
			c.Run(nn.Elementwise(nn.OpAddTo, H), int64(B))
		}
		if e.PositionEmbeddings.Trainable {
			c.Run(nn.Elementwise(nn.OpAddTo, T*H), int64(B))
		}
	}
	if bw && needPatch {
		c.Bytes[memory.Workspace] = 4 * int64(B*(T-1)*H)
		c.Run(nn.Elementwise(nn.OpCopy, (T-1)*H), int64(B))
	}
	c = c.Plus(e.Dropout.Plan([]int{B, T, H}, bw))
	return c.Plus(e.Patch.Plan(in, bw && needPatch))
}
