package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// headerParser walks the JSON header token by token. Going through tokens
// rather than json.Unmarshal lets it reject duplicate keys, match field
// names exactly (encoding/json folds case) and say which tensor is wrong.
type headerParser struct {
	dec *json.Decoder
}

// entry is one tensor of a header, in the order the header lists it.
type entry struct {
	name string
	info TensorInfo
}

// parseHeader parses the JSON header into its metadata (nil if absent) and
// tensor entries. It does not check offsets against the buffer.
func parseHeader(hdr []byte) (map[string]string, []entry, error) {
	p := headerParser{dec: json.NewDecoder(bytes.NewReader(hdr))}
	p.dec.UseNumber()
	var meta map[string]string
	var entries []entry
	err := p.object("header", func(key string) error {
		if key == "__metadata__" {
			m, err := p.metadata()
			meta = m
			return err
		}
		info, err := p.tensorInfo(key)
		if err != nil {
			return err
		}
		entries = append(entries, entry{key, info})
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	// Only whitespace (the writer's padding) may follow the object.
	if tok, err := p.dec.Token(); err != io.EOF {
		if err != nil {
			return nil, nil, jsonError(err)
		}
		return nil, nil, fmt.Errorf("header has %s after its closing brace", describe(tok))
	}
	return meta, entries, nil
}

// metadata reads the "__metadata__" value: an object of strings, or null,
// which means no metadata (an Option in the reference).
func (p *headerParser) metadata() (map[string]string, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return nil, jsonError(err)
	}
	if tok == nil {
		return nil, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("__metadata__ is %s, not a JSON object", describe(tok))
	}
	m := map[string]string{}
	err = p.objectBody("__metadata__", func(key string) error {
		tok, err := p.dec.Token()
		if err != nil {
			return jsonError(err)
		}
		s, ok := tok.(string)
		if !ok {
			return fmt.Errorf("__metadata__ value of %q is %s; metadata values must be strings", key, describe(tok))
		}
		m[key] = s
		return nil
	})
	return m, err
}

// tensorInfo reads one tensor's {"dtype", "shape", "data_offsets"} object.
// Unknown fields are skipped, as the reference implementation does.
func (p *headerParser) tensorInfo(name string) (TensorInfo, error) {
	var info TensorInfo
	var haveDType, haveShape, haveOffsets bool
	what := fmt.Sprintf("tensor %q", name)
	err := p.object(what, func(key string) error {
		switch key {
		case "dtype":
			tok, err := p.dec.Token()
			if err != nil {
				return jsonError(err)
			}
			s, ok := tok.(string)
			if !ok {
				return fmt.Errorf("%s: dtype is %s, not a string", what, describe(tok))
			}
			if _, known := dtypes[s]; !known {
				return fmt.Errorf("%s: unknown dtype %q", what, s)
			}
			info.DType, haveDType = s, true
		case "shape":
			dims, err := p.uintArray(what + ": shape")
			if err != nil {
				return err
			}
			info.Shape = make([]int, len(dims))
			for i, d := range dims {
				info.Shape[i] = int(d)
			}
			haveShape = true
		case "data_offsets":
			offs, err := p.uintArray(what + ": data_offsets")
			if err != nil {
				return err
			}
			if len(offs) != 2 {
				return fmt.Errorf("%s: data_offsets has %d numbers, want 2 (begin, end)", what, len(offs))
			}
			info.DataOffsets = [2]int64{offs[0], offs[1]}
			haveOffsets = true
		default:
			var skip json.RawMessage
			if err := p.dec.Decode(&skip); err != nil {
				return jsonError(err)
			}
		}
		return nil
	})
	if err != nil {
		return info, err
	}
	switch {
	case !haveDType:
		return info, fmt.Errorf("%s: missing dtype", what)
	case !haveShape:
		return info, fmt.Errorf("%s: missing shape", what)
	case !haveOffsets:
		return info, fmt.Errorf("%s: missing data_offsets", what)
	}
	return info, nil
}

// object reads a JSON object, calling field once per key; field must consume
// the key's value. what names the object in errors.
func (p *headerParser) object(what string, field func(key string) error) error {
	tok, err := p.dec.Token()
	if err != nil {
		return jsonError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("%s is %s, not a JSON object", what, describe(tok))
	}
	return p.objectBody(what, field)
}

// objectBody reads the keys and values of an object whose '{' has been read.
func (p *headerParser) objectBody(what string, field func(key string) error) error {
	seen := map[string]bool{}
	for p.dec.More() {
		tok, err := p.dec.Token()
		if err != nil {
			return jsonError(err)
		}
		key := tok.(string) // the decoder only yields strings as object keys
		if seen[key] {
			return fmt.Errorf("%s has the key %q twice", what, key)
		}
		seen[key] = true
		if err := field(key); err != nil {
			return err
		}
	}
	if _, err := p.dec.Token(); err != nil { // the closing '}'
		return jsonError(err)
	}
	return nil
}

// uintArray reads an array of non-negative integers that fit in an int64.
// Its length is bounded by the header's length, so is the allocation.
func (p *headerParser) uintArray(what string) ([]int64, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return nil, jsonError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fmt.Errorf("%s is %s, not an array", what, describe(tok))
	}
	var out []int64
	for p.dec.More() {
		tok, err := p.dec.Token()
		if err != nil {
			return nil, jsonError(err)
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s[%d] is %s, not an integer", what, len(out), describe(tok))
		}
		s := string(num)
		if strings.HasPrefix(s, "-") {
			return nil, fmt.Errorf("%s[%d] is negative (%s)", what, len(out), s)
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return nil, fmt.Errorf("%s[%d] = %s is too large", what, len(out), s)
			}
			return nil, fmt.Errorf("%s[%d] = %s is not an integer", what, len(out), s)
		}
		out = append(out, v)
	}
	if _, err := p.dec.Token(); err != nil { // the closing ']'
		return nil, jsonError(err)
	}
	return out, nil
}

// describe names the kind of a JSON token for error messages.
func describe(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return "an object"
		case '[':
			return "an array"
		}
		return fmt.Sprintf("%q", string(t))
	case string:
		return fmt.Sprintf("the string %q", t)
	case json.Number:
		return "the number " + string(t)
	case bool:
		return fmt.Sprintf("%v", t)
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}

// jsonError wraps a decoder error as a header error.
func jsonError(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errors.New("header is not valid JSON: unexpected end of header")
	}
	return fmt.Errorf("header is not valid JSON: %w", err)
}
