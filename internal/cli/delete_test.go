package cli

import (
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Usage mistakes of delete exit 2 before any call; -h exits 0.
func TestDeleteUsage(t *testing.T) {
	checkUsage(t, startFake(t), []usageCase{
		{[]string{"delete"}, "give image ids or -batch"},
		{[]string{"delete", "-batch", "b", fakeImageID}, "give image ids or -batch, not both"},
		{[]string{"delete", "-tenant", "acme", fakeImageID}, "-tenant goes with -batch"},
		{[]string{"delete", "holiday"}, `"holiday" is not an image id (a UUID); to delete a batch: imagepipe delete -batch holiday`},
		{[]string{"delete", "-batch", "no spaces"}, `-batch "no spaces": must be 1..64`},
		{[]string{"delete", "-batch", "b", "-tenant", "A"}, `-tenant "A"`},
	}, [][]string{{"delete", "-h"}})
}

// delete deletes images one by one (one not found is reported, the others
// deleted, exit 1), or a batch of a tenant.
func TestDelete(t *testing.T) {
	f := startFake(t)
	const missing = "01a1ff51-c1b0-7362-a1a4-c9d6dbb5c578"
	f.on("DeleteImage", func(req proto.Message) (proto.Message, error) {
		id := req.(*pb.DeleteImageRequest).GetId()
		if id == missing {
			return nil, status.Errorf(codes.NotFound, "image %q not found", id)
		}
		return &pb.DeleteImageResponse{Image: fakeImage(id, pb.ImageState_IMAGE_STATE_DELETED)}, nil
	})
	code, stdout, stderr := runCLI(t, "delete", fakeImageID, missing)
	if code != 1 || stdout != "deleted "+fakeImageID+"\n1 image deleted\n" || stderr != "imagepipe: image \""+missing+"\" not found\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if reqs := f.requests("DeleteImage"); len(reqs) != 2 || reqs[0].(*pb.DeleteImageRequest).GetId() != fakeImageID ||
		reqs[1].(*pb.DeleteImageRequest).GetId() != missing {
		t.Errorf("requests %v", reqs)
	}

	for _, c := range []struct {
		args    []string
		answer  []string
		wantReq *pb.DeleteBatchRequest
		want    string
	}{
		{[]string{"-batch", "holiday"}, []string{fakeImageID}, &pb.DeleteBatchRequest{BatchId: "holiday"},
			"deleted " + fakeImageID + "\n1 image of batch holiday deleted\n"},
		{[]string{"-batch", "holiday", "-tenant", "acme"}, nil, &pb.DeleteBatchRequest{BatchId: "holiday", Tenant: "acme"},
			"0 images of batch holiday deleted (its images were deleted already)\n"},
	} {
		f.received()
		f.on("DeleteBatch", func(proto.Message) (proto.Message, error) { return &pb.DeleteBatchResponse{ImageIds: c.answer}, nil })
		code, stdout, stderr := runCLI(t, append([]string{"delete"}, c.args...)...)
		if code != 0 || stdout != c.want {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %q", c.args, code, stdout, stderr, c.want)
		}
		if reqs := f.requests("DeleteBatch"); len(reqs) != 1 || !proto.Equal(reqs[0], c.wantReq) {
			t.Errorf("%v: requests %v, want %v", c.args, reqs, c.wantReq)
		}
	}
}

// A batch the server deletes in shares takes as many calls as it says.
func TestDeleteBatchInShares(t *testing.T) {
	f := startFake(t)
	const other = "01a1ff51-c1b0-7362-a1a4-c9d6dbb5c578"
	answers := []*pb.DeleteBatchResponse{
		{ImageIds: []string{fakeImageID}, Remaining: 1},
		{ImageIds: []string{other}},
	}
	f.on("DeleteBatch", func(proto.Message) (proto.Message, error) {
		a := answers[0]
		answers = answers[1:]
		return a, nil
	})
	code, stdout, stderr := runCLI(t, "delete", "-batch", "holiday")
	want := "deleted " + fakeImageID + "\ndeleted " + other + "\n2 images of batch holiday deleted\n"
	if code != 0 || stdout != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want %q", code, stdout, stderr, want)
	}
	if n := len(f.requests("DeleteBatch")); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
}
