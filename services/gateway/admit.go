package gateway

import (
	"errors"
	"time"

	"github.com/imagepipe/imagepipe/internal/platform/limits"
	"google.golang.org/grpc"
)

// admitWait bounds the wait for ingest to announce that it admitted an
// upload stream. Ingest announces it as soon as the upload is within its
// tenant's rate and holds an upload slot; one that never does (an older
// version during a rolling upgrade) gets the body after this wait.
const admitWait = 5 * time.Second

// errNotAdmitted: the stream ended without being admitted.
var errNotAdmitted = errors.New("gateway: upload stream ended unadmitted")

// awaitAdmission waits until ingest admits the upload on stream or
// refuses it, before a byte of the body is read: a refused upload (429:
// over the rate, no slot) is answered at once and holds no buffer, however
// slowly its client sends. status gives the stream's status once it has
// ended unadmitted (CloseAndRecv).
func awaitAdmission(stream grpc.ClientStream, status func() error) error {
	got := make(chan error, 1)
	go func() {
		// Header returns nil, nil when the stream ended without headers.
		md, err := stream.Header()
		switch {
		case err != nil:
			got <- err
		case len(md.Get(limits.AdmittedKey)) == 0:
			got <- errNotAdmitted
		default:
			got <- nil
		}
	}()
	t := time.NewTimer(admitWait)
	defer t.Stop()
	select {
	case err := <-got:
		if errors.Is(err, errNotAdmitted) {
			if serr := status(); serr != nil {
				return serr
			}
		}
		return err
	case <-t.C:
		return nil
	}
}
