package secretfile_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/imagepipe/imagepipe/internal/platform/secretfile"
)

// counter returns a generator of distinct values and how often it ran.
func counter(prefix string) (func() (string, error), *atomic.Int32) {
	var n atomic.Int32
	return func() (string, error) {
		return fmt.Sprintf("%s-%d", prefix, n.Add(1)), nil
	}, &n
}

func TestCreateThenLoad(t *testing.T) {
	// A restrictive file mode must not depend on the umask.
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })

	path := filepath.Join(t.TempDir(), "sub", "dir", "key")
	gen, calls := counter("first")
	v, created, err := secretfile.LoadOrCreateSecretFile(path, gen)
	if err != nil || !created || v != "first-1" {
		t.Fatalf("create = %q, %v, %v; want first-1, true, nil", v, created, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != secretfile.Mode {
		t.Errorf("mode %v, want %v", st.Mode().Perm(), secretfile.Mode)
	}
	if b, _ := os.ReadFile(path); string(b) != "first-1\n" {
		t.Errorf("contents %q, want the value and a newline", b)
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v (%v), want 0700", st.Mode().Perm(), err)
	}

	v, created, err = secretfile.LoadOrCreateSecretFile(path, gen)
	if err != nil || created || v != "first-1" || calls.Load() != 1 {
		t.Fatalf("load = %q, %v, %v (generated %d times); want first-1, false, nil, once", v, created, err, calls.Load())
	}
	assertNoTempFiles(t, filepath.Dir(path))
}

func TestLoadExisting(t *testing.T) {
	t.Cleanup(secretfile.ShortEmptyWait())
	dir := t.TempDir()
	gen, calls := counter("unused")
	tests := []struct {
		name     string
		contents string
		want     string
		wantErr  string
	}{
		{"trimmed", "  operator-key \r\n", "operator-key", ""},
		{"no newline", "k", "k", ""},
		{"empty", "", "", "is empty"},
		{"only white space", " \n\n", "", "is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			if err := os.WriteFile(path, []byte(tt.contents), 0o600); err != nil {
				t.Fatal(err)
			}
			v, created, err := secretfile.LoadOrCreateSecretFile(path, gen)
			if created || v != tt.want || (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("= %q, %v, %v; want %q, false, error containing %q", v, created, err, tt.want, tt.wantErr)
			}
			if b, _ := os.ReadFile(path); string(b) != tt.contents {
				t.Fatalf("the file was rewritten: %q", b)
			}
		})
	}
	if calls.Load() != 0 {
		t.Fatalf("generated %d times for existing files", calls.Load())
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	const secret = "s3cret-value-never-in-errors"
	t.Run("generate fails", func(t *testing.T) {
		boom := errors.New("no entropy")
		_, _, err := secretfile.LoadOrCreateSecretFile(filepath.Join(dir, "a"), func() (string, error) { return "", boom })
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want the generator's", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "a")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("a file was left: %v", err)
		}
	})
	for _, bad := range []string{"", " " + secret, secret + "\n", "two\nlines"} {
		t.Run(fmt.Sprintf("generated %q", bad), func(t *testing.T) {
			_, _, err := secretfile.LoadOrCreateSecretFile(filepath.Join(dir, "b"), func() (string, error) { return bad, nil })
			if err == nil || strings.Contains(err.Error(), secret) {
				t.Fatalf("err = %v, want an error that does not show the value", err)
			}
		})
	}
	t.Run("unreadable", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root reads any file")
		}
		path := filepath.Join(dir, "locked")
		if err := os.WriteFile(path, []byte(secret), 0); err != nil {
			t.Fatal(err)
		}
		_, _, err := secretfile.LoadOrCreateSecretFile(path, func() (string, error) { return "new", nil })
		if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), path) {
			t.Fatalf("err = %v, want a permission error naming the file", err)
		}
	})
	t.Run("path is a directory", func(t *testing.T) {
		_, _, err := secretfile.LoadOrCreateSecretFile(dir, func() (string, error) { return "new", nil })
		if err == nil || !strings.Contains(err.Error(), dir) {
			t.Fatalf("err = %v, want an error naming %s", err, dir)
		}
	})
}

// Many goroutines racing to create one file: exactly one creates it and
// all return its value; with and without hard links.
func TestRaceInProcess(t *testing.T) {
	for _, links := range []bool{true, false} {
		t.Run(fmt.Sprintf("hard links %v", links), func(t *testing.T) {
			if !links {
				t.Cleanup(secretfile.WithoutHardLinks())
			}
			dir := t.TempDir()
			for round := range 20 {
				path := filepath.Join(dir, fmt.Sprint("key-", round))
				const n = 16
				var (
					wg      sync.WaitGroup
					start   = make(chan struct{})
					values  [n]string
					created [n]bool
					errs    [n]error
				)
				for i := range n {
					wg.Go(func() {
						<-start
						values[i], created[i], errs[i] = secretfile.LoadOrCreateSecretFile(path, func() (string, error) {
							return fmt.Sprint("value-of-", i), nil
						})
					})
				}
				close(start)
				wg.Wait()
				checkOneWinner(t, path, values[:], created[:], errs[:])
			}
			assertNoTempFiles(t, dir)
		})
	}
}

// helperEnv makes the test binary a racing process (see TestRaceProcesses).
const helperEnv = "SECRETFILE_TEST_HELPER_PATH"

// Several processes racing to create one file end up with one value.
func TestRaceProcesses(t *testing.T) {
	if path := os.Getenv(helperEnv); path != "" {
		v, created, err := secretfile.LoadOrCreateSecretFile(path, func() (string, error) {
			return fmt.Sprint("process-", os.Getpid()), nil
		})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("result", v, created)
		os.Exit(0)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key")
	const n = 6
	cmds := make([]*exec.Cmd, n)
	outs := make([]strings.Builder, n)
	for i := range cmds {
		cmds[i] = exec.Command(exe, "-test.run=^TestRaceProcesses$")
		cmds[i].Env = append(os.Environ(), helperEnv+"="+path)
		cmds[i].Stdout = &outs[i]
		cmds[i].Stderr = os.Stderr
	}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	values, created, errs := make([]string, n), make([]bool, n), make([]error, n)
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			errs[i] = fmt.Errorf("process %d: %v: %s", i, err, outs[i].String())
			continue
		}
		var v, c string
		if _, err := fmt.Sscan(outs[i].String(), new(string), &v, &c); err != nil {
			errs[i] = fmt.Errorf("process %d printed %q", i, outs[i].String())
		}
		values[i], created[i] = v, c == "true"
	}
	checkOneWinner(t, path, values, created, errs)
}

// checkOneWinner wants no errors, one creator, and every value equal to
// the file's.
func checkOneWinner(t *testing.T, path string, values []string, created []bool, errs []error) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSpace(string(b))
	winners := 0
	for i := range values {
		if errs[i] != nil {
			t.Errorf("caller %d: %v", i, errs[i])
		}
		if values[i] != want {
			t.Errorf("caller %d got %q, the file holds %q", i, values[i], want)
		}
		if created[i] {
			winners++
		}
	}
	if winners != 1 {
		t.Errorf("%d callers created the file, want 1", winners)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != secretfile.Mode {
		t.Errorf("mode %v (%v), want %v", st.Mode().Perm(), err, secretfile.Mode)
	}
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}
