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
)

// targets declares, in one place, which modules each target runs.
var targets = map[string][]module{
	TargetAll:       {modIngest, modStatus, modProcessor, modGateway},
	TargetIngest:    {modIngest},
	TargetStatus:    {modStatus},
	TargetProcessor: {modProcessor},
	TargetGateway:   {modGateway},
}

// store needs per module.
type needs struct{ originals, variants, queue, records bool }

var moduleNeeds = map[module]needs{
	modIngest:    {originals: true, queue: true, records: true},
	modStatus:    {records: true},
	modProcessor: {originals: true, variants: true, queue: true, records: true},
	modGateway:   {variants: true},
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
