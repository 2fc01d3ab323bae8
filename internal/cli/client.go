package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"google.golang.org/grpc"
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
	conn   *grpc.ClientConn
	ingest pb.IngestServiceClient
	status pb.StatusServiceClient
	admin  pb.AdminServiceClient
}

// addrFlag registers -addr on fs.
func addrFlag(fs *flag.FlagSet) *string {
	def := os.Getenv("IMAGEPIPE_ADDR")
	if def == "" {
		def = defaultAddr
	}
	return fs.String("addr", def, "imagepipe gRPC server address (env IMAGEPIPE_ADDR)")
}

// dial connects to addr without TLS; the connection is made lazily, so
// an unreachable server shows up as the first call's error.
func dial(addr string) (*client, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	return &client{
		conn:   conn,
		ingest: pb.NewIngestServiceClient(conn),
		status: pb.NewStatusServiceClient(conn),
		admin:  pb.NewAdminServiceClient(conn),
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

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

// clientCommand is the shape of every command that talks to a server: it
// parses positional arguments (flags may follow them), dials -addr and
// runs do under a context SIGINT and SIGTERM cancel. do returns the exit
// code; a usageErr prints the usage and exits 2, any other
// error is printed and exits 1 (130 once interrupted).
func clientCommand(fs *flag.FlagSet, addr *string, do func(ctx context.Context, c *client, args []string, stdout, stderr io.Writer) (int, error)) func(stdout, stderr io.Writer) int {
	return func(stdout, stderr io.Writer) int {
		args, err := positional(fs)
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if err != nil {
			return 2 // fs printed the error
		}
		c, err := dial(*addr)
		if err != nil {
			printErr(stderr, err)
			return 2
		}
		defer c.Close()
		ctx, stop := signalContext()
		defer stop()
		code, err := do(ctx, c, args, stdout, stderr)
		var ue usageErr
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
			return 1
		}
		return code
	}
}
