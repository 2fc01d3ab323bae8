package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/mattn/go-isatty"
)

func init() {
	register("keys", "API keys: create -scopes LIST [-tenant NAME] [-name LABEL] | ls [-tenant NAME | -all] | revoke ID", groupCmd("keys", keysSubs))
}

// keysSubs are the subcommands of imagepipe keys.
var keysSubs = []subcommand{
	{name: "create", synopsis: "-scopes LIST [-tenant NAME] [-name LABEL] [-json]", about: "create a key; it is printed once", setup: keysCreate,
		help: []string{
			"Creates an API key and prints it on stdout, alone on its line; its id goes to stderr. The key is",
			"shown this once (the server keeps only its hash): store it now. -json prints {key, secret} instead.",
		}},
	{name: "ls", synopsis: "[-tenant NAME | -all] [-json]", about: "list keys (never the keys themselves)", setup: keysList},
	{name: "revoke", synopsis: "ID", about: "revoke a key: it is refused from the next call on", setup: keysRevoke,
		help: []string{"ID is the key's id (imagepipe keys ls), not the key."}},
}

// maxKeyName bounds -name, as the server does.
const maxKeyName = 200

// keyPrefix begins every API key: ipk_<id>_<secret>.
const keyPrefix = "ipk_"

// isTerminal reports whether w is a terminal; a variable for tests.
var isTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// parseScopes splits -scopes (upload,read) and checks every name; each
// scope once, in the order given.
func parseScopes(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, usageError("-scopes is required: a comma-separated list of %s", scopeNames())
	}
	var scopes []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(auth.Scopes, auth.Scope(name)) {
			return nil, usageError("-scopes: unknown scope %q (want %s)", name, scopeNames())
		}
		if !slices.Contains(scopes, name) {
			scopes = append(scopes, name)
		}
	}
	return scopes, nil
}

// scopeNames is "upload, read, admin".
func scopeNames() string {
	names := make([]string, len(auth.Scopes))
	for i, s := range auth.Scopes {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// checkTenant refuses a -tenant that is no tenant name; empty is the
// caller's own.
func checkTenant(tenant string) error {
	if tenant != "" && !auth.ValidTenant(tenant) {
		return usageError("-tenant %q: must be 1..63 of [a-z0-9_-], starting with a letter or digit", tenant)
	}
	return nil
}

// noArgs refuses positional arguments.
func noArgs(sub string, args []string) error {
	if len(args) > 0 {
		return usageError("%s takes no arguments", sub)
	}
	return nil
}

// printSecret prints a secret the server shows once: alone on its line on
// stdout, so that it can be captured; what it is goes to stderr, with a
// reminder to store it when a person is looking at stdout.
func printSecret(stdout, stderr io.Writer, secret, about string) {
	fmt.Fprintln(stdout, secret)
	if isTerminal(stdout) {
		about += "; store it now: it cannot be shown again"
	}
	fmt.Fprintln(stderr, "imagepipe:", about)
}

func keysCreate(fs *flag.FlagSet) clientFunc {
	tenant := fs.String("tenant", "", "the key's tenant (default: the caller's; only the operator may name another)")
	scopes := fs.String("scopes", "", "comma-separated scopes: "+scopeNames()+" (admin implies the others)")
	name := fs.String("name", "", fmt.Sprintf("a label for the key (at most %d bytes)", maxKeyName))
	asJSON := fs.Bool("json", false, "print the answer as JSON: {key, secret}")
	return func(ctx context.Context, c *client, args []string, stdout, stderr io.Writer) (int, error) {
		if err := noArgs("create", args); err != nil {
			return 0, err
		}
		if err := checkTenant(*tenant); err != nil {
			return 0, err
		}
		if len(*name) > maxKeyName {
			return 0, usageError("-name: at most %d bytes", maxKeyName)
		}
		sc, err := parseScopes(*scopes)
		if err != nil {
			return 0, err
		}
		resp, err := c.admin.CreateApiKey(ctx, &pb.CreateApiKeyRequest{Tenant: *tenant, Scopes: sc, Name: *name})
		if err != nil {
			return 0, err
		}
		k := resp.GetKey()
		about := fmt.Sprintf("created key %s for tenant %s (scopes %s)", k.GetId(), k.GetTenant(), strings.Join(k.GetScopes(), ","))
		if *asJSON {
			if isTerminal(stdout) {
				fmt.Fprintln(stderr, "imagepipe: store the secret now: it cannot be shown again")
			}
			return 0, printProto(stdout, resp, true)
		}
		printSecret(stdout, stderr, resp.GetSecret(), about)
		return 0, nil
	}
}

// maxListPages bounds how many pages keys ls follows.
const maxListPages = 1000

func keysList(fs *flag.FlagSet) clientFunc {
	tenant := fs.String("tenant", "", "list this tenant's keys (default: the caller's; only the operator may name another)")
	all := fs.Bool("all", false, "list every tenant's keys (the operator)")
	asJSON := fs.Bool("json", false, "print the answer as JSON: {keys}")
	return func(ctx context.Context, c *client, args []string, stdout, stderr io.Writer) (int, error) {
		if err := noArgs("ls", args); err != nil {
			return 0, err
		}
		if *all && *tenant != "" {
			return 0, usageError("give -tenant or -all, not both")
		}
		if err := checkTenant(*tenant); err != nil {
			return 0, err
		}
		req := &pb.ListApiKeysRequest{Tenant: *tenant, PageSize: 1000}
		if *all {
			req.Tenant = "*"
		}
		list := &pb.ListApiKeysResponse{}
		for range maxListPages {
			resp, err := c.admin.ListApiKeys(ctx, req)
			if err != nil {
				return 0, err
			}
			list.Keys = append(list.Keys, resp.GetKeys()...)
			if resp.GetNextPageToken() == "" || resp.GetNextPageToken() == req.PageToken {
				break
			}
			req.PageToken = resp.GetNextPageToken()
		}
		if *asJSON {
			return 0, printProto(stdout, list, true)
		}
		printKeys(stdout, list.GetKeys())
		return 0, nil
	}
}

// printKeys writes a table of keys and a count.
func printKeys(w io.Writer, keys []*pb.ApiKey) {
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tTENANT\tSCOPES\tNAME\tCREATED\tLAST USED\tREVOKED")
	revoked := 0
	for _, k := range keys {
		if k.GetRevokeTime() != nil {
			revoked++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.GetId(), k.GetTenant(), orDash(strings.Join(k.GetScopes(), ",")),
			orDash(cell(k.GetName(), 40)), formatTime(k.GetCreateTime()), formatTime(k.GetLastUseTime()), formatTime(k.GetRevokeTime()))
	}
	tw.Flush()
	fmt.Fprintf(w, "%s, %d revoked\n", plural(len(keys), "key"), revoked)
}

// cell is free text fit for a table cell: control characters (tabs,
// newlines) as spaces, at most n runes.
func cell(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return truncate(s, n)
}

func keysRevoke(fs *flag.FlagSet) clientFunc {
	return func(ctx context.Context, c *client, args []string, stdout, stderr io.Writer) (int, error) {
		id, err := oneID(args)
		if err != nil {
			return 0, err
		}
		if strings.HasPrefix(id, keyPrefix) {
			// A key, not its id: refused without echoing it, and never
			// sent.
			return 0, usageError("revoke takes the key's id (see imagepipe keys ls), not the key itself")
		}
		resp, err := c.admin.RevokeApiKey(ctx, &pb.RevokeApiKeyRequest{Id: id})
		if err != nil {
			return 0, err
		}
		k := resp.GetKey()
		fmt.Fprintf(stdout, "revoked key %s of tenant %s at %s\n", k.GetId(), k.GetTenant(), formatTime(k.GetRevokeTime()))
		return 0, nil
	}
}
