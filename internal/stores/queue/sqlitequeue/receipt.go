package sqlitequeue

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
)

// newID returns a random (version 4) UUID.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

const tokenLen = 32 // hex digits of the per-receive token

// receiptHandle joins a message ID and a receive token.
func receiptHandle(id, token string) string { return id + ":" + token }

// parseReceipt splits a receipt handle, rejecting malformed ones with an
// error wrapping queue.ErrInvalidReceipt.
func parseReceipt(h string) (id, token string, err error) {
	id, token, ok := strings.Cut(h, ":")
	if !ok || !isUUID(id) || len(token) != tokenLen || !isLowerHex(token) {
		return "", "", fmt.Errorf("%w: malformed %q", queue.ErrInvalidReceipt, h)
	}
	return id, token, nil
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !isLowerHex(string(r)) {
				return false
			}
		}
	}
	return true
}

func isLowerHex(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}
