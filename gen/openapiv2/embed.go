// Package openapiv2 embeds the OpenAPI document generated from the protos
// (buf generate writes imagepipe.swagger.json beside this file).
package openapiv2

import _ "embed"

// JSON is the merged OpenAPI v2 document of every imagepipe REST route.
//
//go:embed imagepipe.swagger.json
var JSON []byte
