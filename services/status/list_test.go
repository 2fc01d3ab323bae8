package status_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/auth"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"google.golang.org/grpc/codes"
)

// gallery is what listTenants stored: each tenant's image ids, oldest
// first, by "batch/state" ("" for any batch; state "" for every state but
// DELETED).
type gallery map[string]map[string][]string

// newestFirst returns the ids of tenant under key, newest first.
func (g gallery) newestFirst(tenant, key string) []string {
	ids := slices.Clone(g[tenant][key])
	slices.Reverse(ids)
	return ids
}

// listTenants stores images of tenants a and b (and the operator's
// tenant, default) in several batches and states.
func listTenants(t *testing.T, rs records.Store) gallery {
	t.Helper()
	g := gallery{}
	states := []pb.ImageState{ready, failed, queued, ready, pb.ImageState_IMAGE_STATE_DELETED}
	for i := range 15 {
		tenant := []string{"a", "a", "b", records.DefaultTenant}[i%4]
		batch := []string{"", "trip", "home"}[i%3]
		st := states[i%len(states)]
		id := create(t, rs, &pb.Image{Tenant: tenant, BatchId: batch, State: st})
		if g[tenant] == nil {
			g[tenant] = map[string][]string{}
		}
		keys := []string{"/" + st.String()}
		if st != pb.ImageState_IMAGE_STATE_DELETED {
			keys = append(keys, "/")
		}
		if batch != "" {
			for _, k := range keys {
				keys = append(keys, batch+k)
			}
		}
		for _, k := range keys {
			g[tenant][k] = append(g[tenant][k], id)
		}
	}
	return g
}

// listPages follows req's pages as ctx's caller and returns the ids
// listed and the number of pages.
func listPages(t *testing.T, ctx context.Context, c pb.StatusServiceClient, req *pb.ListImagesRequest) ([]string, int) {
	t.Helper()
	var ids []string
	for pages := 1; pages <= 50; pages++ {
		resp, err := c.ListImages(ctx, req)
		if err != nil {
			t.Fatalf("ListImages(%v): %v", req, err)
		}
		for _, img := range resp.GetImages() {
			ids = append(ids, img.GetId())
		}
		if resp.GetNextPageToken() == "" {
			return ids, pages
		}
		req.PageToken = resp.GetNextPageToken()
	}
	t.Fatalf("ListImages(%v): no end after 50 pages", req)
	return nil, 0
}

// ListImages lists the caller's tenant's images newest first, filtered by
// state and batch, a page at a time; another tenant's are never listed;
// the operator names a tenant.
func TestListImages(t *testing.T) {
	c, rs := serve(t, 10*time.Millisecond)
	g := listTenants(t, rs)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	asA, asB := as(ctx, "a", auth.ScopeRead), as(ctx, "b", auth.ScopeRead)
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		req    *pb.ListImagesRequest
		tenant string // whose images
		key    string
	}{
		{"a: every image", asA, &pb.ListImagesRequest{}, "a", "/"},
		{"a: pages of 2", asA, &pb.ListImagesRequest{PageSize: 2}, "a", "/"},
		{"a: READY", asA, &pb.ListImagesRequest{State: ready, PageSize: 1}, "a", "/" + ready.String()},
		{"a: DELETED", asA, &pb.ListImagesRequest{State: pb.ImageState_IMAGE_STATE_DELETED}, "a", "/" + pb.ImageState_IMAGE_STATE_DELETED.String()},
		{"a: batch trip", asA, &pb.ListImagesRequest{BatchId: "trip"}, "a", "trip/"},
		{"a: batch trip, READY", asA, &pb.ListImagesRequest{BatchId: "trip", State: ready}, "a", "trip/" + ready.String()},
		{"b: every image", asB, &pb.ListImagesRequest{PageSize: 1}, "b", "/"},
		{"b: names itself", asB, &pb.ListImagesRequest{Tenant: "b"}, "b", "/"},
		{"operator: its own", operator(ctx), &pb.ListImagesRequest{}, records.DefaultTenant, "/"},
		{"operator: a's QUEUED", operator(ctx), &pb.ListImagesRequest{Tenant: "a", State: queued}, "a", "/" + queued.String()},
		{"operator: b's batch trip", operator(ctx), &pb.ListImagesRequest{Tenant: "b", BatchId: "trip"}, "b", "trip/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			size := int(tc.req.PageSize)
			got, pages := listPages(t, tc.ctx, c, tc.req)
			want := g.newestFirst(tc.tenant, tc.key)
			if len(want) == 0 {
				t.Fatalf("no images stored for %s %s: the test lists nothing", tc.tenant, tc.key)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("listed\n%v\nwant newest first\n%v", got, want)
			}
			if size > 0 && pages != (len(want)+size-1)/size {
				t.Errorf("%d pages of %d for %d images", pages, size, len(want))
			}
		})
	}
	if l, err := c.ListImages(as(ctx, "c", auth.ScopeRead), &pb.ListImagesRequest{}); err != nil || len(l.GetImages()) != 0 {
		t.Errorf("a tenant without images: %v, %v; want none", l, err)
	}
}

// ListImages' errors name the field at fault; a page token continues only
// the request, and the tenant, it came from.
func TestListImagesErrors(t *testing.T) {
	c, rs := serve(t, 10*time.Millisecond)
	listTenants(t, rs)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	asA := as(ctx, "a", auth.ScopeRead)
	first, err := c.ListImages(asA, &pb.ListImagesRequest{State: ready, PageSize: 1})
	if err != nil || first.GetNextPageToken() == "" {
		t.Fatalf("first page: %v, %v; want a token", first, err)
	}
	tok := first.GetNextPageToken()
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		req   *pb.ListImagesRequest
		code  codes.Code
		field string
	}{
		{"page_size too large", asA, &pb.ListImagesRequest{PageSize: 1001}, codes.InvalidArgument, "page_size"},
		{"page_size negative", asA, &pb.ListImagesRequest{PageSize: -1}, codes.InvalidArgument, "page_size"},
		{"unknown state", asA, &pb.ListImagesRequest{State: 99}, codes.InvalidArgument, "state"},
		{"batch_id too long", asA, &pb.ListImagesRequest{BatchId: string(make([]byte, 300))}, codes.InvalidArgument, "batch_id"},
		{"not a token", asA, &pb.ListImagesRequest{PageToken: "x!"}, codes.InvalidArgument, "page_token"},
		{"the token of another state", asA, &pb.ListImagesRequest{State: failed, PageToken: tok}, codes.InvalidArgument, "page_token"},
		{"the token without its state", asA, &pb.ListImagesRequest{PageToken: tok}, codes.InvalidArgument, "page_token"},
		{"the token with a batch", asA, &pb.ListImagesRequest{State: ready, BatchId: "trip", PageToken: tok}, codes.InvalidArgument, "page_token"},
		{"the token of another tenant", as(ctx, "b", auth.ScopeRead), &pb.ListImagesRequest{State: ready, PageToken: tok}, codes.InvalidArgument, "page_token"},
		{"the operator with a's token for its own", operator(ctx), &pb.ListImagesRequest{State: ready, PageToken: tok}, codes.InvalidArgument, "page_token"},
		{"another tenant named", asA, &pb.ListImagesRequest{Tenant: "b"}, codes.PermissionDenied, "tenant"},
		{"without the read scope", as(ctx, "a", auth.ScopeUpload), &pb.ListImagesRequest{}, codes.PermissionDenied, ""},
	} {
		_, err := c.ListImages(tc.ctx, tc.req)
		wantCode(t, tc.name, err, tc.code, tc.field)
	}
	// The operator may go on with a's token for a's listing.
	if _, err := c.ListImages(operator(ctx), &pb.ListImagesRequest{Tenant: "a", State: ready, PageToken: tok}); err != nil {
		t.Errorf("operator continuing a's listing: %v", err)
	}
}
