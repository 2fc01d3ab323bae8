package app

import (
	"slices"
	"testing"
)

// Every target builds exactly its modules and what they depend on, each
// once and after its dependencies, and every module has an init.
func TestOrder(t *testing.T) {
	cases := []struct {
		target string
		want   []string
	}{
		{TargetGateway, []string{Variants, Signer, Gateway}},
		{TargetIngest, []string{Tenants, Auth, Signer, GRPCServer, Presets, Originals, JobQueue, Records, Secrets, Ingest}},
		{TargetStatus, []string{Tenants, Auth, Signer, GRPCServer, Records, Status, JobQueue, Events, Deliveries, Admin, Secrets, Webhooks}},
		{TargetProcessor, []string{Tenants, Auth, Signer, GRPCServer, Presets, Originals, Variants, JobQueue, Events, Records, Processor}},
	}
	for _, c := range cases {
		t.Run(c.target, func(t *testing.T) {
			if got := order(c.target); !slices.Equal(got, c.want) {
				t.Errorf("order(%s) = %v, want %v", c.target, got, c.want)
			}
		})
	}
	for target := range targets {
		t.Run("deps first in "+target, func(t *testing.T) {
			got := order(target)
			for i, m := range got {
				if inits[m] == nil {
					t.Errorf("module %s has no init", m)
				}
				if slices.Contains(got[i+1:], m) {
					t.Errorf("module %s built twice", m)
				}
				for _, d := range deps[m] {
					if j := slices.Index(got, d); j < 0 || j > i {
						t.Errorf("%s built before its dependency %s", m, d)
					}
				}
			}
		})
	}
	// In "all" the gateway dials the gRPC services' own listener, so it comes
	// after every gRPC service.
	all := order(TargetAll)
	if all[len(all)-1] != Gateway {
		t.Errorf("all: gateway is not last: %v", all)
	}
}
