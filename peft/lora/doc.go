// Package lora is LoRA exactly as Hugging Face PEFT does it: low-rank
// adapters beside chosen Linear layers, y = W·x + b + s·B·A·dropout(x) with
// s = lora_alpha/r (rsLoRA: lora_alpha/√r), A [r, in] kaiming-uniform(a=√5)
// and B [out, r] zero at init, a frozen base, and modules_to_save trained in
// full.
//
// Config mirrors PEFT's LoraConfig field for field (JSON names included);
// Inject wraps the matched Linears of a model and decides what trains;
// Save/Load read and write PEFT's adapter files, so adapters move between
// golora and PEFT both ways. Several named adapters may live on one model:
// add, activate, disable, delete, merge, unmerge, merge-and-unload.
//
// The LoRA family rides on the same layer: use_dora makes an adapter DoRA
// (a trainable magnitude per output row over the normalised W + s·B·A,
// dora.go); init_lora_weights chooses the initialisation (true, false,
// "gaussian", "pissa", "pissa_niter_N", "olora", init.go), where PiSSA and
// OLoRA rewrite the base weight to a residual and SaveAdapterConverted turns
// the trained adapter into a plain rank-2r LoRA for the original base
// (convert.go). LoRA+ is an optimizer matter: LoraPlusScale gives the
// learning-rate multipliers of PEFT's create_loraplus_optimizer.
package lora
