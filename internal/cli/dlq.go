package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
)

func init() {
	register("dlq", "the job queue's dead-letter queue: ls [-max N] [-json] | redrive (ID...|-all) | purge (ID...|-all -yes)", groupCmd("dlq", dlqSubs))
	register("retry", "send FAILED images back to processing: IMAGE_ID... | -batch ID", retryCmd)
}

// dlqSubs are the subcommands of imagepipe dlq.
var dlqSubs = []subcommand{
	{name: "ls", synopsis: "[-max N] [-json]", about: "list dead-lettered jobs with their images", setup: dlqList},
	{name: "redrive", synopsis: "(MESSAGE_ID... | -all)", about: "move jobs back onto the job queue (FAILED images are processed again)", setup: dlqRedrive},
	{name: "purge", synopsis: "(MESSAGE_ID... | -all -yes)", about: "delete jobs", setup: dlqPurge},
}

func dlqList(fs *flag.FlagSet) clientFunc {
	max := fs.Int("max", 100, "list at most this many jobs (1..1000)")
	asJSON := fs.Bool("json", false, "print the answer as JSON")
	return func(ctx context.Context, c *client, args []string, stdout, stderr io.Writer) (int, error) {
		if len(args) > 0 {
			return 0, usageError("ls takes no arguments")
		}
		if *max < 1 || *max > 1000 {
			return 0, usageError("-max must be 1..1000")
		}
		resp, err := c.admin.ListDeadLetters(ctx, &pb.ListDeadLettersRequest{MaxMessages: int32(*max)})
		if err != nil {
			return 0, err
		}
		if *asJSON {
			return 0, printProto(stdout, resp, true)
		}
		tw := newTable(stdout)
		fmt.Fprintln(tw, "MESSAGE ID\tIMAGE ID\tRECEIVES\tSENT\tSTATE\tERROR")
		for _, d := range resp.GetDeadLetters() {
			state, code := "-", "-"
			if img := d.GetImage(); img != nil {
				state, code = stateName(img.GetState()), orDash(img.GetError().GetCode())
			}
			image := d.GetImageId()
			if image == "" {
				image = "(not a job: " + truncate(d.GetBody(), 40) + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", d.GetMessageId(), image, d.GetReceiveCount(), formatTime(d.GetSentTime()), state, code)
		}
		tw.Flush()
		fmt.Fprintf(stdout, "%d listed; about %d dead-lettered jobs\n", len(resp.GetDeadLetters()), resp.GetApproximateCount())
		return 0, nil
	}
}

// truncate cuts s to at most n runes.
func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// idsOrAll checks the (ID... | -all) arguments.
func idsOrAll(args []string, all bool) error {
	switch {
	case all && len(args) > 0:
		return usageError("give message ids or -all, not both")
	case !all && len(args) == 0:
		return usageError("give message ids or -all")
	}
	return nil
}

// printNotFound reports ids the server did not find; true if any.
func printNotFound(stderr io.Writer, what string, ids []string) bool {
	for _, id := range ids {
		fmt.Fprintf(stderr, "imagepipe: %s %q not found\n", what, id)
	}
	return len(ids) > 0
}

func dlqRedrive(fs *flag.FlagSet) clientFunc {
	all := fs.Bool("all", false, "redrive every dead-lettered job")
	return func(ctx context.Context, c *client, args []string, stdout, stderr io.Writer) (int, error) {
		if err := idsOrAll(args, *all); err != nil {
			return 0, err
		}
		resp, err := c.admin.RedriveDeadLetters(ctx, &pb.RedriveDeadLettersRequest{MessageIds: args, All: *all})
		if err != nil {
			return 0, err
		}
		for _, id := range resp.GetMessageIds() {
			fmt.Fprintln(stdout, "redriven", id)
		}
		for _, id := range resp.GetRetriedImageIds() {
			fmt.Fprintln(stdout, "retrying image", id)
		}
		fmt.Fprintf(stdout, "%s moved back to the job queue, %s sent back to processing\n",
			plural(len(resp.GetMessageIds()), "job"), plural(len(resp.GetRetriedImageIds()), "FAILED image"))
		if printNotFound(stderr, "dead letter", resp.GetNotFound()) {
			return 1, nil
		}
		return 0, nil
	}
}

func dlqPurge(fs *flag.FlagSet) clientFunc {
	all := fs.Bool("all", false, "delete every dead-lettered job (needs -yes)")
	yes := fs.Bool("yes", false, "confirm -all")
	return func(ctx context.Context, c *client, args []string, stdout, stderr io.Writer) (int, error) {
		if err := idsOrAll(args, *all); err != nil {
			return 0, err
		}
		if *all && !*yes {
			return 0, usageError("purge -all deletes every dead-lettered job: add -yes to confirm")
		}
		resp, err := c.admin.PurgeDeadLetters(ctx, &pb.PurgeDeadLettersRequest{MessageIds: args, All: *all})
		if err != nil {
			return 0, err
		}
		for _, id := range resp.GetMessageIds() {
			fmt.Fprintln(stdout, "purged", id)
		}
		fmt.Fprintf(stdout, "%s deleted\n", plural(len(resp.GetMessageIds()), "job"))
		if printNotFound(stderr, "dead letter", resp.GetNotFound()) {
			return 1, nil
		}
		return 0, nil
	}
}

func retryCmd(fs *flag.FlagSet) func(stdout, stderr io.Writer) int {
	server := addServerFlags(fs)
	batch := fs.String("batch", "", "retry every FAILED image of this batch")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage: imagepipe retry (IMAGE_ID... | -batch ID)")
		fmt.Fprintln(w, "Sends FAILED images back to processing with their original and spec.")
		fmt.Fprintln(w, "Exit status: 0 done, 1 some image not found or error, 2 bad usage.")
		fs.PrintDefaults()
	}
	return clientCommand(fs, server, func(ctx context.Context, c *client, args []string, stdout, stderr io.Writer) (int, error) {
		if err := imagesOrBatch(args, *batch); err != nil {
			return 0, err
		}
		resp, err := c.admin.RetryImages(ctx, &pb.RetryImagesRequest{ImageIds: args, BatchId: *batch})
		if err != nil {
			return 0, err
		}
		tw := newTable(stdout)
		fmt.Fprintln(tw, "IMAGE ID\tSTATE\tDETAIL")
		for _, img := range resp.GetImages() {
			fmt.Fprintf(tw, "%s\t%s\tretry %d\n", img.GetId(), stateName(img.GetState()), img.GetRetries())
		}
		notFound := 0
		for _, s := range resp.GetSkipped() {
			fmt.Fprintf(tw, "%s\t-\tskipped (%s)\n", s.GetImageId(), strings.ReplaceAll(s.GetReason(), "_", " "))
			if s.GetReason() == "not_found" {
				notFound++
			}
		}
		tw.Flush()
		fmt.Fprintf(stdout, "%s sent back to processing, %d skipped\n", plural(len(resp.GetImages()), "image"), len(resp.GetSkipped()))
		if notFound > 0 {
			return 1, nil
		}
		return 0, nil
	})
}
