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
	"github.com/imagepipe/imagepipe/internal/platform/trace"
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
	ctx, cancel := context.WithCancel(trace.Outgoing(r.Context(), r.Header.Get(trace.Header)))
	defer cancel()
	stream, err := open(ctx)
	if err != nil {
		writeError(w, err)
		return
	}
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

	rc := http.NewResponseController(w)
	started := false
	start := func() {
		if started {
			return
		}
		started = true
		h := w.Header()
		h.Set("Content-Type", eventStream)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, "retry: %d\n\n", sseRetryMS)
	}
	keepalive := time.NewTicker(g.cfg.SSEKeepalive)
	defer keepalive.Stop()
	for n := 1; ; {
		var out bytes.Buffer
		done := false
		select {
		case <-ctx.Done():
			return
		case <-keepalive.C:
			if !started {
				continue // nothing is sent before the first message or error
			}
			out.WriteString(": keepalive\n\n")
		case res := <-msgs:
			var data []byte
			err := res.err
			if err == nil {
				if data, err = g.marshaler.Marshal(body(res.msg)); err != nil {
					err = apperr.Internal(err)
				}
			}
			switch {
			case errors.Is(err, io.EOF):
				start()
				writeEvent(&out, "", eventEnd, []byte("{}"))
				done = true
			case err != nil && !started:
				writeError(w, err)
				return
			case err != nil:
				data, _ = json.Marshal(ErrorBody{Error: errorDetail(err)})
				writeEvent(&out, "", eventError, data)
				done = true
			default:
				start()
				writeEvent(&out, strconv.Itoa(n), event, data)
				n++
			}
		}
		if _, err := w.Write(out.Bytes()); err != nil {
			return // the client is gone
		}
		if err := rc.Flush(); err != nil || done {
			return
		}
	}
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
