package sizecheck

import (
	"fmt"
	"io"
	"os"
)

// MaxConfigFile is the largest JSON config (config.json,
// adapter_config.json, preprocessor_config.json) golora reads: real ones
// are a few KiB, a model with 100,000 labels about 5 MiB.
const MaxConfigFile = 64 << 20

// FileHolds checks that a file of size bytes can hold the need bytes its
// header or config implies: "config.json: the 302,385,157 parameters (...)
// at 2 bytes or more each would need at least 576.7 MiB, but
// model.safetensors has only 80.1 KiB".
func FileHolds(what string, need int64, path string, size int64) error {
	if need > size {
		return fmt.Errorf("%s would need at least %s, but %s has only %s", what, Bytes(need), path, Bytes(size))
	}
	return nil
}

// ReadFile reads a whole file that must not be larger than limit bytes
// (nor than the memory available), checked before reading; errors name the
// path.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s: %s is larger than the %s a file of this kind may have", path, Bytes(st.Size()), Bytes(limit))
	}
	if err := Memory("reading "+path, st.Size()); err != nil {
		return nil, err
	}
	// Read at most limit+1 bytes: the file may grow after the Stat.
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than the %s a file of this kind may have", path, Bytes(limit))
	}
	return b, nil
}
