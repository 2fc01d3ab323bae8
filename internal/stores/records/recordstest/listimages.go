package recordstest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/records"
)

// listAll follows q's pages to the end and returns the ids listed, newest
// first, and the number of pages; it fails the test on an error, a page
// larger than asked for, or more than maxPages pages.
func listAll(t *testing.T, s records.Store, q records.ListQuery, maxPages int) ([]string, int) {
	t.Helper()
	var ids []string
	for pages := 1; ; pages++ {
		page, err := s.ListImages(t.Context(), q)
		if err != nil {
			t.Fatalf("ListImages(%+v): %v", q, err)
		}
		if len(page.Records) > q.Size() {
			t.Fatalf("page of %d records, asked for %d", len(page.Records), q.Size())
		}
		for _, r := range page.Records {
			ids = append(ids, r.Image.GetId())
		}
		if page.NextPageToken == "" {
			return ids, pages
		}
		if pages == maxPages {
			t.Fatalf("ListImages(%+v): still a token after %d pages", q, pages)
		}
		q.PageToken = page.NextPageToken
	}
}

// newest returns ids newest first (ids are time-ordered).
func newest(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	slices.Reverse(out)
	return out
}

// testListImagesPages: a tenant's images newest first, a page at a time,
// across batches and without one; other tenants' images are not listed.
func testListImagesPages(t *testing.T, newStore NewStore) {
	s := newStore(t)
	var mine, theirs []string
	for i := range 23 {
		img := newImage(t, []string{"", "a", "b"}[i%3], "")
		create(t, s, img)
		mine = append(mine, img.Id)
		if i%4 == 0 {
			other := newImage(t, "a", "")
			other.Tenant = "acme"
			create(t, s, other)
			theirs = append(theirs, other.Id)
		}
	}
	for _, tenant := range []string{"", records.DefaultTenant} {
		got, pages := listAll(t, s, records.ListQuery{Tenant: tenant, PageSize: 10}, 10)
		if fmt.Sprint(got) != fmt.Sprint(newest(mine)) {
			t.Errorf("tenant %q listed\n%v\nwant newest first\n%v", tenant, got, newest(mine))
		}
		if pages != 3 {
			t.Errorf("tenant %q: %d pages of 10 for 23 images, want 3", tenant, pages)
		}
	}
	if got, _ := listAll(t, s, records.ListQuery{Tenant: "acme"}, 2); fmt.Sprint(got) != fmt.Sprint(newest(theirs)) {
		t.Errorf("acme listed %v, want %v", got, newest(theirs))
	}
	if got, _ := listAll(t, s, records.ListQuery{Tenant: "initech"}, 1); len(got) != 0 {
		t.Errorf("a tenant without images listed %v", got)
	}
	// A page exactly as large as what is left ends the listing.
	if got, pages := listAll(t, s, records.ListQuery{Tenant: "acme", PageSize: len(theirs)}, 2); len(got) != len(theirs) || pages != 1 {
		t.Errorf("one page of exactly %d: %d images in %d pages, want one page", len(theirs), len(got), pages)
	}
}

// testListImagesFilters: a state, a batch, or both; DELETED images only
// when asked for by their state.
func testListImagesFilters(t *testing.T, newStore NewStore) {
	s := newStore(t)
	want := map[string][]string{} // "batch/state" -> ids
	for i := range 18 {
		batch := []string{"", "a", "b"}[i%3]
		img := newImage(t, batch, "")
		img.State = []pb.ImageState{received, ready, failed, ready, deleted, processing}[i%6]
		create(t, s, img)
		keys := []string{"/" + img.State.String()}
		if img.State != deleted {
			keys = append(keys, "/")
		}
		if batch != "" {
			for _, k := range keys {
				keys = append(keys, batch+k)
			}
		}
		for _, k := range keys {
			want[k] = append(want[k], img.Id)
		}
	}
	delete(want, "/"+received.String()) // checked below with a batch too
	for _, c := range []struct {
		batch string
		state pb.ImageState
	}{
		{"", 0}, {"", ready}, {"", deleted}, {"", failed}, {"a", 0}, {"b", 0}, {"a", ready}, {"b", deleted}, {"a", received}, {"b", failed},
	} {
		q := records.ListQuery{BatchID: c.batch, State: c.state, PageSize: 2}
		key := c.batch + "/"
		if c.state != 0 {
			key += c.state.String()
		}
		got, _ := listAll(t, s, q, 20)
		if fmt.Sprint(got) != fmt.Sprint(newest(want[key])) {
			t.Errorf("batch %q, state %s: listed\n%v\nwant\n%v", c.batch, c.state, got, newest(want[key]))
		}
	}
	other := records.ListQuery{Tenant: "acme", BatchID: "a"}
	if got, _ := listAll(t, s, other, 1); len(got) != 0 {
		t.Errorf("another tenant's batch a listed %v", got)
	}
}

// testListImagesTokens: a token continues only the query, and tenant, it
// was made for.
func testListImagesTokens(t *testing.T, newStore NewStore) {
	s := newStore(t)
	for range 3 {
		img := newImage(t, "a", "")
		img.State = ready
		create(t, s, img)
	}
	q := records.ListQuery{BatchID: "a", State: ready, PageSize: 1}
	page, err := s.ListImages(t.Context(), q)
	if err != nil || page.NextPageToken == "" {
		t.Fatalf("first page: %v, token %q", err, page.NextPageToken)
	}
	tok := page.NextPageToken
	for name, other := range map[string]records.ListQuery{
		"another tenant": {Tenant: "acme", BatchID: "a", State: ready},
		"another batch":  {BatchID: "b", State: ready},
		"no batch":       {State: ready},
		"another state":  {BatchID: "a", State: failed},
		"no state":       {BatchID: "a"},
	} {
		other.PageToken = tok
		if _, err := s.ListImages(t.Context(), other); !errors.Is(err, records.ErrInvalidToken) {
			t.Errorf("%s: the token gives %v, want ErrInvalidToken", name, err)
		}
	}
	for _, bad := range []string{"not a token!", "e30", "eyJ2IjoyfQ"} { // {}, {"v":2}
		q.PageToken = bad
		if _, err := s.ListImages(t.Context(), q); !errors.Is(err, records.ErrInvalidToken) {
			t.Errorf("token %q: %v, want ErrInvalidToken", bad, err)
		}
	}
	// The default tenant's token is the same under both its names, and
	// another page size continues it.
	q = records.ListQuery{Tenant: records.DefaultTenant, BatchID: "a", State: ready, PageSize: 5, PageToken: tok}
	if next, err := s.ListImages(t.Context(), q); err != nil || len(next.Records) != 2 || next.NextPageToken != "" {
		t.Errorf("continued as %q with page size 5: %d records, token %q, %v; want the other 2", records.DefaultTenant, len(next.Records), next.NextPageToken, err)
	}
}

// testListImagesBounded: a call examines at most records.MaxListExamined
// records, so a filter that matches nothing among the newest ends a page
// empty, with a token that goes on to the older images.
func testListImagesBounded(t *testing.T, newStore NewStore) {
	s := newStore(t)
	old := newImage(t, "", "")
	old.State = ready
	create(t, s, old)
	imgs := make([]*pb.Image, records.MaxListExamined+5)
	for i := range imgs {
		imgs[i] = newImage(t, "", "")
		imgs[i].State = deleted
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < len(imgs); i += 8 {
				if _, err := s.Create(t.Context(), imgs[i]); err != nil {
					t.Errorf("Create: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	q := records.ListQuery{PageSize: 10}
	first, err := s.ListImages(t.Context(), q)
	if err != nil || len(first.Records) != 0 || first.NextPageToken == "" {
		t.Fatalf("first page: %d records, token %q, %v; want none and a token (%d deleted images examined at most)",
			len(first.Records), first.NextPageToken, err, records.MaxListExamined)
	}
	q.PageToken = first.NextPageToken
	second, err := s.ListImages(t.Context(), q)
	if err != nil || len(second.Records) != 1 || second.Records[0].Image.GetId() != old.Id || second.NextPageToken != "" {
		t.Fatalf("second page: %d records, token %q, %v; want only %s and no token", len(second.Records), second.NextPageToken, err, old.Id)
	}
	if got, _ := listAll(t, s, records.ListQuery{State: deleted, PageSize: records.MaxPageSize}, 3); len(got) != len(imgs) {
		t.Errorf("deleted images listed: %d, want %d", len(got), len(imgs))
	}
}
