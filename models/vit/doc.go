// Package vit is Hugging Face's ViTForImageClassification in golora: the
// same config.json fields, the same module tree and parameter names, the
// same model.safetensors keys, and the same numbers (tested against
// PyTorch outputs in testdata/vit-tiny).
//
// The tree, with H = hidden_size, T = (image_size/patch_size)² patches:
//
//	vit.embeddings.cls_token                      [1, 1, H]
//	vit.embeddings.position_embeddings            [1, T+1, H]
//	vit.embeddings.patch_embeddings.projection    Conv2d(C→H, kernel = stride = patch)
//	vit.encoder.layer.N.layernorm_before
//	vit.encoder.layer.N.attention.attention.{query,key,value}
//	vit.encoder.layer.N.attention.output.dense
//	vit.encoder.layer.N.layernorm_after
//	vit.encoder.layer.N.intermediate.dense        (+ hidden_act)
//	vit.encoder.layer.N.output.dense
//	vit.layernorm
//	classifier                                    on the CLS token
//
// The patch embedding's convolution is a patchify step followed by an
// nn.Linear whose weight keeps the checkpoint's shape [H, C, p, p].
//
// Backward runs only as far down as gradients are needed: the classifier
// computes dx only if something below it trains, blocks below the lowest
// trainable block are never entered, and the patch embedding computes no
// input gradient unless Model.InputGrad asks for dL/dpixel_values.
//
// Memory: the encoder blocks run on a models.Stack: one set of internal
// workspace, handed from block to block, and the blocks' input gradients in
// two buffers by parity; with SetGradientCheckpointing they also share one
// set of internal activations, each block keeping only its output (the
// next block's input), and the backward recomputes each block before its
// backward. Model.Plan declares the bytes and GEMM FLOPs of a step, exactly.
//
// Sizes are checked before anything is allocated, as internal/sizecheck
// describes for every model family: Config.Validate bounds each size field
// by a Max* ceiling (and num_labels before the label names are made),
// ExpectedCount saturates instead of wrapping, Load checks that
// model.safetensors can hold the parameters config.json implies and that
// file and model fit in memory, and the constructors refuse weights that
// do not fit (Config.CheckMemory). Errors name the field and the bytes.
package vit
