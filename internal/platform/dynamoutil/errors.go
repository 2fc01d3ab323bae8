package dynamoutil

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// Wrap names the failed operation op and the table in err; a missing table
// (ResourceNotFoundException) becomes spec.ErrNoTable, with the SDK's error
// still in the chain.
func (spec TableSpec) Wrap(op string, err error) error {
	var rnf *types.ResourceNotFoundException
	if errors.As(err, &rnf) {
		return fmt.Errorf("%w: %q (EnsureTable creates it): %s: %w", spec.ErrNoTable, spec.Name, op, err)
	}
	return fmt.Errorf("%s: %s in table %q: %w", spec.Driver, op, spec.Name, err)
}

// IsUnknownOperation reports whether the endpoint does not implement the
// operation it was sent (emulators answer UnknownOperationException).
func IsUnknownOperation(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "UnknownOperationException", "UnknownOperation", "NotImplemented", "NotImplementedException":
		return true
	}
	return false
}

// IsConditionFailed reports whether err is a failed condition of a single
// write.
func IsConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// Sleep waits for d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
