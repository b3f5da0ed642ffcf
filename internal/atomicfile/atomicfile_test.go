package atomicfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// dirNames lists the entries of dir, to catch leftover temporary files.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFileCreatesAndReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.bin")
	for _, content := range []string{"first version", "second, longer version of the file", ""} {
		err := WriteFile(path, func(w io.Writer) error {
			_, err := io.WriteString(w, content)
			return err
		}, 0o640)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Fatalf("content %q, want %q", got, content)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o640 {
			t.Errorf("mode %v, want 0640", st.Mode().Perm())
		}
		if names := dirNames(t, dir); len(names) != 1 || names[0] != "out.bin" {
			t.Errorf("directory holds %v, want only out.bin", names)
		}
	}
}

func TestWriteFileErrorKeepsOldContent(t *testing.T) {
	// A full disk shows up to the writer as ENOSPC after a partial write;
	// a failing callback must behave the same way.
	diskFull := &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}
	cases := []struct {
		name  string
		write func(w io.Writer) error
		want  error
	}{
		{"fails at once", func(w io.Writer) error { return diskFull }, diskFull},
		{"fails after 3 MiB", func(w io.Writer) error {
			// More than the 1 MiB buffer, so part of it reached the temp file.
			if _, err := w.Write(bytes.Repeat([]byte{7}, 3<<20)); err != nil {
				return err
			}
			return diskFull
		}, diskFull},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "model.safetensors")
			if err := os.WriteFile(path, []byte("old content"), 0o644); err != nil {
				t.Fatal(err)
			}
			err := WriteFile(path, tc.write, 0o644)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want it to wrap %v", err, tc.want)
			}
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q should name %s and keep ENOSPC", err, path)
			}
			got, rerr := os.ReadFile(path)
			if rerr != nil || string(got) != "old content" {
				t.Fatalf("after failure file holds %q (%v), want the old content", got, rerr)
			}
			if names := dirNames(t, dir); len(names) != 1 {
				t.Errorf("temporary file left behind: %v", names)
			}
		})
	}
}

func TestWriteFileErrorWithoutOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "new.json")
	err := WriteFile(path, func(w io.Writer) error {
		io.WriteString(w, "partial")
		return errors.New("encoder failed")
	}, 0o644)
	if err == nil {
		t.Fatal("no error")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("file exists after a failed first write: %v", err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("directory not empty: %v", names)
	}
}

func TestWriteFileRenameFailure(t *testing.T) {
	// A directory in the way makes the final rename fail: the temp file must
	// go and the directory must stay.
	dir := t.TempDir()
	path := filepath.Join(dir, "busy")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "keep"), []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(path, func(w io.Writer) error {
		_, err := io.WriteString(w, "data")
		return err
	}, 0o644)
	if err == nil {
		t.Fatal("renaming over a non-empty directory succeeded")
	}
	if names := dirNames(t, dir); len(names) != 1 || names[0] != "busy" {
		t.Errorf("directory holds %v, want only busy", names)
	}
	if _, err := os.Stat(filepath.Join(path, "keep")); err != nil {
		t.Errorf("directory content lost: %v", err)
	}
}

func TestWriteFileMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "f")
	called := false
	err := WriteFile(path, func(w io.Writer) error { called = true; return nil }, 0o644)
	if err == nil || called {
		t.Fatalf("err = %v, callback called = %v; want an error before writing", err, called)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the path", err)
	}
}
