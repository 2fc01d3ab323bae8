// Command imagepipe runs imagepipe: every service in one process by default
// (-target=all), or one of ingest, processor, status, gateway.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/imagepipe/imagepipe/internal/app"
)

func main() {
	fs := flag.NewFlagSet("imagepipe", flag.ExitOnError)
	verify := fs.Bool("config.verify", false, "check the configuration and exit")
	cfg, err := app.FromArgs(fs, os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "imagepipe:", err)
		os.Exit(2)
	}
	log := app.NewLogger(os.Stderr, cfg.LogLevel)
	if *verify {
		if err := app.Verify(cfg); err != nil {
			fmt.Fprintln(os.Stderr, "imagepipe:", err)
			os.Exit(1)
		}
		fmt.Println("configuration OK")
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "imagepipe:", err)
		os.Exit(1)
	}
	if err := a.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "imagepipe:", err)
		os.Exit(1)
	}
}
