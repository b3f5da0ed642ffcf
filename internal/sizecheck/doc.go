// Package sizecheck refuses absurd sizes before anything is allocated.
//
// Every size golora reads from outside (a config.json field, an
// adapter_config.json rank, an image or idx header, a numeric flag) is
// checked here first, so a hostile or broken input gets a one-line error
// naming the field, its value and the bytes it would need, never a Go panic
// ("makeslice: len out of range") or "fatal error: out of memory".
//
// The checks come in three layers, applied in this order:
//
//  1. Bounds (Int, Float): every size is positive and below a fixed,
//     machine-independent ceiling chosen far above any real model (a
//     package documents its ceilings beside its config). The ceilings make
//     the arithmetic of the next steps safe: products of bounded sizes fit
//     in an int64.
//  2. Derived counts (Mul, Add): parameter counts and byte counts are
//     computed with saturating arithmetic, so even unbounded inputs give
//     "more than 8 EiB", not a wrapped negative number.
//  3. Resources (FileHolds, Memory, ReadFile): the bytes a header or config
//     implies are checked against what the file really holds (a header
//     cannot claim more data than its file stores) and against the memory
//     this process can still get (Available: /proc/meminfo's MemAvailable,
//     capped by a cgroup limit, or GOLORA_MEM_AVAILABLE when set).
//
// # How a model family uses it
//
// A model package (models/vit today; models/llama, models/bert, ...) follows
// the pattern of models/vit:
//
//   - Config.Validate checks every size field with Int against exported
//     Max* ceilings (e.g. vit.MaxHiddenSize), the relations between fields
//     (heads divide hidden_size, patch_size divides image_size), and any
//     count that would otherwise allocate before Validate runs (num_labels
//     before the label maps are made). It allocates nothing proportional to
//     a field.
//   - The parameter count implied by the config (vit.ExpectedCount) is
//     computed with Mul and Add.
//   - Load checks, before reading tensors, that the weights file can hold
//     the implied parameters (FileHolds, at the smallest stored dtype), and
//     that the file plus the model fit in memory (Memory).
//   - The constructor that allocates the weights (vit's build) calls Memory
//     with the weight bytes, naming the field that dominates them, so a
//     config built in code (or by flags) is refused too.
//   - config.json is read with ReadFile(path, MaxConfigFile).
//
// Adapter configs (peft/lora, peft/adalora) do the same for r,
// rank_pattern and alpha_pattern: bounded ranks in Validate, then the
// factor bytes of every targeted layer (r × (in + out)) against the adapter
// file when loading and against memory when injecting. Data loaders check
// image headers (image.DecodeConfig before decoding, MaxImagePixels) and
// idx headers (count × rows × cols against the file, read without trusting
// the header). The CLI bounds every numeric flag before it is used.
package sizecheck
