package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Server-sent events: GET /v1/images/{id}:watch and GET /v1/batches/{id}:watch
// with Accept: text/event-stream stream the watch as SSE instead of
// grpc-gateway's newline-delimited JSON. Every stream message is one event:
//
//	id: <counter, from 1>
//	event: image | batch
//	data: <the message as JSON, proto field names>
//
// The stream starts with "retry: 2000", sends ": keepalive" comments while
// idle, and ends with "event: end" (data {}) when the watch is over. An
// error before the first event is the usual JSON error with its HTTP status;
// after it, an "event: error" whose data is that JSON error.
const (
	eventStream = "text/event-stream"
	sseRetryMS  = 2000
	// Event names.
	eventImage = "image"
	eventBatch = "batch"
	eventEnd   = "end"
	eventError = "error"
)

// withSSE sends watch requests that accept text/event-stream to the SSE
// handlers and everything else to next, so the grpc-gateway routes stay as
// they are for other clients.
func (g *Gateway) withSSE(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && acceptsEventStream(r.Header) {
			if id, ok := watchID(r.URL.Path, "/v1/images/"); ok {
				serveSSE(g, w, r, eventImage, func(ctx context.Context) (grpc.ServerStreamingClient[pb.WatchImageResponse], error) {
					return g.status.WatchImage(ctx, &pb.WatchImageRequest{Id: id})
				}, func(m *pb.WatchImageResponse) proto.Message { return m.GetImage() })
				return
			}
			if id, ok := watchID(r.URL.Path, "/v1/batches/"); ok {
				serveSSE(g, w, r, eventBatch, func(ctx context.Context) (grpc.ServerStreamingClient[pb.WatchBatchResponse], error) {
					return g.status.WatchBatch(ctx, &pb.WatchBatchRequest{Id: id})
				}, func(m *pb.WatchBatchResponse) proto.Message { return m })
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// acceptsEventStream reports whether the Accept header names
// text/event-stream (with a q above 0). Wildcards do not count: only
// clients that ask for SSE get it.
func acceptsEventStream(h http.Header) bool {
	for _, v := range h.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || mt != eventStream {
				continue
			}
			if q, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(q, 64); err != nil || f <= 0 {
					continue
				}
			}
			return true
		}
	}
	return false
}

// watchID returns the {id} of prefix + "{id}:watch".
func watchID(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix)
	if !ok {
		return "", false
	}
	id, ok := strings.CutSuffix(rest, ":watch")
	if !ok || strings.Contains(id, "/") {
		return "", false
	}
	return id, true
}

type recvResult[T any] struct {
	msg *T
	err error
}

// serveSSE streams the messages of the watch open starts as events named
// event, each message's data being the JSON of body(message).
func serveSSE[T any](g *Gateway, w http.ResponseWriter, r *http.Request, event string,
	open func(context.Context) (grpc.ServerStreamingClient[T], error), body func(*T) proto.Message) {
	// The request's context: a client that goes away cancels the watch.
	// The caller's credential goes with the call.
	ctx, cancel := context.WithCancel(outgoing(r))
	defer cancel()
	stream, err := open(ctx)
	if err != nil {
		writeError(w, err)
		return
	}
	s := &sseStream[T]{g: g, w: w, rc: http.NewResponseController(w), event: event, body: body, n: 1}
	s.run(ctx, receive(ctx, stream))
}

// receive passes the stream's messages, and its final error, to the
// channel it returns, until ctx is done.
func receive[T any](ctx context.Context, stream grpc.ServerStreamingClient[T]) <-chan recvResult[T] {
	msgs := make(chan recvResult[T])
	go func() {
		for {
			m, err := stream.Recv()
			select {
			case msgs <- recvResult[T]{m, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return msgs
}

// sseStream is the response of one SSE watch.
type sseStream[T any] struct {
	g     *Gateway
	w     http.ResponseWriter
	rc    *http.ResponseController
	event string                 // the name of the message events
	body  func(*T) proto.Message // what of a message is sent

	started bool // the 200 and its headers are written
	n       int  // the id of the next message event
}

// run writes an event per message, and keepalives while idle, until the
// watch ends, fails, or the client goes away.
func (s *sseStream[T]) run(ctx context.Context, msgs <-chan recvResult[T]) {
	keepalive := time.NewTicker(s.g.cfg.SSEKeepalive)
	defer keepalive.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-keepalive.C:
			// Nothing is sent before the first message or error.
			if s.started && !s.write([]byte(": keepalive\n\n")) {
				return
			}
		case res := <-msgs:
			if !s.message(res) {
				return
			}
		}
	}
}

// message writes the event of one received message, and reports whether
// the stream goes on: the end of the watch and an error end it. An error
// before the first event is answered as a plain JSON error.
func (s *sseStream[T]) message(res recvResult[T]) bool {
	data, err := s.marshal(res)
	switch {
	case errors.Is(err, io.EOF):
		s.start()
		s.send("", eventEnd, []byte("{}"))
		return false
	case err != nil && !s.started:
		writeError(s.w, err)
		return false
	case err != nil:
		data, _ = json.Marshal(ErrorBody{Error: errorDetail(err)})
		s.send("", eventError, data)
		return false
	default:
		s.start()
		id := strconv.Itoa(s.n)
		s.n++
		return s.send(id, s.event, data)
	}
}

// marshal is the JSON of a received message, or why there is none.
func (s *sseStream[T]) marshal(res recvResult[T]) ([]byte, error) {
	if res.err != nil {
		return nil, res.err
	}
	data, err := s.g.marshaler.Marshal(s.body(res.msg))
	if err != nil {
		return nil, apperr.Internal(err)
	}
	return data, nil
}

// start writes the 200 and the event-stream headers, once.
func (s *sseStream[T]) start() {
	if s.started {
		return
	}
	s.started = true
	h := s.w.Header()
	h.Set("Content-Type", eventStream)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
	s.w.WriteHeader(http.StatusOK)
	fmt.Fprintf(s.w, "retry: %d\n\n", sseRetryMS)
}

// send writes one event, and reports whether the client is still there.
func (s *sseStream[T]) send(id, event string, data []byte) bool {
	var b bytes.Buffer
	writeEvent(&b, id, event, data)
	return s.write(b.Bytes())
}

// write writes and flushes b, and reports whether the client is still
// there.
func (s *sseStream[T]) write(b []byte) bool {
	// Each write gets the write timeout: a stream may last, but a client
	// that stops reading is let go.
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.g.cfg.WriteTimeout))
	if _, err := s.w.Write(b); err != nil {
		return false
	}
	return s.rc.Flush() == nil
}

// writeEvent appends one event; data may span lines (one data: field each).
func writeEvent(b *bytes.Buffer, id, event string, data []byte) {
	if id != "" {
		fmt.Fprintf(b, "id: %s\n", id)
	}
	fmt.Fprintf(b, "event: %s\n", event)
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		b.WriteString("data: ")
		b.Write(line)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
}
