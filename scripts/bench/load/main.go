// Load: what `make bench-load` runs. It starts bin/imagepipe (all-in-one,
// embedded default, its own data directory and loopback ports) and drives
// it with vegeta (github.com/tsenart/vegeta/v12, used as a library):
//
//  1. variant GETs (GET /a/{id}/{variant}) at the highest rate -get-workers
//     connections reach, alternated in rounds with nginx (one worker,
//     sendfile) serving the same bytes from the same disk;
//  2. sustained uploads (POST /v1/images of small photographs, wait=0s) at
//     the highest rate -upload-workers reach, or at -upload-rate;
//  3. one large upload (-large-mb) alternated with `dd conv=fsync` of the
//     same bytes to the same disk.
//
// Every phase reports requests per second, p50/p99/max latency, errors
// (429 counted apart), the server's peak RSS (sampled from
// /proc/PID/status during the measurement) and its CPU per request. It
// prints the tables and rewrites the bench-load section of
// docs/BENCHMARKS.md (-doc); -json writes the report as JSON.
//
//	go run ./scripts/bench/load -imagepipe bin/imagepipe -duration 10s -doc docs/BENCHMARKS.md
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Config is what one run measures and how.
type Config struct {
	Imagepipe string   // the binary (serve is its default command)
	ServerEnv []string // KEY=VALUE added to the server's environment last
	Nginx     string   // the nginx binary
	Photos    string   // testdata/photos
	WorkDir   string   // where the temporary data directories go ("" = $TMPDIR)

	Duration time.Duration // per tool and phase, split over Rounds
	Rounds   int           // alternations of imagepipe and its peer

	GetPhoto   string // the photo whose variant is served
	Variant    string // the variant GET fetches
	GetWorkers int    // concurrent GETs (connections)

	UploadWorkers int // concurrent uploads
	UploadRate    int // uploads per second; 0: as fast as the workers go
	UploadMaxSize int64

	LargeMB     int // size of the large upload, MB (10^6 bytes)
	LargeRounds int

	Skip map[string]bool // phases left out: get, upload, large
}

func main() {
	cfg, doc, jsonOut, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "bench-load:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, err := Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-load:", err)
		os.Exit(1)
	}
	md := rep.Markdown()
	fmt.Println(md)
	if jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(jsonOut, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench-load:", err)
			os.Exit(1)
		}
	}
	if doc != "" {
		if err := WriteDoc(doc, md); err != nil {
			fmt.Fprintln(os.Stderr, "bench-load:", err)
			os.Exit(1)
		}
		logf("wrote %s", doc)
	}
}

func parseFlags(args []string, out io.Writer) (cfg Config, doc, jsonOut string, err error) {
	fs := flag.NewFlagSet("bench-load", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.Imagepipe, "imagepipe", "bin/imagepipe", "the imagepipe binary")
	fs.Func("server-env", "KEY=VALUE added to imagepipe's environment (repeat for more)", func(s string) error {
		if !strings.Contains(s, "=") {
			return fmt.Errorf("want KEY=VALUE, got %q", s)
		}
		cfg.ServerEnv = append(cfg.ServerEnv, s)
		return nil
	})
	fs.StringVar(&cfg.Nginx, "nginx", "", "the nginx binary (default: nginx on PATH, else /usr/sbin/nginx)")
	fs.StringVar(&cfg.Photos, "photos", "testdata/photos", "the photographs")
	fs.StringVar(&cfg.WorkDir, "workdir", "", "where the data directories, nginx's files and dd's output go (default $TMPDIR); its disk is the one measured")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long each tool is driven in each phase, split over -rounds")
	fs.IntVar(&cfg.Rounds, "rounds", 2, "GET rounds: imagepipe and nginx take turns this many times")
	fs.StringVar(&cfg.GetPhoto, "get-photo", "dandelion.jpg", "the photo (in -photos) whose variant GET fetches")
	fs.StringVar(&cfg.Variant, "variant", "medium", "the variant of the default preset GET fetches")
	fs.IntVar(&cfg.GetWorkers, "get-workers", 32, "concurrent GETs, one connection each")
	fs.IntVar(&cfg.UploadWorkers, "upload-workers", 16, "concurrent uploads (the default per-tenant cap on uploads in flight is 16)")
	fs.IntVar(&cfg.UploadRate, "upload-rate", 0, "uploads per second; 0: as fast as -upload-workers go")
	fs.Int64Var(&cfg.UploadMaxSize, "upload-max-bytes", 64<<10, "the sustained uploads send the JPEGs of -photos up to this size")
	fs.IntVar(&cfg.LargeMB, "large-mb", 200, "size of the large upload in MB (a photo, then random bytes)")
	fs.IntVar(&cfg.LargeRounds, "large-rounds", 3, "large upload and dd take turns this many times (medians reported)")
	skip := fs.String("skip", "", "phases to leave out, comma-separated: get, upload, large")
	fs.StringVar(&doc, "doc", "", "rewrite the bench-load section of this Markdown file")
	fs.StringVar(&jsonOut, "json", "", "write the report as JSON to this file")
	if err = fs.Parse(args); err != nil {
		return cfg, "", "", err
	}
	if fs.NArg() > 0 {
		return cfg, "", "", fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg.Skip = map[string]bool{}
	for _, p := range strings.Split(*skip, ",") {
		switch p = strings.TrimSpace(p); p {
		case "":
		case "get", "upload", "large":
			cfg.Skip[p] = true
		default:
			return cfg, "", "", fmt.Errorf("-skip: unknown phase %q (get, upload, large)", p)
		}
	}
	switch {
	case cfg.Duration <= 0:
		err = fmt.Errorf("-duration must be positive")
	case cfg.Rounds < 1 || cfg.LargeRounds < 1:
		err = fmt.Errorf("-rounds and -large-rounds must be at least 1")
	case cfg.GetWorkers < 1 || cfg.UploadWorkers < 1:
		err = fmt.Errorf("-get-workers and -upload-workers must be at least 1")
	case cfg.LargeMB < 1:
		err = fmt.Errorf("-large-mb must be at least 1")
	}
	return cfg, doc, jsonOut, err
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench-load: "+format+"\n", args...)
}
