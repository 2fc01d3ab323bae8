package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// States of an upload result that are not image states.
const (
	stateUploadFailed = "UPLOAD_FAILED" // the server refused the file, or it could not be sent
	stateCanceled     = "CANCELED"      // interrupted before the upload finished
)

// codeUnauthenticated is the error code of a file the server refused for
// want of credentials (the reason, or the gRPC code, lowercased).
const codeUnauthenticated = "unauthenticated"

// resultError is why a file failed: an upload error's reason (lowercase,
// like image error codes) or an image's error.
type resultError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// uploadResult is the outcome of one file.
type uploadResult struct {
	File    string       `json:"file"`
	ImageID string       `json:"image_id"`
	State   string       `json:"state"`
	Skipped bool         `json:"skipped"`
	Error   *resultError `json:"error,omitempty"`

	image    *pb.Image
	uploaded bool
	dupOf    string // another file of this run with the same content
}

// uploadCounts summarises a run.
type uploadCounts struct {
	Files        int `json:"files"`
	Uploaded     int `json:"uploaded"`
	Skipped      int `json:"skipped"`
	UploadFailed int `json:"upload_failed"`
	Canceled     int `json:"canceled"`
	// Images READY or FAILED, as last seen.
	Ready  int `json:"ready"`
	Failed int `json:"failed"`
}

// uploadReport is the -json document.
type uploadReport struct {
	BatchID     string          `json:"batch_id"`
	Images      []*uploadResult `json:"images"`
	Counts      uploadCounts    `json:"counts"`
	Interrupted bool            `json:"interrupted,omitempty"`
}

// canceledResult is the result of a file whose upload never started.
func canceledResult(file string) *uploadResult {
	return &uploadResult{File: file, State: stateCanceled, Error: &resultError{Code: "canceled", Message: "interrupted before the upload"}}
}

// shareDuplicates gives the files with the content of another that
// other's image.
func shareDuplicates(results []*uploadResult) {
	byFile := map[string]*uploadResult{}
	for _, r := range results {
		byFile[r.File] = r
	}
	for _, r := range results {
		if first := byFile[r.dupOf]; r.dupOf != "" && first != nil && first.image != nil {
			r.image = first.image
		}
	}
}

// newUploadReport refreshes the results from their images and counts them.
func newUploadReport(batch string, results []*uploadResult, interrupted bool) *uploadReport {
	report := &uploadReport{BatchID: batch, Images: results, Interrupted: interrupted}
	for _, r := range results {
		r.refresh()
		report.Counts.add(r)
	}
	return report
}

// fail records err as the file's failure, or its cancellation once ctx is
// done, and prints it.
func (r *uploadResult) fail(ctx context.Context, p progress, err error) {
	if ctx.Err() != nil || status.Code(err) == codes.Canceled {
		r.State = stateCanceled
		r.Error = &resultError{Code: "canceled", Message: "interrupted during the upload"}
		return
	}
	r.State = stateUploadFailed
	r.Error = uploadError(err)
	p.logf("imagepipe: %s: %s", r.File, r.Error.Message)
}

// uploadError is the code and message of an upload's error: the reason
// the server gave (lowercase, like image error codes), else the gRPC code.
func uploadError(err error) *resultError {
	st, ok := status.FromError(err)
	if !ok {
		return &resultError{Code: "local", Message: err.Error()}
	}
	code, _ := apperr.Info(st)
	if code == "" {
		code = st.Code().String()
	}
	return &resultError{Code: strings.ToLower(code), Message: st.Message()}
}

// refresh fills the exported fields from the image.
func (r *uploadResult) refresh() {
	if r.image == nil {
		return
	}
	r.ImageID = r.image.GetId()
	r.State = r.image.GetState().String()
	r.Error = nil
	if e := r.image.GetError(); e.GetCode() != "" && r.image.GetState() == pb.ImageState_IMAGE_STATE_FAILED {
		r.Error = &resultError{Code: e.GetCode(), Message: e.GetMessage()}
	}
}

// outcome is one word for the progress display.
func (r *uploadResult) outcome() string {
	switch {
	case r.State == stateUploadFailed:
		return "failed"
	case r.failedEarlier():
		return "failed earlier"
	case r.Skipped:
		return "skipped"
	}
	return "uploaded"
}

// failedEarlier reports whether the file was skipped and its image is
// FAILED: unless it is a duplicate, an earlier upload of it failed.
func (r *uploadResult) failedEarlier() bool {
	return r.Skipped && r.image.GetState() == pb.ImageState_IMAGE_STATE_FAILED
}

func (c *uploadCounts) add(r *uploadResult) {
	c.Files++
	switch {
	case r.State == stateUploadFailed:
		c.UploadFailed++
	case r.State == stateCanceled:
		c.Canceled++
	case r.Skipped:
		c.Skipped++
	case r.uploaded:
		c.Uploaded++
	}
	switch r.image.GetState() {
	case pb.ImageState_IMAGE_STATE_READY:
		c.Ready++
	case pb.ImageState_IMAGE_STATE_FAILED:
		c.Failed++
	}
}

// printUploadJSON writes the report as one indented JSON document.
func printUploadJSON(w io.Writer, rep *uploadReport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// printUploadTable writes FILE, IMAGE ID, STATE, DETAIL and a summary line.
func printUploadTable(w io.Writer, rep *uploadReport) {
	tw := newTable(w)
	fmt.Fprintln(tw, "FILE\tIMAGE ID\tSTATE\tDETAIL")
	for _, r := range rep.Images {
		state := r.State
		if r.image != nil {
			state = stateName(r.image.GetState())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.File, orDash(r.ImageID), state, strings.Join(r.detail(), "; "))
	}
	tw.Flush()
	fmt.Fprintln(w, rep.summary())
}

// detail is the DETAIL column of a file's row: why it was skipped, and
// what became of its image or why it failed.
func (r *uploadResult) detail() []string {
	var detail []string
	switch {
	case r.dupOf != "":
		detail = append(detail, "skipped (same content as "+r.dupOf+")")
	case r.failedEarlier():
		detail = append(detail, "failed in an earlier upload")
	case r.Skipped:
		detail = append(detail, "skipped (already uploaded)")
	}
	if r.image != nil {
		if d := imageDetail(r.image); d != "" {
			detail = append(detail, d)
		}
	} else if r.Error != nil {
		detail = append(detail, r.Error.Code)
	}
	return detail
}

// summary is the line under the table.
func (rep *uploadReport) summary() string {
	c := rep.Counts
	line := fmt.Sprintf("%s: %d uploaded, %d skipped, %d upload errors", plural(c.Files, "file"), c.Uploaded, c.Skipped, c.UploadFailed)
	if c.Canceled > 0 {
		line += fmt.Sprintf(", %d canceled", c.Canceled)
	}
	line += fmt.Sprintf("; %d ready, %d failed", c.Ready, c.Failed)
	if rep.BatchID != "" {
		line += "; batch " + rep.BatchID
	}
	return line
}

// printHints tells what to do next: resume an interrupted run, retry
// images that FAILED in an earlier run, send a token the server accepts.
func (u *uploader) printHints(rep *uploadReport) {
	var failedEarlier []string
	for _, r := range rep.Images {
		if r.dupOf == "" && r.failedEarlier() {
			failedEarlier = append(failedEarlier, r.ImageID)
		}
	}
	if len(failedEarlier) > 0 {
		retry := "imagepipe retry " + strings.Join(failedEarlier, " ")
		if u.batch != "" {
			retry = "imagepipe retry -batch " + u.batch
		}
		fmt.Fprintf(u.stderr, "imagepipe: %s FAILED in an earlier upload and %s not uploaded again; to process them again: %s\n",
			plural(len(failedEarlier), "image"), map[bool]string{true: "was", false: "were"}[len(failedEarlier) == 1], retry)
	}
	for _, r := range rep.Images {
		if r.Error != nil && r.Error.Code == codeUnauthenticated {
			printTokenHint(u.stderr, u.c.tokenSource)
			break
		}
	}
	if rep.Interrupted && rep.Counts.Canceled > 0 {
		resume := "rerun the same command"
		if u.o.batch == "" && u.batch != "" {
			resume = "rerun with -batch " + u.batch
		}
		fmt.Fprintf(u.stderr, "imagepipe: %s not uploaded; %s to upload the rest\n", plural(rep.Counts.Canceled, "file"), resume)
	}
}
