package cli

import (
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"google.golang.org/protobuf/proto"
)

// Usage mistakes of webhooks exit 2 before any call; -h exits 0.
func TestWebhooksUsage(t *testing.T) {
	checkUsage(t, startFake(t), []usageCase{
		{[]string{"webhooks"}, "webhooks: missing subcommand"},
		{[]string{"webhooks", "rotate"}, `unknown subcommand "rotate"`},
		{[]string{"webhooks", "rotate-secret", "acme"}, "rotate-secret takes no arguments"},
		{[]string{"webhooks", "rotate-secret", "-tenant", "-x"}, `-tenant "-x"`},
	}, [][]string{{"webhooks", "-h"}, {"webhooks", "rotate-secret", "-h"}})
}

// webhooks rotate-secret sends the tenant and -drop-previous and prints
// the new secret alone on stdout, what became of the previous one on
// stderr.
func TestWebhooksRotateSecret(t *testing.T) {
	f := startFake(t)
	for _, c := range []struct {
		args       []string
		terminal   bool
		valid      int32
		wantReq    *pb.RotateWebhookSecretRequest
		wantStderr string
	}{
		{nil, false, 2, &pb.RotateWebhookSecretRequest{},
			"imagepipe: new webhook signing secret for your tenant; deliveries are signed with it and the previous one until the next rotation\n"},
		{[]string{"-tenant", "acme", "-drop-previous"}, true, 1, &pb.RotateWebhookSecretRequest{Tenant: "acme", DropPrevious: true},
			"imagepipe: new webhook signing secret for tenant acme; deliveries are signed with the new secret only; store it now: it cannot be shown again\n"},
	} {
		setTerminal(t, c.terminal)
		f.on("RotateWebhookSecret", func(proto.Message) (proto.Message, error) {
			return &pb.RotateWebhookSecretResponse{Secret: "whsec_c2VjcmV0", ValidSecrets: c.valid}, nil
		})
		code, stdout, stderr := runCLI(t, append([]string{"webhooks", "rotate-secret"}, c.args...)...)
		if code != 0 || stdout != "whsec_c2VjcmV0\n" || stderr != c.wantStderr {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %q", c.args, code, stdout, stderr, c.wantStderr)
		}
		if reqs := f.requests("RotateWebhookSecret"); len(reqs) != 1 || !proto.Equal(reqs[0], c.wantReq) {
			t.Errorf("%v: requests %v, want %v", c.args, reqs, c.wantReq)
		}
		f.received()
	}
}
