package secretfile

import (
	"os"
	"time"
)

// WithoutHardLinks makes creation take the O_EXCL fallback, as on a file
// system without hard links, until the returned function is called.
func WithoutHardLinks() (restore func()) {
	link = func(_, _ string) error { return &os.LinkError{Op: "link", Err: errNoLinks} }
	return func() { link = os.Link }
}

type noLinks struct{}

func (noLinks) Error() string { return "operation not supported" }

var errNoLinks error = noLinks{}

// ShortEmptyWait shortens the wait for an empty file to be filled until
// the returned function is called.
func ShortEmptyWait() (restore func()) {
	emptyWait = 50 * time.Millisecond
	return func() { emptyWait = 2 * time.Second }
}
