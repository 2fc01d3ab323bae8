package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

func init() {
	register("sign-url", "signed URLs of a private image's variants: [-variant NAME] [-expires 1h] [-json] IMAGE_ID", signURLCmd)
}

// Bounds of -expires, as the server's.
const (
	minURLExpiry = time.Second
	maxURLExpiry = 7 * 24 * time.Hour
)

func signURLCmd(fs *flag.FlagSet) func(stdout, stderr io.Writer) int {
	server := addServerFlags(fs)
	variant := fs.String("variant", "", "sign this variant's URL only, and print just the URL")
	expires := fs.Duration("expires", 0, "how long the URLs work, 1s..168h (default: the server's, IMAGEPIPE_SIGNED_URL_TTL, 1h)")
	asJSON := fs.Bool("json", false, "print the answer as JSON: {variants, expireTime}")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage: imagepipe sign-url [-variant NAME] [-expires DURATION] [-json] IMAGE_ID")
		fmt.Fprintln(w, "Prints the variants of a private image (upload -private) with URLs signed until the expiry: a table")
		fmt.Fprintln(w, "VARIANT, EXPIRES, URL, or with -variant just the URL. A public image's URLs need no signature and")
		fmt.Fprintln(w, "are printed as they are.")
		fs.PrintDefaults()
	}
	return clientCommand(fs, server, func(ctx context.Context, c *client, args []string, stdout, stderr io.Writer) (int, error) {
		id, err := oneID(args)
		if err != nil {
			return 0, err
		}
		if !isImageID(id) {
			return 0, usageError("%q is not an image id (a UUID)", id)
		}
		req := &pb.SignURLRequest{ImageId: id, Variant: *variant}
		if *expires != 0 {
			if *expires < minURLExpiry || *expires > maxURLExpiry {
				return 0, usageError("-expires %s: must be 1s..168h (7 days)", *expires)
			}
			req.ExpiresIn = durationpb.New(*expires)
		}
		resp, err := c.status.SignURL(ctx, req)
		if err != nil {
			return 0, err
		}
		if *asJSON {
			return 0, printProto(stdout, resp, true)
		}
		if resp.GetExpireTime() == nil {
			fmt.Fprintf(stderr, "imagepipe: image %s is public: its URLs are not signed and do not expire\n", id)
		}
		if *variant != "" && len(resp.GetVariants()) == 1 {
			fmt.Fprintln(stdout, resp.GetVariants()[0].GetUrl())
			return 0, nil
		}
		tw := newTable(stdout)
		fmt.Fprintln(tw, "VARIANT\tEXPIRES\tURL")
		for _, v := range resp.GetVariants() {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", v.GetName(), formatTime(v.GetUrlExpireTime()), v.GetUrl())
		}
		tw.Flush()
		return 0, nil
	})
}
