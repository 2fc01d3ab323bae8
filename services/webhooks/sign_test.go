package webhooks

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSignFormat(t *testing.T) {
	at := time.Unix(1700000000, 0)
	got := Sign([]string{"secret-number-one", "secret-number-two"}, at, []byte(`{"id":"x"}`))
	parts := strings.Split(got, ",")
	if len(parts) != 3 || parts[0] != "t=1700000000" || !strings.HasPrefix(parts[1], "v1=") || !strings.HasPrefix(parts[2], "v1=") {
		t.Fatalf("Sign = %q, want t=1700000000,v1=HEX,v1=HEX", got)
	}
	if len(parts[1]) != 3+64 || parts[1] == parts[2] {
		t.Fatalf("signatures %q, %q: want two different 64-hex-digit MACs", parts[1], parts[2])
	}
	// A known answer: HMAC-SHA256("k", "1.b") (openssl dgst -sha256 -hmac k).
	if got, want := Sign([]string{"k"}, time.Unix(1, 0), []byte("b")), "t=1,v1=2946e37a45bb02a0bf1bf1a7d9219543801fedd301f9f485aebd72c928639bea"; got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

func TestVerify(t *testing.T) {
	const (
		oldSecret   = "old-secret-0123456789"
		newSecret   = "new-secret-0123456789"
		otherSecret = "other-secret-0123456789"
	)
	now := time.Unix(1700000000, 0)
	body := []byte(`{"id":"evt_1","type":"image.ready"}`)
	rotated := Sign([]string{newSecret, oldSecret}, now, body)
	single := Sign([]string{oldSecret}, now, body)
	ts := "t=1700000000"
	tests := []struct {
		name      string
		secrets   []string
		header    string
		body      []byte
		tolerance time.Duration
		now       time.Time
		want      error
	}{
		{"rotation: receiver holds only old", []string{oldSecret}, rotated, body, time.Minute, now, nil},
		{"rotation: receiver holds only new", []string{newSecret}, rotated, body, time.Minute, now, nil},
		{"rotation: receiver holds both", []string{newSecret, oldSecret}, rotated, body, time.Minute, now, nil},
		{"rotation: a third secret fails", []string{otherSecret}, rotated, body, time.Minute, now, ErrBadSignature},
		{"single secret", []string{oldSecret}, single, body, time.Minute, now, nil},
		{"receiver with no secrets", nil, single, body, time.Minute, now, ErrBadSignature},
		{"body changed", []string{oldSecret}, single, []byte(`{"id":"evt_2","type":"image.ready"}`), time.Minute, now, ErrBadSignature},
		{"timestamp changed", []string{oldSecret}, strings.Replace(single, ts, "t=1700000001", 1), body, time.Minute, now, ErrBadSignature},
		{"unknown keys ignored", []string{oldSecret}, single + ",v0=abc", body, time.Minute, now, nil},
		{"spaces after commas", []string{oldSecret}, strings.ReplaceAll(rotated, ",", ", "), body, time.Minute, now, nil},
		{"within tolerance, late", []string{oldSecret}, single, body, time.Minute, now.Add(59 * time.Second), nil},
		{"stale", []string{oldSecret}, single, body, time.Minute, now.Add(61 * time.Second), ErrStaleTimestamp},
		{"from the future", []string{oldSecret}, single, body, time.Minute, now.Add(-61 * time.Second), ErrStaleTimestamp},
		{"empty header", []string{oldSecret}, "", body, time.Minute, now, ErrMalformedSignature},
		{"no timestamp", []string{oldSecret}, strings.TrimPrefix(single, ts+","), body, time.Minute, now, ErrMalformedSignature},
		{"no signature", []string{oldSecret}, ts, body, time.Minute, now, ErrMalformedSignature},
		{"two timestamps", []string{oldSecret}, ts + "," + single, body, time.Minute, now, ErrMalformedSignature},
		{"timestamp not a number", []string{oldSecret}, strings.Replace(single, ts, "t=soon", 1), body, time.Minute, now, ErrMalformedSignature},
		{"signature not hex", []string{oldSecret}, ts + ",v1=zz", body, time.Minute, now, ErrMalformedSignature},
		{"signature too short", []string{oldSecret}, single[:len(single)-2], body, time.Minute, now, ErrMalformedSignature},
		{"part without =", []string{oldSecret}, single + ",junk", body, time.Minute, now, ErrMalformedSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secrets, tt.header, tt.body, tt.tolerance, tt.now)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}
