package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// defaultAddr is the server the client commands talk to without -addr or
// IMAGEPIPE_ADDR.
const defaultAddr = "localhost:9090"

// exitInterrupted is the exit code after SIGINT or SIGTERM (128 + SIGINT).
const exitInterrupted = 130

// usageErr is a command-line mistake: exit code 2, with the usage.
type usageErr string

func (e usageErr) Error() string { return string(e) }

// usageError is a usage mistake described by format.
func usageError(format string, args ...any) error { return usageErr(fmt.Sprintf(format, args...)) }

// client is a connection to an imagepipe gRPC server.
type client struct {
	conn      *grpc.ClientConn
	ingest    pb.IngestServiceClient
	status    pb.StatusServiceClient
	admin     pb.AdminServiceClient
	processor pb.ProcessorServiceClient
	// tokenSource says where the token sent on every call came from
	// ("-token", "IMAGEPIPE_TOKEN", "-token-file data/admin.key"); empty
	// when none is sent. Never the token itself.
	tokenSource string
}

// serverFlags are the flags of every command that talks to a server: where
// it is (-addr) and the credentials every call carries (-token or
// -token-file).
type serverFlags struct {
	fs        *flag.FlagSet
	addr      string
	token     string
	tokenFile string
}

// maxTokenFileBytes bounds a -token-file (an API key is under 200 bytes, a
// JWT a few KiB).
const maxTokenFileBytes = 64 << 10

// addServerFlags registers -addr, -token and -token-file on fs. The
// token's environment default is read when the command runs, never shown
// as the flag's default in the usage.
func addServerFlags(fs *flag.FlagSet) *serverFlags {
	f := &serverFlags{fs: fs}
	addr := os.Getenv("IMAGEPIPE_ADDR")
	if addr == "" {
		addr = defaultAddr
	}
	fs.StringVar(&f.addr, "addr", addr, "imagepipe gRPC server address (env IMAGEPIPE_ADDR)")
	fs.StringVar(&f.token, "token", "", "API key (ipk_...) or JWT sent as authorization: Bearer on every call (env IMAGEPIPE_TOKEN;\n"+
		"prefer the environment or -token-file: a flag shows in ps and shell history)")
	fs.StringVar(&f.tokenFile, "token-file", "", "read the token from this file, e.g. data/admin.key (env IMAGEPIPE_TOKEN_FILE)")
	return f
}

// credentials is the token to send and where it came from; an empty token
// sends none. A flag beats the environment; -token and -token-file
// together, or IMAGEPIPE_TOKEN and IMAGEPIPE_TOKEN_FILE together, are a
// usage error. Errors never include the token.
func (f *serverFlags) credentials() (token, source string, err error) {
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	switch {
	case set["token"] && set["token-file"]:
		return "", "", usageError("give -token or -token-file, not both")
	case set["token"]:
		token, source = f.token, "-token"
	case set["token-file"]:
		return readTokenFile(f.tokenFile, "-token-file")
	default:
		env, file := os.Getenv("IMAGEPIPE_TOKEN"), os.Getenv("IMAGEPIPE_TOKEN_FILE")
		switch {
		case env != "" && file != "":
			return "", "", usageError("IMAGEPIPE_TOKEN and IMAGEPIPE_TOKEN_FILE are both set: unset one, or give -token or -token-file")
		case file != "":
			return readTokenFile(file, "IMAGEPIPE_TOKEN_FILE")
		}
		token, source = env, "IMAGEPIPE_TOKEN"
	}
	if token == "" {
		return "", "", nil
	}
	return token, source, checkToken(token, source)
}

// readTokenFile reads a token from path, trimmed of surrounding white
// space (a trailing newline).
func readTokenFile(path, source string) (token, src string, err error) {
	if path == "" {
		return "", "", usageError("%s: empty file name", source)
	}
	file, err := os.Open(path)
	if err != nil {
		return "", "", fmt.Errorf("token file: %w", err)
	}
	defer file.Close()
	b, err := io.ReadAll(io.LimitReader(file, maxTokenFileBytes+1))
	if err != nil {
		return "", "", fmt.Errorf("token file: %w", err)
	}
	if len(b) > maxTokenFileBytes {
		return "", "", fmt.Errorf("token file %s: larger than %s, not a token", path, humanBytes(maxTokenFileBytes))
	}
	src = source + " " + path
	token = strings.TrimSpace(string(b))
	if token == "" {
		return "", "", fmt.Errorf("token file %s is empty", path)
	}
	return token, src, checkToken(token, src)
}

// checkToken refuses a token that cannot go in a header: anything but
// printable ASCII without spaces ("Bearer " is added here, not given).
func checkToken(token, source string) error {
	for i := 0; i < len(token); i++ {
		if token[i] <= ' ' || token[i] > '~' {
			return fmt.Errorf("the token from %s holds spaces or characters other than printable ASCII: give the API key or JWT alone", source)
		}
	}
	return nil
}

// bearerToken is per-RPC credentials adding "authorization: Bearer
// <token>" to every call. The connection is plaintext gRPC, so it does not
// require transport security: the token crosses the network in the clear,
// so beyond loopback put TLS termination (a proxy or load balancer) in
// front of the server.
type bearerToken struct{ token string }

var _ credentials.PerRPCCredentials = bearerToken{}

func (b bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (bearerToken) RequireTransportSecurity() bool { return false }

// String and GoString keep the token out of anything that prints the
// credentials.
func (bearerToken) String() string   { return "bearerToken(redacted)" }
func (bearerToken) GoString() string { return "bearerToken(redacted)" }

// dial connects to -addr without TLS, sending the token (if any) on every
// call; the connection is made lazily, so an unreachable server shows up
// as the first call's error.
func (f *serverFlags) dial() (*client, error) {
	token, source, err := f.credentials()
	if err != nil {
		return nil, err
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearerToken{token}))
	}
	conn, err := grpc.NewClient(f.addr, opts...)
	if err != nil {
		return nil, err
	}
	return &client{
		conn:        conn,
		ingest:      pb.NewIngestServiceClient(conn),
		status:      pb.NewStatusServiceClient(conn),
		admin:       pb.NewAdminServiceClient(conn),
		processor:   pb.NewProcessorServiceClient(conn),
		tokenSource: source,
	}, nil
}

func (c *client) Close() error { return c.conn.Close() }

// errMessage is the text to show for err: the server's message for a gRPC
// status, else the error itself.
func errMessage(err error) string {
	if st, ok := status.FromError(err); ok {
		return st.Message()
	}
	return err.Error()
}

// printErr writes "imagepipe: <message>" to w.
func printErr(w io.Writer, err error) {
	fmt.Fprintln(w, "imagepipe:", errMessage(err))
}

// tokenHint is what to do when the server answers UNAUTHENTICATED.
const tokenHint = "set IMAGEPIPE_TOKEN (the operator's key is in $IMAGEPIPE_DATA_DIR/admin.key), or give -token-file FILE"

// printAuthHint follows an UNAUTHENTICATED error with what to do about it:
// send a token, or another one than source's.
func printAuthHint(w io.Writer, err error, source string) {
	if status.Code(err) == codes.Unauthenticated {
		printTokenHint(w, source)
	}
}

// printTokenHint says to send a token, or another one than source's.
func printTokenHint(w io.Writer, source string) {
	if source == "" {
		fmt.Fprintln(w, "imagepipe: no token was sent:", tokenHint)
		return
	}
	fmt.Fprintf(w, "imagepipe: the token from %s was refused (revoked, expired or mistyped?): %s\n", source, tokenHint)
}

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

// clientFunc runs a client command once its flags are parsed: args are
// the positional arguments. It returns the exit code; a usageErr prints the
// usage and exits 2, any other error is printed and exits 1.
type clientFunc func(ctx context.Context, c *client, args []string, stdout, stderr io.Writer) (int, error)

// clientCommand is the shape of every command that talks to a server: it
// parses positional arguments (flags may follow them), dials the server
// with its credentials and runs do under a context SIGINT and SIGTERM
// cancel. do returns the exit code; a usageErr prints the usage and exits
// 2, any other error is printed (with a hint when it is UNAUTHENTICATED)
// and exits 1 (130 once interrupted).
func clientCommand(fs *flag.FlagSet, server *serverFlags, do clientFunc) func(stdout, stderr io.Writer) int {
	return func(stdout, stderr io.Writer) int {
		args, err := positional(fs)
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if err != nil {
			return 2 // fs printed the error
		}
		c, err := server.dial()
		var ue usageErr
		switch {
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "imagepipe: %v\n", err)
			fs.Usage()
			return 2
		case err != nil:
			printErr(stderr, err)
			return 2
		}
		defer c.Close()
		ctx, stop := signalContext()
		defer stop()
		code, err := do(ctx, c, args, stdout, stderr)
		switch {
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "imagepipe: %v\n", err)
			fs.Usage()
			return 2
		case err != nil && ctx.Err() != nil:
			fmt.Fprintln(stderr, "imagepipe: interrupted")
			return exitInterrupted
		case err != nil:
			printErr(stderr, err)
			printAuthHint(stderr, err, c.tokenSource)
			return 1
		}
		return code
	}
}
