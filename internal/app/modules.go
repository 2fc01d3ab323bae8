package app

import (
	"context"
	"slices"
	"sort"
)

// Targets: what one process runs (-target).
const (
	TargetAll       = "all"
	TargetIngest    = "ingest"
	TargetProcessor = "processor"
	TargetStatus    = "status"
	TargetGateway   = "gateway"
)

// Modules. The first six are the services a target runs, one folder each
// under services/; the rest are what they share, each built once per
// process however many modules need it.
const (
	Ingest    = "ingest"    // IngestService
	Processor = "processor" // ProcessorService and the worker pool
	Status    = "status"    // StatusService
	Admin     = "admin"     // AdminService: dead letters, retries, the delivery log
	Webhooks  = "webhooks"  // the webhook dispatcher (no gRPC service of its own)
	Gateway   = "gateway"   // REST over the gRPC services, on the HTTP listener

	GRPCServer = "grpc-server" // the gRPC listener with health and reflection
	Presets    = "presets"     // built-in presets and the presets file
	Originals  = "originals"   // private originals store
	Variants   = "variants"    // public variants store
	JobQueue   = "queue"       // job queue (and its dead-letter queue)
	Records    = "records"     // status store
	Events     = "events"      // webhooks' events queue (only with webhooks on)
	Deliveries = "deliveries"  // webhook delivery log (only with webhooks on)
	Tenants    = "tenants"     // API keys and tenant settings, beside the status store
	Auth       = "auth"        // the authenticator every gRPC call goes through
	Signer     = "signer"      // signs and checks private images' URLs
	Secrets    = "secrets"     // each tenant's webhook signing secrets
)

// targets declares which modules each target runs.
var targets = map[string][]string{
	TargetAll:       {Ingest, Status, Admin, Webhooks, Processor, Gateway},
	TargetIngest:    {Ingest},
	TargetStatus:    {Status, Admin, Webhooks},
	TargetProcessor: {Processor},
	TargetGateway:   {Gateway},
}

// deps declares what each module needs built before it.
var deps = map[string][]string{
	Ingest:    {GRPCServer, Presets, Originals, JobQueue, Records, Secrets},
	Status:    {GRPCServer, Records, Signer},
	Admin:     {GRPCServer, JobQueue, Records, Events, Deliveries, Tenants},
	Webhooks:  {Records, Events, Deliveries, Secrets, Signer},
	Processor: {GRPCServer, Presets, Originals, Variants, JobQueue, Events, Records},
	Gateway:   {Variants, Signer},

	GRPCServer: {Auth, Signer},
	Auth:       {Tenants},
	Secrets:    {Tenants},
}

// inits builds each module; adding a module is a constant, its deps, its
// place in targets and one init function here.
var inits = map[string]func(*App, context.Context) error{
	GRPCServer: (*App).initGRPCServer,
	Presets:    (*App).initPresets,
	Originals:  (*App).initOriginals,
	Variants:   (*App).initVariants,
	JobQueue:   (*App).initJobQueue,
	Records:    (*App).initRecords,
	Events:     (*App).initEvents,
	Deliveries: (*App).initDeliveries,
	Tenants:    (*App).initTenants,
	Auth:       (*App).initAuth,
	Signer:     (*App).initSigner,
	Secrets:    (*App).initSecrets,
	Ingest:     (*App).initIngest,
	Status:     (*App).initStatus,
	Admin:      (*App).initAdmin,
	Webhooks:   (*App).initWebhooks,
	Processor:  (*App).initProcessor,
	Gateway:    (*App).initGateway,
}

// order lists the modules a target builds, each after its dependencies and
// otherwise in the target's order (so in "all" the gateway comes after the
// services whose listener it dials).
func order(target string) []string {
	var out []string
	var visit func(m string)
	visit = func(m string) {
		if slices.Contains(out, m) {
			return
		}
		for _, d := range deps[m] {
			visit(d)
		}
		out = append(out, m)
	}
	for _, m := range targets[target] {
		visit(m)
	}
	return out
}

// TargetNames lists the targets.
func TargetNames() []string {
	names := make([]string, 0, len(targets))
	for t := range targets {
		names = append(names, t)
	}
	sort.Strings(names)
	return names
}
