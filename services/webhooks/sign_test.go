package webhooks_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/services/webhooks"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// secret returns a valid secret whose key is n copies of c.
func secret(c byte, n int) string {
	return webhooks.SecretPrefix + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{c}, n))
}

func TestGenerateSecret(t *testing.T) {
	a, b := webhooks.GenerateSecret(), webhooks.GenerateSecret()
	if a == b || !strings.HasPrefix(a, "whsec_") {
		t.Fatalf("GenerateSecret = %q, %q: want two different whsec_ secrets", a, b)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, "whsec_"))
	if err != nil || len(key) != 32 {
		t.Fatalf("GenerateSecret's key: %d bytes (%v), want 32", len(key), err)
	}
	if err := webhooks.ValidateSecret(a); err != nil {
		t.Fatalf("ValidateSecret(GenerateSecret()) = %v", err)
	}
}

func TestValidateSecret(t *testing.T) {
	raw := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'k'}, 32))
	tests := []struct {
		name    string
		secret  string
		wantErr string // "" for valid
	}{
		{"24 bytes", secret('a', 24), ""},
		{"64 bytes", secret('a', 64), ""},
		{"the specification's example", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ""},
		{"23 bytes", secret('a', 23), "23 bytes, want 24 to 64"},
		{"65 bytes", secret('a', 65), "65 bytes, want 24 to 64"},
		{"no prefix", raw, "want whsec_ followed by base64"},
		{"the earlier free-form kind", "whsec-current-0123456789abcdef", "want whsec_ followed by base64"},
		{"upper-case prefix", "WHSEC_" + raw, "want whsec_"},
		{"empty", "", "want whsec_"},
		{"only the prefix", "whsec_", "0 bytes"},
		{"base64url", "whsec_" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 30)), "not standard base64"},
		{"unpadded", "whsec_" + strings.TrimRight(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'k'}, 25)), "="), "not standard base64"},
		{"spaces", "whsec_ " + raw, "not standard base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := webhooks.ValidateSecret(tt.secret)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateSecret = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, webhooks.ErrInvalidSecret) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ValidateSecret = %v, want ErrInvalidSecret containing %q", err, tt.wantErr)
			}
			if b64 := strings.TrimPrefix(tt.secret, "whsec_"); len(b64) > 8 && strings.Contains(err.Error(), b64) {
				t.Fatalf("error %q shows the secret", err)
			}
		})
	}
}

// The Standard Webhooks libraries' known answer, and an independent
// HMAC for two secrets at once.
func TestSignKnownAnswer(t *testing.T) {
	got, err := webhooks.Sign([]string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; err != nil || got != want {
		t.Fatalf("Sign = %q, %v; want %q", got, err, want)
	}

	mac := func(key []byte) string {
		h := hmac.New(sha256.New, key)
		h.Write([]byte("dlv_1.1700000000.{}"))
		return "v1," + base64.StdEncoding.EncodeToString(h.Sum(nil))
	}
	got, err = webhooks.Sign([]string{secret('n', 32), secret('o', 24)}, "dlv_1", time.Unix(1700000000, 0), []byte("{}"))
	if want := mac(bytes.Repeat([]byte{'n'}, 32)) + " " + mac(bytes.Repeat([]byte{'o'}, 24)); err != nil || got != want {
		t.Fatalf("Sign with two secrets = %q, %v; want %q", got, err, want)
	}
}

func TestSignErrors(t *testing.T) {
	at := time.Unix(1700000000, 0)
	if _, err := webhooks.Sign(nil, "dlv_1", at, nil); !errors.Is(err, webhooks.ErrNoSecret) {
		t.Errorf("Sign without secrets = %v, want ErrNoSecret", err)
	}
	const bad = "whsec_c2hvcnQ=" // "short"
	if _, err := webhooks.Sign([]string{secret('n', 32), bad}, "dlv_1", at, nil); !errors.Is(err, webhooks.ErrInvalidSecret) ||
		!strings.Contains(err.Error(), "secret 2") || strings.Contains(err.Error(), "c2hvcnQ") {
		t.Errorf("Sign with a bad second secret = %v, want ErrInvalidSecret naming secret 2 but not showing it", err)
	}
	if _, err := webhooks.Sign([]string{secret('n', 32)}, "", at, nil); err == nil {
		t.Error("Sign without a message id: want an error")
	}
	h := http.Header{}
	if err := webhooks.SetHeaders(h, nil, "dlv_1", at, nil); err == nil || len(h) != 0 {
		t.Errorf("SetHeaders without secrets = %v, headers %v; want an error and no headers", err, h)
	}
}

func TestVerify(t *testing.T) {
	var (
		body = []byte(`{"id":"evt_1","type":"image.ready"}`)
		now  = time.Now()
	)
	signed := func(secrets []string, at time.Time) http.Header {
		h := http.Header{}
		if err := webhooks.SetHeaders(h, secrets, "dlv_1", at, body); err != nil {
			t.Fatal(err)
		}
		return h
	}
	with := func(h http.Header, key, value string) http.Header {
		h = h.Clone()
		if value == "" {
			h.Del(key)
		} else {
			h.Set(key, value)
		}
		return h
	}
	rotated := signed([]string{newSecret, oldSecret}, now)
	single := signed([]string{oldSecret}, now)
	ts := strconv.FormatInt(now.Unix(), 10)
	tests := []struct {
		name    string
		secrets []string
		headers http.Header
		body    []byte
		want    error
	}{
		{"rotation: receiver holds only old", []string{oldSecret}, rotated, body, nil},
		{"rotation: receiver holds only new", []string{newSecret}, rotated, body, nil},
		{"rotation: receiver holds both", []string{otherSecret, oldSecret}, rotated, body, nil},
		{"rotation: a third secret fails", []string{otherSecret}, rotated, body, webhooks.ErrBadSignature},
		{"single secret", []string{oldSecret}, single, body, nil},
		{"single secret, receiver holds new", []string{newSecret}, single, body, webhooks.ErrBadSignature},
		{"receiver with no secrets", nil, single, body, webhooks.ErrNoSecret},
		{"receiver with an invalid secret", []string{"not-a-secret"}, single, body, webhooks.ErrInvalidSecret},
		{"body changed", []string{oldSecret}, single, []byte(`{"id":"evt_2","type":"image.ready"}`), webhooks.ErrBadSignature},
		{"id changed", []string{oldSecret}, with(single, "webhook-id", "dlv_2"), body, webhooks.ErrBadSignature},
		{"timestamp changed", []string{oldSecret}, with(single, "webhook-timestamp", strconv.FormatInt(now.Unix()-1, 10)), body, webhooks.ErrBadSignature},
		{"signature changed", []string{oldSecret}, with(single, "webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(make([]byte, 32))), body, webhooks.ErrBadSignature},
		{"unknown versions ignored", []string{oldSecret}, with(single, "webhook-signature", "v1a,abc "+single.Get("webhook-signature")), body, nil},
		{"within tolerance, late", []string{oldSecret}, signed([]string{oldSecret}, now.Add(-4*time.Minute)), body, nil},
		{"stale", []string{oldSecret}, signed([]string{oldSecret}, now.Add(-6*time.Minute)), body, webhooks.ErrStaleTimestamp},
		{"from the future", []string{oldSecret}, signed([]string{oldSecret}, now.Add(6*time.Minute)), body, webhooks.ErrStaleTimestamp},
		{"no id", []string{oldSecret}, with(single, "webhook-id", ""), body, webhooks.ErrMalformedSignature},
		{"no timestamp", []string{oldSecret}, with(single, "webhook-timestamp", ""), body, webhooks.ErrMalformedSignature},
		{"no signature", []string{oldSecret}, with(single, "webhook-signature", ""), body, webhooks.ErrMalformedSignature},
		{"timestamp not a number", []string{oldSecret}, with(single, "webhook-timestamp", "soon"), body, webhooks.ErrMalformedSignature},
		{"the earlier scheme", []string{oldSecret}, http.Header{"Imagepipe-Signature": {"t=" + ts + ",v1=00"}}, body, webhooks.ErrMalformedSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := webhooks.Verify(tt.secrets, tt.headers, tt.body)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// What SetHeaders sets verifies with the reference library directly, the
// way a receiver using it would, for each secret.
func TestSetHeadersVerifyWithLibrary(t *testing.T) {
	secrets := []string{webhooks.GenerateSecret(), webhooks.GenerateSecret()}
	body := []byte(`{"id":"evt_1"}`)
	h := http.Header{}
	if err := webhooks.SetHeaders(h, secrets, "dlv_1", time.Now(), body); err != nil {
		t.Fatal(err)
	}
	if h.Get("webhook-id") != "dlv_1" || len(strings.Fields(h.Get("webhook-signature"))) != 2 {
		t.Fatalf("headers %v: want webhook-id dlv_1 and two signatures", h)
	}
	for i, s := range secrets {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(body, h); err != nil {
			t.Errorf("library Verify with secret %d: %v", i+1, err)
		}
	}
}

func TestConfigSecrets(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		urls    []string
		wantErr string // "" for valid
	}{
		{"none, no URLs", nil, nil, ""},
		{"one", []string{secret('a', 32)}, []string{"https://example.com/hook"}, ""},
		{"two", []string{secret('a', 32), secret('b', 24)}, nil, ""},
		{"three", []string{secret('a', 32), secret('b', 32), secret('c', 32)}, nil, "at most 2"},
		{"URLs without a secret", nil, []string{"https://example.com/hook"}, "IMAGEPIPE_WEBHOOKS_SECRETS"},
		{"the earlier kind", []string{"whsec-current-0123456789abcdef"}, nil, "webhook secret 1: webhooks: invalid secret: want whsec_"},
		{"second too short", []string{secret('a', 32), secret('b', 16)}, nil, "webhook secret 2: webhooks: invalid secret: 16 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := webhooks.DefaultConfig()
			cfg.Secrets, cfg.URLs = tt.secrets, tt.urls
			err := cfg.Validate()
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate = %v, want %q", err, tt.wantErr)
			}
			for _, s := range tt.secrets {
				if err != nil && strings.Contains(err.Error(), s) {
					t.Fatalf("error %q shows a secret", err)
				}
			}
		})
	}
}
