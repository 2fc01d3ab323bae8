package cli

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func init() {
	register("upload", "upload image files and directories to a server: [-batch ID] [-preset NAME] [-wait] FILE|DIR...", uploadCmd)
}

// uploadChunk is the size of the chunks a file is streamed in.
const uploadChunk = 64 << 10

// maxConcurrency bounds -concurrency.
const maxConcurrency = 64

// imageExtensions are the files a directory walk uploads.
var imageExtensions = map[string]bool{
	".jpg": true, ".jpeg": true, ".png": true, ".webp": true, ".gif": true, ".tif": true, ".tiff": true,
	".avif": true, ".heic": true, ".heif": true,
}

// States of an upload result that are not image states.
const (
	stateUploadFailed = "UPLOAD_FAILED" // the server refused the file, or it could not be sent
	stateCanceled     = "CANCELED"      // interrupted before the upload finished
)

// Test hooks, nil outside tests: testBeforeSend runs before a file's bytes
// are sent, testAfterUpload after the server accepted them.
var (
	testBeforeSend  func(ctx context.Context, file string)
	testAfterUpload func(file string)
)

// uploadOptions are the flags of `imagepipe upload`.
type uploadOptions struct {
	preset, batch, callback string
	wait, json              bool
	concurrency             int
}

func uploadCmd(fs *flag.FlagSet) func(stdout, stderr io.Writer) int {
	o := &uploadOptions{}
	addr := addrFlag(fs)
	fs.StringVar(&o.preset, "preset", "", "preset to process the images with (default: the server's default preset)")
	fs.StringVar(&o.batch, "batch", "", "batch id (1..64 of [A-Za-z0-9_-]); with several files and none given, one is made up and printed")
	fs.BoolVar(&o.wait, "wait", false, "wait until every image is READY or FAILED")
	fs.IntVar(&o.concurrency, "concurrency", 4, "files uploaded at once")
	fs.StringVar(&o.callback, "callback", "", "webhook URL told when each image is READY or FAILED and when the batch completes")
	fs.BoolVar(&o.json, "json", false, "print one JSON document instead of a table")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage: imagepipe upload [flags] FILE|DIR...")
		fmt.Fprintln(w, "Uploads files, and the image files (by extension) under directories, streaming each in 64 KiB chunks.")
		fmt.Fprintln(w, "Rerunning the same command resumes: files the batch already holds (same batch, preset and content)")
		fmt.Fprintln(w, "are skipped, never uploaded twice; one that FAILED before is reported, not uploaded (see imagepipe retry).")
		fmt.Fprintln(w, "Prints a table FILE, IMAGE ID, STATE, DETAIL and a summary; with -json one document")
		fmt.Fprintln(w, "{batch_id, images: [{file, image_id, state, skipped, error: {code, message}}], counts}.")
		fmt.Fprintln(w, "Exit status: 0 every file uploaded (and with -wait READY), 1 some file failed, 2 bad usage, 130 interrupted.")
		fs.PrintDefaults()
	}
	return clientCommand(fs, addr, func(ctx context.Context, c *client, args []string, stdout, stderr io.Writer) (int, error) {
		return runUpload(ctx, c, o, args, stdout, stderr)
	})
}

// uploadFile is one file to upload.
type uploadFile struct {
	path string
	size int64
	key  string // idempotency key, once hashed
	err  error  // reading the file failed
	// dupOf is an earlier file of this run with the same content: this
	// one is not uploaded.
	dupOf string
}

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

// idempotencyKey names one file's upload into batch with preset, so that a
// rerun finds it: "cli-" and 48 hex digits of
// sha256(batch "\x00" preset "\x00" hex(sha256(file))).
func idempotencyKey(batch, preset, fileSHA256 string) string {
	sum := sha256.Sum256([]byte(batch + "\x00" + preset + "\x00" + fileSHA256))
	return "cli-" + hex.EncodeToString(sum[:])[:48]
}

// newBatchID makes up a batch id: cli-<UTC time>-<random>.
func newBatchID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "cli-" + time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

// collectFiles expands the arguments: files as given, directories walked
// for image files. Other files under directories are reported on stderr.
func collectFiles(args []string, stderr io.Writer) ([]uploadFile, int64, error) {
	var (
		files []uploadFile
		total int64
		seen  = map[string]bool{}
	)
	add := func(path string, size int64) {
		if abs, err := filepath.Abs(path); err == nil {
			if seen[abs] {
				return
			}
			seen[abs] = true
		}
		files = append(files, uploadFile{path: path, size: size})
		total += size
	}
	for _, arg := range args {
		st, err := os.Stat(arg)
		if err != nil {
			return nil, 0, err
		}
		if !st.IsDir() {
			add(arg, st.Size())
			continue
		}
		err = filepath.WalkDir(arg, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			if !d.Type().IsRegular() || !imageExtensions[strings.ToLower(filepath.Ext(path))] {
				fmt.Fprintf(stderr, "imagepipe: skipping %s: not an image file\n", path)
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			add(path, info.Size())
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
	}
	return files, total, nil
}

// uploader runs one `imagepipe upload`.
type uploader struct {
	c        *client
	o        *uploadOptions
	batch    string
	size     int32 // batch_size, 0 without a batch
	progress progress
}

func runUpload(ctx context.Context, c *client, o *uploadOptions, args []string, stdout, stderr io.Writer) (int, error) {
	switch {
	case len(args) == 0:
		return 0, usageError("no files to upload")
	case o.concurrency < 1 || o.concurrency > maxConcurrency:
		return 0, usageError("-concurrency must be 1..%d", maxConcurrency)
	case o.batch != "" && !jobs.ValidBatchID(o.batch):
		return 0, usageError("-batch %q: must be 1..64 of [A-Za-z0-9_-]", o.batch)
	}
	files, totalBytes, err := collectFiles(args, stderr)
	if err != nil {
		return 0, err
	}
	if len(files) == 0 {
		return 0, errors.New("no image files found")
	}
	u := &uploader{c: c, o: o, batch: o.batch}
	if u.batch == "" && len(files) > 1 {
		u.batch = newBatchID()
		fmt.Fprintf(stderr, "imagepipe: batch %s (to resume an interrupted upload, rerun with -batch %s)\n", u.batch, u.batch)
	}

	// Hash every file first: the keys say which files have the same
	// content (uploaded once), and how many images the batch will hold.
	results := make([]*uploadResult, len(files))
	u.forEach(ctx, len(files), func(i int) {
		sum, err := fileSHA256(files[i].path)
		files[i].key, files[i].err = idempotencyKey(u.batch, o.preset, sum), err
	})
	firstWith := map[string]string{}
	for i := range files {
		f := &files[i]
		switch first, dup := firstWith[f.key]; {
		case ctx.Err() != nil || f.err != nil:
		case dup:
			f.dupOf = first
		default:
			firstWith[f.key] = f.path
		}
	}
	if u.batch != "" {
		u.size = int32(min(len(firstWith), 1<<31-1))
	}

	u.progress = newProgress(stderr, o.json, "upload", len(files), totalBytes)
	u.forEach(ctx, len(files), func(i int) {
		results[i] = u.uploadOne(ctx, files[i])
	})
	u.progress.close()
	for i, r := range results {
		if r == nil { // never started: interrupted
			results[i] = &uploadResult{File: files[i].path, State: stateCanceled, Error: &resultError{Code: "canceled", Message: "interrupted before the upload"}}
		}
	}
	// Files with the content of another share its image.
	byFile := map[string]*uploadResult{}
	for _, r := range results {
		byFile[r.File] = r
	}
	for _, r := range results {
		if first := byFile[r.dupOf]; r.dupOf != "" && first != nil && first.image != nil {
			r.image = first.image
		}
	}

	waitErrors := 0
	if o.wait && ctx.Err() == nil {
		waitErrors = u.waitAll(ctx, results, stderr)
	}
	interrupted := ctx.Err() != nil
	report := &uploadReport{BatchID: u.batch, Images: results, Interrupted: interrupted}
	for _, r := range results {
		r.refresh()
		report.Counts.add(r)
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return 1, err
		}
	} else {
		printUploadTable(stdout, report)
	}
	u.printHints(stderr, report)
	switch {
	case interrupted:
		fmt.Fprintln(stderr, "imagepipe: interrupted")
		return exitInterrupted, nil
	case report.Counts.UploadFailed > 0 || report.Counts.Failed > 0 || waitErrors > 0:
		return 1, nil
	}
	return 0, nil
}

// forEach runs fn(0..n-1) on o.concurrency workers, starting no new call
// once ctx is done.
func (u *uploader) forEach(ctx context.Context, n int, fn func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(u.o.concurrency, n) {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
}

// uploadOne uploads a file unless the server already has it.
func (u *uploader) uploadOne(ctx context.Context, f uploadFile) *uploadResult {
	r := &uploadResult{File: f.path}
	var fp fileProgress
	defer func() {
		if r.State != stateCanceled {
			u.progress.finished(f.path, f.size, r.outcome(), fp)
		}
	}()
	switch {
	case f.err != nil:
		r.fail(ctx, u.progress, f.err)
		return r
	case f.dupOf != "":
		r.Skipped, r.dupOf = true, f.dupOf
		return r
	case ctx.Err() != nil:
		r.fail(ctx, u.progress, ctx.Err())
		return r
	}
	key := f.key
	found, err := u.c.status.LookupImage(ctx, &pb.LookupImageRequest{IdempotencyKey: key})
	switch {
	case err == nil:
		r.Skipped, r.image = true, found.GetImage()
		return r
	case status.Code(err) != codes.NotFound:
		r.fail(ctx, u.progress, err)
		return r
	}

	if testBeforeSend != nil {
		testBeforeSend(ctx, f.path)
	}
	fp = u.progress.start(f.path, f.size)
	img, err := u.send(ctx, f, key, fp)
	fp.end(err == nil)
	if err != nil {
		r.fail(ctx, u.progress, err)
		return r
	}
	r.image, r.uploaded = img, true
	if testAfterUpload != nil {
		testAfterUpload(f.path)
	}
	return r
}

// fileSHA256 is the hex SHA-256 of a file's bytes.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// send streams one file: metadata first, then 64 KiB chunks.
func (u *uploader) send(ctx context.Context, f uploadFile, key string, fp fileProgress) (*pb.Image, error) {
	file, err := os.Open(f.path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	ctx, cancel := context.WithCancel(ctx) // ends the stream on any early return
	defer cancel()
	stream, err := u.c.ingest.Upload(ctx)
	if err != nil {
		return nil, err
	}
	md := &pb.UploadMetadata{
		FileName:       filepath.Base(f.path),
		ContentType:    mime.TypeByExtension(strings.ToLower(filepath.Ext(f.path))),
		Preset:         u.o.preset,
		BatchId:        u.batch,
		IdempotencyKey: key,
		CallbackUrl:    u.o.callback,
		BatchSize:      u.size,
	}
	// A failed Send means the server ended the stream; CloseAndRecv has
	// its status.
	if err := stream.Send(&pb.UploadRequest{Payload: &pb.UploadRequest_Metadata{Metadata: md}}); err != nil {
		_, err = stream.CloseAndRecv()
		return nil, err
	}
	r := fp.reader(file)
	for {
		buf := make([]byte, uploadChunk) // a sent message must not be modified
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if err := stream.Send(&pb.UploadRequest{Payload: &pb.UploadRequest_Chunk{Chunk: buf[:n]}}); err != nil {
				_, err = stream.CloseAndRecv()
				return nil, err
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return nil, rerr
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, err
	}
	return resp.GetImage(), nil
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
	case r.Skipped && r.image.GetState() == pb.ImageState_IMAGE_STATE_FAILED:
		return "failed earlier"
	case r.Skipped:
		return "skipped"
	}
	return "uploaded"
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

// waitAll watches every image of the run until it is READY or FAILED,
// o.concurrency at a time, and returns how many it could not watch.
func (u *uploader) waitAll(ctx context.Context, results []*uploadResult, stderr io.Writer) int {
	ids := map[string][]*uploadResult{}
	var order []string
	for _, r := range results {
		if r.image == nil {
			continue
		}
		id := r.image.GetId()
		if ids[id] == nil {
			order = append(order, id)
		}
		ids[id] = append(ids[id], r)
	}
	p := newProgress(stderr, u.o.json, "processing", len(order), 0)
	defer p.close()
	var errs atomic.Int32
	u.forEach(ctx, len(order), func(i int) {
		rs := ids[order[i]]
		img, err := watchImage(ctx, u.c, order[i])
		if err != nil {
			if ctx.Err() == nil {
				errs.Add(1)
				p.logf("imagepipe: %s: %s", rs[0].File, errMessage(err))
			}
			return
		}
		for _, r := range rs {
			r.image = img
		}
		p.finished(rs[0].File, 0, stateName(img.GetState()), nil)
	})
	return int(errs.Load())
}

// watchImage follows an image until it is READY or FAILED.
func watchImage(ctx context.Context, c *client, id string) (*pb.Image, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.status.WatchImage(ctx, &pb.WatchImageRequest{Id: id})
	if err != nil {
		return nil, err
	}
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			return nil, fmt.Errorf("watch of %s ended before it was READY or FAILED", id)
		}
		if err != nil {
			return nil, err
		}
		if img := resp.GetImage(); terminal(img.GetState()) {
			return img, nil
		}
	}
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
		var detail []string
		switch {
		case r.dupOf != "":
			detail = append(detail, "skipped (same content as "+r.dupOf+")")
		case r.Skipped && r.image.GetState() == pb.ImageState_IMAGE_STATE_FAILED:
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.File, orDash(r.ImageID), state, strings.Join(detail, "; "))
	}
	tw.Flush()
	c := rep.Counts
	line := fmt.Sprintf("%s: %d uploaded, %d skipped, %d upload errors", plural(c.Files, "file"), c.Uploaded, c.Skipped, c.UploadFailed)
	if c.Canceled > 0 {
		line += fmt.Sprintf(", %d canceled", c.Canceled)
	}
	line += fmt.Sprintf("; %d ready, %d failed", c.Ready, c.Failed)
	if rep.BatchID != "" {
		line += "; batch " + rep.BatchID
	}
	fmt.Fprintln(w, line)
}

// printHints tells what to do next: resume an interrupted run, retry
// images that FAILED in an earlier run.
func (u *uploader) printHints(stderr io.Writer, rep *uploadReport) {
	var failedEarlier []string
	for _, r := range rep.Images {
		if r.Skipped && r.dupOf == "" && r.image.GetState() == pb.ImageState_IMAGE_STATE_FAILED {
			failedEarlier = append(failedEarlier, r.ImageID)
		}
	}
	if len(failedEarlier) > 0 {
		retry := "imagepipe retry " + strings.Join(failedEarlier, " ")
		if u.batch != "" {
			retry = "imagepipe retry -batch " + u.batch
		}
		fmt.Fprintf(stderr, "imagepipe: %s FAILED in an earlier upload and %s not uploaded again; to process them again: %s\n",
			plural(len(failedEarlier), "image"), map[bool]string{true: "was", false: "were"}[len(failedEarlier) == 1], retry)
	}
	if rep.Interrupted && rep.Counts.Canceled > 0 {
		resume := "rerun the same command"
		if u.o.batch == "" && u.batch != "" {
			resume = "rerun with -batch " + u.batch
		}
		fmt.Fprintf(stderr, "imagepipe: %s not uploaded; %s to upload the rest\n", plural(rep.Counts.Canceled, "file"), resume)
	}
}
