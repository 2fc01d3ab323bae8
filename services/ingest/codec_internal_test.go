package ingest

import (
	"bytes"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// split cuts b into a BufferSlice of pieces of at most n bytes, as
// received HTTP/2 frames are.
func split(b []byte, n int) mem.BufferSlice {
	var s mem.BufferSlice
	for len(b) > 0 {
		k := min(n, len(b))
		s = append(s, mem.SliceBuffer(bytes.Clone(b[:k])))
		b = b[k:]
	}
	return s
}

// The upload codec reads chunk messages, whatever frames they came in,
// into the chunk buffer of the message it is given when that is large
// enough; everything else as the default codec does.
func TestUploadCodec(t *testing.T) {
	codec := encoding.GetCodecV2(UploadSubtype)
	if codec == nil {
		t.Fatal("no codec registered for the upload subtype")
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 70000) // over 1 MiB: a 3-byte length
	chunkMsg := func(b []byte) *pb.UploadRequest {
		return &pb.UploadRequest{Payload: &pb.UploadRequest_Chunk{Chunk: b}}
	}
	metaMsg := &pb.UploadRequest{Payload: &pb.UploadRequest_Metadata{Metadata: &pb.UploadMetadata{FileName: "a.jpg", Preset: "default"}}}
	cases := []struct {
		name  string
		msg   *pb.UploadRequest
		frame int  // bytes per received buffer
		into  int  // size of the chunk the message already holds (-1: none)
		reuse bool // that buffer must be the one filled
	}{
		{"small chunk, one frame", chunkMsg([]byte("hello")), 16 << 10, -1, false},
		{"large chunk over many frames", chunkMsg(big), 16 << 10, len(big), true},
		{"length split across frames", chunkMsg(big), 2, len(big) + 10, true},
		{"buffer too small", chunkMsg(big), 16 << 10, 100, false},
		{"shorter than the last chunk", chunkMsg([]byte("short")), 16 << 10, len(big), true},
		{"empty chunk", chunkMsg([]byte{}), 16 << 10, 8, true},
		{"metadata", metaMsg, 16 << 10, 8, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wire, err := proto.Marshal(c.msg)
			if err != nil {
				t.Fatal(err)
			}
			into := &pb.UploadRequest{}
			var old []byte
			if c.into >= 0 {
				old = make([]byte, c.into) // the last chunk, filling its buffer
				into.Payload = &pb.UploadRequest_Chunk{Chunk: old}
			}
			if err := codec.Unmarshal(split(wire, c.frame), into); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(into, c.msg) {
				t.Fatalf("unmarshalled a message of %d bytes (chunk %d), want %d (chunk %d)",
					proto.Size(into), len(into.GetChunk()), proto.Size(c.msg), len(c.msg.GetChunk()))
			}
			got := into.GetChunk()
			reused := cap(old) > 0 && cap(got) > 0 && &got[:1][0] == &old[:1][0]
			if c.reuse && cap(old) > 0 && !reused {
				t.Error("the message's chunk buffer was not reused")
			}
			if !c.reuse && reused {
				t.Error("a buffer too small was reused")
			}
		})
	}
}

// What is not a single chunk (two fields, trailing bytes, a truncated
// chunk) is left to the default codec, which refuses the truncated one.
func TestUploadCodecFallsBack(t *testing.T) {
	codec := encoding.GetCodecV2(UploadSubtype)
	chunk, _ := proto.Marshal(&pb.UploadRequest{Payload: &pb.UploadRequest_Chunk{Chunk: []byte("abc")}})
	meta, _ := proto.Marshal(&pb.UploadRequest{Payload: &pb.UploadRequest_Metadata{Metadata: &pb.UploadMetadata{FileName: "x"}}})
	// Two oneof fields: the last one wins, as proto.Unmarshal has it.
	twice := append(append([]byte{}, chunk...), meta...)
	m := &pb.UploadRequest{}
	if err := codec.Unmarshal(split(twice, 4), m); err != nil || m.GetMetadata().GetFileName() != "x" {
		t.Errorf("chunk then metadata: %v, %v; want the metadata", m, err)
	}
	if err := codec.Unmarshal(split(chunk[:len(chunk)-1], 4), &pb.UploadRequest{}); err == nil {
		t.Error("a truncated chunk was accepted")
	}
}
