package sqsqueue_test

import (
	"bytes"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/imagepipe/imagepipe/internal/stores/queue"
	"github.com/imagepipe/imagepipe/internal/stores/queue/sqsqueue"
	"github.com/imagepipe/imagepipe/internal/testkit/awstest"
)

// rawReceive receives one message with the plain SDK, as another consumer
// (or the console) sees it, and makes it visible again.
func rawReceive(t *testing.T, client *sqs.Client, queueURL string) types.Message {
	t.Helper()
	out, err := client.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), WaitTimeSeconds: 2})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("raw ReceiveMessage = %d messages, %v; want 1", len(out.Messages), err)
	}
	m := out.Messages[0]
	if _, err := client.ChangeMessageVisibility(t.Context(), &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0,
	}); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBodyEncoding(t *testing.T) {
	t.Parallel()
	cfg := awstest.Config(t, "SQS")
	client := sqs.NewFromConfig(cfg)
	_, queueURL, _ := ensure(t, cfg, 0, 30*time.Second)
	q := open(t, cfg, queueURL, sqsqueue.Options{})
	tests := []struct {
		name    string
		body    []byte
		encoded bool // sent as EncodedPrefix + base64
	}{
		{"JSON job", []byte(`{"image_id":"01J","preset":"thumb"}`), false},
		{"text with tab, CR, LF and BMP characters", []byte("a\tb\r\nc é 中 \uFFFD"), false},
		{"NUL", []byte{0}, true},
		{"invalid UTF-8", []byte{0xff, 0xfe}, true},
		{"control character", []byte("bell\x07"), true},
		{"U+FFFE", []byte("\uFFFE"), true},
		{"emoji (legal in SQS, refused by fauxqs)", []byte("cat 🐈"), true},
		{"text that looks encoded", []byte(sqsqueue.EncodedPrefix + "AAAA"), true},
	}
	for _, tc := range tests {
		if _, err := q.Send(t.Context(), tc.body, queue.SendOptions{}); err != nil {
			t.Fatalf("%s: Send: %v", tc.name, err)
		}
		raw := aws.ToString(rawReceive(t, client, queueURL).Body)
		if got := strings.HasPrefix(raw, sqsqueue.EncodedPrefix); got != tc.encoded || !tc.encoded && raw != string(tc.body) {
			t.Errorf("%s: SQS body %q, want encoded=%v", tc.name, raw, tc.encoded)
		}
		msgs, err := q.Receive(t.Context(), queue.ReceiveOptions{WaitTime: 2 * time.Second})
		if err != nil || len(msgs) != 1 || !bytes.Equal(msgs[0].Body, tc.body) {
			t.Fatalf("%s: Receive = %v, %v; want body %q", tc.name, msgs, err, tc.body)
		}
		if err := q.Delete(t.Context(), msgs[0].ReceiptHandle); err != nil {
			t.Fatal(err)
		}
	}
}

// TestForeignMessages receives what another producer sent: attributes of
// other types, and a body that only looks encoded.
func TestForeignMessages(t *testing.T) {
	t.Parallel()
	cfg := awstest.Config(t, "SQS")
	client := sqs.NewFromConfig(cfg)
	_, queueURL, _ := ensure(t, cfg, 0, 30*time.Second)
	q := open(t, cfg, queueURL, sqsqueue.Options{})
	body := sqsqueue.EncodedPrefix + "not base64!"
	_, err := client.SendMessage(t.Context(), &sqs.SendMessageInput{
		QueueUrl:    aws.String(queueURL),
		MessageBody: aws.String(body),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"count": {DataType: aws.String("Number"), StringValue: aws.String("42")},
			"kind":  {DataType: aws.String("String.custom"), StringValue: aws.String("resize")},
			"blob":  {DataType: aws.String("Binary"), BinaryValue: []byte{1, 2}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(t.Context(), queue.ReceiveOptions{WaitTime: 2 * time.Second})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Receive = %v, %v", msgs, err)
	}
	if string(msgs[0].Body) != body {
		t.Errorf("body %q, want %q as sent", msgs[0].Body, body)
	}
	if want := map[string]string{"count": "42", "kind": "resize"}; !maps.Equal(msgs[0].Attributes, want) {
		t.Errorf("attributes %v, want %v (Binary dropped)", msgs[0].Attributes, want)
	}
}

func TestSendChecks(t *testing.T) {
	t.Parallel()
	cfg := awstest.Config(t, "SQS")
	client := sqs.NewFromConfig(cfg)
	_, queueURL, _ := ensure(t, cfg, 0, time.Second)
	if _, err := client.SetQueueAttributes(t.Context(), &sqs.SetQueueAttributesInput{
		QueueUrl: aws.String(queueURL), Attributes: map[string]string{"MaximumMessageSize": "1024"},
	}); err != nil {
		t.Fatal(err)
	}
	q := open(t, cfg, queueURL, sqsqueue.Options{})
	tests := []struct {
		name  string
		body  []byte
		attrs map[string]string
		want  string
	}{
		{"NUL in an attribute value", []byte("x"), map[string]string{"k": "a\x00"}, "attribute"},
		{"invalid UTF-8 in an attribute value", []byte("x"), map[string]string{"k": "\xff"}, "attribute"},
		{"binary body over the queue's size once encoded", make([]byte, 800), nil, "MaximumMessageSize 1024"},
	}
	for _, tc := range tests {
		if _, err := q.Send(t.Context(), tc.body, queue.SendOptions{Attributes: tc.attrs}); !errors.Is(err, queue.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Send with %s = %v, want ErrInvalidArgument mentioning %q", tc.name, err, tc.want)
		}
	}
	if _, err := q.Send(t.Context(), make([]byte, 700), queue.SendOptions{}); err != nil {
		t.Errorf("Send of 700 binary bytes (936 encoded) = %v, want it to fit 1024", err)
	}
}

// TestReceiptErrors covers handles the server refuses: the driver's own
// check passes, SQS (or fauxqs) says the message is not in flight with it.
func TestReceiptErrors(t *testing.T) {
	t.Parallel()
	cfg := awstest.Config(t, "SQS")
	_, queueURL, _ := ensure(t, cfg, 0, 30*time.Second)
	q := open(t, cfg, queueURL, sqsqueue.Options{})
	if _, err := q.Send(t.Context(), []byte("x"), queue.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	first := receiveAll(t, q, 1)[0]
	if err := q.ChangeVisibility(t.Context(), first.ReceiptHandle, 0); err != nil {
		t.Fatal(err)
	}
	second := receiveAll(t, q, 1)[0]
	if err := q.ChangeVisibility(t.Context(), first.ReceiptHandle, 10*time.Second); !errors.Is(err, queue.ErrInvalidReceipt) {
		t.Errorf("ChangeVisibility(stale handle) = %v, want ErrInvalidReceipt", err)
	}
	if err := q.Delete(t.Context(), second.ReceiptHandle); err != nil {
		t.Fatal(err)
	}
	if err := q.ChangeVisibility(t.Context(), second.ReceiptHandle, 0); !errors.Is(err, queue.ErrInvalidReceipt) {
		t.Errorf("ChangeVisibility after Delete = %v, want ErrInvalidReceipt", err)
	}
	if err := q.Delete(t.Context(), second.ReceiptHandle); err != nil && !errors.Is(err, queue.ErrInvalidReceipt) {
		t.Errorf("second Delete = %v, want nil or ErrInvalidReceipt", err)
	}
}
