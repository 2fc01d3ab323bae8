package cli

import (
	"context"
	"flag"
	"fmt"
	"io"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func init() {
	register("delete", "delete images (original and every variant): IMAGE_ID... | -batch ID [-tenant NAME]", deleteCmd)
}

func deleteCmd(fs *flag.FlagSet) func(stdout, stderr io.Writer) int {
	server := addServerFlags(fs)
	batch := fs.String("batch", "", "delete every image of this batch")
	tenant := fs.String("tenant", "", "with -batch: the batch's tenant (default: the caller's; only the operator may name another)")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage: imagepipe delete (IMAGE_ID... | -batch ID [-tenant NAME])")
		fmt.Fprintln(w, "Deletes images: the original and every variant are gone at once, the record stays as a tombstone")
		fmt.Fprintln(w, "(reads answer not found). Deleting a deleted image succeeds again. There is no undo.")
		fmt.Fprintln(w, "Exit status: 0 done, 1 some image not found or error, 2 bad usage.")
		fs.PrintDefaults()
	}
	return clientCommand(fs, server, func(ctx context.Context, c *client, args []string, stdout, stderr io.Writer) (int, error) {
		if err := imagesOrBatch(args, *batch); err != nil {
			return 0, err
		}
		switch {
		case *batch == "" && *tenant != "":
			return 0, usageError("-tenant goes with -batch")
		case *batch != "":
			return deleteBatch(ctx, c, *batch, *tenant, stdout)
		}
		return deleteImages(ctx, c, args, stdout, stderr)
	})
}

// deleteImages deletes images one by one; one not found is reported and
// the others are still deleted.
func deleteImages(ctx context.Context, c *client, ids []string, stdout, stderr io.Writer) (int, error) {
	for _, id := range ids {
		if !isImageID(id) {
			return 0, usageError("%q is not an image id (a UUID); to delete a batch: imagepipe delete -batch %s", id, id)
		}
	}
	var notFound []string
	deleted := 0
	for _, id := range ids {
		resp, err := c.processor.DeleteImage(ctx, &pb.DeleteImageRequest{Id: id})
		switch {
		case status.Code(err) == codes.NotFound:
			notFound = append(notFound, id)
			continue
		case err != nil:
			return 0, err
		}
		deleted++
		fmt.Fprintln(stdout, "deleted", resp.GetImage().GetId())
	}
	fmt.Fprintf(stdout, "%s deleted\n", plural(deleted, "image"))
	if printNotFound(stderr, "image", notFound) {
		return 1, nil
	}
	return 0, nil
}

func deleteBatch(ctx context.Context, c *client, batch, tenant string, stdout io.Writer) (int, error) {
	if !jobs.ValidBatchID(batch) {
		return 0, usageError("-batch %q: must be 1..64 of [A-Za-z0-9_-]", batch)
	}
	if err := checkTenant(tenant); err != nil {
		return 0, err
	}
	n := 0
	for { // the server deletes a share per call and says how many remain
		resp, err := c.processor.DeleteBatch(ctx, &pb.DeleteBatchRequest{BatchId: batch, Tenant: tenant})
		if err != nil {
			return 0, err
		}
		for _, id := range resp.GetImageIds() {
			fmt.Fprintln(stdout, "deleted", id)
		}
		n += len(resp.GetImageIds())
		if resp.GetRemaining() == 0 || len(resp.GetImageIds()) == 0 {
			break
		}
	}
	fmt.Fprintf(stdout, "%s of batch %s deleted", plural(n, "image"), batch)
	if n == 0 {
		fmt.Fprint(stdout, " (its images were deleted already)")
	}
	fmt.Fprintln(stdout)
	return 0, nil
}
