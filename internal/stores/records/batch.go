package records

import (
	"context"
	"slices"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
)

// SummarizeBatch reads every image of a batch and returns its summary:
// total, counts per state, expected size, state, and up to maxImages image
// lines (0: none). A batch with no images has Total 0; callers decide
// whether that is "not found".
func SummarizeBatch(ctx context.Context, s Store, tenant, batchID string, maxImages int) (*pb.Batch, error) {
	b := &pb.Batch{Id: batchID, Tenant: tenant, Counts: map[string]int32{}}
	if err := EachInBatch(ctx, s, tenant, batchID, func(r *Record) { AddToBatch(b, r.Image, maxImages) }); err != nil {
		return nil, err
	}
	b.State = BatchState(b)
	return b, nil
}

// EachInBatch calls fn with every record of tenant's batch, in id order,
// reading the batch a page of 1000 at a time.
func EachInBatch(ctx context.Context, s Store, tenant, batchID string, fn func(*Record)) error {
	token := ""
	for {
		page, err := s.ListByBatch(ctx, tenant, batchID, 1000, token)
		if err != nil {
			return err
		}
		for _, r := range page.Records {
			fn(r)
		}
		if token = page.NextPageToken; token == "" {
			return nil
		}
	}
}

// AddToBatch counts img into b (not its State: call BatchState after).
func AddToBatch(b *pb.Batch, img *pb.Image, maxImages int) {
	b.Total++
	b.Counts[img.GetState().String()]++
	b.Expected = max(b.Expected, img.GetBatchSize())
	if len(b.Images) < maxImages {
		b.Images = append(b.Images, &pb.BatchImage{
			Id: img.GetId(), State: img.GetState(), FileName: img.GetOriginal().GetFileName(), Error: img.GetError(),
		})
	}
}

// BatchState is PENDING while the batch holds fewer images than expected or
// some are not READY, FAILED or DELETED; then READY, FAILED or
// PARTIALLY_FAILED (deleted images count as neither).
func BatchState(b *pb.Batch) pb.BatchState {
	ready := b.Counts[pb.ImageState_IMAGE_STATE_READY.String()]
	failed := b.Counts[pb.ImageState_IMAGE_STATE_FAILED.String()]
	deleted := b.Counts[pb.ImageState_IMAGE_STATE_DELETED.String()]
	switch {
	case b.Total == 0 || ready+failed+deleted < b.Total || b.Total < b.Expected:
		return pb.BatchState_BATCH_STATE_PENDING
	case failed == 0:
		return pb.BatchState_BATCH_STATE_READY
	case ready == 0:
		return pb.BatchState_BATCH_STATE_FAILED
	default:
		return pb.BatchState_BATCH_STATE_PARTIALLY_FAILED
	}
}

// MaxBatchChanges is the widest range of sequence numbers one BatchChanges
// call reads.
const MaxBatchChanges = 1000

// BatchCounter is a batch's running tally, kept by the store: every Create
// and Update of an image of the batch applies itself to it (Apply) in the
// same transaction as the image's write. Drivers store it as its JSON
// (tenant and batch id are the item's key, not stored).
type BatchCounter struct {
	Tenant  string `json:"-"`
	BatchID string `json:"-"`
	// Total counts the batch's images (DELETED tombstones included).
	Total int32 `json:"total"`
	// Counts holds the images per state; states without images are absent.
	Counts map[pb.ImageState]int32 `json:"counts"`
	// Expected is the largest batch_size an image of the batch declared.
	Expected int32 `json:"expected,omitempty"`
	// Seq numbers the writes of the batch's images: every Create and
	// Update of one of them adds one, so a reader that saw Seq knows
	// whether anything changed since.
	Seq int64 `json:"seq"`
	// LastImage and LastState are the image and the state of the last
	// write that changed an image's state (a Create included), and
	// UpdateTime when it was made, by the writer's clock.
	LastImage  string        `json:"last_image,omitempty"`
	LastState  pb.ImageState `json:"last_state,omitempty"`
	UpdateTime time.Time     `json:"update_time"`
	// CallbackURLs are the distinct callback URLs of the batch's images,
	// in the order they first appeared, at most MaxCounterCallbackURLs;
	// MoreCallbackURLs says the batch has more (read its images for them).
	CallbackURLs     []string `json:"callback_urls,omitempty"`
	MoreCallbackURLs bool     `json:"more_callback_urls,omitempty"`
}

// MaxCounterCallbackURLs is the most callback URLs a BatchCounter holds.
const MaxCounterCallbackURLs = 16

// NewBatchCounter is the counter of a batch before its first image.
func NewBatchCounter(tenant, batchID string) *BatchCounter {
	return &BatchCounter{Tenant: tenant, BatchID: batchID, Counts: map[pb.ImageState]int32{}}
}

// Apply counts a write of an image of the batch: prev is the image as it
// was (nil for a Create), img as written, now the time of the write.
func (c *BatchCounter) Apply(prev, img *pb.Image, now time.Time) {
	if c.Counts == nil {
		c.Counts = map[pb.ImageState]int32{}
	}
	c.Seq++
	c.Expected = max(c.Expected, img.GetBatchSize())
	c.addCallbackURL(img.GetCallbackUrl())
	to := img.GetState()
	if prev == nil {
		c.Total++
	} else {
		from := prev.GetState()
		if from == to {
			return
		}
		// Exact arithmetic, zero dropped: writes counted out of order
		// (without transactions, see dynamorecords) still add up.
		if c.Counts[from]--; c.Counts[from] == 0 {
			delete(c.Counts, from)
		}
	}
	if c.Counts[to]++; c.Counts[to] == 0 {
		delete(c.Counts, to)
	}
	c.LastImage, c.LastState, c.UpdateTime = img.GetId(), to, now
}

func (c *BatchCounter) addCallbackURL(u string) {
	if u == "" || slices.Contains(c.CallbackURLs, u) {
		return
	}
	if len(c.CallbackURLs) == MaxCounterCallbackURLs {
		c.MoreCallbackURLs = true
		return
	}
	c.CallbackURLs = append(c.CallbackURLs, u)
}

// Summary is the batch's summary, without image lines.
func (c *BatchCounter) Summary() *pb.Batch {
	b := &pb.Batch{Id: c.BatchID, Tenant: c.Tenant, Total: c.Total, Expected: c.Expected, Counts: map[string]int32{}}
	for s, n := range c.Counts {
		if n > 0 {
			b.Counts[s.String()] = n
		}
	}
	b.State = BatchState(b)
	return b
}

// Complete reports whether the batch is complete: not PENDING.
func (c *BatchCounter) Complete() bool {
	return c.Summary().GetState() != pb.BatchState_BATCH_STATE_PENDING
}

// ReadCounter is a driver's GetBatch: the counter of tenant's batch, read
// by read under the batch's scoped name (Scoped), owned by tenant;
// ErrNotFound when there is no batch name or read finds no counter (nil).
func ReadCounter(tenant, batchID string, read func(scoped string) (*BatchCounter, error)) (*BatchCounter, error) {
	scoped := Scoped(tenant, batchID)
	if scoped == "" {
		return nil, ErrNotFound
	}
	c, err := read(scoped)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, ErrNotFound
	}
	c.Tenant, c.BatchID = tenant, batchID
	if c.Tenant == "" {
		c.Tenant = DefaultTenant
	}
	return c, nil
}
