// Package awstest connects tests to the AWS-compatible servers that
// scripts/servers.sh runs on loopback (MinIO, fauxqs, dynalite).
//
// `make test` starts the servers and sets IMAGEPIPE_REQUIRE_AWS=1, so a
// missing server fails the run; a plain `go test` without them skips the
// AWS tests with a message saying how to start them.
package awstest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// RequireEnv, when "1", turns a missing server into a test failure.
const RequireEnv = "IMAGEPIPE_REQUIRE_AWS"

var loadOnce sync.Once

// envFile is where scripts/servers.sh writes the servers' environment.
func envFile() string {
	if s := os.Getenv("IMAGEPIPE_SERVERS_STATE"); s != "" {
		return filepath.Join(s, "env")
	}
	return filepath.Join(os.TempDir(), "imagepipe-servers", "env")
}

// loadEnvFile sets every variable of the env file that is not set yet.
func loadEnvFile() {
	f, err := os.Open(envFile())
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export ")
		k, v, ok := strings.Cut(line, "=")
		if ok && os.Getenv(k) == "" {
			os.Setenv(k, v)
		}
	}
}

// Config returns an AWS config for the local servers, or skips the test
// (fails it under IMAGEPIPE_REQUIRE_AWS=1) when they are not running.
// service is "S3", "SQS" or "DYNAMODB": its AWS_ENDPOINT_URL_<service> must
// be set, so tests never reach real AWS.
func Config(t testing.TB, service string) aws.Config {
	t.Helper()
	loadOnce.Do(loadEnvFile)
	if os.Getenv("AWS_ENDPOINT_URL_"+service) == "" {
		msg := "no local " + service + " server: run scripts/servers.sh start (make test does)"
		if os.Getenv(RequireEnv) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Name returns a unique, lower-case name for a bucket, queue or table.
func Name(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}
