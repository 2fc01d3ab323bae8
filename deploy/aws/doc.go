// Package aws holds the Go side of the CDK app beside it (bin/, lib/,
// TypeScript): tests that read the synthesized template
// (cdk.out/Imagepipe.template.json, made by `make check-aws`) and compare it
// with the binary. The DynamoDB tables, SQS queues and their settings are
// defined once, by `imagepipe init` (internal/app/provision.go and the
// drivers' EnsureTable and Ensure); tables_test.go runs init against dynalite
// and fauxqs and fails when the stack's differ. env_test.go checks that every
// environment variable the stack sets on a container is one the binary reads.
package aws
