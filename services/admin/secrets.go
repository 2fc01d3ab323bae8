package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/platform/apperr"
	"github.com/imagepipe/imagepipe/internal/stores/tenants"
	"github.com/imagepipe/imagepipe/services/webhooks"
)

// putTenantAttempts is how many read-modify-writes RotateWebhookSecret
// tries before giving up on a tenant others keep changing.
const putTenantAttempts = 5

// RotateWebhookSecret implements pb.AdminServiceServer: the tenant's
// secrets become [new, the previous newest] (just [new] with
// drop_previous, or when there was none). The tenant is read, changed and
// written back conditionally, again from the read when another write got
// there first. The secret is never logged nor echoed in an error.
func (s *Service) RotateWebhookSecret(ctx context.Context, req *pb.RotateWebhookSecretRequest) (*pb.RotateWebhookSecretResponse, error) {
	p, name, err := adminOf(ctx, req.GetTenant())
	if err != nil {
		return nil, err
	}
	secret := req.GetSecret()
	if secret == "" {
		secret = webhooks.GenerateSecret()
	} else if err := webhooks.ValidateSecret(secret); err != nil {
		return nil, apperr.InvalidField("secret", "must be %s followed by standard base64 (= padded) of %d..%d bytes; leave it empty to have one generated",
			webhooks.SecretPrefix, webhooks.MinSecretBytes, webhooks.MaxSecretBytes)
	}
	if s.Tenants == nil {
		return nil, errNoKeyStore()
	}
	for range putTenantAttempts {
		t, err := s.Tenants.GetTenant(ctx, name)
		switch {
		case errors.Is(err, tenants.ErrNotFound):
			t = tenants.Tenant{Name: name} // version 0: created by the put
		case err != nil:
			return nil, apperr.Unavailable(err)
		}
		secrets := []string{secret}
		if prev := t.WebhookSecrets; !req.GetDropPrevious() && len(prev) > 0 && prev[0] != secret {
			secrets = append(secrets, prev[0])
		}
		t.WebhookSecrets = secrets
		t.UpdateTime = time.Now().UTC()
		t, err = s.Tenants.PutTenant(ctx, t)
		if errors.Is(err, tenants.ErrConflict) {
			continue // changed since read: read it again
		}
		if err != nil {
			return nil, apperr.Unavailable(err)
		}
		s.Log.InfoContext(ctx, "webhook secret rotated", "tenant", name, "valid_secrets", len(t.WebhookSecrets),
			"generated", req.GetSecret() == "", "by", caller(p))
		return &pb.RotateWebhookSecretResponse{Secret: secret, ValidSecrets: int32(len(t.WebhookSecrets))}, nil
	}
	return nil, apperr.Unavailable(fmt.Errorf("rotating tenant %s's webhook secret: %d writes in a row conflicted", name, putTenantAttempts))
}
