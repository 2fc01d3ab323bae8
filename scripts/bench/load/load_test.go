package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/cli"
)

// childEnv makes the test binary an imagepipe server (cli.Exit, serve by
// default), so the test drives the real all-in-one target without a build.
const childEnv = "IMAGEPIPE_BENCH_LOAD_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		cli.Exit()
	}
	os.Exit(m.Run())
}

// A one-second run of every phase makes a report with traffic in each,
// and its JSON and Markdown say so.
func TestRunTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a server for a few seconds")
	}
	if _, err := findNginx(""); err != nil {
		t.Skipf("nginx is not installed (make bench-load installs it): %v", err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, _, err := parseFlags([]string{
		"-imagepipe", exe, "-server-env", childEnv + "=1", "-photos", "../../../testdata/photos",
		"-workdir", t.TempDir(), "-duration", "1s", "-rounds", "1", "-get-workers", "4",
		"-upload-workers", "4", "-large-mb", "4", "-large-rounds", "1",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var got Report
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("the JSON report does not parse: %v", err)
	}
	if got.Get == nil || len(got.Get.Rows) != 2 || got.Upload == nil || got.Large == nil || len(got.Large.Rows) != 2 {
		t.Fatalf("phases missing from the report: %s", b)
	}
	for _, r := range append(got.Get.Rows, got.Upload.Row) {
		if r.RPS <= 0 || r.OK == 0 || r.Errors != 0 || r.P50ms <= 0 || r.PeakRSSMiB <= 0 || r.ServerCPUus <= 0 {
			t.Errorf("%s: want 2xx answers, latency, RSS and CPU and no errors, got %+v", r.Name, r)
		}
	}
	if got.Get.Bytes == 0 || !strings.HasPrefix(got.Get.ContentType, "image/") {
		t.Errorf("GET served %d bytes of %q", got.Get.Bytes, got.Get.ContentType)
	}
	for _, r := range got.Large.Rows {
		if r.MedianMBps <= 0 || len(r.MBps) != 1 {
			t.Errorf("large upload, %s: got %+v", r.Name, r)
		}
	}
	md := got.Markdown()
	for _, want := range []string{"| imagepipe |", "| nginx |", "× dd", "| CPU |", "| nginx | nginx/"} {
		if !strings.Contains(md, want) {
			t.Errorf("the Markdown report lacks %q:\n%s", want, md)
		}
	}
}

// WriteDoc replaces only what lies between the markers, adds a section
// with them when there is none, and leaves a file with one marker alone
// (want "": an error).
func TestWriteDoc(t *testing.T) {
	block := docBegin + "\nnew\n" + docEnd
	for _, tc := range []struct {
		name, before, want string
	}{
		{"markers", "# B\n\nhead\n\n" + docBegin + "\nold\n" + docEnd + "\n\ntail\n", "# B\n\nhead\n\n" + block + "\n\ntail\n"},
		{"no markers", "# B\n\ntext\n", "# B\n\ntext\n\n## Under load (`make bench-load`)\n\n" + block + "\n"},
		{"only a begin marker", "# B\n" + docBegin + "\n", ""},
		{"end before begin", "# B\n" + docEnd + "\n" + docBegin + "\n", ""},
		{"no file", "", "# Benchmarks\n\n## Under load (`make bench-load`)\n\n" + block + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "B.md")
			if tc.before != "" {
				if err := os.WriteFile(path, []byte(tc.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := WriteDoc(path, "new")
			if tc.want == "" {
				if err == nil {
					t.Error("a lone marker was not refused")
				}
				if got, _ := os.ReadFile(path); string(got) != tc.before {
					t.Errorf("the file changed: %q", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(path)
			if string(got) != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// Bad settings are refused before anything starts.
func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{nil, true},
		{[]string{"-skip", "get,large"}, true},
		{[]string{"-skip", "post"}, false},
		{[]string{"-duration", "0s"}, false},
		{[]string{"-rounds", "0"}, false},
		{[]string{"-server-env", "NOEQUALS"}, false},
		{[]string{"extra"}, false},
	} {
		_, _, _, err := parseFlags(tc.args, io.Discard)
		if (err == nil) != tc.ok {
			t.Errorf("%q: got error %v, want ok %v", tc.args, err, tc.ok)
		}
	}
}
