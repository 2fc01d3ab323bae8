package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/messages/jobs"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func init() {
	register("upload", "upload image files and directories to a server: [-batch ID] [-preset NAME] [-private] [-wait] FILE|DIR...", uploadCmd)
}

// uploadChunk is the size of the chunks a file is streamed in.
const uploadChunk = 64 << 10

// maxConcurrency bounds -concurrency.
const maxConcurrency = 64

// Test hooks, nil outside tests: testBeforeSend runs before a file's bytes
// are sent, testAfterUpload after the server accepted them.
var (
	testBeforeSend  func(ctx context.Context, file string)
	testAfterUpload func(file string)
)

// uploadOptions are the flags of `imagepipe upload`.
type uploadOptions struct {
	preset, batch, callback string
	wait, json, private     bool
	concurrency             int
	// resumableThreshold: larger files go as resumable uploads
	// (upload_resumable.go).
	resumableThreshold int64
}

func uploadCmd(fs *flag.FlagSet) func(stdout, stderr io.Writer) int {
	o := &uploadOptions{}
	server := addServerFlags(fs)
	fs.StringVar(&o.preset, "preset", "", "preset to process the images with (default: the server's default preset)")
	fs.StringVar(&o.batch, "batch", "", "batch id (1..64 of [A-Za-z0-9_-]); with several files and none given, one is made up and printed")
	fs.BoolVar(&o.wait, "wait", false, "wait until every image is READY or FAILED")
	fs.IntVar(&o.concurrency, "concurrency", 4, "files uploaded at once")
	fs.StringVar(&o.callback, "callback", "", "webhook URL told when each image is READY or FAILED and when the batch completes")
	fs.BoolVar(&o.private, "private", false, "private images: their variants are served only at signed URLs (see imagepipe sign-url)")
	fs.BoolVar(&o.json, "json", false, "print one JSON document instead of a table")
	fs.Int64Var(&o.resumableThreshold, "resumable-threshold", defaultResumableThreshold, "files larger than this many bytes go as resumable uploads, which survive a dropped connection")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage: imagepipe upload [flags] FILE|DIR...")
		fmt.Fprintln(w, "Uploads files, and the image files (by extension) under directories, streaming each in 64 KiB chunks.")
		fmt.Fprintln(w, "Rerunning the same command resumes: files the batch already holds (same batch, preset, visibility and content)")
		fmt.Fprintln(w, "are skipped, never uploaded twice; one that FAILED before is reported, not uploaded (see imagepipe retry).")
		fmt.Fprintln(w, "Prints a table FILE, IMAGE ID, STATE, DETAIL and a summary; with -json one document")
		fmt.Fprintln(w, "{batch_id, images: [{file, image_id, state, skipped, error: {code, message}}], counts}.")
		fmt.Fprintln(w, "Exit status: 0 every file uploaded (and with -wait READY), 1 some file failed, 2 bad usage, 130 interrupted.")
		fs.PrintDefaults()
	}
	return clientCommand(fs, server, func(ctx context.Context, c *client, args []string, stdout, stderr io.Writer) (int, error) {
		return runUpload(ctx, c, o, args, stdout, stderr)
	})
}

// uploader runs one `imagepipe upload`.
type uploader struct {
	c        *client
	o        *uploadOptions
	stderr   io.Writer
	batch    string
	size     int32 // batch_size, 0 without a batch
	progress progress
	// refused is the server's UNAUTHENTICATED answer, once it gave one:
	// every call carries the same token, so later files fail with it
	// without asking again.
	refused atomic.Pointer[error]
}

// call notes an UNAUTHENTICATED err and returns it.
func (u *uploader) call(err error) error {
	if status.Code(err) == codes.Unauthenticated {
		u.refused.CompareAndSwap(nil, &err)
	}
	return err
}

func runUpload(ctx context.Context, c *client, o *uploadOptions, args []string, stdout, stderr io.Writer) (int, error) {
	if err := o.check(args); err != nil {
		return 0, err
	}
	files, totalBytes, err := collectFiles(args, stderr)
	if err != nil {
		return 0, err
	}
	if len(files) == 0 {
		return 0, errors.New("no image files found")
	}
	u := newUploader(c, o, len(files), stderr)
	u.hashFiles(ctx, files)
	results := u.uploadAll(ctx, files, totalBytes)
	waitErrors := 0
	if o.wait && ctx.Err() == nil {
		waitErrors = u.waitAll(ctx, results)
	}
	report := newUploadReport(u.batch, results, ctx.Err() != nil)
	if o.json {
		if err := printUploadJSON(stdout, report); err != nil {
			return 1, err
		}
	} else {
		printUploadTable(stdout, report)
	}
	u.printHints(report)
	return u.exitCode(report, waitErrors), nil
}

// visibility is the visibility uploads ask for: private with -private,
// else the server's default (public).
func (o *uploadOptions) visibility() pb.Visibility {
	if o.private {
		return pb.Visibility_VISIBILITY_PRIVATE
	}
	return pb.Visibility_VISIBILITY_UNSPECIFIED
}

// check refuses a run without files, or with -concurrency or -batch out of
// range.
func (o *uploadOptions) check(args []string) error {
	switch {
	case len(args) == 0:
		return usageError("no files to upload")
	case o.concurrency < 1 || o.concurrency > maxConcurrency:
		return usageError("-concurrency must be 1..%d", maxConcurrency)
	case o.batch != "" && !jobs.ValidBatchID(o.batch):
		return usageError("-batch %q: must be 1..64 of [A-Za-z0-9_-]", o.batch)
	}
	return nil
}

// newUploader starts a run of n files. Several files without -batch go to
// a batch made up here, printed so that an interrupted run can resume.
func newUploader(c *client, o *uploadOptions, n int, stderr io.Writer) *uploader {
	u := &uploader{c: c, o: o, stderr: stderr, batch: o.batch}
	if u.batch == "" && n > 1 {
		u.batch = newBatchID()
		fmt.Fprintf(stderr, "imagepipe: batch %s (to resume an interrupted upload, rerun with -batch %s)\n", u.batch, u.batch)
	}
	return u
}

// hashFiles sets every file's idempotency key before anything is uploaded:
// the keys say which files have the same content (uploaded once), and how
// many images the batch will hold.
func (u *uploader) hashFiles(ctx context.Context, files []uploadFile) {
	u.forEach(ctx, len(files), func(i int) {
		sum, err := fileSHA256(files[i].path)
		files[i].key, files[i].err = idempotencyKey(u.batch, u.o.preset, u.o.private, sum), err
	})
	images := markDuplicates(ctx, files)
	if u.batch != "" {
		u.size = int32(min(images, 1<<31-1))
	}
}

// uploadAll uploads the files o.concurrency at a time, showing progress.
// A file never started (interrupted) is CANCELED; one with the content of
// another shares its image.
func (u *uploader) uploadAll(ctx context.Context, files []uploadFile, totalBytes int64) []*uploadResult {
	results := make([]*uploadResult, len(files))
	u.progress = newProgress(u.stderr, u.o.json, "upload", len(files), totalBytes)
	u.forEach(ctx, len(files), func(i int) {
		results[i] = u.uploadOne(ctx, files[i])
	})
	u.progress.close()
	for i, r := range results {
		if r == nil { // never started: interrupted
			results[i] = canceledResult(files[i].path)
		}
	}
	shareDuplicates(results)
	return results
}

// exitCode is the run's exit status: 130 interrupted (said on stderr), 1
// when a file or image failed or could not be watched, else 0.
func (u *uploader) exitCode(rep *uploadReport, waitErrors int) int {
	switch {
	case rep.Interrupted:
		fmt.Fprintln(u.stderr, "imagepipe: interrupted")
		return exitInterrupted
	case rep.Counts.UploadFailed > 0 || rep.Counts.Failed > 0 || waitErrors > 0:
		return 1
	}
	return 0
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
	case u.refused.Load() != nil:
		r.fail(ctx, u.progress, *u.refused.Load())
		return r
	}
	key := f.key
	found, err := u.c.status.LookupImage(ctx, &pb.LookupImageRequest{IdempotencyKey: key})
	err = u.call(err)
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
	err = u.call(err)
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

// send streams one file: metadata first, then 64 KiB chunks.
func (u *uploader) send(ctx context.Context, f uploadFile, key string, fp fileProgress) (*pb.Image, error) {
	file, err := os.Open(f.path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	md := &pb.UploadMetadata{
		FileName:       filepath.Base(f.path),
		ContentType:    mime.TypeByExtension(strings.ToLower(filepath.Ext(f.path))),
		Preset:         u.o.preset,
		BatchId:        u.batch,
		IdempotencyKey: key,
		CallbackUrl:    u.o.callback,
		BatchSize:      u.size,
		Visibility:     u.o.visibility(),
	}
	if f.size > u.o.resumableThreshold {
		return u.sendResumable(ctx, f, md, fp)
	}
	ctx, cancel := context.WithCancel(ctx) // ends the stream on any early return
	defer cancel()
	stream, err := u.c.ingest.Upload(ctx)
	if err != nil {
		return nil, err
	}
	// A failed Send means the server ended the stream; CloseAndRecv has
	// its status.
	if err := stream.Send(&pb.UploadRequest{Payload: &pb.UploadRequest_Metadata{Metadata: md}}); err != nil {
		_, err = stream.CloseAndRecv()
		return nil, err
	}
	send := func(chunk []byte) error {
		return stream.Send(&pb.UploadRequest{Payload: &pb.UploadRequest_Chunk{Chunk: chunk}})
	}
	if err := sendChunks(fp.reader(file), send, nil); err != nil {
		if errors.Is(err, errStreamEnded) {
			_, err = stream.CloseAndRecv()
		}
		return nil, err
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, err
	}
	return resp.GetImage(), nil
}

// waitAll watches every image of the run until it is READY or FAILED,
// o.concurrency at a time, and returns how many it could not watch.
func (u *uploader) waitAll(ctx context.Context, results []*uploadResult) int {
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
	p := newProgress(u.stderr, u.o.json, "processing", len(order), 0)
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

// errStreamEnded: a Send failed, so the server ended the stream;
// CloseAndRecv has its status.
var errStreamEnded = errors.New("cli: the server ended the stream")

// sendChunks reads r to its end in uploadChunk pieces and sends each, in
// a buffer of its own (a sent message must not be modified); after each,
// it calls sent (if not nil) with the bytes sent so far, and stops with
// its error. A failed send is errStreamEnded.
func sendChunks(r io.Reader, send func([]byte) error, sent func(int64) error) error {
	var total int64
	for {
		buf := make([]byte, uploadChunk)
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if err := send(buf[:n]); err != nil {
				return errStreamEnded
			}
			total += int64(n)
			if sent != nil {
				if err := sent(total); err != nil {
					return err
				}
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}
