// Package cli is the imagepipe command line: with no subcommand it runs a
// target (the server); subcommands do one job each and exit.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand: setup registers its flags on fs and returns
// the function that runs it once fs is parsed (positional arguments are
// fs.Args()).
type command struct {
	summary string
	setup   func(fs *flag.FlagSet) (run func(stdout, stderr io.Writer) int)
}

// commands are the subcommands; each lives in its own file.
var commands = map[string]command{}

func register(name, summary string, setup func(fs *flag.FlagSet) func(stdout, stderr io.Writer) int) {
	commands[name] = command{summary: summary, setup: setup}
}

// parseOnly parses args as cmd would, without running it.
func parseOnly(cmd command, args []string) error {
	fs := flag.NewFlagSet("imagepipe", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cmd.setup(fs)
	return fs.Parse(args)
}

// Main runs the command line and returns the exit code: 0 success, 1
// failure, 2 usage error.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		if args[0] == "help" {
			usage(stderr)
			return 0
		}
		cmd, ok := commands[args[0]]
		if !ok {
			fmt.Fprintf(stderr, "imagepipe: unknown command %q\n", args[0])
			usage(stderr)
			return 2
		}
		fs := flag.NewFlagSet("imagepipe "+args[0], flag.ContinueOnError)
		fs.SetOutput(stderr)
		run := cmd.setup(fs)
		if err := fs.Parse(args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		return run(stdout, stderr)
	}
	return serve(args, stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: imagepipe [flags]            run a target (imagepipe -h lists the flags)")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "       imagepipe %-14s %s\n", n+" ...", commands[n].summary)
	}
	fmt.Fprintln(w, "Commands that call a server take -addr (env IMAGEPIPE_ADDR) and a token: -token or -token-file")
	fmt.Fprintln(w, "(env IMAGEPIPE_TOKEN, IMAGEPIPE_TOKEN_FILE); the operator's key is in $IMAGEPIPE_DATA_DIR/admin.key.")
}

// Exit is Main for package main.
func Exit() { os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr)) }

type errUnknownCommand string

func (e errUnknownCommand) Error() string { return "unknown command " + string(e) }
