// Package bert is Hugging Face's BertForSequenceClassification in golora:
// transformers' config.json fields and defaults (BertConfig), module tree,
// parameter names and model.safetensors keys, and the same numbers (tested
// against PyTorch in testdata/bert-tiny, written by
// testdata/gen_text_models.py).
//
// The tree, with H = hidden_size:
//
//	bert.embeddings.{word,position,token_type}_embeddings, .LayerNorm
//	bert.encoder.layer.N.attention.self.{query,key,value}
//	bert.encoder.layer.N.attention.output.dense, .LayerNorm
//	bert.encoder.layer.N.intermediate.dense     (+ hidden_act)
//	bert.encoder.layer.N.output.dense, .LayerNorm
//	bert.pooler.dense                           tanh, on the first token ([CLS])
//	classifier                                  H → num_labels
//
// The blocks are post-norm (LayerNorm after each residual); positions are
// absolute (position_embedding_type "absolute"; relative ones are
// refused); the batch's token_type_ids are optional (all 0), its attention
// mask keeps padding out of every attention. Checkpoints of the bare
// encoder (BertModel, BertForMaskedLM, BertForPreTraining) load with a
// fresh classifier; their pre-training heads ("cls.") are ignored.
//
// As in models/llama and models/vit: backward only as far as gradients are
// needed, shared block buffers and gradient checkpointing (models.Stack),
// exact planned costs, bounded sizes (internal/sizecheck).
package bert
