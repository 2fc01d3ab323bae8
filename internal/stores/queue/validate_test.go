package queue_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
)

func TestValidateSend(t *testing.T) {
	ten := map[string]string{}
	for _, k := range strings.Split("a b c d e f g h i j", " ") {
		ten[k] = "v"
	}
	eleven := map[string]string{"k": "v"}
	for k, v := range ten {
		eleven[k] = v
	}
	tests := []struct {
		name  string
		body  []byte
		opts  queue.SendOptions
		valid bool
	}{
		{"minimal", []byte("x"), queue.SendOptions{}, true},
		{"binary", []byte{0, 0xff}, queue.SendOptions{}, true},
		{"max body", make([]byte, queue.MaxBodySize), queue.SendOptions{}, true},
		{"max delay", []byte("x"), queue.SendOptions{Delay: queue.MaxDelay}, true},
		{"ten attributes", []byte("x"), queue.SendOptions{Attributes: ten}, true},
		{"name chars", []byte("x"), queue.SendOptions{Attributes: map[string]string{"A-z_0.9": "v"}}, true},
		{"empty body", nil, queue.SendOptions{}, false},
		{"body too large", make([]byte, queue.MaxBodySize+1), queue.SendOptions{}, false},
		{"negative delay", []byte("x"), queue.SendOptions{Delay: -1}, false},
		{"delay too long", []byte("x"), queue.SendOptions{Delay: queue.MaxDelay + 1}, false},
		{"eleven attributes", []byte("x"), queue.SendOptions{Attributes: eleven}, false},
		{"empty value", []byte("x"), queue.SendOptions{Attributes: map[string]string{"k": ""}}, false},
		{"empty name", []byte("x"), queue.SendOptions{Attributes: map[string]string{"": "v"}}, false},
		{"leading dot", []byte("x"), queue.SendOptions{Attributes: map[string]string{".k": "v"}}, false},
		{"trailing dot", []byte("x"), queue.SendOptions{Attributes: map[string]string{"k.": "v"}}, false},
		{"double dot", []byte("x"), queue.SendOptions{Attributes: map[string]string{"a..b": "v"}}, false},
		{"aws prefix", []byte("x"), queue.SendOptions{Attributes: map[string]string{"aws.k": "v"}}, false},
		{"amazon prefix", []byte("x"), queue.SendOptions{Attributes: map[string]string{"Amazon.k": "v"}}, false},
		{"slash", []byte("x"), queue.SendOptions{Attributes: map[string]string{"a/b": "v"}}, false},
		{"non-ASCII", []byte("x"), queue.SendOptions{Attributes: map[string]string{"ü": "v"}}, false},
		{"name too long", []byte("x"), queue.SendOptions{Attributes: map[string]string{strings.Repeat("n", 257): "v"}}, false},
	}
	for _, tc := range tests {
		err := queue.ValidateSend(tc.body, tc.opts)
		if tc.valid != (err == nil) || (err != nil && !errors.Is(err, queue.ErrInvalidArgument)) {
			t.Errorf("%s: ValidateSend = %v, want valid=%v (errors wrapping ErrInvalidArgument)", tc.name, err, tc.valid)
		}
	}
}

func TestValidateReceive(t *testing.T) {
	tests := []struct {
		opts  queue.ReceiveOptions
		valid bool
	}{
		{queue.ReceiveOptions{}, true},
		{queue.ReceiveOptions{MaxMessages: queue.MaxBatch, WaitTime: queue.MaxWaitTime, VisibilityTimeout: queue.MaxVisibilityTimeout}, true},
		{queue.ReceiveOptions{MaxMessages: -1}, false},
		{queue.ReceiveOptions{MaxMessages: queue.MaxBatch + 1}, false},
		{queue.ReceiveOptions{WaitTime: -time.Second}, false},
		{queue.ReceiveOptions{WaitTime: queue.MaxWaitTime + 1}, false},
		{queue.ReceiveOptions{VisibilityTimeout: -1}, false},
		{queue.ReceiveOptions{VisibilityTimeout: queue.MaxVisibilityTimeout + 1}, false},
	}
	for _, tc := range tests {
		err := queue.ValidateReceive(tc.opts)
		if tc.valid != (err == nil) || (err != nil && !errors.Is(err, queue.ErrInvalidArgument)) {
			t.Errorf("ValidateReceive(%+v) = %v, want valid=%v", tc.opts, err, tc.valid)
		}
	}
}
