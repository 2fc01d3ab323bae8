package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/imagepipe/imagepipe/services/gateway"
)

const authOffWarning = "authentication is off (IMAGEPIPE_AUTH=off): anyone who can reach this server can use it"

// With authentication off, /healthz says so, and the log said so once.
func TestHealthzAuthOff(t *testing.T) {
	for _, off := range []bool{false, true} {
		cfg := gateway.DefaultConfig()
		cfg.AuthOff = off
		e := newEnv(t, envOptions{cfg: cfg})
		for range 2 {
			// No credential: load balancers send none.
			resp := e.do(t, context.Background(), "GET", "/healthz", http.Header{"Authorization": {""}}, nil)
			var body struct {
				OK       bool              `json:"ok"`
				Services map[string]string `json:"services"`
				Warning  *string           `json:"warning"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || !body.OK || len(body.Services) != 3 {
				t.Fatalf("auth off %v: %d %+v %v", off, resp.StatusCode, body, err)
			}
			if off != (body.Warning != nil) || (off && *body.Warning != authOffWarning) {
				t.Errorf("auth off %v: warning %v", off, body.Warning)
			}
		}
		if n := strings.Count(e.log.String(), authOffWarning); n != map[bool]int{false: 0, true: 1}[off] {
			t.Errorf("auth off %v: logged %d times:\n%s", off, n, e.log)
		}
	}
}
