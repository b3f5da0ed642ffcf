package models

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/golora/golora/internal/sizecheck"
)

// LoadConfigFile reads the config.json at path (bounded in size) and
// parses it with the family's parse; errors carry the family's name and
// the path.
func LoadConfigFile[C any](family, path string, parse func([]byte) (C, error)) (C, error) {
	var zero C
	b, err := sizecheck.ReadFile(path, sizecheck.MaxConfigFile)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", family, err)
	}
	c, err := parse(b)
	if err != nil {
		return zero, fmt.Errorf("%s: %s: %w", family, path, err)
	}
	return c, nil
}

// ConfigObject decodes config.json content, which must be one JSON
// object, into its raw fields.
func ConfigObject(data []byte) (map[string]json.RawMessage, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if raw == nil {
		return nil, fmt.Errorf("invalid JSON: the top level is not an object")
	}
	return raw, nil
}

// MarshalConfigFile is config.json's bytes for c (a family's Config, whose
// MarshalJSON writes transformers' fields): indented by 2 with a final
// newline, as save_pretrained writes it.
func MarshalConfigFile(c json.Marshaler) ([]byte, error) {
	compact, err := c.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := json.Indent(&b, compact, "", "  "); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}
