package cli

import (
	"context"
	"flag"
	"fmt"
	"io"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
)

func init() {
	register("webhooks", "webhook signing secrets: rotate-secret [-tenant NAME] [-drop-previous]", groupCmd("webhooks", webhooksSubs))
}

// webhooksSubs are the subcommands of imagepipe webhooks.
var webhooksSubs = []subcommand{
	{name: "rotate-secret", synopsis: "[-tenant NAME] [-drop-previous]", about: "set a new signing secret; it is printed once", setup: webhooksRotateSecret,
		help: []string{
			"Sets a new webhook signing secret, made up by the server, and prints it on stdout alone on its line:",
			"it is shown this once. Deliveries carry a signature for the new secret and, until the next rotation",
			"or -drop-previous, for the previous one too, so that receivers can switch over.",
		}},
}

func webhooksRotateSecret(fs *flag.FlagSet) clientFunc {
	tenant := fs.String("tenant", "", "the tenant whose secret to rotate (default: the caller's; only the operator may name another)")
	dropPrevious := fs.Bool("drop-previous", false, "stop signing with the previous secret now, instead of keeping it beside the new one")
	return func(ctx context.Context, c *client, args []string, stdout, stderr io.Writer) (int, error) {
		if err := noArgs("rotate-secret", args); err != nil {
			return 0, err
		}
		if err := checkTenant(*tenant); err != nil {
			return 0, err
		}
		resp, err := c.admin.RotateWebhookSecret(ctx, &pb.RotateWebhookSecretRequest{Tenant: *tenant, DropPrevious: *dropPrevious})
		if err != nil {
			return 0, err
		}
		who := "your tenant"
		if *tenant != "" {
			who = "tenant " + *tenant
		}
		about := fmt.Sprintf("new webhook signing secret for %s; deliveries are signed with the new secret only", who)
		if resp.GetValidSecrets() > 1 {
			about = fmt.Sprintf("new webhook signing secret for %s; deliveries are signed with it and the previous one until the next rotation", who)
		}
		printSecret(stdout, stderr, resp.GetSecret(), about)
		return 0, nil
	}
}
