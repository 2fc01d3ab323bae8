package dynamorecords

import (
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// wrap names the failed operation and the table; a missing table becomes
// ErrNoTable, with the SDK's error still in the chain.
func (s *Store) wrap(op string, err error) error {
	var rnf *types.ResourceNotFoundException
	if errors.As(err, &rnf) {
		return fmt.Errorf("%w: %q (EnsureTable creates it): %s: %w", ErrNoTable, s.table, op, err)
	}
	return fmt.Errorf("dynamorecords: %s in table %q: %w", op, s.table, err)
}

// isUnknownOperation reports whether the endpoint does not implement the
// operation it was sent (emulators answer UnknownOperationException).
func isUnknownOperation(err error) bool {
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

// isConditionFailed reports whether err is a failed condition of a single
// write.
func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}
