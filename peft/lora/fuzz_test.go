package lora

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"testing"

	"github.com/golora/golora/internal/sizecheck"
	"github.com/golora/golora/peft"
)

// FuzzAdapterConfig feeds adapter_config.json bytes to ParseConfig and
// Inject on a small model. Any input is refused with an error, or yields a
// config that Validate accepts, that survives a write and a re-read, and
// that Inject either refuses or applies with exactly the ranks it names;
// nothing is allocated beyond the factors of those ranks.
func FuzzAdapterConfig(f *testing.F) {
	f.Setenv(sizecheck.MemEnv, "64MiB")
	for _, dir := range []string{"lora", "lora-rank-pattern", "lora-rslora"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", dir, "adapter", peft.ConfigName))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"peft_type":"LORA","r":1000000000,"lora_alpha":4,"target_modules":["query","value"]}`,
		`{"peft_type":"LORA","r":2,"lora_alpha":4,"target_modules":["query"],"rank_pattern":{"query":1000000000}}`,
		`{"peft_type":"LORA","r":65536,"lora_alpha":4,"target_modules":"all-linear"}`,
		`{"peft_type":"LORA","r":2,"lora_alpha":4,"target_modules":["query","value"],"alpha_pattern":{"value":0},"layers_to_transform":[1]}`,
		`{"peft_type":"LORA","r":3,"lora_alpha":-4,"target_modules":".*\\.query","exclude_modules":["layer.0.attention.query"],"use_rslora":true}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil || c.Validate() != nil {
			return
		}
		b, err := MarshalConfig(&c)
		if err != nil {
			t.Fatalf("writing a valid config: %v", err)
		}
		back, err := ParseConfig(b)
		if err != nil {
			t.Fatalf("re-reading a written config: %v\n%s", err, b)
		}
		if err := back.Validate(); err != nil {
			t.Fatalf("a written config no longer validates: %v\n%s", err, b)
		}
		asSet := func(t Targets) Targets { // PEFT keeps target_modules as a set
			if t.Names != nil {
				t.Names = slices.Compact(slices.Sorted(slices.Values(t.Names)))
			}
			return t
		}
		for _, pair := range [][2]any{{c.R, back.R}, {c.RankPattern, back.RankPattern}, {c.AlphaPattern, back.AlphaPattern},
			{asSet(c.TargetModules), asSet(back.TargetModules)}, {c.LayersToTransform, back.LayersToTransform}} {
			if !reflect.DeepEqual(pair[0], pair[1]) {
				t.Fatalf("config field changed in a write and re-read: %v became %v", pair[0], pair[1])
			}
		}
		base := newToy(2, 16, 3, 1)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m, err := Inject(base, c, 1)
		runtime.ReadMemStats(&after)
		if err != nil {
			return
		}
		var values int64
		for _, l := range m.Layers() {
			a, bp, ok := l.Factors(DefaultAdapterName)
			if !ok {
				t.Fatalf("%s has no default adapter", l.Name())
			}
			r, _ := c.rankAlpha(l.Name())
			if a.Value.Dim(0) != r || bp.Value.Dim(1) != r || a.Value.Dim(1) != l.Base.In || bp.Value.Dim(0) != l.Base.Out {
				t.Fatalf("%s: A %v, B %v for rank %d", l.Name(), a.Value.Shape(), bp.Value.Shape(), r)
			}
			values += int64(a.Value.Len() + bp.Value.Len())
		}
		if a := after.TotalAlloc - before.TotalAlloc; a > uint64(16*values)+4<<20 {
			t.Fatalf("Inject allocated %d bytes for %d factor values", a, values)
		}
	})
}
