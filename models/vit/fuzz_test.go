package vit

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"testing"

	"github.com/golora/golora/internal/sizecheck"
)

// fuzzMemory is the memory the fuzz targets tell golora it has, so that
// whatever a fuzzed input may make it allocate stays small (and every
// execution quick).
const fuzzMemory = 8 << 20

// FuzzLoadConfig feeds config.json bytes to ParseConfig. Any input is
// refused with an error or yields a valid config whose sizes are within
// the ceilings, which builds (when its weights fit the memory given) into
// a model with exactly ExpectedCount parameters, and which survives a
// write and a re-read unchanged. Nothing is allocated in proportion to a
// size the memory check has not passed.
func FuzzLoadConfig(f *testing.F) {
	f.Setenv(sizecheck.MemEnv, strconv.Itoa(fuzzMemory))
	b, err := os.ReadFile(filepath.Join(tinyDir, ConfigFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	def := DefaultConfig()
	if b, err = def.configFile(); err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	for _, s := range []string{
		`{"hidden_size": 1000000, "num_attention_heads": 1000}`,
		`{"hidden_size": 1000000000000000000, "num_attention_heads": 1}`,
		`{"intermediate_size": 10000000000}`,
		`{"num_hidden_layers": 1000000000}`,
		`{"num_labels": 1000000000}`,
		`{"image_size": 1000000000, "patch_size": 1}`,
		`{"image_size": [32, 32], "patch_size": 8, "hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 8, "num_hidden_layers": 1, "id2label": {"0": "a", "1": "b"}}`,
		`{"model_type": "vit", "num_labels": 3, "id2label": {"0": "a", "1": "b", "2": "c"}, "label2id": {"a": 0}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c, err := ParseConfig(data)
		runtime.ReadMemStats(&after)
		// Parsing allocates in proportion to the input, and to no size in
		// it but num_labels (LABEL_i names), once within MaxLabels.
		var raw map[string]json.RawMessage
		var labels int64
		if json.Unmarshal(data, &raw) == nil && json.Unmarshal(raw["num_labels"], &labels) == nil {
			labels = min(max(labels, 0), MaxLabels)
		}
		if a := after.TotalAlloc - before.TotalAlloc; a > 64*uint64(len(data))+256*uint64(labels)+1<<20 {
			t.Fatalf("ParseConfig allocated %d bytes for %d bytes of input and %d labels", a, len(data), labels)
		}
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseConfig returned a config that Validate refuses: %v", err)
		}
		p := ExpectedCount(c)
		if p.Total <= 0 || p.Total == sizecheck.Saturated {
			t.Fatalf("a valid config has %d parameters", p.Total)
		}
		// Round trip through config.json.
		b, err := c.configFile()
		if err != nil {
			t.Fatalf("writing a valid config: %v", err)
		}
		back, err := ParseConfig(b)
		if err != nil {
			t.Fatalf("re-reading a written config: %v\n%s", err, b)
		}
		c.Extra, back.Extra = nil, nil
		if !reflect.DeepEqual(c, back) {
			t.Fatalf("config changed in a write and re-read:\n%+v\n%+v", c, back)
		}
		if p.Bytes["F32"] > fuzzMemory/4 {
			return // NewZero must refuse or fit; building big ones is slow
		}
		runtime.ReadMemStats(&before)
		m, err := NewZero(c, 1)
		runtime.ReadMemStats(&after)
		if err != nil {
			return
		}
		if got := Count(m); got.Total != p.Total {
			t.Fatalf("built %d parameters, ExpectedCount says %d", got.Total, p.Total)
		}
		if a := after.TotalAlloc - before.TotalAlloc; a > uint64(2*p.Bytes["F32"])+8<<20 {
			t.Fatalf("NewZero allocated %d bytes for %d bytes of weights", a, p.Bytes["F32"])
		}
	})
}
