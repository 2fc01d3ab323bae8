package app

import "sort"

// Targets: what one process runs. Every module but the gateway is a gRPC
// service on the gRPC listener; the gateway is the HTTP listener.
const (
	TargetAll       = "all"
	TargetIngest    = "ingest"
	TargetProcessor = "processor"
	TargetStatus    = "status"
	TargetGateway   = "gateway"
)

type module int

const (
	modIngest module = iota
	modStatus
	modProcessor
	modGateway
	// modAdmin is AdminService: dead letters, retries, the delivery log.
	modAdmin
	// modWebhooks is the webhook dispatcher (no gRPC service of its own).
	modWebhooks
)

// targets declares, in one place, which modules each target runs.
var targets = map[string][]module{
	TargetAll:       {modIngest, modStatus, modAdmin, modWebhooks, modProcessor, modGateway},
	TargetIngest:    {modIngest},
	TargetStatus:    {modStatus, modAdmin, modWebhooks},
	TargetProcessor: {modProcessor},
	TargetGateway:   {modGateway},
}

// store needs per module. events and deliveries are opened only when
// webhooks are on; admin then replays deliveries through them.
type needs struct{ originals, variants, queue, records, events, deliveries bool }

var moduleNeeds = map[module]needs{
	modIngest:    {originals: true, queue: true, records: true},
	modStatus:    {records: true},
	modAdmin:     {queue: true, records: true, events: true, deliveries: true},
	modWebhooks:  {records: true, events: true, deliveries: true},
	modProcessor: {originals: true, variants: true, queue: true, records: true, events: true},
	modGateway:   {variants: true},
}

func (n needs) or(m needs) needs {
	return needs{
		originals: n.originals || m.originals, variants: n.variants || m.variants, queue: n.queue || m.queue,
		records: n.records || m.records, events: n.events || m.events, deliveries: n.deliveries || m.deliveries,
	}
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
