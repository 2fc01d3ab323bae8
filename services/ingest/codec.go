package ingest

import (
	"errors"
	"io"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// UploadSubtype is the gRPC content-subtype of Upload streams that send
// large chunks (the gateway's): call Upload with
// grpc.CallContentSubtype(UploadSubtype). The messages are the usual
// protobuf ones; the ingest side reads a chunk message straight from the
// received frames into the chunk buffer of the message it is given, which
// the upload reuses from one message to the next. The default codec would
// copy each message into a pooled buffer (of 1 MiB, cleared first, for
// anything over 32 KiB) and then into a new chunk of its own: for a
// large upload, twice the copying and its size again in garbage.
// Any other message, or one that is not a single chunk, goes through
// the default codec.
const UploadSubtype = "imagepipe-upload"

func init() { encoding.RegisterCodecV2(uploadCodec{proto: encoding.GetCodecV2("proto")}) }

type uploadCodec struct{ proto encoding.CodecV2 }

func (c uploadCodec) Name() string { return UploadSubtype }

func (c uploadCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c uploadCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if m, ok := v.(*pb.UploadRequest); ok {
		switch err := readChunk(data, m); {
		case err == nil:
			return nil
		case !errors.Is(err, errNotAChunk):
			return err
		}
	}
	return c.proto.Unmarshal(data, v)
}

var errNotAChunk = errors.New("not a single chunk")

// chunkTag is the key of UploadRequest.chunk on the wire.
var chunkTag = protowire.AppendTag(nil, 2, protowire.BytesType)

// readChunk reads data into m if it is an UploadRequest holding a chunk
// and nothing else, reusing m's chunk buffer when it is large enough;
// errNotAChunk (m untouched) if it is something else.
func readChunk(data mem.BufferSlice, m *pb.UploadRequest) error {
	r := data.Reader()
	defer r.Close()
	var head [1 + binaryMaxVarintLen]byte
	n := r.Remaining()
	hn, _ := io.ReadFull(r, head[:min(len(head), n)])
	if hn < len(chunkTag)+1 || head[0] != chunkTag[0] {
		return errNotAChunk
	}
	size, vn := protowire.ConsumeVarint(head[1:hn])
	if vn < 0 || uint64(n) != 1+uint64(vn)+size {
		return errNotAChunk
	}
	var buf []byte
	if c, ok := m.Payload.(*pb.UploadRequest_Chunk); ok && uint64(cap(c.Chunk)) >= size {
		buf = c.Chunk[:size]
		c.Chunk = buf
	} else {
		buf = make([]byte, size)
		m.Payload = &pb.UploadRequest_Chunk{Chunk: buf}
	}
	// What of the chunk came with the head, then the rest.
	k := copy(buf, head[1+vn:hn])
	_, err := io.ReadFull(r, buf[k:])
	return err
}

// binaryMaxVarintLen is the longest a varint may be.
const binaryMaxVarintLen = 10
