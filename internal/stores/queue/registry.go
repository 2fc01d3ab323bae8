package queue

import (
	"context"

	"github.com/imagepipe/imagepipe/internal/stores/registry"
)

// Opener opens a Queue for a parsed URL whose scheme the driver registered.
type Opener = registry.Opener[Queue]

var drivers = registry.New[Queue]("queue", ErrUnknownScheme)

// Register makes a driver available under a URL scheme (case-insensitive).
// Drivers call it from init, so a blank import selects them. It panics if
// the scheme is empty, o is nil or the scheme is already registered.
func Register(scheme string, o Opener) { drivers.Register(scheme, o) }

// Schemes returns the registered URL schemes, sorted.
func Schemes() []string { return drivers.Schemes() }

// Open opens the Queue a URL names with the driver registered for its scheme;
// an unregistered scheme yields an error wrapping ErrUnknownScheme.
func Open(ctx context.Context, rawURL string) (Queue, error) { return drivers.Open(ctx, rawURL) }
