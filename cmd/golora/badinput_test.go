package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/golora/golora/internal/badinput"
	"github.com/golora/golora/internal/sizecheck"
	"github.com/golora/golora/models/vit"
	"github.com/golora/golora/peft/lora"
)

// badMemory is the memory the bad-input tests tell golora it has
// (sizecheck.MemEnv), and allocBound what one bad case may allocate in
// total: a check that trusts a size it should not shows up as an
// allocation over the bound, a panic, or a fatal out-of-memory.
const (
	badMemory  = "256MiB"
	allocBound = 256 << 20
)

// badCase is one hostile invocation of the CLI.
type badCase struct {
	name string
	args []string
	code int    // 1: bad files, 2: bad flags
	want string // in the one-line message
}

// runBad runs a case in-process through run and checks: no panic, the exit
// code, one line on stderr containing want, nothing on stdout, no output
// directory left behind, and the bytes allocated under bound.
func runBad(t *testing.T, tc badCase, bound uint64) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	code, so, se, panicked := func() (code int, so, se string, p any) {
		defer func() { p = recover() }()
		code, so, se = golora(tc.args...)
		return
	}()
	runtime.ReadMemStats(&after)
	if panicked != nil {
		t.Errorf("%s: golora %v panicked: %v", tc.name, tc.args, panicked)
		return
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > bound {
		t.Errorf("%s: golora %v allocated %s (bound %s)", tc.name, tc.args, sizecheck.Bytes(int64(alloc)), sizecheck.Bytes(int64(bound)))
	}
	oneLine := strings.HasPrefix(se, "golora: ") && strings.Count(se, "\n") == 1 && strings.HasSuffix(se, "\n")
	if code != tc.code || !oneLine || so != "" || !strings.Contains(se, tc.want) {
		t.Errorf("%s: golora %v: exit %d, stdout %q, stderr %q; want exit %d and one line with %q",
			tc.name, tc.args, code, so, se, tc.code, tc.want)
	}
	for i, a := range tc.args {
		if (a == "--output-dir" || a == "--out") && i+1 < len(tc.args) {
			if _, err := os.Stat(tc.args[i+1]); err == nil {
				t.Errorf("%s: golora %v left %s behind", tc.name, tc.args, tc.args[i+1])
			}
		}
	}
}

// copyDir copies the regular files of src into a new temporary directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// withJSON copies dir and merges fields (raw JSON values, so that literals
// such as 1e6 stay as written) into its file name; a nil value deletes the
// key.
func withJSON(t *testing.T, dir, name string, fields map[string]string) string {
	t.Helper()
	out := copyDir(t, dir)
	var m map[string]json.RawMessage
	b, err := os.ReadFile(filepath.Join(out, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range fields {
		if v == "" {
			delete(m, k)
			continue
		}
		m[k] = json.RawMessage(v)
	}
	var sb strings.Builder
	sb.WriteString("{")
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, "%q: %s", k, m[k])
	}
	sb.WriteString("}")
	if err := os.WriteFile(filepath.Join(out, name), []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// withSparse copies dir and replaces its file name by a sparse file of size
// bytes (nothing is written, so it costs no disk).
func withSparse(t *testing.T, dir, name string, size int64) string {
	t.Helper()
	out := copyDir(t, dir)
	f, err := os.Create(filepath.Join(out, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return out
}

// tinyAdapterDir saves a LoRA adapter (query, value; classifier saved) of
// the model in modelDir.
func tinyAdapterDir(t *testing.T, modelDir string) string {
	t.Helper()
	m, err := vit.Load(modelDir, vit.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := lora.DefaultConfig()
	c.R, c.TargetModules, c.ModulesToSave = 2, lora.TargetList("query", "value"), []string{"classifier"}
	lm, err := lora.Inject(m, c, 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "adapter")
	if err := lm.Save(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeFolder writes an image-folder dataset (train/ and test/, classes a
// and b, 8x8 gray PNGs) with the bytes of bad as train/a/bad.png.
func writeFolder(t *testing.T, bad []byte) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "folder")
	for _, d := range []string{"train/a", "train/b", "test/a", "test/b"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
		writePNG(t, filepath.Join(root, d, "1.png"), 8)
	}
	if err := os.WriteFile(filepath.Join(root, "train/a/bad.png"), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// writeIDXDir writes an idx dataset directory whose training images file
// is images (labels as many as it claims, capped) and whose test part is
// good.
func writeIDXDir(t *testing.T, images, labels []byte) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "idx")
	writeIDX(t, dir, "t10k", 8, 8, 4, 2)
	os.WriteFile(filepath.Join(dir, "train-images-idx3-ubyte.gz"), images, 0o644)
	os.WriteFile(filepath.Join(dir, "train-labels-idx1-ubyte.gz"), labels, 0o644)
	return dir
}

// TestBadInputTable runs every hostile input of issue 14, and more, through
// every command that reads it.
func TestBadInputTable(t *testing.T) {
	t.Setenv(sizecheck.MemEnv, badMemory)
	model := tinyModelDir(t)
	data := tinyData(t)
	png := filepath.Join(t.TempDir(), "ok.png")
	writePNG(t, png, 8)
	adapter := tinyAdapterDir(t, model)
	out := func() string { return filepath.Join(t.TempDir(), "out") }
	var cases []badCase
	// tight replaces allocBound for the cases named: lies smaller than the
	// memory, which must still cost no more than what the file holds.
	tight := map[string]uint64{}

	// config.json: every command that reads a model config.
	configCases := []struct {
		name   string
		fields map[string]string
		want   string
	}{
		{"hidden_size 1e6", map[string]string{"hidden_size": "1000000", "num_attention_heads": "1000"}, "hidden_size 1000000 is out of range"},
		{"hidden_size 1e6 literal", map[string]string{"hidden_size": "1e6"}, "hidden_size"},
		{"hidden_size 1e18", map[string]string{"hidden_size": "1000000000000000000", "num_attention_heads": "1"}, "hidden_size 1000000000000000000"},
		{"hidden_size 1e18 literal", map[string]string{"hidden_size": "1e18"}, "hidden_size"},
		{"hidden_size max int64", map[string]string{"hidden_size": "9223372036854775807"}, "hidden_size"},
		{"hidden_size -64", map[string]string{"hidden_size": "-64"}, "hidden_size -64"},
		{"hidden_size 0", map[string]string{"hidden_size": "0"}, "hidden_size 0"},
		{"heads do not divide", map[string]string{"num_attention_heads": "3"}, "num_attention_heads 3"},
		{"intermediate_size 1e10", map[string]string{"intermediate_size": "10000000000"}, "intermediate_size 10000000000"},
		{"num_hidden_layers 1e6", map[string]string{"num_hidden_layers": "1000000"}, "num_hidden_layers 1000000"},
		{"num_hidden_layers 1e9", map[string]string{"num_hidden_layers": "1000000000"}, "num_hidden_layers 1000000000"},
		{"num_labels 1e9", map[string]string{"num_labels": "1000000000", "id2label": "", "label2id": ""}, "num_labels 1000000000"},
		{"id2label id 1e9", map[string]string{"id2label": `{"999999999": "x"}`, "label2id": ""}, "id2label"},
		{"image_size 1e9 patch 1", map[string]string{"image_size": "1000000000", "patch_size": "1"}, "image_size 1000000000"},
		{"image_size pair 1e9", map[string]string{"image_size": "[1000000000, 1000000000]", "patch_size": "1"}, "image_size 1000000000"},
		{"65536 patches a side", map[string]string{"image_size": "65536", "patch_size": "1"}, "patches"},
		{"patch_size 1e6", map[string]string{"patch_size": "1000000"}, "patch_size 1000000"},
		{"num_channels 1e6", map[string]string{"num_channels": "1000000"}, "num_channels 1000000"},
		{"within bounds, 20 GB", map[string]string{"hidden_size": "4096", "num_attention_heads": "16", "intermediate_size": "16384", "num_hidden_layers": "24"},
			"num_hidden_layers 24"},
	}
	for _, cc := range configCases {
		dir := withJSON(t, model, vit.ConfigFile, cc.fields)
		cases = append(cases, configCommands(dir, data, png, out, cc.name, cc.want)...)
	}
	cases = append(cases, configCommands(withSparse(t, model, vit.ConfigFile, 100<<20), data, png, out, "config.json of 100 MiB", "100.0 MiB")...)

	// adapter_config.json: every command that reads an adapter.
	adapterCases := []struct {
		name      string
		fields    map[string]string
		want      string
		needModel bool // refused only against the model's layer sizes
	}{
		{"r 1e9", map[string]string{"r": "1000000000"}, "r 1000000000 is out of range", false},
		{"r 1e9 literal", map[string]string{"r": "1e9"}, "r", false},
		{"r -1", map[string]string{"r": "-1"}, "r must be positive", false},
		{"rank_pattern 1e9", map[string]string{"rank_pattern": `{"query": 1000000000}`}, `rank_pattern["query"] 1000000000`, false},
		{"rank_pattern 2^62", map[string]string{"rank_pattern": `{"value": 4611686018427387904}`}, `rank_pattern["value"]`, false},
		{"alpha_pattern 0", map[string]string{"alpha_pattern": `{"query": 0}`}, `alpha_pattern["query"]`, false},
		{"lora_alpha 1e400", map[string]string{"lora_alpha": "1e400"}, "lora_alpha", false},
		{"r 65536 vs the file", map[string]string{"r": "65536"}, "adapter_model.safetensors has only", true},
		{"rank_pattern 60000 vs the file", map[string]string{"rank_pattern": `{"query": 60000}`}, "adapter_model.safetensors has only", true},
	}
	for _, ac := range adapterCases {
		dir := withJSON(t, adapter, "adapter_config.json", ac.fields)
		cases = append(cases, adapterCommands(model, dir, data, png, out, ac.name, ac.want, ac.needModel)...)
	}
	cases = append(cases, adapterCommands(model, withSparse(t, adapter, "adapter_config.json", 100<<20), data, png, out,
		"adapter_config.json of 100 MiB", "100.0 MiB", false)...)
	// A tensor header whose shape overflows, padded (with the spaces the
	// format allows) past the size the LoRA factors need.
	hugeTensor := []byte(`{"base_model.model.classifier.weight":{"dtype":"F32","shape":[1000000000,1000000000],"data_offsets":[0,16]}}` + strings.Repeat(" ", 1000))
	st := binary.LittleEndian.AppendUint64(nil, uint64(len(hugeTensor)))
	st = append(st, hugeTensor...)
	st = append(st, make([]byte, 16)...)
	dir := copyDir(t, adapter)
	os.WriteFile(filepath.Join(dir, "adapter_model.safetensors"), st, 0o644)
	cases = append(cases, adapterCommands(model, dir, data, png, out, "safetensors shape 1e9x1e9", "shape [1000000000 1000000000] overflows", false)...)

	// Images whose headers lie: predict, and the commands that read image
	// folders.
	imageCases := []struct {
		name string
		data []byte
		want string
	}{
		{"png 60000 a side", badinput.PNG(60000, 60000, 64), "60000x60000 = 3,600,000,000 pixels"},
		{"png 300000 a side", badinput.PNG(300000, 300000, 64), "300000x300000"},
		{"png 100000x60000", badinput.PNG(100000, 60000, 64), "100000x60000"},
		{"png 2^31-1 a side", badinput.PNG(1<<31-1, 1<<31-1, 64), "png"},
		{"png 9000 in 200 bytes", badinput.PNG(9000, 9000, 64), "need at least"},
		{"png 9000 over memory", badinput.PNG(9000, 9000, 16<<10), "memory available"},
		{"jpeg 65000 a side", badinput.JPEG(65000, 65000), "65000x65000"},
		{"jpeg 65535x1400", badinput.JPEG(65535, 1400), "91,749,000 pixels"},
		{"jpeg 4000 a side", badinput.JPEG(4000, 4000), "memory available"},
		{"not an image", []byte("\x89PNG\r\n\x1a\nnonsense"), "not a PNG or JPEG"},
	}
	for _, ic := range imageCases {
		img := filepath.Join(t.TempDir(), "bad.png")
		os.WriteFile(img, ic.data, 0o644)
		folder := writeFolder(t, ic.data)
		cases = append(cases,
			badCase{ic.name + ": predict", []string{"predict", "--model", model, png, img}, 1, ic.want},
			badCase{ic.name + ": train", []string{"train", "--model", model, "--dataset", folder, "--output-dir", out(), "--max-steps", "1", "--quiet"}, 1, ic.want},
			badCase{ic.name + ": eval", []string{"eval", "--model", model, "--data", folder}, 1, ic.want},
			badCase{ic.name + ": pretrain", []string{"pretrain", "--dataset", folder, "--output-dir", out(), "--max-steps", "1", "--quiet"}, 1, ic.want},
		)
	}

	// idx files whose headers lie about the count.
	labels := badinput.Gzip(badinput.IDXLabels(60000, 60000))
	idxCases := []struct {
		name           string
		images, labels []byte
		want           string
		alloc          uint64
	}{
		// 47 MB claimed by 100 KiB of gzip: allowed by deflate's ratio and
		// by memory, so only reading shows the lie, and reading must not
		// allocate what the header claims.
		{"gzip idx 60000 images in 100 KiB", badinput.Gzip(badinput.IDXImages(60000, 28, 28, 100<<10)), labels, "need 47040000 bytes of data, the file has 102400", 16 << 20},
		{"gzip idx count 1e9", badinput.Gzip(badinput.IDXImages(1e9, 8, 8, 1000)), labels, "more than a", 0},
		{"gzip idx dims 2^32-1", badinput.Gzip(badinput.IDXImages(1<<32-1, 1<<32-1, 1<<32-1, 0)), labels, "header dimensions", 0},
		{"raw idx count 1e9", badinput.IDXImages(1e9, 8, 8, 1000), labels, "the file has 1000", 0},
		// 327 MB claimed by 300 KiB of gzip: possible by deflate's ratio, but
		// more than the memory there is.
		{"gzip idx over memory", badinput.Gzip(badinput.IDXImages(5000, 256, 256, 300<<10)), labels, "memory available", 0},
		{"gzip labels count 1e9", badinput.Gzip(badinput.IDXImages(16, 8, 8, 16*64)), badinput.Gzip(badinput.IDXLabels(1e9, 1000)), "labels-idx1-ubyte", 0},
	}
	for _, xc := range idxCases {
		dir := writeIDXDir(t, xc.images, xc.labels)
		cases = append(cases,
			badCase{xc.name + ": train", []string{"train", "--model", model, "--dataset", dir, "--output-dir", out(), "--max-steps", "1", "--quiet"}, 1, xc.want},
			badCase{xc.name + ": eval", []string{"eval", "--model", model, "--data", dir, "--split", "train"}, 1, xc.want},
			badCase{xc.name + ": pretrain", []string{"pretrain", "--dataset", dir, "--output-dir", out(), "--max-steps", "1", "--quiet"}, 1, xc.want},
		)
		if xc.alloc > 0 {
			for _, c := range []string{": train", ": eval", ": pretrain"} {
				tight[xc.name+c] = xc.alloc
			}
		}
	}

	// Flags named in the issue, and list flags holding numbers.
	o := out()
	cases = append(cases,
		badCase{"train --r 1e9", []string{"train", "--model", model, "--dataset", data, "--output-dir", o, "--r", "1000000000"}, 2, "--r 1000000000"},
		badCase{"train --r 65536 vs memory", []string{"train", "--model", model, "--dataset", data, "--output-dir", o, "--r", "65536", "--target-modules", "all-linear"}, 1, "memory available"},
		badCase{"plan --r 1e9", []string{"plan", "--preset", "vit-tiny-224", "--r", "1000000000"}, 2, "--r 1000000000"},
		badCase{"demo --r 1e9", []string{"demo", "--r", "1000000000"}, 2, "--r 1000000000"},
		badCase{"bench train --r 1e9", []string{"bench", "train", "--preset", "vit-tiny-224", "--r", "1000000000"}, 2, "--r 1000000000"},
		badCase{"plan --batch 1e9", []string{"plan", "--preset", "vit-tiny-224", "--batch", "1000000000"}, 2, "--batch 1000000000"},
		badCase{"plan --batch 1e18", []string{"plan", "--preset", "vit-tiny-224", "--batch", "1000000000000000000"}, 2, "--batch"},
		badCase{"bench train --batch 65536 vs memory", []string{"bench", "train", "--preset", "vit-tiny-224", "--batch", "65536", "--methods", "lora"}, 1, "memory available"},
		badCase{"pretrain --hidden-size 1e9", []string{"pretrain", "--dataset", data, "--output-dir", o, "--hidden-size", "1000000000"}, 2, "--hidden-size 1000000000"},
		badCase{"pretrain size flags vs memory", []string{"pretrain", "--dataset", data, "--output-dir", o, "--hidden-size", "65536", "--num-attention-heads", "1"}, 2, "memory available"},
		badCase{"pretrain batch vs memory", []string{"pretrain", "--dataset", data, "--output-dir", o, "--per-device-train-batch-size", "65536", "--hidden-size", "256"}, 1, "a training step of batch 65536"},
		badCase{"train --classes 0-1e9", []string{"train", "--model", model, "--dataset", data, "--output-dir", o, "--classes", "0-1000000000"}, 2, "--classes: 1000000000"},
		badCase{"eval --classes 0-1e9", []string{"eval", "--model", model, "--data", data, "--classes", "0-1000000000"}, 2, "--classes: 1000000000"},
		badCase{"pretrain --classes 0-1e9", []string{"pretrain", "--dataset", data, "--output-dir", o, "--classes", "0-1000000000"}, 2, "--classes: 1000000000"},
		badCase{"train --layers-to-transform 1e9", []string{"train", "--model", model, "--dataset", data, "--output-dir", o, "--layers-to-transform", "1000000000"}, 2, "--layers-to-transform: 1000000000"},
		badCase{"bench gemm --threads 1e6", []string{"bench", "gemm", "--threads", "1,1000000"}, 2, "--threads: 1000000"},
		badCase{"bench gemm --shapes 65536^3", []string{"bench", "gemm", "--shapes", "65536x65536x65536"}, 2, "memory available"},
		badCase{"plan --budget 1e30GiB", []string{"plan", "--preset", "vit-tiny-224", "--budget", "1e30GiB"}, 2, "--budget"},
		badCase{"plan --model 20 GB config", []string{"plan", "--model", withJSON(t, model, vit.ConfigFile, configCases[len(configCases)-1].fields)}, 1, "memory available"},
	)
	// Every numeric flag of every command, past its bound.
	cases = append(cases, numericFlagCases(t)...)

	counts := map[int]int{}
	for _, tc := range cases {
		bound, ok := tight[tc.name]
		if !ok {
			bound = allocBound
		}
		runBad(t, tc, bound)
		counts[tc.code]++
	}
	t.Logf("%d bad-input cases: %d file cases (exit 1), %d flag cases (exit 2)", len(cases), counts[1], counts[2])
}

// configCommands are the commands that read a model's config.json.
func configCommands(dir, data, png string, out func() string, name, want string) []badCase {
	return []badCase{
		{name + ": inspect", []string{"inspect", dir}, 1, want},
		{name + ": plan", []string{"plan", "--model", dir}, 1, want},
		{name + ": train", []string{"train", "--model", dir, "--dataset", data, "--output-dir", out(), "--max-steps", "1", "--quiet"}, 1, want},
		{name + ": eval", []string{"eval", "--model", dir, "--data", data}, 1, want},
		{name + ": predict", []string{"predict", "--model", dir, png}, 1, want},
		{name + ": pretrain", []string{"pretrain", "--config", filepath.Join(dir, vit.ConfigFile), "--dataset", data, "--output-dir", out(), "--max-steps", "1", "--quiet"}, 1, want},
		{name + ": merge", []string{"merge", "--model", dir, "--adapter", dir, "--out", out()}, 1, want},
	}
}

// adapterCommands are the commands that read an adapter.
func adapterCommands(model, dir, data, png string, out func() string, name, want string, needModel bool) []badCase {
	cs := []badCase{
		{name + ": eval", []string{"eval", "--model", model, "--adapter", dir, "--data", data}, 1, want},
		{name + ": merge", []string{"merge", "--model", model, "--adapter", dir, "--out", out()}, 1, want},
		{name + ": inspect --adapter", []string{"inspect", model, "--adapter", dir}, 1, want},
		{name + ": predict", []string{"predict", "--model", model, "--adapter", dir, png}, 1, want},
	}
	if !needModel {
		cs = append(cs, badCase{name + ": inspect --adapter alone", []string{"inspect", "--adapter", dir}, 1, want})
	}
	return cs
}

var flagLine = regexp.MustCompile(`^  -(\S+) (int|uint|float|duration)$`)

// numericFlags lists each command's numeric flags from its --help.
func numericFlags(t *testing.T) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, cmd := range []string{"train", "pretrain", "eval", "predict", "plan", "bench gemm", "bench train", "demo", "merge", "inspect"} {
		args := append(strings.Fields(cmd), "--help")
		code, _, help := golora(args...)
		if code != 0 {
			t.Fatalf("golora %s --help: exit %d", cmd, code)
		}
		out[cmd] = map[string]string{}
		for _, line := range strings.Split(help, "\n") {
			if m := flagLine.FindStringSubmatch(line); m != nil {
				out[cmd][m[1]] = m[2]
			}
		}
	}
	return out
}

// numericFlagCases passes every numeric flag of every command values past
// its bound: huge and negative integers; NaN, infinities and huge floats;
// huge and negative durations.
func numericFlagCases(t *testing.T) []badCase {
	var cases []badCase
	flags := numericFlags(t)
	cmds := make([]string, 0, len(flags))
	for c := range flags {
		cmds = append(cmds, c)
	}
	sort.Strings(cmds)
	for _, cmd := range cmds {
		names := make([]string, 0, len(flags[cmd]))
		for n := range flags[cmd] {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, name := range names {
			b, ok := flagBounds[name]
			if !ok {
				t.Errorf("golora %s --%s (%s) has no bound in flagBounds", cmd, name, flags[cmd][name])
				continue
			}
			if b.any {
				continue
			}
			var values []string
			switch flags[cmd][name] {
			case "int", "uint":
				values = []string{"1000000000000000000", "-1"}
			case "float":
				values = []string{"NaN", "Inf", "-Inf", "1e300", "-1e300"}
			case "duration":
				values = []string{"1000000h", "-1s"}
			}
			for _, v := range values {
				args := append(strings.Fields(cmd), "--"+name, v)
				cases = append(cases, badCase{fmt.Sprintf("%s --%s %s", cmd, name, v), args, 2, "--" + name})
			}
		}
	}
	return cases
}
