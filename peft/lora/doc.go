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
package lora
