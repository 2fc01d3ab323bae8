package cli

import (
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Usage mistakes of sign-url exit 2 before any call; -h exits 0.
func TestSignURLUsage(t *testing.T) {
	checkUsage(t, startFake(t), []usageCase{
		{[]string{"sign-url"}, "missing ID"},
		{[]string{"sign-url", "holiday"}, `"holiday" is not an image id`},
		{[]string{"sign-url", "-expires", "200h", fakeImageID}, "-expires 200h0m0s: must be 1s..168h"},
		{[]string{"sign-url", "-expires", "-1s", fakeImageID}, "must be 1s..168h"},
		{[]string{"sign-url", "-expires", "soon", fakeImageID}, "invalid value"},
	}, [][]string{{"sign-url", "-h"}})
}

// sign-url sends the variant and expiry and prints a table, just the URL
// of one -variant, or the answer as JSON; a public image's URLs come with
// a note.
func TestSignURL(t *testing.T) {
	f := startFake(t)
	url := func(v string) string {
		return "http://localhost:8080/v/" + fakeImageID + "/" + v + "?exp=1796468400&sig=abc"
	}
	for _, c := range []struct {
		args    []string
		wantReq *pb.SignURLRequest
		want    string
	}{
		{nil, &pb.SignURLRequest{ImageId: fakeImageID},
			"VARIANT  EXPIRES                   URL\n" +
				"thumb    2026-12-05T11:00:00.000Z  " + url("thumb") + "\n" +
				"medium   2026-12-05T11:00:00.000Z  " + url("medium") + "\n"},
		{[]string{"-variant", "medium", "-expires", "30m"}, &pb.SignURLRequest{ImageId: fakeImageID, Variant: "medium", ExpiresIn: durationOf(30 * time.Minute)},
			url("medium") + "\n"},
		{[]string{"-expires", "168h"}, &pb.SignURLRequest{ImageId: fakeImageID, ExpiresIn: durationOf(168 * time.Hour)}, ""},
	} {
		code, stdout, stderr := runCLI(t, append(append([]string{"sign-url"}, c.args...), fakeImageID)...)
		if code != 0 || (c.want != "" && stdout != c.want) || stderr != "" {
			t.Errorf("%v: exit %d, stdout\n%s\nstderr %q; want\n%s", c.args, code, stdout, stderr, c.want)
		}
		if reqs := f.requests("SignURL"); len(reqs) != 1 || !proto.Equal(reqs[0], c.wantReq) {
			t.Errorf("%v: requests %v, want %v", c.args, reqs, c.wantReq)
		}
		f.received()
	}

	code, stdout, _ := runCLI(t, "sign-url", "-json", fakeImageID)
	var resp pb.SignURLResponse
	if err := protojson.Unmarshal([]byte(stdout), &resp); code != 0 || err != nil || len(resp.GetVariants()) != 2 || resp.GetExpireTime() == nil {
		t.Errorf("-json: exit %d, %v\n%s", code, err, stdout)
	}

	f.on("SignURL", func(proto.Message) (proto.Message, error) {
		return &pb.SignURLResponse{Variants: []*pb.VariantInfo{{Name: "thumb", Url: "http://localhost:8080/v/x/thumb"}}}, nil
	})
	code, stdout, stderr := runCLI(t, "sign-url", fakeImageID)
	if code != 0 || stdout != "VARIANT  EXPIRES  URL\nthumb    -        http://localhost:8080/v/x/thumb\n" ||
		stderr != "imagepipe: image "+fakeImageID+" is public: its URLs are not signed and do not expire\n" {
		t.Errorf("public image: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func durationOf(d time.Duration) *durationpb.Duration { return durationpb.New(d) }
