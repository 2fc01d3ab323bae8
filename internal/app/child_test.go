package app_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/app"
)

// childDirEnv makes the test binary run as an imagepipe process on the
// given data directory instead of running tests, so a test can SIGKILL a
// real process mid-job.
const childDirEnv = "IMAGEPIPE_TEST_CHILD_DIR"

// runChild serves everything on dir; its processor stalls on the first job
// after writing the image id to dir/stalled. It writes its HTTP address to
// dir/addr once listening, and runs until killed.
func runChild(dir string) {
	stall := func(ctx context.Context, id string, attempt int) error {
		writeFile(filepath.Join(dir, "stalled"), id)
		select {} // hangs until the process is killed
	}
	cfg := testConfig(dir)
	a, err := app.New(context.Background(), cfg, app.NewLogger(os.Stderr, cfg.LogLevel), app.WithProcessorFault(stall))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	writeFile(filepath.Join(dir, "addr"), a.HTTPAddr())
	if err := a.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(1)
}

// writeFile writes atomically, so a reader never sees half of it.
func writeFile(path, content string) {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		panic(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		panic(err)
	}
}

func waitForFile(t *testing.T, path string, within time.Duration) []byte {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if b, err := os.ReadFile(path); err == nil {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %s", path, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
