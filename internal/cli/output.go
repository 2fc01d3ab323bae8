package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// stateName is an image state without its enum prefix: READY.
func stateName(s pb.ImageState) string {
	return strings.TrimPrefix(s.String(), "IMAGE_STATE_")
}

// batchStateName is a batch state without its enum prefix: PENDING.
func batchStateName(s pb.BatchState) string {
	return strings.TrimPrefix(s.String(), "BATCH_STATE_")
}

// terminal reports whether an image state is final.
func terminal(s pb.ImageState) bool {
	return s == pb.ImageState_IMAGE_STATE_READY || s == pb.ImageState_IMAGE_STATE_FAILED
}

// newTable is a tabwriter for column output.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
}

// printProto writes m as protojson: indented, or on one line.
func printProto(w io.Writer, m proto.Message, indent bool) error {
	opts := protojson.MarshalOptions{}
	if indent {
		opts.Multiline, opts.Indent = true, "  "
	}
	b, err := opts.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// formatTime is a timestamp in UTC with milliseconds, or "-".
func formatTime(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return ts.AsTime().UTC().Format("2006-01-02T15:04:05.000Z")
}

// orDash is s, or "-" when empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// imageDetail is the DETAIL column of an image: its error code, or its
// variant count once READY.
func imageDetail(img *pb.Image) string {
	switch {
	case img.GetError().GetCode() != "":
		return img.GetError().GetCode()
	case img.GetState() == pb.ImageState_IMAGE_STATE_READY:
		return plural(len(img.GetVariants()), "variant")
	}
	return ""
}

// plural is "1 variant", "3 variants".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// humanBytes is a byte count in binary units: 1.5 MiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
