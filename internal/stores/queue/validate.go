package queue

import (
	"fmt"
	"strings"
	"time"
)

// Limits shared by all drivers; they are those of Amazon SQS.
const (
	// MaxBatch is the largest ReceiveOptions.MaxMessages.
	MaxBatch = 10
	// MaxWaitTime is the longest ReceiveOptions.WaitTime.
	MaxWaitTime = 20 * time.Second
	// MaxVisibilityTimeout is the longest visibility timeout.
	MaxVisibilityTimeout = 12 * time.Hour
	// MaxDelay is the longest SendOptions.Delay.
	MaxDelay = 15 * time.Minute
	// MaxAttributes is the most attributes a message can carry.
	MaxAttributes = 10
	// MaxBodySize is the largest body in bytes.
	MaxBodySize = 256 << 10
	// maxAttributeName is the longest attribute name in bytes.
	maxAttributeName = 256
)

// ValidateSend checks a body and send options against the shared limits:
// a non-empty body of at most MaxBodySize bytes, a Delay in [0, MaxDelay],
// and at most MaxAttributes attributes whose values are non-empty and whose
// names are 1 to 256 characters of [A-Za-z0-9_.-], do not start or end with
// '.', contain no "..", and do not start with "AWS." or "Amazon."
// (case-insensitive). Errors wrap ErrInvalidArgument.
func ValidateSend(body []byte, opts SendOptions) error {
	switch {
	case len(body) == 0:
		return fmt.Errorf("%w: empty body", ErrInvalidArgument)
	case len(body) > MaxBodySize:
		return fmt.Errorf("%w: body of %d bytes exceeds %d", ErrInvalidArgument, len(body), MaxBodySize)
	case opts.Delay < 0 || opts.Delay > MaxDelay:
		return fmt.Errorf("%w: delay %v outside [0, %v]", ErrInvalidArgument, opts.Delay, MaxDelay)
	case len(opts.Attributes) > MaxAttributes:
		return fmt.Errorf("%w: %d attributes, at most %d", ErrInvalidArgument, len(opts.Attributes), MaxAttributes)
	}
	for name, value := range opts.Attributes {
		if err := validateAttributeName(name); err != nil {
			return err
		}
		if value == "" {
			return fmt.Errorf("%w: attribute %q has an empty value", ErrInvalidArgument, name)
		}
	}
	return nil
}

func validateAttributeName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: attribute name %q %s", ErrInvalidArgument, name, why)
	}
	switch lower := strings.ToLower(name); {
	case name == "" || len(name) > maxAttributeName:
		return bad(fmt.Sprintf("must be 1 to %d characters", maxAttributeName))
	case strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, ".."):
		return bad("has a leading, trailing or doubled '.'")
	case strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon."):
		return bad("uses a reserved prefix")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return bad("may only contain A-Z a-z 0-9 _ - .")
		}
	}
	return nil
}

// ValidateReceive checks receive options against the shared limits.
// Errors wrap ErrInvalidArgument.
func ValidateReceive(opts ReceiveOptions) error {
	switch {
	case opts.MaxMessages < 0 || opts.MaxMessages > MaxBatch:
		return fmt.Errorf("%w: MaxMessages %d outside [0, %d]", ErrInvalidArgument, opts.MaxMessages, MaxBatch)
	case opts.WaitTime < 0 || opts.WaitTime > MaxWaitTime:
		return fmt.Errorf("%w: WaitTime %v outside [0, %v]", ErrInvalidArgument, opts.WaitTime, MaxWaitTime)
	}
	return ValidateVisibility(opts.VisibilityTimeout)
}

// ValidateVisibility checks a visibility timeout: 0 to MaxVisibilityTimeout.
// Errors wrap ErrInvalidArgument.
func ValidateVisibility(d time.Duration) error {
	if d < 0 || d > MaxVisibilityTimeout {
		return fmt.Errorf("%w: visibility timeout %v outside [0, %v]", ErrInvalidArgument, d, MaxVisibilityTimeout)
	}
	return nil
}
