package tokenizer

import (
	"testing"
)

// FuzzFromJSON: any tokenizer.json is either refused with an error or
// loads into a tokenizer that encodes and decodes without panicking.
func FuzzFromJSON(f *testing.F) {
	for _, s := range []string{
		`{"model":{"type":"WordPiece","unk_token":"[UNK]","vocab":{"[UNK]":0,"a":1,"##b":2}},"normalizer":{"type":"BertNormalizer"},"pre_tokenizer":{"type":"BertPreTokenizer"},"post_processor":{"type":"BertProcessing","sep":["[SEP]",2],"cls":["[UNK]",0]},"decoder":{"type":"WordPiece"}}`,
		`{"added_tokens":[{"id":3,"content":"<s>","special":true,"lstrip":true,"rstrip":true,"single_word":true}],"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]},"pre_tokenizer":{"type":"ByteLevel"},"decoder":{"type":"ByteLevel"},"truncation":{"max_length":3,"strategy":"LongestFirst","direction":"Left","stride":0},"padding":{"strategy":{"Fixed":4}}}`,
		`{"model":{"type":"BPE","byte_fallback":true,"fuse_unk":true,"unk_token":"u","vocab":{"u":0,"<0x61>":1,"▁":2},"merges":[]},"normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]},"decoder":{"type":"Sequence","decoders":[{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]}}`,
		`{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":true},"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"x","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],"pair":[],"special_tokens":{"x":{"id":"x","ids":[0],"tokens":["a"]}}}}`,
	} {
		f.Add([]byte(s), "ab a<s>b  é\x85中")
	}
	f.Fuzz(func(t *testing.T, data []byte, text string) {
		if len(data) > 1<<16 {
			return
		}
		tk, err := FromJSON(data)
		if err != nil {
			return
		}
		e, err := tk.Encode(text, true)
		if err != nil {
			return
		}
		_ = tk.Decode(e.IDs, true)
		_, _ = tk.EncodePair(text, text, true)
		_, _ = tk.EncodeBatch([]string{text, ""}, true)
	})
}
