// Package llama is Hugging Face's LlamaForCausalLM and
// LlamaForSequenceClassification in golora: transformers' config.json
// fields and defaults (LlamaConfig), module tree, parameter names and
// model.safetensors keys, and the same numbers (tested against PyTorch in
// testdata/llama-tiny*, written by testdata/gen_text_models.py).
//
// The tree, with H = hidden_size, d = head_dim (hidden_size /
// num_attention_heads unless given), heads and kv heads from the config:
//
//	model.embed_tokens                       [vocab_size, H]
//	model.layers.N.input_layernorm           RMSNorm
//	model.layers.N.self_attn.q_proj          H → heads·d   (bias if attention_bias)
//	model.layers.N.self_attn.{k,v}_proj      H → kv_heads·d
//	model.layers.N.self_attn.o_proj          heads·d → H
//	model.layers.N.post_attention_layernorm  RMSNorm
//	model.layers.N.mlp.{gate,up}_proj        H → intermediate_size (bias if mlp_bias)
//	model.layers.N.mlp.down_proj             intermediate_size → H
//	model.norm                               RMSNorm
//	lm_head                                  H → vocab_size, absent when tie_word_embeddings
//	score                                    H → num_labels (sequence classification)
//
// Attention is grouped-query (query head h reads key/value head h /
// (heads / kv_heads)), causal, with rotary position embeddings in
// transformers' rotate_half convention (rope_theta; rope_scaling default,
// linear or llama3; others are refused) and the attention mask of padding.
// The MLP is SwiGLU (hidden_act "silu"). Weights stored in bf16 or f16
// are widened to f32, or kept in bf16 for frozen Linear weights.
//
// A causal LM's logits are per token; golora's collators shift the labels
// (target t is token t+1, -100 not scored), the loss transformers'
// LlamaForCausalLM computes. The sequence classifier reads the last token
// of each sequence (the last attention-mask 1, or the last id that is not
// pad_token_id), as transformers pools right-padded batches.
//
// Generate continues a prompt with a KV cache (greedy, or sampled with
// temperature, top-k and top-p as transformers' warpers).
//
// Backward runs only as far down as gradients are needed; the blocks share
// one set of internal buffers (models.Stack) and support gradient
// checkpointing; Plan declares a step's bytes and GEMM FLOPs exactly.
// Config sizes are bounded, and weights and files checked against memory
// before anything is allocated (internal/sizecheck).
package llama
