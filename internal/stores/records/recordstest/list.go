package recordstest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/imagepipe/imagepipe/internal/stores/records"
)

func testListByBatchPages(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := t.Context()
	var want []string
	for i := range 25 {
		img := newImage(t, "batch-a", "")
		create(t, s, img)
		want = append(want, img.Id)
		if i%5 == 0 {
			create(t, s, newImage(t, "batch-b", ""))
			create(t, s, newImage(t, "", ""))
		}
	}
	var got []string
	token, pages := "", 0
	for {
		page, err := s.ListByBatch(ctx, "", "batch-a", 10, token)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page.Records) > 10 {
			t.Fatalf("page of %d records, asked for 10", len(page.Records))
		}
		for _, r := range page.Records {
			got = append(got, r.Image.GetId())
		}
		if page.NextPageToken == "" {
			break
		}
		token = page.NextPageToken
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("listed\n%v\nwant (id order)\n%v", got, want)
	}
	if pages != 3 {
		t.Errorf("%d pages, want 3", pages)
	}
	empty, err := s.ListByBatch(ctx, "", "no-such-batch", 10, "")
	if err != nil || len(empty.Records) != 0 || empty.NextPageToken != "" {
		t.Errorf("unknown batch: %d records, token %q, err %v", len(empty.Records), empty.NextPageToken, err)
	}
	if _, err := s.ListByBatch(ctx, "", "batch-a", 10, "not a token!"); !errors.Is(err, records.ErrInvalidToken) {
		t.Errorf("bad token = %v, want ErrInvalidToken", err)
	}
}
