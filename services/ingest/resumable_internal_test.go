package ingest

import (
	"bytes"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"google.golang.org/protobuf/proto"
)

// TestWriteChunkIsUploadChunk: WriteResumableUpload's chunk messages are
// read as Upload's (chunkReader, the upload codec), which holds only while
// both are the same bytes on the wire.
func TestWriteChunkIsUploadChunk(t *testing.T) {
	for _, n := range []int{0, 1, 64 << 10} {
		chunk := bytes.Repeat([]byte{7}, n)
		w, err := proto.Marshal(&pb.WriteResumableUploadRequest{Payload: &pb.WriteResumableUploadRequest_Chunk{Chunk: chunk}})
		if err != nil {
			t.Fatal(err)
		}
		u, err := proto.Marshal(&pb.UploadRequest{Payload: &pb.UploadRequest_Chunk{Chunk: chunk}})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(w, u) {
			t.Fatalf("a %d-byte chunk: WriteResumableUploadRequest %x, UploadRequest %x", n, w[:min(len(w), 8)], u[:min(len(u), 8)])
		}
	}
}
