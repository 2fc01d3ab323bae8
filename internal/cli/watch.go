package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func init() {
	register("watch", "follow an image or a batch until it is done: [-json] ID", watchCmd)
}

// errWatchEnded is a watch stream that ended before the image was READY
// or FAILED.
var errWatchEnded = errors.New("the server ended the watch early")

func watchCmd(fs *flag.FlagSet) func(stdout, stderr io.Writer) int {
	server := addServerFlags(fs)
	asJSON := fs.Bool("json", false, "print every message of the stream as one line of JSON")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage: imagepipe watch [-json] ID")
		fmt.Fprintln(w, "Prints one line per state change (time, image, state, error code) of an image (ID is a UUID)")
		fmt.Fprintln(w, "or of every image of a batch (any other ID), until the image is READY or FAILED or the batch complete.")
		fmt.Fprintln(w, "Exit status: 0 READY (every image READY), 1 FAILED (some image FAILED) or error, 2 bad usage.")
		fs.PrintDefaults()
	}
	return clientCommand(fs, server, func(ctx context.Context, c *client, args []string, stdout, stderr io.Writer) (int, error) {
		id, err := oneID(args)
		if err != nil {
			return 0, err
		}
		if isImageID(id) {
			code, err := watchImageCmd(ctx, c, id, *asJSON, stdout)
			if status.Code(err) != codes.NotFound {
				return code, err
			}
			// A UUID that is no image may name a batch.
			if _, berr := c.status.GetBatch(ctx, &pb.GetBatchRequest{Id: id}); berr != nil {
				return code, err
			}
		}
		return watchBatchCmd(ctx, c, id, *asJSON, stdout)
	})
}

// transitionLine is one line of watch output.
func transitionLine(w io.Writer, ts *timestamppb.Timestamp, img *pb.Image) {
	fmt.Fprintf(w, "%s  %s  %-10s  %s\n", formatTime(ts), img.GetId(), stateName(img.GetState()), img.GetError().GetCode())
}

// seen remembers the last state and error code printed per image, so
// that only transitions are printed.
type seen map[string]string

func (s seen) changed(img *pb.Image) bool {
	k := img.GetState().String() + "/" + img.GetError().GetCode()
	if s[img.GetId()] == k {
		return false
	}
	s[img.GetId()] = k
	return true
}

func watchImageCmd(ctx context.Context, c *client, id string, asJSON bool, stdout io.Writer) (int, error) {
	stream, err := c.status.WatchImage(ctx, &pb.WatchImageRequest{Id: id})
	if err != nil {
		return 0, err
	}
	last := seen{}
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			return 0, errWatchEnded
		}
		if err != nil {
			return 0, err
		}
		img := resp.GetImage()
		if asJSON {
			if err := printProto(stdout, resp, false); err != nil {
				return 0, err
			}
		} else if last.changed(img) {
			transitionLine(stdout, img.GetUpdateTime(), img)
		}
		switch img.GetState() {
		case pb.ImageState_IMAGE_STATE_READY:
			return 0, nil
		case pb.ImageState_IMAGE_STATE_FAILED:
			return 1, nil
		}
	}
}

func watchBatchCmd(ctx context.Context, c *client, id string, asJSON bool, stdout io.Writer) (int, error) {
	stream, err := c.status.WatchBatch(ctx, &pb.WatchBatchRequest{Id: id})
	if err != nil {
		return 0, err
	}
	last := seen{}
	var batch *pb.Batch
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		if asJSON {
			if err := printProto(stdout, resp, false); err != nil {
				return 0, err
			}
		}
		if resp.GetBatch() != nil {
			batch = resp.GetBatch()
		}
		switch img := resp.GetImage(); {
		case asJSON:
		case img == nil:
			fmt.Fprintf(stdout, "%s  batch %s  %s  %d images (%s)\n", formatTime(timestamppb.New(time.Now())), batch.GetId(),
				batchStateName(batch.GetState()), batch.GetTotal(), formatCounts(batch.GetCounts()))
		case last.changed(img):
			transitionLine(stdout, img.GetUpdateTime(), img)
		}
	}
	if batch == nil {
		return 0, errWatchEnded
	}
	if !asJSON {
		fmt.Fprintf(stdout, "batch %s %s: %d images (%s)\n", batch.GetId(), batchStateName(batch.GetState()), batch.GetTotal(), formatCounts(batch.GetCounts()))
	}
	if batch.GetState() != pb.BatchState_BATCH_STATE_READY {
		return 1, nil
	}
	return 0, nil
}
