package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/google/uuid"
	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func init() {
	register("status", "show an image or a batch: [-json] ID", statusCmd)
}

func statusCmd(fs *flag.FlagSet) func(stdout, stderr io.Writer) int {
	server := addServerFlags(fs)
	asJSON := fs.Bool("json", false, "print the record as JSON (an Image or a Batch)")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage: imagepipe status [-json] ID")
		fmt.Fprintln(w, "Shows an image (ID is a UUID) or a batch (any other ID).")
		fs.PrintDefaults()
	}
	return clientCommand(fs, server, func(ctx context.Context, c *client, args []string, stdout, stderr io.Writer) (int, error) {
		id, err := oneID(args)
		if err != nil {
			return 0, err
		}
		img, batch, err := lookupID(ctx, c, id)
		if err != nil {
			return 0, err
		}
		switch {
		case *asJSON && img != nil:
			return 0, printProto(stdout, img, true)
		case *asJSON:
			return 0, printProto(stdout, batch, true)
		case img != nil:
			printImage(stdout, img)
		default:
			printBatch(stdout, batch)
		}
		return 0, nil
	})
}

// oneID is the single positional argument.
func oneID(args []string) (string, error) {
	switch {
	case len(args) == 0:
		return "", usageError("missing ID")
	case len(args) > 1:
		return "", usageError("want one ID, got %d arguments", len(args))
	}
	return args[0], nil
}

// isImageID reports whether id is an image id (a UUID); anything else is a
// batch id.
func isImageID(id string) bool { return uuid.Validate(id) == nil && len(id) == 36 }

// imagesOrBatch checks that a command is given image ids or -batch, not
// both.
func imagesOrBatch(ids []string, batch string) error {
	switch {
	case batch != "" && len(ids) > 0:
		return usageError("give image ids or -batch, not both")
	case batch == "" && len(ids) == 0:
		return usageError("give image ids or -batch")
	}
	return nil
}

// lookupID gets the image id names, or else the batch. A UUID that is no
// image may still name a batch.
func lookupID(ctx context.Context, c *client, id string) (*pb.Image, *pb.Batch, error) {
	if isImageID(id) {
		resp, err := c.status.GetImage(ctx, &pb.GetImageRequest{Id: id})
		if err == nil {
			return resp.GetImage(), nil, nil
		}
		if status.Code(err) != codes.NotFound {
			return nil, nil, err
		}
		b, berr := c.status.GetBatch(ctx, &pb.GetBatchRequest{Id: id})
		if berr != nil {
			return nil, nil, err // the image's NotFound
		}
		return nil, b.GetBatch(), nil
	}
	resp, err := c.status.GetBatch(ctx, &pb.GetBatchRequest{Id: id})
	if err != nil {
		return nil, nil, err
	}
	return nil, resp.GetBatch(), nil
}

// printImage writes an image's fields, then its variants.
func printImage(w io.Writer, img *pb.Image) {
	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("Image", img.GetId())
	row("State", stateName(img.GetState()))
	if e := img.GetError(); e.GetCode() != "" {
		row("Error", e.GetCode()+": "+e.GetMessage())
	}
	if img.GetBatchId() != "" {
		row("Batch", img.GetBatchId())
	}
	row("Preset", orDash(img.GetPreset()))
	if o := img.GetOriginal(); o != nil {
		row("File", orDash(o.GetFileName()))
		orig := fmt.Sprintf("%s, %s", strings.TrimPrefix(o.GetFormat().String(), "FORMAT_"), humanBytes(o.GetBytes()))
		if o.GetWidth() > 0 {
			orig += fmt.Sprintf(", %dx%d", o.GetWidth(), o.GetHeight())
		}
		row("Original", orig)
	}
	row("Attempts", fmt.Sprint(img.GetAttempts()))
	if img.GetRetries() > 0 {
		row("Retries", fmt.Sprint(img.GetRetries()))
	}
	row("Created", formatTime(img.GetCreateTime()))
	row("Updated", formatTime(img.GetUpdateTime()))
	tw.Flush()
	if len(img.GetVariants()) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw = newTable(w)
	fmt.Fprintln(tw, "VARIANT\tFORMAT\tSIZE\tBYTES\tURL")
	for _, v := range img.GetVariants() {
		fmt.Fprintf(tw, "%s\t%s\t%dx%d\t%d\t%s\n", v.GetName(), strings.TrimPrefix(v.GetFormat().String(), "FORMAT_"),
			v.GetWidth(), v.GetHeight(), v.GetBytes(), v.GetUrl())
	}
	tw.Flush()
}

// printBatch writes a batch's summary, then its images.
func printBatch(w io.Writer, b *pb.Batch) {
	tw := newTable(w)
	fmt.Fprintf(tw, "Batch:\t%s\n", b.GetId())
	fmt.Fprintf(tw, "State:\t%s\n", batchStateName(b.GetState()))
	total := fmt.Sprint(b.GetTotal())
	if b.GetExpected() > 0 {
		total += fmt.Sprintf(" of %d expected", b.GetExpected())
	}
	fmt.Fprintf(tw, "Images:\t%s\n", total)
	fmt.Fprintf(tw, "Counts:\t%s\n", formatCounts(b.GetCounts()))
	tw.Flush()
	if len(b.GetImages()) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw = newTable(w)
	fmt.Fprintln(tw, "IMAGE ID\tFILE\tSTATE\tERROR")
	for _, img := range b.GetImages() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", img.GetId(), orDash(img.GetFileName()), stateName(img.GetState()), orDash(img.GetError().GetCode()))
	}
	tw.Flush()
}

// formatCounts is "READY 3, FAILED 1", in state order.
func formatCounts(counts map[string]int32) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return pb.ImageState_value[keys[i]] < pb.ImageState_value[keys[j]] })
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", strings.TrimPrefix(k, "IMAGE_STATE_"), counts[k]))
	}
	return orDash(strings.Join(parts, ", "))
}
