package adalora

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/internal/sizecheck"
	"github.com/golora/golora/peft"
	"github.com/golora/golora/peft/lora"
)

// TestAbsurdRanks: init_r past lora.MaxRank is refused by Validate; within
// it, by the bytes of A, E and B against memory (Inject) and against the
// adapter file (Load).
func TestAbsurdRanks(t *testing.T) {
	c := validConfig()
	c.InitR, c.TargetR = 1e9, 8
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "init_r 1000000000") {
		t.Errorf("init_r 1e9: %v", err)
	}
	c.InitR = 1 << 30
	c.TargetR = 1 << 30
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "init_r") {
		t.Errorf("init_r 2^30: %v", err)
	}

	t.Setenv(sizecheck.MemEnv, "1MiB")
	c = validConfig()
	c.InitR = lora.MaxRank
	if _, err := Inject(loadBase(t), c, 1); err == nil || !strings.Contains(err.Error(), "r 65536 on vit.encoder.layer.0.attention.attention.query (in 32, out 32)") ||
		!strings.Contains(err.Error(), "memory available") {
		t.Errorf("init_r 65536 in 1 MiB: %v", err)
	}

	t.Setenv(sizecheck.MemEnv, "1GiB")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, peft.ConfigName), []byte(`{"peft_type":"ADALORA","init_r":60000,"target_r":8,"total_step":10,"target_modules":["query","value"]}`), 0o644)
	os.WriteFile(filepath.Join(dir, peft.WeightsName), []byte("small"), 0o644)
	if _, err := Load(loadBase(t), dir); err == nil || !strings.Contains(err.Error(), peft.WeightsName+" has only 5 B") {
		t.Errorf("init_r 60000 with a 5-byte file: %v", err)
	}
}
