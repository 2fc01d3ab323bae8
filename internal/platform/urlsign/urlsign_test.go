package urlsign_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/platform/urlsign"
)

var (
	keyNew   = bytes.Repeat([]byte{'n'}, 32)
	keyOld   = bytes.Repeat([]byte{'o'}, 40)
	keyOther = bytes.Repeat([]byte{'x'}, 32)
	now      = time.Unix(1_700_000_000, 0)
)

func mustNew(t *testing.T, keys ...[]byte) *urlsign.Signer {
	t.Helper()
	s, err := urlsign.New(keys)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A known answer, computed independently of the package:
// HMAC-SHA256(key, "/a/img1/thumb\n1700000060"), base64url without padding.
func TestSignKnownAnswer(t *testing.T) {
	h := hmac.New(sha256.New, keyNew)
	h.Write([]byte("/a/img1/thumb\n1700000060"))
	want := base64.RawURLEncoding.EncodeToString(h.Sum(nil))

	q := mustNew(t, keyNew, keyOld).Sign("/a/img1/thumb", now.Add(time.Minute))
	if q.Get("exp") != "1700000060" || q.Get("sig") != want || len(q) != 2 {
		t.Fatalf("Sign = %v, want exp=1700000060 sig=%s", q, want)
	}
	got := mustNew(t, keyNew).SignURL("https://cdn.example.com/", "/a/img1/thumb", now.Add(time.Minute))
	if got != "https://cdn.example.com/a/img1/thumb?exp=1700000060&sig="+want {
		t.Fatalf("SignURL = %s", got)
	}
}

func TestVerify(t *testing.T) {
	const path = "/a/img1/thumb"
	exp := now.Add(time.Hour)
	signed := mustNew(t, keyNew, keyOld).Sign(path, exp)
	byOld := mustNew(t, keyOld).Sign(path, exp)
	e, sig := signed.Get("exp"), signed.Get("sig")
	flip := func(s string) string { // changes the first byte of the MAC
		b, _ := base64.RawURLEncoding.DecodeString(s)
		b[0] ^= 1
		return base64.RawURLEncoding.EncodeToString(b)
	}
	tests := []struct {
		name    string
		keys    [][]byte
		path    string
		exp     string
		sig     string
		now     time.Time
		wantErr error
	}{
		{"valid", [][]byte{keyNew, keyOld}, path, e, sig, now, nil},
		{"valid with the signing key only", [][]byte{keyNew}, path, e, sig, now, nil},
		{"valid until the second before exp", [][]byte{keyNew}, path, e, sig, exp.Add(-time.Second), nil},
		{"expired at exp", [][]byte{keyNew}, path, e, sig, exp, urlsign.ErrExpired},
		{"expired after exp", [][]byte{keyNew}, path, e, sig, exp.Add(time.Hour), urlsign.ErrExpired},
		{"signed by the old (second) key", [][]byte{keyNew, keyOld}, path, byOld.Get("exp"), byOld.Get("sig"), now, nil},
		{"old key removed", [][]byte{keyNew}, path, byOld.Get("exp"), byOld.Get("sig"), now, urlsign.ErrBadSignature},
		{"signing key removed", [][]byte{keyOld}, path, e, sig, now, urlsign.ErrBadSignature},
		{"another key", [][]byte{keyOther}, path, e, sig, now, urlsign.ErrBadSignature},
		{"tampered path: other variant", [][]byte{keyNew}, "/a/img1/large", e, sig, now, urlsign.ErrBadSignature},
		{"tampered path: other image", [][]byte{keyNew}, "/a/img2/thumb", e, sig, now, urlsign.ErrBadSignature},
		{"tampered path: suffix", [][]byte{keyNew}, path + "/", e, sig, now, urlsign.ErrBadSignature},
		{"tampered exp: later", [][]byte{keyNew}, path, "1700003601", sig, now, urlsign.ErrBadSignature},
		{"tampered exp: far future", [][]byte{keyNew}, path, "9999999999", sig, now, urlsign.ErrBadSignature},
		{"tampered exp: expired and forged is bad, not expired", [][]byte{keyNew}, path, "1600000000", sig, now, urlsign.ErrBadSignature},
		{"tampered sig", [][]byte{keyNew}, path, e, flip(sig), now, urlsign.ErrBadSignature},
		{"missing exp", [][]byte{keyNew}, path, "", sig, now, urlsign.ErrMissing},
		{"missing sig", [][]byte{keyNew}, path, e, "", now, urlsign.ErrMissing},
		{"missing both", [][]byte{keyNew}, path, "", "", now, urlsign.ErrMissing},
		{"malformed exp: not a number", [][]byte{keyNew}, path, "soon", sig, now, urlsign.ErrBadSignature},
		{"malformed exp: leading zero", [][]byte{keyNew}, path, "0" + e, sig, now, urlsign.ErrBadSignature},
		{"malformed exp: plus sign", [][]byte{keyNew}, path, "+" + e, sig, now, urlsign.ErrBadSignature},
		{"malformed exp: negative", [][]byte{keyNew}, path, "-1", sig, now, urlsign.ErrBadSignature},
		{"malformed sig: not base64url", [][]byte{keyNew}, path, e, "!!" + sig[2:], now, urlsign.ErrBadSignature},
		{"malformed sig: padded", [][]byte{keyNew}, path, e, sig + "=", now, urlsign.ErrBadSignature},
		{"malformed sig: standard base64", [][]byte{keyNew}, path, e, base64.StdEncoding.EncodeToString(mustDecode(t, sig)), now, urlsign.ErrBadSignature},
		{"malformed sig: truncated", [][]byte{keyNew}, path, e, sig[:len(sig)-4], now, urlsign.ErrBadSignature},
		{"malformed sig: spare bits set (same MAC, other text)", [][]byte{keyNew}, path, e, spareBits(sig), now, urlsign.ErrBadSignature},
		{"malformed sig: hex", [][]byte{keyNew}, path, e, hex.EncodeToString(mustDecode(t, sig)), now, urlsign.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := mustNew(t, tt.keys...).Verify(tt.path, tt.exp, tt.sig, tt.now)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// spareBits sets the unused low bit of a 43-character signature's last
// character: lenient decoders read the same 32 bytes.
func spareBits(sig string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, sig[len(sig)-1])
	return sig[:len(sig)-1] + string(alphabet[i^1])
}

func mustDecode(t *testing.T, sig string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A signed URL verifies from the request URL a server sees, whatever the
// host; the errors stay distinct.
func TestVerifyURL(t *testing.T) {
	s := mustNew(t, keyNew)
	raw := s.SignURL("https://images.example.com", "/a/img%201/thumb", now.Add(time.Minute))
	for _, host := range []string{"images.example.com", "cdn.example.net:8443"} {
		u, err := url.Parse(strings.Replace(raw, "images.example.com", host, 1))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.VerifyURL(u, now); err != nil {
			t.Fatalf("VerifyURL(%s) = %v", u, err)
		}
		if err := s.VerifyURL(u, now.Add(time.Minute)); !errors.Is(err, urlsign.ErrExpired) {
			t.Fatalf("VerifyURL later = %v, want ErrExpired", err)
		}
	}
	u, _ := url.Parse("https://images.example.com/a/img%201/thumb")
	if err := s.VerifyURL(u, now); !errors.Is(err, urlsign.ErrMissing) {
		t.Fatalf("VerifyURL unsigned = %v, want ErrMissing", err)
	}
}

func TestNew(t *testing.T) {
	if _, err := urlsign.New(nil); !errors.Is(err, urlsign.ErrNoKey) {
		t.Errorf("New(nil) = %v, want ErrNoKey", err)
	}
	if _, err := urlsign.New([][]byte{keyNew, make([]byte, 31)}); err == nil || !strings.Contains(err.Error(), "key 2 is 31 bytes") {
		t.Errorf("New with a short key = %v, want key 2 is 31 bytes", err)
	}
	// The signer keeps its own copy of the keys.
	k := bytes.Clone(keyNew)
	s := mustNew(t, k)
	q := s.Sign("/p", now.Add(time.Minute))
	k[0] ^= 1
	if err := s.Verify("/p", q.Get("exp"), q.Get("sig"), now); err != nil {
		t.Errorf("after the caller changed its key slice: %v", err)
	}
}

func TestParseKeys(t *testing.T) {
	k32 := base64.RawURLEncoding.EncodeToString(keyNew)
	k40 := base64.URLEncoding.EncodeToString(keyOld) // padded
	secretish := base64.StdEncoding.EncodeToString(append([]byte{0xfb, 0xff}, keyOther...))
	short := base64.RawURLEncoding.EncodeToString(make([]byte, 31))
	gen := urlsign.GenerateKey()
	genBytes, _ := base64.RawURLEncoding.DecodeString(gen)
	tests := []struct {
		name    string
		in      string
		want    [][]byte
		wantErr string
	}{
		{"one key", k32, [][]byte{keyNew}, ""},
		{"two keys, padded second, spaces and blanks", " " + k32 + " , ," + k40 + ",", [][]byte{keyNew, keyOld}, ""},
		{"a generated key", gen, [][]byte{genBytes}, ""},
		{"empty", "", nil, "no key"},
		{"only commas", " , ", nil, "no key"},
		{"short", k32 + "," + short, nil, "key 2: 31 bytes, want at least 32"},
		{"standard base64", secretish, nil, "key 1: not base64url: it has '+' or '/'"},
		{"not base64", k32 + ",not*base64*at*all*not*base64*at*all*not*base64*", nil, "key 2: not base64url (A-Z"},
		{"every problem reported: first", short + "," + secretish, nil, "key 1: 31 bytes"},
		{"every problem reported: second", short + "," + secretish, nil, "key 2: not base64url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := urlsign.ParseKeys(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseKeys = %v, want an error containing %q", err, tt.wantErr)
				}
				for _, part := range strings.Split(tt.in, ",") {
					if p := strings.TrimSpace(part); len(p) > 8 && strings.Contains(err.Error(), p) {
						t.Fatalf("error %q shows a key", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d keys, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if !bytes.Equal(got[i], tt.want[i]) {
					t.Fatalf("key %d differs", i+1)
				}
			}
		})
	}
}

func TestGenerateKey(t *testing.T) {
	a, b := urlsign.GenerateKey(), urlsign.GenerateKey()
	if a == b || len(a) != 43 || strings.ContainsAny(a, "+/=") {
		t.Fatalf("GenerateKey = %q, %q: want two different 43-character base64url keys", a, b)
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "urlsign.key")
	k1, err := urlsign.LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	k2, err := urlsign.LoadOrCreateKeyFile(path)
	if err != nil || k2 != k1 {
		t.Fatalf("second load = %q, %v; want the first key", k2, err)
	}
	keys, err := urlsign.ParseKeys(k1)
	if err != nil {
		t.Fatal(err)
	}
	mustNew(t, keys...)

	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("short-key-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := urlsign.LoadOrCreateKeyFile(bad); err == nil || !strings.Contains(err.Error(), bad) || strings.Contains(err.Error(), "short-key-value") {
		t.Fatalf("a bad key file = %v, want an error naming the file but not the key", err)
	}
	two := filepath.Join(dir, "two.key")
	if err := os.WriteFile(two, []byte(k1+","+k1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := urlsign.LoadOrCreateKeyFile(two); err == nil || !strings.Contains(err.Error(), "want 1") {
		t.Fatalf("a file with two keys = %v, want an error", err)
	}
}

// Verify reads untrusted query values: it never panics, and accepts only
// what the signer signed.
func FuzzVerify(f *testing.F) {
	s, err := urlsign.New([][]byte{keyNew, keyOld})
	if err != nil {
		f.Fatal(err)
	}
	q := s.Sign("/a/img1/thumb", now.Add(time.Hour))
	f.Add("/a/img1/thumb", q.Get("exp"), q.Get("sig"))
	f.Add("/a/img1/thumb", "", "")
	f.Add("/", "0", "AAAA")
	f.Fuzz(func(t *testing.T, path, exp, sig string) {
		err := s.Verify(path, exp, sig, now)
		if err == nil && (path != "/a/img1/thumb" || exp != q.Get("exp") || sig != q.Get("sig")) {
			t.Fatalf("Verify(%q, %q, %q) accepted a signature it did not make", path, exp, sig)
		}
		if err != nil && !errors.Is(err, urlsign.ErrMissing) && !errors.Is(err, urlsign.ErrBadSignature) && !errors.Is(err, urlsign.ErrExpired) {
			t.Fatalf("Verify error %v is none of the package's", err)
		}
	})
}
