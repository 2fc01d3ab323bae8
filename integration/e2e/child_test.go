package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/app"
	"github.com/imagepipe/imagepipe/internal/platform/logging"
	"github.com/imagepipe/imagepipe/internal/testkit/apptest"
	"github.com/imagepipe/imagepipe/internal/testkit/faultblob"
	"github.com/imagepipe/imagepipe/internal/testkit/syncbuf"
)

// The test binary doubles as an imagepipe process: with childDirEnv set,
// TestMain runs runChild instead of the tests, so a test can run targets as
// real separate processes and SIGKILL them.
const (
	childDirEnv   = "IMAGEPIPE_TEST_CHILD_DIR"   // data dir; addresses are written here
	childNameEnv  = "IMAGEPIPE_TEST_CHILD_NAME"  // names the address file
	childFaultEnv = "IMAGEPIPE_TEST_CHILD_FAULT" // "", "stall" or "retry"
)

// childFault is the variants-store fault a child runs with:
//   - stall: write the image id to dir/stalled, then hang until killed;
//   - retry: fail every image's first attempt (its first variant write),
//     and every attempt of the images listed in dir/poison.
func childFault(dir, mode string) app.Option {
	switch mode {
	case "stall":
		return apptest.FailVariants(func(ctx context.Context, key string) error {
			writeFile(filepath.Join(dir, "stalled"), faultblob.ImageID(key))
			select {}
		})
	case "retry":
		first := faultblob.FirstPerImage(errors.New("simulated failure of a first attempt"))
		return apptest.FailVariants(func(ctx context.Context, key string) error {
			poison, _ := os.ReadFile(filepath.Join(dir, "poison"))
			if slices.Contains(strings.Fields(string(poison)), faultblob.ImageID(key)) {
				return errors.New("simulated failure of a poisoned image")
			}
			return first(ctx, key)
		})
	}
	return func(*app.App) {}
}

// runChild runs one imagepipe process configured by testConfig(dir) and
// then the IMAGEPIPE_* environment, writes "grpc-addr http-addr" to
// dir/<name>.addr once listening, and serves until killed.
func runChild(dir string) {
	cfg := testConfig(dir)
	if err := cfg.LoadEnv(os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	a, err := app.New(context.Background(), cfg, logging.New(os.Stderr, cfg.LogLevel), childFault(dir, os.Getenv(childFaultEnv)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	name := os.Getenv(childNameEnv)
	if name == "" {
		name = "child"
	}
	writeFile(filepath.Join(dir, name+".addr"), a.GRPCAddr()+" "+a.HTTPAddr())
	if err := a.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(1)
}

// child is an imagepipe process started by spawn.
type child struct {
	cmd        *exec.Cmd
	exited     chan struct{}
	logs       *syncbuf.Buffer
	grpc, http string
}

// spawn starts a child process named name on dir with extra environment
// (IMAGEPIPE_* settings) and waits until it listens. It is killed when the
// test ends, and its logs are printed if the test failed.
func spawn(t *testing.T, dir, name, fault string, env ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(os.Args[0], "-test.run=^$"), exited: make(chan struct{}), logs: &syncbuf.Buffer{}}
	c.cmd.Env = append(append(os.Environ(), childDirEnv+"="+dir, childNameEnv+"="+name, childFaultEnv+"="+fault), env...)
	c.cmd.Stderr = c.logs
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			t.Logf("logs of %s:\n%s", name, c.logs.String())
		}
	})
	addr, err := waitForFile(filepath.Join(dir, name+".addr"), 30*time.Second, c.exited)
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, c.logs.String())
	}
	c.grpc, c.http, _ = strings.Cut(string(addr), " ")
	return c
}

// kill SIGKILLs the process and waits for it (idempotent).
func (c *child) kill() {
	c.cmd.Process.Kill()
	<-c.exited
}

// writeFile writes atomically, so a reader never sees half of it; writers
// at once (a job's variants are stored in parallel) each use their own
// temporary file, the last rename wins.
func writeFile(path, content string) {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		panic(err)
	}
	_, err = tmp.WriteString(content)
	if err = errors.Join(err, tmp.Close()); err != nil {
		panic(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		panic(err)
	}
}

// waitForFile waits for path to exist, failing early if exited closes.
func waitForFile(path string, within time.Duration, exited <-chan struct{}) ([]byte, error) {
	deadline := time.Now().Add(within)
	for {
		if b, err := os.ReadFile(path); err == nil {
			return b, nil
		}
		select {
		case <-exited:
			return nil, errors.New("the process exited")
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s did not appear within %s", path, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
