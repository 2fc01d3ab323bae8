package sqsqueue

import (
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
)

// A driver receipt handle is the SQS receipt handle, '~' and the CRC-32
// (IEEE) of the SQS handle in 8 lower-case hex digits. The check catches
// corrupted, truncated and extended handles before any request.

const (
	receiptSep    = "~"
	receiptSumLen = 8
)

// wrapReceipt returns the driver handle of an SQS receipt handle.
func wrapReceipt(sqsHandle string) string {
	return sqsHandle + receiptSep + fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(sqsHandle)))
}

// unwrapReceipt returns the SQS receipt handle of a driver handle, or an
// error wrapping queue.ErrInvalidReceipt.
func unwrapReceipt(h string) (string, error) {
	i := strings.LastIndex(h, receiptSep)
	if i <= 0 || len(h)-i-1 != receiptSumLen {
		return "", fmt.Errorf("%w: malformed %q", queue.ErrInvalidReceipt, shorten(h))
	}
	sqsHandle, sum := h[:i], h[i+1:]
	want, err := strconv.ParseUint(sum, 16, 32)
	if err != nil || sum != strings.ToLower(sum) || uint32(want) != crc32.ChecksumIEEE([]byte(sqsHandle)) {
		return "", fmt.Errorf("%w: checksum mismatch in %q", queue.ErrInvalidReceipt, shorten(h))
	}
	return sqsHandle, nil
}

// shorten keeps error messages readable: SQS handles run to hundreds of
// characters.
func shorten(h string) string {
	const keep = 24
	if len(h) <= 2*keep {
		return h
	}
	return h[:keep] + "..." + h[len(h)-keep:]
}
