package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Errors of Verify.
var (
	// ErrMalformedSignature: the header is not "t=UNIX,v1=HEX[,v1=HEX]".
	ErrMalformedSignature = errors.New("webhooks: malformed signature header")
	// ErrStaleTimestamp: the signed timestamp is further from now than the
	// tolerance, in the past (a replayed request) or the future.
	ErrStaleTimestamp = errors.New("webhooks: signature timestamp outside tolerance")
	// ErrBadSignature: no v1 signature matches any of the secrets.
	ErrBadSignature = errors.New("webhooks: signature does not match")
)

// Sign returns the Imagepipe-Signature header value for body sent at t:
// "t=UNIX,v1=HEX" with one v1 per secret, each HEX being
// HMAC-SHA256(secret, UNIX + "." + body).
func Sign(secrets []string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=")
	b.WriteString(ts)
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(mac(s, ts, body)))
	}
	return b.String()
}

func mac(secret, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a request's Imagepipe-Signature header against body, for
// receivers: the timestamp must be within tolerance of now, and some v1
// signature must match one of secrets (so a receiver verifies during a
// rotation holding either the old or the new secret). Unknown keys in the
// header are ignored. Comparisons are constant-time.
func Verify(secrets []string, header string, body []byte, tolerance time.Duration, now time.Time) error {
	var (
		ts   string
		sigs [][]byte
	)
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrMalformedSignature
		}
		switch k {
		case "t":
			if ts != "" {
				return ErrMalformedSignature
			}
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return ErrMalformedSignature
			}
			sigs = append(sigs, sig)
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrMalformedSignature
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return ErrStaleTimestamp
	}
	for _, s := range secrets {
		want := mac(s, ts, body)
		for _, sig := range sigs {
			if hmac.Equal(sig, want) {
				return nil
			}
		}
	}
	return ErrBadSignature
}
