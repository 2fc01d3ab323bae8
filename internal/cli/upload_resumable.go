package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Files above -resumable-threshold are sent as resumable uploads: the
// same calls the gateway serves tus with (IngestService's
// CreateResumableUpload, WriteResumableUpload, GetResumableUpload), which
// the command, a gRPC client like every other, makes itself. A write cut
// by a dropped connection or a restarted server is resumed from the
// offset the server holds, so a large file is not sent again from its
// start.

// defaultResumableThreshold is -resumable-threshold's default.
const defaultResumableThreshold = 8 << 20

// resumeAttempts bounds the resumptions of one file; resumeBackoff is the
// first wait between them, doubled each time up to resumeMaxBackoff.
const (
	resumeAttempts   = 8
	resumeBackoff    = 250 * time.Millisecond
	resumeMaxBackoff = 8 * time.Second
)

// testCutWrite, nil outside tests, runs after each chunk sent with the
// offset the file's write started at and the bytes it has sent; an error
// ends the write as a dropped connection would.
var testCutWrite func(file string, offset, sent int64) error

// sendResumable uploads one file as a resumable upload.
func (u *uploader) sendResumable(ctx context.Context, f uploadFile, md *pb.UploadMetadata, fp fileProgress) (*pb.Image, error) {
	file, err := os.Open(f.path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	created, err := u.c.ingest.CreateResumableUpload(ctx, &pb.CreateResumableUploadRequest{Metadata: md, Size: f.size})
	if err != nil {
		return nil, err
	}
	up := created.GetUpload()
	r := fp.reader(file)
	backoff := resumeBackoff
	for attempt := 0; up.GetImage() == nil; attempt++ {
		next, err := u.write(ctx, f.path, file, r, up)
		if err == nil {
			if next.GetImage() == nil && next.GetOffset() <= up.GetOffset() {
				// The file ended early: it changed since it was measured.
				return nil, fmt.Errorf("%s changed while being uploaded: %d of %d bytes sent, then it ended", f.path, next.GetOffset(), f.size)
			}
			up = next
			continue
		}
		if ctx.Err() != nil || !resumable(err) || attempt == resumeAttempts {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, resumeMaxBackoff)
		got, gerr := u.c.ingest.GetResumableUpload(ctx, &pb.GetResumableUploadRequest{Id: up.GetId()})
		if gerr != nil {
			if resumable(gerr) && attempt < resumeAttempts {
				continue
			}
			return nil, gerr
		}
		up = got.GetUpload()
	}
	return up.GetImage(), nil
}

// resumable reports whether a write that failed with err may be resumed:
// the connection or the server went away, or the offset moved under it.
func resumable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.Canceled, codes.FailedPrecondition, codes.Internal, codes.Unknown:
		return true
	}
	return false
}

// write sends the file from the upload's offset to its end in one
// WriteResumableUpload stream and returns the upload as the server then
// holds it.
func (u *uploader) write(ctx context.Context, path string, file *os.File, r io.Reader, up *pb.ResumableUpload) (*pb.ResumableUpload, error) {
	ctx, cancel := context.WithCancel(ctx) // ends the stream on any early return
	defer cancel()
	if _, err := file.Seek(up.GetOffset(), io.SeekStart); err != nil {
		return nil, err
	}
	stream, err := u.c.ingest.WriteResumableUpload(ctx)
	if err != nil {
		return nil, err
	}
	start := &pb.WriteResumableUploadStart{Id: up.GetId(), Offset: up.GetOffset()}
	if err := stream.Send(&pb.WriteResumableUploadRequest{Payload: &pb.WriteResumableUploadRequest_Start{Start: start}}); err != nil {
		_, err = stream.CloseAndRecv()
		return nil, err
	}
	send := func(chunk []byte) error {
		return stream.Send(&pb.WriteResumableUploadRequest{Payload: &pb.WriteResumableUploadRequest_Chunk{Chunk: chunk}})
	}
	var cut func(int64) error
	if testCutWrite != nil {
		cut = func(sent int64) error {
			if err := testCutWrite(path, up.GetOffset(), sent); err != nil {
				cancel()
				return status.Error(codes.Unavailable, err.Error())
			}
			return nil
		}
	}
	if err := sendChunks(r, send, cut); err != nil {
		if errors.Is(err, errStreamEnded) {
			_, err = stream.CloseAndRecv()
		}
		return nil, err
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, err
	}
	return resp.GetUpload(), nil
}
