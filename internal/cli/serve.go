package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/imagepipe/imagepipe/internal/app"
	"github.com/imagepipe/imagepipe/internal/platform/logging"
)

// serve runs a target until SIGINT or SIGTERM.
func serve(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("imagepipe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verify := fs.Bool("config.verify", false, "check the configuration and exit")
	cfg, err := app.FromArgs(fs, args)
	if err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		fmt.Fprintln(stderr, "imagepipe:", err)
		return 2
	}
	if *verify {
		if err := app.Verify(cfg); err != nil {
			fmt.Fprintln(stderr, "imagepipe:", err)
			return 1
		}
		fmt.Fprintln(stdout, "configuration OK")
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	a, err := app.New(ctx, cfg, logging.New(stderr, cfg.LogLevel))
	if err != nil {
		fmt.Fprintln(stderr, "imagepipe:", err)
		return 1
	}
	if err := a.Run(ctx); err != nil {
		fmt.Fprintln(stderr, "imagepipe:", err)
		return 1
	}
	return 0
}
