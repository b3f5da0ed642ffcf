package llama

import "fmt"

// PadToken returns config.json's pad_token_id, if it has one.
func (d *Decoder) PadToken() (int, bool) {
	if d.cfg.PadTokenID == nil {
		return 0, false
	}
	return *d.cfg.PadTokenID, true
}

// SetPadToken sets pad_token_id, which Save writes to config.json. A
// checkpoint whose pad_token_id is null cannot be run by transformers'
// LlamaForSequenceClassification on batches of more than one sequence (it
// pools the last token before the first pad), so a fine-tuned model
// records the pad its training used. Only the config changes: the
// embedding row stays as trained.
func (d *Decoder) SetPadToken(id int) error {
	if id < 0 || id >= d.cfg.VocabSize {
		return fmt.Errorf("llama: pad token %d is outside the vocabulary of %d", id, d.cfg.VocabSize)
	}
	d.cfg.PadTokenID = &id
	return nil
}
