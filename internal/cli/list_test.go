package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
	"google.golang.org/protobuf/encoding/protojson"
)

// Usage mistakes of list exit 2 before any call; -h exits 0.
func TestListUsage(t *testing.T) {
	checkUsage(t, startFake(t), []usageCase{
		{[]string{"list", "trip"}, "list takes no arguments"},
		{[]string{"list", "-state", "DONE"}, `-state "DONE": want one of RECEIVED, QUEUED, PROCESSING`},
		{[]string{"list", "-state", "UNSPECIFIED"}, `-state "UNSPECIFIED"`},
		{[]string{"list", "-limit", "0"}, "-limit must be 1..100000"},
		{[]string{"list", "-tenant", "Not A Tenant"}, `-tenant "Not A Tenant"`},
	}, [][]string{{"list", "-h"}})
}

// listJSON runs list -json with args and returns its answer.
func listJSON(t *testing.T, args ...string) *pb.ListImagesResponse {
	t.Helper()
	code, stdout, stderr := runCLI(t, append([]string{"list", "-json"}, args...)...)
	var resp pb.ListImagesResponse
	if code != 0 || protojson.Unmarshal([]byte(stdout), &resp) != nil {
		t.Fatalf("list -json %v: exit %d\n%s\n%s", args, code, stdout, stderr)
	}
	return &resp
}

func ids(imgs []*pb.Image) []string {
	var out []string
	for _, img := range imgs {
		out = append(out, img.GetId())
	}
	return out
}

// list against a whole server: real photos uploaded (two in a batch, one
// alone, one truncated that fails) are listed newest first, as a table and
// as JSON, filtered by state and batch, -limit at a time with -page-token
// to go on.
func TestList(t *testing.T) {
	startServer(t)
	dir := t.TempDir()
	broken := filepath.Join(dir, "truncated.jpg")
	jpeg := imagetest.Fixture(t, "dandelion.jpg")
	if err := os.WriteFile(broken, jpeg[:len(jpeg)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	trip := uploadFiles(t, "-batch", "trip", "-wait", imagetest.FixturePath(t, "grey.jpg"), imagetest.FixturePath(t, "coffee.png"))
	alone := uploadFiles(t, "-wait", imagetest.FixturePath(t, "dandelion.jpg"))
	runCLI(t, "upload", "-wait", broken) // exits 1: the image FAILED
	all := listJSON(t)
	if len(all.GetImages()) != 4 || all.GetNextPageToken() != "" {
		t.Fatalf("list: %d images, token %q; want the 4 uploaded", len(all.GetImages()), all.GetNextPageToken())
	}
	got := ids(all.GetImages())
	newest := slices.Clone(got)
	slices.Sort(newest)
	slices.Reverse(newest)
	if !slices.Equal(got, newest) {
		t.Errorf("list: %v, want newest first", got)
	}
	failed := all.GetImages()[0]
	if failed.GetState() != pb.ImageState_IMAGE_STATE_FAILED || failed.GetOriginal().GetFileName() != "truncated.jpg" {
		t.Errorf("newest image: %s %s, want truncated.jpg FAILED", failed.GetOriginal().GetFileName(), failed.GetState())
	}

	code, stdout, stderr := runCLI(t, "list")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || len(lines) != 6 || !strings.HasPrefix(lines[0], "IMAGE ID") || lines[5] != "4 images" {
		t.Fatalf("list: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for i, img := range all.GetImages() {
		f := strings.Fields(lines[i+1])
		want := []string{img.GetId(), strings.TrimPrefix(img.GetState().String(), "IMAGE_STATE_"), orDash(img.GetBatchId()), img.GetOriginal().GetFileName()}
		if len(f) < 5 || !slices.Equal(f[:4], want) {
			t.Errorf("row %d: %q, want %v first", i+1, lines[i+1], want)
		}
	}
	if !strings.HasSuffix(lines[1], "corrupt") {
		t.Errorf("the failed image's row does not end with its error code: %q", lines[1])
	}

	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"-state", "failed"}, ids(all.GetImages()[:1])},
		{[]string{"-state", "IMAGE_STATE_READY", "-batch", "trip"}, newestOf(trip)},
		{[]string{"-state", "ready"}, newestOf(append(slices.Clone(trip), alone...))},
		{[]string{"-state", "deleted"}, nil},
	} {
		if got := ids(listJSON(t, c.args...).GetImages()); !slices.Equal(got, c.want) {
			t.Errorf("list %v: %v, want %v", c.args, got, c.want)
		}
	}

	// One at a time: the token goes on from the image before.
	var paged []string
	token := ""
	for range 5 {
		args := []string{"-limit", "1"}
		if token != "" {
			args = append(args, "-page-token", token)
		}
		page := listJSON(t, args...)
		paged = append(paged, ids(page.GetImages())...)
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if !slices.Equal(paged, got) {
		t.Errorf("list -limit 1, page after page: %v, want %v", paged, got)
	}
	code, _, stderr = runCLI(t, "list", "-limit", "2")
	if code != 0 || !strings.Contains(stderr, "more images: go on with -page-token ") {
		t.Errorf("list -limit 2 of 4: exit %d, stderr %q; want the token to go on with", code, stderr)
	}
	code, _, stderr = runCLI(t, "list", "-state", "ready", "-page-token", token+"x")
	if code != 1 || !strings.Contains(stderr, "page_token") {
		t.Errorf("list with a bad token: exit %d, stderr %q; want 1 naming page_token", code, stderr)
	}
}

// newestOf returns ids newest first.
func newestOf(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	slices.Reverse(out)
	return out
}
