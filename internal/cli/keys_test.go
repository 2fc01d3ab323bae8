package cli

import (
	"io"
	"strings"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// usageCase is a usage mistake and what stderr must say about it.
type usageCase struct {
	args []string
	want string
}

// checkUsage runs usage mistakes against f: each must exit 2 with its
// message and the usage, print nothing on stdout, never echo a key and
// reach no server. Then each of helps must exit 0 with its usage, and
// imagepipe help must list the command.
func checkUsage(t *testing.T, f *fakeServer, cases []usageCase, helps [][]string) {
	t.Helper()
	for _, c := range cases {
		code, stdout, stderr := runCLI(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "usage:") || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr:\n%s\nwant 2, %q and the usage", c.args, code, stdout, stderr, c.want)
		}
		if strings.Contains(stderr, fakeSecret) {
			t.Errorf("%v: the key is echoed:\n%s", c.args, stderr)
		}
		if calls := f.received(); len(calls) > 0 {
			t.Errorf("%v: a usage error reached the server: %v", c.args, calls)
		}
	}
	for _, args := range helps {
		code, _, stderr := runCLI(t, args...)
		if code != 0 || !strings.Contains(stderr, "usage: imagepipe "+args[0]) {
			t.Errorf("%v: exit %d, stderr:\n%s", args, code, stderr)
		}
	}
	_, _, stderr := runCLI(t, "help")
	if !strings.Contains(stderr, "imagepipe "+helps[0][0]+" ...") || !strings.Contains(stderr, "-token or -token-file") {
		t.Errorf("imagepipe help lacks %s:\n%s", helps[0][0], stderr)
	}
}

// Usage mistakes of keys (bad scope names among them) exit 2 before any
// call; -h exits 0.
func TestKeysUsage(t *testing.T) {
	checkUsage(t, startFake(t), []usageCase{
		{[]string{"keys"}, "keys: missing subcommand"},
		{[]string{"keys", "frob"}, `keys: unknown subcommand "frob"`},
		{[]string{"keys", "create"}, "-scopes is required: a comma-separated list of upload, read, admin"},
		{[]string{"keys", "create", "-scopes", "upload,delete"}, `-scopes: unknown scope "delete" (want upload, read, admin)`},
		{[]string{"keys", "create", "-scopes", "Upload"}, `unknown scope "Upload"`},
		{[]string{"keys", "create", "-scopes", "upload,,read"}, `unknown scope ""`},
		{[]string{"keys", "create", "-scopes", "read", "-tenant", "Acme Inc"}, `-tenant "Acme Inc": must be 1..63 of [a-z0-9_-]`},
		{[]string{"keys", "create", "-scopes", "read", "-name", strings.Repeat("x", 201)}, "-name: at most 200 bytes"},
		{[]string{"keys", "create", "-scopes", "read", "extra"}, "create takes no arguments"},
		{[]string{"keys", "ls", "-all", "-tenant", "acme"}, "give -tenant or -all, not both"},
		{[]string{"keys", "ls", "-tenant", "*"}, `-tenant "*"`},
		{[]string{"keys", "ls", "acme"}, "ls takes no arguments"},
		{[]string{"keys", "revoke"}, "missing ID"},
		{[]string{"keys", "revoke", "a", "b"}, "want one ID, got 2 arguments"},
		{[]string{"keys", "revoke", fakeSecret}, "revoke takes the key's id (see imagepipe keys ls), not the key itself"},
	}, [][]string{{"keys", "-h"}, {"keys", "create", "-h"}, {"keys", "ls", "-h"}, {"keys", "revoke", "-h"}})
}

// setTerminal makes stdout count as a terminal (or not) until the test
// ends.
func setTerminal(t *testing.T, yes bool) {
	old := isTerminal
	isTerminal = func(io.Writer) bool { return yes }
	t.Cleanup(func() { isTerminal = old })
}

// keys create sends the tenant, scopes and name; it prints the key alone
// on stdout and its id on stderr, with a reminder on a terminal; -json
// prints the answer.
func TestKeysCreate(t *testing.T) {
	f := startFake(t)
	for _, c := range []struct {
		name       string
		args       []string
		terminal   bool
		wantReq    *pb.CreateApiKeyRequest
		wantStdout string
		wantStderr string
	}{
		{"piped", []string{"-tenant", "acme", "-scopes", "upload, read,upload", "-name", "ci"}, false,
			&pb.CreateApiKeyRequest{Tenant: "acme", Scopes: []string{"upload", "read"}, Name: "ci"},
			fakeSecret + "\n", "imagepipe: created key k7Qx2 for tenant acme (scopes upload,read)\n"},
		{"terminal", []string{"-scopes", "admin"}, true,
			&pb.CreateApiKeyRequest{Scopes: []string{"admin"}},
			fakeSecret + "\n", "imagepipe: created key k7Qx2 for tenant acme (scopes upload,read); store it now: it cannot be shown again\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			setTerminal(t, c.terminal)
			code, stdout, stderr := runCLI(t, append([]string{"keys", "create"}, c.args...)...)
			if code != 0 || stdout != c.wantStdout || stderr != c.wantStderr {
				t.Errorf("exit %d, stdout %q, stderr %q; want 0, %q, %q", code, stdout, stderr, c.wantStdout, c.wantStderr)
			}
			reqs := f.requests("CreateApiKey")
			if len(reqs) != 1 || !proto.Equal(reqs[0], c.wantReq) {
				t.Errorf("requests %v, want %v", reqs, c.wantReq)
			}
			f.received()
		})
	}

	code, stdout, _ := runCLI(t, "keys", "create", "-scopes", "read", "-json")
	var resp pb.CreateApiKeyResponse
	if err := protojson.Unmarshal([]byte(stdout), &resp); code != 0 || err != nil || resp.GetSecret() != fakeSecret || resp.GetKey().GetId() != fakeKeyID {
		t.Errorf("-json: exit %d, %v\n%s", code, err, stdout)
	}
}

// keys ls follows every page into one table (or one JSON document); -all
// asks for every tenant ("*").
func TestKeysList(t *testing.T) {
	f := startFake(t)
	k2 := &pb.ApiKey{Id: "Zz9", Tenant: "beta", Name: "two\tlines\nname", Scopes: []string{"admin"}, CreateTime: fakeTime,
		LastUseTime: fakeTime, RevokeTime: fakeTime}
	f.on("ListApiKeys", func(req proto.Message) (proto.Message, error) {
		if req.(*pb.ListApiKeysRequest).GetPageToken() == "" {
			return &pb.ListApiKeysResponse{Keys: []*pb.ApiKey{fakeKey()}, NextPageToken: "p2"}, nil
		}
		return &pb.ListApiKeysResponse{Keys: []*pb.ApiKey{k2}}, nil
	})
	for _, c := range []struct {
		args       []string
		wantTenant string
	}{
		{nil, ""},
		{[]string{"-tenant", "acme"}, "acme"},
		{[]string{"-all"}, "*"},
	} {
		code, stdout, stderr := runCLI(t, append([]string{"keys", "ls"}, c.args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s", c.args, code, stderr)
		}
		want := "ID     TENANT  SCOPES       NAME            CREATED                   LAST USED                 REVOKED\n" +
			"k7Qx2  acme    upload,read  ci              2026-12-05T10:00:00.000Z  -                         -\n" +
			"Zz9    beta    admin        two lines name  2026-12-05T10:00:00.000Z  2026-12-05T10:00:00.000Z  2026-12-05T10:00:00.000Z\n" +
			"2 keys, 1 revoked\n"
		if stdout != want {
			t.Errorf("%v: stdout\n%s\nwant\n%s", c.args, stdout, want)
		}
		reqs := f.requests("ListApiKeys")
		if len(reqs) != 2 || reqs[1].(*pb.ListApiKeysRequest).GetPageToken() != "p2" {
			t.Fatalf("%v: requests %v", c.args, reqs)
		}
		for _, r := range reqs {
			if r := r.(*pb.ListApiKeysRequest); r.GetTenant() != c.wantTenant || r.GetPageSize() != 1000 {
				t.Errorf("%v: request %v, want tenant %q", c.args, r, c.wantTenant)
			}
		}
		f.received()
	}

	code, stdout, _ := runCLI(t, "keys", "ls", "-json")
	var resp pb.ListApiKeysResponse
	if err := protojson.Unmarshal([]byte(stdout), &resp); code != 0 || err != nil {
		t.Fatalf("-json: exit %d, %v\n%s", code, err, stdout)
	}
	if want := (&pb.ListApiKeysResponse{Keys: []*pb.ApiKey{fakeKey(), k2}}); !proto.Equal(&resp, want) {
		t.Errorf("-json: %v, want %v", &resp, want)
	}
}

// keys revoke sends the id and says when the key was revoked; the
// server's errors are printed.
func TestKeysRevoke(t *testing.T) {
	f := startFake(t)
	code, stdout, stderr := runCLI(t, "keys", "revoke", fakeKeyID)
	if code != 0 || stdout != "revoked key k7Qx2 of tenant acme at 2026-12-05T10:00:00.000Z\n" || stderr != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if reqs := f.requests("RevokeApiKey"); len(reqs) != 1 || reqs[0].(*pb.RevokeApiKeyRequest).GetId() != fakeKeyID {
		t.Errorf("requests %v", reqs)
	}
	f.on("RevokeApiKey", func(proto.Message) (proto.Message, error) {
		return nil, status.Error(codes.NotFound, `API key "nope" not found`)
	})
	if code, _, stderr := runCLI(t, "keys", "revoke", "nope"); code != 1 || stderr != "imagepipe: API key \"nope\" not found\n" {
		t.Errorf("unknown key: exit %d, stderr %q", code, stderr)
	}
}
