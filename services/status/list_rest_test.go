package status_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/records"
	"github.com/imagepipe/imagepipe/internal/testkit/apptest"
	"google.golang.org/protobuf/encoding/protojson"
)

// restServer runs a whole imagepipe process and returns its base URL,
// keys that read tenants a and b, the operator's key and the images of
// listTenants, written to its status store.
func restServer(t *testing.T) (base string, keys map[string]string, g gallery) {
	t.Helper()
	cfg := apptest.Config(t.TempDir())
	cfg.LogLevel = "info"
	srv := apptest.Start(t, cfg)
	ctx := context.Background()
	admin := pb.NewAdminServiceClient(srv.Conn(t))
	keys = map[string]string{records.DefaultTenant: srv.Token}
	for _, tenant := range []string{"a", "b"} {
		k, err := admin.CreateApiKey(ctx, &pb.CreateApiKeyRequest{Tenant: tenant, Scopes: []string{"read"}})
		if err != nil {
			t.Fatal(err)
		}
		keys[tenant] = k.GetSecret()
	}
	rs, err := records.Open(ctx, srv.App.Config().StatusURL)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	return srv.Base, keys, listTenants(t, rs)
}

// restGet GETs base+path with key and returns the status and body.
func restGet(t *testing.T, base, path, key string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// restList follows the pages of GET path (a query without page_token)
// and returns the ids listed.
func restList(t *testing.T, base, path, key string) []string {
	t.Helper()
	var ids []string
	token := ""
	for range 50 {
		p := path
		if token != "" {
			p += "&page_token=" + url.QueryEscape(token)
		}
		code, body := restGet(t, base, p, key)
		var resp pb.ListImagesResponse
		if code != http.StatusOK || protojson.Unmarshal(body, &resp) != nil {
			t.Fatalf("GET %s: %d %s", p, code, body)
		}
		for _, img := range resp.GetImages() {
			ids = append(ids, img.GetId())
		}
		if token = resp.GetNextPageToken(); token == "" {
			return ids
		}
	}
	t.Fatalf("GET %s: no end after 50 pages", path)
	return nil
}

// GET /v1/images (and /v1/batches/{batch_id}/images) over a whole process:
// the caller's tenant's images newest first, filtered, paged; the
// operator's tenant= parameter; errors naming the query parameter.
func TestListImagesREST(t *testing.T) {
	base, keys, g := restServer(t)
	for _, tc := range []struct {
		path, key, tenant, want string
	}{
		{"/v1/images?page_size=2", "a", "a", "/"},
		{"/v1/images?state=IMAGE_STATE_READY&page_size=1", "a", "a", "/IMAGE_STATE_READY"},
		{"/v1/images?batch_id=trip", "a", "a", "trip/"},
		{"/v1/batches/trip/images?state=IMAGE_STATE_READY", "a", "a", "trip/IMAGE_STATE_READY"},
		{"/v1/images?page_size=1", "b", "b", "/"},
		{"/v1/images?page_size=3", records.DefaultTenant, records.DefaultTenant, "/"},
		{"/v1/images?tenant=a&state=IMAGE_STATE_DELETED", records.DefaultTenant, "a", "/IMAGE_STATE_DELETED"},
		{"/v1/batches/trip/images?tenant=b&page_size=1", records.DefaultTenant, "b", "trip/"},
	} {
		want := g.newestFirst(tc.tenant, tc.want)
		if len(want) == 0 {
			t.Fatalf("%s: nothing stored to list", tc.path)
		}
		if got := restList(t, base, tc.path, keys[tc.key]); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("GET %s as %s:\n%v\nwant newest first\n%v", tc.path, tc.key, got, want)
		}
	}

	code, body := restGet(t, base, "/v1/images?state=IMAGE_STATE_READY&page_size=1", keys["a"])
	var first pb.ListImagesResponse
	if code != http.StatusOK || protojson.Unmarshal(body, &first) != nil || first.GetNextPageToken() == "" {
		t.Fatalf("first page of a's READY images: %d %s", code, body)
	}
	tok := url.QueryEscape(first.GetNextPageToken())
	for _, tc := range []struct {
		path, key string
		code      int
		field     string
	}{
		{"/v1/images?page_size=1001", "a", http.StatusBadRequest, "page_size"},
		{"/v1/images?state=IMAGE_STATE_READY&page_token=" + tok, "b", http.StatusBadRequest, "page_token"},
		{"/v1/images?state=IMAGE_STATE_FAILED&page_token=" + tok, "a", http.StatusBadRequest, "page_token"},
		{"/v1/images?tenant=b", "a", http.StatusForbidden, "tenant"},
	} {
		code, body := restGet(t, base, tc.path, keys[tc.key])
		var e struct {
			Error struct {
				Field string `json:"field"`
			} `json:"error"`
		}
		if code != tc.code || json.Unmarshal(body, &e) != nil || e.Error.Field != tc.field {
			t.Errorf("GET %s as %s: %d %s; want %d naming %s", tc.path, tc.key, code, body, tc.code, tc.field)
		}
	}
	// A state that is no ImageState's name or number is refused by the
	// gateway's query parser, whose message names the parameter.
	for _, bad := range []string{"READY", "7000"} {
		if code, body := restGet(t, base, "/v1/images?state="+bad, keys["a"]); code != http.StatusBadRequest || !strings.Contains(string(body), `\"state\"`) {
			t.Errorf("GET /v1/images?state=%s: %d %s; want 400 naming state", bad, code, body)
		}
	}
	if code, _ := restGet(t, base, "/v1/images", "not-a-key"); code != http.StatusUnauthorized {
		t.Errorf("GET /v1/images with a bad key: %d, want 401", code)
	}
}
