// Package secretfile keeps a generated secret in a file: the first process
// to need it creates the file (mode 0600), every later one — and every
// process racing the first — reads the same value. Used for the keys an
// embedded deployment makes for itself when none is configured (URL
// signing, the admin key).
package secretfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Mode of a created secret file: readable by its owner only.
const Mode fs.FileMode = 0o600

// emptyWait is how long a reader waits for a file another process has just
// created to get its contents (only where hard links are not supported;
// see create). A variable for tests.
var emptyWait = 2 * time.Second

// link is os.Link; tests replace it to take the fallback path.
var link = os.Link

// LoadOrCreateSecretFile returns the secret stored in path (surrounding
// white space trimmed). When there is no such file it creates one holding
// generate's value and a newline, with mode 0600, creating the directory
// (0700) if needed; created reports that this call wrote it.
//
// Creation is atomic: the value is written to a temporary file in the same
// directory and hard-linked to path, which fails if path exists. So of
// several processes racing to create the file exactly one wins, and the
// others read the winner's complete value, never a partial one.
//
// Errors name the file, never its contents. A file that exists but is
// empty (after a grace period for a racing writer) is an error, not
// overwritten.
func LoadOrCreateSecretFile(path string, generate func() (string, error)) (value string, created bool, err error) {
	if v, err := read(path); !errors.Is(err, fs.ErrNotExist) {
		return v, false, err
	}
	v, err := generate()
	if err != nil {
		return "", false, fmt.Errorf("secret file %s: generate: %w", path, err)
	}
	if v != strings.TrimSpace(v) || v == "" || strings.ContainsAny(v, "\r\n") {
		return "", false, fmt.Errorf("secret file %s: the generated value is empty or holds white space", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, fmt.Errorf("secret file %s: %w", path, err)
	}
	switch err := create(path, v); {
	case err == nil:
		return v, true, nil
	case errors.Is(err, fs.ErrExist): // another process won the race
		v, err := read(path)
		if errors.Is(err, fs.ErrNotExist) { // and then removed it
			err = fmt.Errorf("secret file %s: %w", path, err)
		}
		return v, false, err
	default:
		return "", false, fmt.Errorf("secret file %s: %w", path, err)
	}
}

// read returns the trimmed contents of path, waiting up to emptyWait for
// an empty file to be filled by its creator.
func read(path string) (string, error) {
	deadline := time.Now().Add(emptyWait)
	for {
		b, err := os.ReadFile(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return "", err
			}
			return "", fmt.Errorf("secret file %s: %w", path, err)
		}
		if v := strings.TrimSpace(string(b)); v != "" {
			return v, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("secret file %s is empty: delete it to have a new secret generated, or write one into it", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// create writes value to path unless path exists (then an error wrapping
// fs.ErrExist). It writes a temporary file and hard-links it into place;
// where the file system has no hard links it falls back to creating path
// with O_EXCL and writing it, which a racing reader may see empty for a
// moment (read waits for it).
func create(path, value string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp, value); err != nil {
		return err
	}
	err = link(tmp.Name(), path)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, Mode)
	if err != nil {
		return err
	}
	if err := write(f, value); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// write sets f's mode to 0600 (whatever the umask), writes value and a
// newline, syncs and closes f.
func write(f *os.File, value string) error {
	err := f.Chmod(Mode)
	if err == nil {
		_, err = f.WriteString(value + "\n")
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
