// Package urlsign signs and verifies expiring URLs, such as the links to a
// private image's variants: GET /a/{id}/{variant}?exp=UNIX&sig=SIG.
//
// SIG is base64url (no padding) of HMAC-SHA256(key, path + "\n" + exp),
// where path is the URL's path only (escaped, as it appears in the URL:
// r.URL.EscapedPath()) and exp the decimal unix time in the query. Neither
// scheme nor host is signed, so a link works behind any host name or CDN.
//
// Keys rotate: a Signer holds one or more keys, signs with the first and
// accepts a signature by any of them. Rotate by putting a new key first,
// and drop the old one once the links it signed have expired.
//
// Keys are written in settings and key files as base64url, padded or not
// (GenerateKey makes one); each must decode to at least 32 bytes.
package urlsign

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/imagepipe/imagepipe/internal/platform/secretfile"
)

// MinKeyBytes is the shortest key accepted: HMAC-SHA256's output size.
const MinKeyBytes = 32

// Query parameters of a signed URL.
const (
	ParamExpires   = "exp"
	ParamSignature = "sig"
)

// Errors of Verify. Each error Verify returns is, or wraps, one of them.
var (
	// ErrMissing: the URL has no exp or no sig.
	ErrMissing = errors.New("urlsign: signature missing")
	// ErrExpired: the signature is genuine but its expiry has passed.
	ErrExpired = errors.New("urlsign: link expired")
	// ErrBadSignature: the signature does not match the path and expiry
	// under any key, or exp or sig is malformed.
	ErrBadSignature = errors.New("urlsign: bad signature")
)

// ErrNoKey: a Signer needs at least one key.
var ErrNoKey = errors.New("urlsign: no key")

// Signer signs with its first key and verifies with all of them.
type Signer struct {
	keys [][]byte
}

// New returns a Signer for keys, newest first: the first signs, all
// verify. Each key must be at least MinKeyBytes long. The keys are copied.
func New(keys [][]byte) (*Signer, error) {
	if len(keys) == 0 {
		return nil, ErrNoKey
	}
	s := &Signer{}
	for i, k := range keys {
		if len(k) < MinKeyBytes {
			return nil, fmt.Errorf("urlsign: key %d is %d bytes, want at least %d", i+1, len(k), MinKeyBytes)
		}
		s.keys = append(s.keys, append([]byte(nil), k...))
	}
	return s, nil
}

// ParseKeys parses a setting's value: comma-separated keys, newest first,
// each base64url (RFC 4648 §5, "-" and "_"; "=" padding optional) of at
// least MinKeyBytes bytes. Blank entries and white space around keys are
// ignored. Errors say which key is wrong and why, never its value.
func ParseKeys(s string) ([][]byte, error) {
	var (
		keys [][]byte
		errs []error
	)
	n := 0
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n++
		k, err := decodeKey(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("urlsign: key %d: %w", n, err))
			continue
		}
		keys = append(keys, k)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, ErrNoKey
	}
	return keys, nil
}

func decodeKey(s string) ([]byte, error) {
	k, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		if strings.ContainsAny(s, "+/") {
			return nil, errors.New("not base64url: it has '+' or '/' of standard base64; write them as '-' and '_'")
		}
		return nil, errors.New("not base64url (A-Z a-z 0-9 - _)")
	}
	if len(k) < MinKeyBytes {
		return nil, fmt.Errorf("%d bytes, want at least %d", len(k), MinKeyBytes)
	}
	return k, nil
}

// GenerateKey returns a new random key of 32 bytes, base64url without
// padding (43 characters).
func GenerateKey() string {
	k := make([]byte, MinKeyBytes)
	rand.Read(k) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(k)
}

// LoadOrCreateKeyFile returns the key in the file at path, creating the
// file (mode 0600) with a GenerateKey key if there is none; processes
// racing to create it all get the same key (see secretfile). The key read
// must parse as one key (ParseKeys).
func LoadOrCreateKeyFile(path string) (string, error) {
	k, _, err := secretfile.LoadOrCreateSecretFile(path, func() (string, error) { return GenerateKey(), nil })
	if err != nil {
		return "", err
	}
	keys, err := ParseKeys(k)
	if err != nil {
		return "", fmt.Errorf("key file %s: %w", path, err)
	}
	if len(keys) != 1 {
		return "", fmt.Errorf("key file %s: holds %d keys, want 1", path, len(keys))
	}
	return k, nil
}

// mac is HMAC-SHA256(key, path + "\n" + exp).
func mac(key []byte, path, exp string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(path))
	h.Write([]byte{'\n'})
	h.Write([]byte(exp))
	return h.Sum(nil)
}

// Sign returns the query parameters (exp, sig) that make path valid until
// exp, signed with the first key. path is the URL path, escaped, starting
// with "/" (e.g. /a/ID/thumb).
func (s *Signer) Sign(path string, exp time.Time) url.Values {
	e := strconv.FormatInt(exp.Unix(), 10)
	return url.Values{
		ParamExpires:   {e},
		ParamSignature: {base64.RawURLEncoding.EncodeToString(mac(s.keys[0], path, e))},
	}
}

// SignURL returns base (scheme and host, e.g. https://cdn.example.com; a
// trailing slash is dropped) + path + the signed query.
func (s *Signer) SignURL(base, path string, exp time.Time) string {
	return strings.TrimRight(base, "/") + path + "?" + s.Sign(path, exp).Encode()
}

// Verify checks the exp and sig query values of a request for path (the
// request's r.URL.EscapedPath()) at now. The signature is checked first,
// with every key, in constant time: ErrExpired means a genuine link whose
// time has passed (a link is valid while now is before exp), and anything
// forged or garbled is ErrBadSignature. Only the canonical text of a
// signature is accepted (strict base64url, no padding), so one link has
// one form.
func (s *Signer) Verify(path, exp, sig string, now time.Time) error {
	if exp == "" || sig == "" {
		return ErrMissing
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || unix < 0 || strconv.FormatInt(unix, 10) != exp {
		return fmt.Errorf("%w: exp is not a unix time", ErrBadSignature)
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: sig is not %d bytes of base64url", ErrBadSignature, sha256.Size)
	}
	ok := false
	for _, k := range s.keys {
		// Every key is tried, so the time taken does not tell which
		// matched.
		if hmac.Equal(got, mac(k, path, exp)) {
			ok = true
		}
	}
	if !ok {
		return ErrBadSignature
	}
	if now.Unix() >= unix {
		return ErrExpired
	}
	return nil
}

// VerifyURL verifies a request URL (r.URL): its escaped path and its exp
// and sig query values, as Verify.
func (s *Signer) VerifyURL(u *url.URL, now time.Time) error {
	q := u.Query()
	return s.Verify(u.EscapedPath(), q.Get(ParamExpires), q.Get(ParamSignature), now)
}
