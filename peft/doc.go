// Package peft holds what every parameter-efficient method shares: the
// on-disk adapter layout of Hugging Face PEFT (adapter_config.json +
// adapter_model.safetensors, a non-default adapter in a sub-directory named
// after it) and the mapping between golora's module names and PEFT's
// state-dict keys ("base_model.model.<hf path>.lora_A.weight", with the
// adapter name stripped). The methods themselves live in sub-packages
// (peft/lora first).
package peft
