package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
)

// subcommand is one subcommand of a command group (imagepipe dlq ls).
// Every one talks to a server, with flags of its own beside -addr, -token
// and -token-file.
type subcommand struct {
	name     string
	synopsis string // after "imagepipe GROUP NAME": "[-max N] [-json]"
	about    string // one line for the group's usage
	help     []string
	setup    func(fs *flag.FlagSet) clientFunc
}

// serverFlagsNote ends the usage of a group.
const serverFlagsNote = "Every subcommand takes -addr (env IMAGEPIPE_ADDR, default " + defaultAddr +
	") and -token or -token-file (env IMAGEPIPE_TOKEN, IMAGEPIPE_TOKEN_FILE)."

// groupUsage lists a group's subcommands.
func groupUsage(w io.Writer, group string, subs []subcommand) {
	tw := newTable(w)
	for i, s := range subs {
		prefix := "       "
		if i == 0 {
			prefix = "usage: "
		}
		fmt.Fprintf(tw, "%simagepipe %s %s %s\t%s\n", prefix, group, s.name, s.synopsis, s.about)
	}
	tw.Flush()
	fmt.Fprintln(w, serverFlagsNote)
}

// groupCmd is the setup of a command whose first argument names one of
// subs: it parses the subcommand's own flags and runs it as a client
// command.
func groupCmd(group string, subs []subcommand) func(fs *flag.FlagSet) func(stdout, stderr io.Writer) int {
	return func(fs *flag.FlagSet) func(stdout, stderr io.Writer) int {
		fs.Usage = func() { groupUsage(fs.Output(), group, subs) }
		return func(stdout, stderr io.Writer) int {
			args := fs.Args()
			if len(args) == 0 {
				fmt.Fprintf(stderr, "imagepipe: %s: missing subcommand\n", group)
				groupUsage(stderr, group, subs)
				return 2
			}
			i := slices.IndexFunc(subs, func(s subcommand) bool { return s.name == args[0] })
			if i < 0 {
				fmt.Fprintf(stderr, "imagepipe: %s: unknown subcommand %q\n", group, args[0])
				groupUsage(stderr, group, subs)
				return 2
			}
			sub := subs[i]
			sfs := flag.NewFlagSet("imagepipe "+group+" "+sub.name, flag.ContinueOnError)
			sfs.SetOutput(stderr)
			server := addServerFlags(sfs)
			do := sub.setup(sfs)
			sfs.Usage = func() {
				w := sfs.Output()
				fmt.Fprintf(w, "usage: imagepipe %s %s %s\n", group, sub.name, sub.synopsis)
				for _, l := range sub.help {
					fmt.Fprintln(w, l)
				}
				sfs.PrintDefaults()
			}
			if err := sfs.Parse(args[1:]); err != nil {
				if errors.Is(err, flag.ErrHelp) {
					return 0
				}
				return 2
			}
			return clientCommand(sfs, server, do)(stdout, stderr)
		}
	}
}
