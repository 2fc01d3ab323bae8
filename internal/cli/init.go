package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/imagepipe/imagepipe/internal/app"
)

func init() {
	register("init", "create the configured stores: buckets, queue with dead-letter queue, table (idempotent)", initStores)
}

// initStores takes the same configuration as the server (environment and
// flags), so `imagepipe init` prepares exactly what the targets will open.
func initStores(fs *flag.FlagSet) func(stdout, stderr io.Writer) int {
	cfg := app.DefaultConfig()
	envErr := cfg.LoadEnv(os.Getenv)
	cfg.RegisterFlags(fs)
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after")
	return func(stdout, stderr io.Writer) int {
		if envErr != nil {
			fmt.Fprintln(stderr, "imagepipe init:", envErr)
			return 2
		}
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		defer cancel()
		if err := app.Init(ctx, cfg, stdout); err != nil {
			fmt.Fprintln(stderr, "imagepipe init:", err)
			return 1
		}
		return 0
	}
}
