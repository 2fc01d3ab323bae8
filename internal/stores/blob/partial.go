package blob

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors of a PartialStore.
var (
	// ErrOffsetMismatch reports a WritePartial at another offset than the
	// partial's, or to a partial that is complete or being written.
	ErrOffsetMismatch = errors.New("blob: offset does not match the partial object's")
	// ErrIncomplete reports a CompletePartial before every byte came.
	ErrIncomplete = errors.New("blob: partial object is incomplete")
	// ErrExists reports a CreatePartial of a key that has one.
	ErrExists = errors.New("blob: partial object exists")
)

// Partial describes an object being written in pieces (a resumable upload).
type Partial struct {
	// Key is the object the partial becomes.
	Key string
	// Size is the whole object's size, declared at creation.
	Size int64
	// Offset is how many bytes the store holds.
	Offset int64
	// Info is what the caller gave CreatePartial, kept with the partial.
	Info []byte
	// Created is when the partial was created.
	Created time.Time
	// Complete says CompletePartial made it the object; ETag is then the
	// object's hex SHA-256.
	Complete bool
	ETag     string
}

// PartialStore is a Store that takes an object in pieces, across requests
// and processes, where the object will live: completing it copies
// nothing. A partial is invisible (Get and Head do not find it) until
// CompletePartial; its bookkeeping stays until DeletePartial, so a caller
// that dies between completing a partial and recording it can finish the
// job later. One writer at a time: a write that finds another in flight
// on the same partial fails with ErrOffsetMismatch in this process, and
// callers serialise writes of one partial (tus clients send one PATCH at a
// time).
type PartialStore interface {
	Store
	// CreatePartial starts a partial of size bytes for key, keeping info
	// (at most 64 KiB) with it.
	CreatePartial(ctx context.Context, key string, size int64, info []byte, opts PutOptions) (Partial, error)
	// StatPartial returns the partial of key; ErrNotFound if none.
	StatPartial(ctx context.Context, key string) (Partial, error)
	// WritePartial appends what r yields at offset (which must be the
	// partial's) up to the declared size, and returns how many bytes it
	// kept: what r yielded before it failed is kept too.
	WritePartial(ctx context.Context, key string, offset int64, r io.Reader) (int64, error)
	// CompletePartial makes a partial holding every byte the object under
	// key, atomically, and returns its attributes (ETag the SHA-256). Of a
	// complete partial it returns the object's attributes again.
	CompletePartial(ctx context.Context, key string) (Attrs, error)
	// DeletePartial removes the partial: an incomplete one's bytes, and
	// the bookkeeping of any (a completed object stays). A missing
	// partial is not an error.
	DeletePartial(ctx context.Context, key string) error
	// ListPartials calls fn with each partial created before cutoff.
	ListPartials(ctx context.Context, cutoff time.Time, fn func(Partial) error) error
}

// MaxPartialInfo bounds Partial.Info.
const MaxPartialInfo = 64 << 10
