package webhooks

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Requests are signed as Standard Webhooks (https://www.standardwebhooks.com)
// prescribe, with their reference library, so any Standard Webhooks or Svix
// verifier accepts them:
//
//	webhook-id: dlv_…          the delivery's id, the same on every retry
//	webhook-timestamp: 1700000000          unix seconds of this attempt
//	webhook-signature: v1,BASE64 v1,BASE64
//
// Each v1 signature is standard base64 of HMAC-SHA256(key, id + "." +
// timestamp + "." + body), one per secret, space-separated. A secret is
// written "whsec_" + standard base64 of the key.
const (
	HeaderWebhookID = standardwebhooks.HeaderWebhookID
	HeaderTimestamp = standardwebhooks.HeaderWebhookTimestamp
	HeaderSignature = standardwebhooks.HeaderWebhookSignature
)

// Secrets.
const (
	// SecretPrefix starts every secret.
	SecretPrefix = "whsec_"
	// MinSecretBytes and MaxSecretBytes bound a secret's key, as the
	// Standard Webhooks specification does.
	MinSecretBytes = 24
	MaxSecretBytes = 64
	// generatedSecretBytes is the key length of GenerateSecret.
	generatedSecretBytes = 32
)

// VerifyTolerance is how far a request's timestamp may be from the
// receiver's clock, either way (the reference library's, fixed).
const VerifyTolerance = 5 * time.Minute

// Errors of Sign and Verify.
var (
	// ErrInvalidSecret: a secret is not "whsec_" + standard base64 of
	// MinSecretBytes..MaxSecretBytes bytes.
	ErrInvalidSecret = errors.New("webhooks: invalid secret")
	// ErrMalformedSignature: a webhook-* header is missing or unreadable.
	ErrMalformedSignature = errors.New("webhooks: missing or malformed signature headers")
	// ErrStaleTimestamp: the signed timestamp is further from now than
	// VerifyTolerance, in the past (a replayed request) or the future.
	ErrStaleTimestamp = errors.New("webhooks: signature timestamp outside tolerance")
	// ErrBadSignature: no v1 signature matches any of the secrets.
	ErrBadSignature = errors.New("webhooks: signature does not match")
)

// GenerateSecret returns a new random secret: "whsec_" and standard base64
// of 32 bytes.
func GenerateSecret() string {
	k := make([]byte, generatedSecretBytes)
	rand.Read(k) // never fails (crypto/rand)
	return SecretPrefix + base64.StdEncoding.EncodeToString(k)
}

// ValidateSecret checks a secret's form: "whsec_" followed by standard
// base64 (padded) of MinSecretBytes..MaxSecretBytes bytes. A secret
// without the prefix is refused rather than guessed at, so a free-form
// secret of the earlier scheme fails loudly instead of being read as a
// different key. Errors never show the secret.
func ValidateSecret(s string) error {
	_, err := decodeSecret(s)
	return err
}

func decodeSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: want %s followed by base64 (GenerateSecret makes one)", ErrInvalidSecret, SecretPrefix)
	}
	key, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: the part after %s is not standard base64 (A-Z a-z 0-9 + /, = padded)", ErrInvalidSecret, SecretPrefix)
	}
	if len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return nil, fmt.Errorf("%w: %d bytes, want %d to %d", ErrInvalidSecret, len(key), MinSecretBytes, MaxSecretBytes)
	}
	return key, nil
}

// webhook returns the reference library's signer for a valid secret.
func webhook(secret string) (*standardwebhooks.Webhook, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return nil, err
	}
	return standardwebhooks.NewWebhookRaw(key)
}

// Sign returns the webhook-signature header value for body, sent as
// message id at t: "v1,BASE64" per secret, space-separated, in the order
// of secrets. It fails without a secret or with an invalid one (the error
// says which, by position).
func Sign(secrets []string, id string, t time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", ErrNoSecret
	}
	if id == "" {
		return "", errors.New("webhooks: sign: empty message id")
	}
	sigs := make([]string, 0, len(secrets))
	for i, s := range secrets {
		wh, err := webhook(s)
		if err != nil {
			return "", fmt.Errorf("webhook secret %d: %w", i+1, err)
		}
		sig, err := wh.Sign(id, t, body)
		if err != nil {
			return "", fmt.Errorf("webhooks: sign: %w", err)
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}

// SetHeaders signs body as message id sent at t and sets the three
// Standard Webhooks headers on h.
func SetHeaders(h http.Header, secrets []string, id string, t time.Time, body []byte) error {
	sig, err := Sign(secrets, id, t, body)
	if err != nil {
		return err
	}
	h.Set(HeaderWebhookID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(t.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return nil
}

// Verify checks a request's Standard Webhooks headers against its body,
// for receivers, with the reference library: the timestamp must be within
// VerifyTolerance of now, and some v1 signature must match one of secrets
// (so a receiver verifies during a rotation holding either the old or the
// new secret). Comparisons are constant-time. Errors: ErrNoSecret,
// ErrInvalidSecret, ErrMalformedSignature, ErrStaleTimestamp,
// ErrBadSignature.
func Verify(secrets []string, headers http.Header, body []byte) error {
	if len(secrets) == 0 {
		return ErrNoSecret
	}
	for i, s := range secrets {
		wh, err := webhook(s)
		if err != nil {
			return fmt.Errorf("webhook secret %d: %w", i+1, err)
		}
		err = wh.Verify(body, headers)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, standardwebhooks.ErrNoMatchingSignature):
			continue // perhaps the next secret
		case errors.Is(err, standardwebhooks.ErrMessageTooOld), errors.Is(err, standardwebhooks.ErrMessageTooNew):
			return ErrStaleTimestamp
		default: // ErrRequiredHeaders, ErrInvalidHeaders
			return ErrMalformedSignature
		}
	}
	return ErrBadSignature
}
