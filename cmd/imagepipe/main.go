// Command imagepipe runs imagepipe: every service in one process by default
// (-target=all), or one of ingest, processor, status, gateway; subcommands
// (imagepipe help) do one job and exit.
package main

import "github.com/imagepipe/imagepipe/internal/cli"

func main() { cli.Exit() }
