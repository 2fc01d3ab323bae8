package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
)

func init() {
	register("list", "list your images, newest first: [-state S] [-batch B] [-limit N] [-tenant T] [-json]", listCmd)
}

// maxListLimit bounds list's -limit: the images it holds to print.
const maxListLimit = 100000

func listCmd(fs *flag.FlagSet) func(stdout, stderr io.Writer) int {
	server := addServerFlags(fs)
	state := fs.String("state", "", "only images in this state: "+stateNames())
	batch := fs.String("batch", "", "only the images of this batch")
	limit := fs.Int("limit", 100, fmt.Sprintf("list at most this many images (1..%d)", maxListLimit))
	tenant := fs.String("tenant", "", "list this tenant's images (default: the caller's; only the operator may name another)")
	pageToken := fs.String("page-token", "", "go on from where an earlier list stopped (its next_page_token)")
	asJSON := fs.Bool("json", false, "print the answer as JSON: {images, next_page_token}")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage: imagepipe list [-state S] [-batch B] [-limit N] [-tenant T] [-json]")
		fmt.Fprintln(w, "Lists your images, newest first; deleted ones only with -state DELETED.")
		fs.PrintDefaults()
	}
	return clientCommand(fs, server, func(ctx context.Context, c *client, args []string, stdout, stderr io.Writer) (int, error) {
		req, err := listRequest(args, *state, *batch, *tenant, *limit)
		if err != nil {
			return 0, err
		}
		req.PageToken = *pageToken
		list, err := listImages(ctx, c, req, *limit)
		if err != nil {
			return 0, err
		}
		if *asJSON {
			return 0, printProto(stdout, list, true)
		}
		printImages(stdout, list.GetImages())
		if t := list.GetNextPageToken(); t != "" {
			fmt.Fprintf(stderr, "imagepipe: more images: go on with -page-token %s\n", t)
		}
		return 0, nil
	})
}

// listRequest checks list's arguments and makes its first request.
func listRequest(args []string, state, batch, tenant string, limit int) (*pb.ListImagesRequest, error) {
	if err := noArgs("list", args); err != nil {
		return nil, err
	}
	if limit < 1 || limit > maxListLimit {
		return nil, usageError("-limit must be 1..%d", maxListLimit)
	}
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	st, err := parseState(state)
	if err != nil {
		return nil, err
	}
	return &pb.ListImagesRequest{State: st, BatchId: batch, Tenant: tenant}, nil
}

// parseState reads -state: READY or IMAGE_STATE_READY, in any case; ""
// is every state.
func parseState(s string) (pb.ImageState, error) {
	if s == "" {
		return pb.ImageState_IMAGE_STATE_UNSPECIFIED, nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "IMAGE_STATE_") {
		name = "IMAGE_STATE_" + name
	}
	v, ok := pb.ImageState_value[name]
	if !ok || v == 0 {
		return 0, usageError("-state %q: want one of %s", s, stateNames())
	}
	return pb.ImageState(v), nil
}

// stateNames is "RECEIVED, QUEUED, …, DELETED", the image states in
// number order.
func stateNames() string {
	var names []string
	for v := int32(1); ; v++ {
		name, ok := pb.ImageState_name[v]
		if !ok {
			return strings.Join(names, ", ")
		}
		names = append(names, strings.TrimPrefix(name, "IMAGE_STATE_"))
	}
}

// listImages follows req's pages until limit images are listed or the
// listing ends; the answer's next_page_token goes on from there. A page
// may be short, even empty, where a state filter leaves images out.
func listImages(ctx context.Context, c *client, req *pb.ListImagesRequest, limit int) (*pb.ListImagesResponse, error) {
	list := &pb.ListImagesResponse{}
	for len(list.Images) < limit {
		req.PageSize = int32(min(limit-len(list.Images), 1000))
		resp, err := c.status.ListImages(ctx, req)
		if err != nil {
			return nil, err
		}
		list.Images = append(list.Images, resp.GetImages()...)
		list.NextPageToken = resp.GetNextPageToken()
		if list.NextPageToken == "" || list.NextPageToken == req.PageToken {
			break
		}
		req.PageToken = list.NextPageToken
	}
	return list, nil
}

// printImages writes a table of images and a count.
func printImages(w io.Writer, imgs []*pb.Image) {
	tw := newTable(w)
	fmt.Fprintln(tw, "IMAGE ID\tSTATE\tBATCH\tFILE\tCREATED\tDETAIL")
	for _, img := range imgs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", img.GetId(), stateName(img.GetState()), orDash(cell(img.GetBatchId(), 40)),
			orDash(cell(img.GetOriginal().GetFileName(), 40)), formatTime(img.GetCreateTime()), orDash(imageDetail(img)))
	}
	tw.Flush()
	fmt.Fprintln(w, plural(len(imgs), "image"))
}
