package app

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// GRPCLimits bound what one client may hold of the gRPC server: streams
// per connection, the size of one message, how often it may ping and how
// long an idle or old connection stays open. The defaults protect a small
// machine without refusing anything the API documents.
type GRPCLimits struct {
	// MaxConcurrentStreams is how many streams one connection may have
	// open at once; the client's further streams wait for one to end.
	MaxConcurrentStreams uint32
	// MaxRecvBytes is the largest message the server accepts; larger ones
	// fail with RESOURCE_EXHAUSTED. Upload documents chunks up to 4 MiB,
	// so it is at least MinRecvBytes.
	MaxRecvBytes int
	// KeepaliveMinTime is the shortest interval between a client's pings
	// while it has streams open; pings without a stream are refused
	// altogether. A client pinging more often is sent GOAWAY
	// (ENHANCE_YOUR_CALM, "too_many_pings") and disconnected.
	KeepaliveMinTime time.Duration
	// MaxConnectionIdle closes a connection that has had no stream for
	// this long (GOAWAY; clients reconnect when they next call); 0 never.
	MaxConnectionIdle time.Duration
	// MaxConnectionAge closes a connection this old, after
	// MaxConnectionAgeGrace for its streams to finish; 0 never.
	MaxConnectionAge, MaxConnectionAgeGrace time.Duration
}

// MinRecvBytes is the smallest GRPCLimits.MaxRecvBytes: an Upload chunk
// of the documented 4 MiB and its framing.
const MinRecvBytes = 4<<20 + 1<<10

// maxRecvBytes caps GRPCLimits.MaxRecvBytes: no message of the API needs
// more, and every stream may hold one such message in memory.
const maxRecvBytes = 64 << 20

// DefaultGRPCLimits returns the defaults: 256 streams per connection,
// 4 MiB + 64 KiB messages (a 4 MiB Upload chunk with room to spare; the
// gateway sends 64 KiB), pings no more than every 10 s and only during
// streams, idle connections closed after 5 minutes, no age limit.
func DefaultGRPCLimits() GRPCLimits {
	return GRPCLimits{
		MaxConcurrentStreams: 256,
		MaxRecvBytes:         4<<20 + 64<<10,
		KeepaliveMinTime:     10 * time.Second,
		MaxConnectionIdle:    5 * time.Minute,
	}
}

// RegisterFlags binds the limits to flags named grpc.*, keeping the
// current values as defaults.
func (l *GRPCLimits) RegisterFlags(fs *flag.FlagSet) {
	fs.Var((*uint32Value)(&l.MaxConcurrentStreams), "grpc.max-concurrent-streams", "streams one gRPC connection may have open at once; more wait")
	fs.IntVar(&l.MaxRecvBytes, "grpc.max-recv-bytes", l.MaxRecvBytes, "largest gRPC message accepted, in bytes (at least 4 MiB + 1 KiB: Upload chunks are up to 4 MiB)")
	fs.DurationVar(&l.KeepaliveMinTime, "grpc.keepalive-min-time", l.KeepaliveMinTime, "shortest interval between a client's keepalive pings; faster clients are disconnected")
	fs.DurationVar(&l.MaxConnectionIdle, "grpc.max-connection-idle", l.MaxConnectionIdle, "close gRPC connections without streams for this long; 0 never")
	fs.DurationVar(&l.MaxConnectionAge, "grpc.max-connection-age", l.MaxConnectionAge, "close gRPC connections this old; 0 never")
	fs.DurationVar(&l.MaxConnectionAgeGrace, "grpc.max-connection-age-grace", l.MaxConnectionAgeGrace, "time a connection closed for its age gives its streams to finish; 0 unlimited")
}

// Validate reports every bad limit, naming its setting.
func (l GRPCLimits) Validate() error {
	var errs []error
	if l.MaxConcurrentStreams < 1 {
		errs = append(errs, errors.New("grpc.max-concurrent-streams must be at least 1"))
	}
	if l.MaxRecvBytes < MinRecvBytes || l.MaxRecvBytes > maxRecvBytes {
		errs = append(errs, fmt.Errorf("grpc.max-recv-bytes %d: want %d..%d (Upload chunks are up to 4 MiB)", l.MaxRecvBytes, MinRecvBytes, maxRecvBytes))
	}
	if l.KeepaliveMinTime < time.Second {
		errs = append(errs, fmt.Errorf("grpc.keepalive-min-time %s: want at least 1s", l.KeepaliveMinTime))
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"grpc.max-connection-idle", l.MaxConnectionIdle}, {"grpc.max-connection-age", l.MaxConnectionAge},
		{"grpc.max-connection-age-grace", l.MaxConnectionAgeGrace}} {
		if d.d < 0 {
			errs = append(errs, fmt.Errorf("%s %s: must not be negative (0: never)", d.name, d.d))
		}
	}
	return errors.Join(errs...)
}

// ServerOptions are the gRPC server options that enforce the limits.
func (l GRPCLimits) ServerOptions() []grpc.ServerOption {
	// grpc-go reads 0 as "its default" (infinity for the durations here).
	return []grpc.ServerOption{
		grpc.MaxConcurrentStreams(l.MaxConcurrentStreams),
		grpc.MaxRecvMsgSize(l.MaxRecvBytes),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: l.KeepaliveMinTime, PermitWithoutStream: false}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle:     l.MaxConnectionIdle,
			MaxConnectionAge:      l.MaxConnectionAge,
			MaxConnectionAgeGrace: l.MaxConnectionAgeGrace,
		}),
	}
}

// uint32Value is a flag.Value for a uint32.
type uint32Value uint32

func (v *uint32Value) String() string { return strconv.FormatUint(uint64(*v), 10) }

func (v *uint32Value) Set(s string) error {
	n, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		return errors.New("want a whole number up to 4294967295")
	}
	*v = uint32Value(n)
	return nil
}
