package sqsqueue

import (
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
)

// encodeBody returns the SQS body for body: body itself when it is text SQS
// (and its emulators) carry verbatim and does not start with EncodedPrefix,
// otherwise EncodedPrefix and the standard base64 of body.
func encodeBody(body []byte) string {
	if verbatim(body) && !strings.HasPrefix(string(body), EncodedPrefix) {
		return string(body)
	}
	return EncodedPrefix + base64.StdEncoding.EncodeToString(body)
}

// decodeBody inverts encodeBody. A body that starts with EncodedPrefix but
// is not valid base64 after it was not sent by this driver and is returned
// as is.
func decodeBody(s string) []byte {
	if rest, ok := strings.CutPrefix(s, EncodedPrefix); ok {
		if b, err := base64.StdEncoding.DecodeString(rest); err == nil {
			return b
		}
	}
	return []byte(s)
}

// verbatim reports whether body is UTF-8 text of the characters #x9 #xA #xD
// #x20-#xD7FF #xE000-#xFFFD. SQS also allows #x10000-#x10FFFF, but fauxqs
// rejects them (it checks UTF-16 code units), so they are encoded too.
func verbatim(body []byte) bool {
	for len(body) > 0 {
		r, n := utf8.DecodeRune(body)
		if r == utf8.RuneError && n <= 1 || !(r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD) {
			return false
		}
		body = body[n:]
	}
	return true
}

// sqsText reports whether s is UTF-8 text in the full SQS character set.
func sqsText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !(r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF) {
			return false
		}
	}
	return true
}

// stringType is the SQS data type of every attribute the driver sends.
const stringType = "String"

// checkAttributes checks what queue.ValidateSend leaves to the driver:
// values SQS can carry. Errors wrap queue.ErrInvalidArgument.
func checkAttributes(attrs map[string]string) error {
	for name, value := range attrs {
		if !sqsText(value) {
			return fmt.Errorf("%w: attribute %q: SQS attribute values must be text without control characters", queue.ErrInvalidArgument, name)
		}
	}
	return nil
}

// messageSize is the size SQS checks against MaximumMessageSize: the body,
// and each attribute's name, data type and value.
func messageSize(body string, attrs map[string]string) int64 {
	n := int64(len(body))
	for name, value := range attrs {
		n += int64(len(name) + len(stringType) + len(value))
	}
	return n
}
