package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// writeTokenFile writes content to a file of its own and returns its path.
func writeTokenFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "admin.key")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkAuth fails unless every call carried exactly want as its
// authorization (none at all when want is empty), and there was a call.
func checkAuth(t *testing.T, name string, calls []fakeCall, want string) {
	t.Helper()
	if len(calls) == 0 {
		t.Errorf("%s: no call reached the server", name)
	}
	for _, c := range calls {
		switch {
		case want == "" && len(c.auth) > 0:
			t.Errorf("%s: %s sent authorization %q, want none", name, c.method, c.auth)
		case want != "" && !slices.Equal(c.auth, []string{want}):
			t.Errorf("%s: %s sent authorization %q, want %q", name, c.method, c.auth, want)
		}
	}
}

// The token comes from -token, IMAGEPIPE_TOKEN, -token-file or
// IMAGEPIPE_TOKEN_FILE (trimmed), a flag before the environment; without
// one no authorization is sent. Ambiguous or unusable tokens are usage
// errors that reach no server and never print the token.
func TestTokenSources(t *testing.T) {
	const tok = "ipk_k1_dG9rZW4tdG9rZW4tdG9rZW4"
	const other = "ipk_k2_b3RoZXItb3RoZXItb3RoZXI"
	for _, c := range []struct {
		name      string
		env       map[string]string
		file      string // content of a token file; "@file" in args and env is its path
		args      []string
		wantAuth  string // "" none
		wantCode  int
		wantError string
	}{
		{name: "none"},
		{name: "-token", args: []string{"-token", tok}, wantAuth: "Bearer " + tok},
		{name: "IMAGEPIPE_TOKEN", env: map[string]string{"IMAGEPIPE_TOKEN": tok}, wantAuth: "Bearer " + tok},
		{name: "-token-file trimmed", file: "\n " + tok + " \n", args: []string{"-token-file", "@file"}, wantAuth: "Bearer " + tok},
		{name: "IMAGEPIPE_TOKEN_FILE", file: tok + "\n", env: map[string]string{"IMAGEPIPE_TOKEN_FILE": "@file"}, wantAuth: "Bearer " + tok},
		{name: "-token before IMAGEPIPE_TOKEN", env: map[string]string{"IMAGEPIPE_TOKEN": other}, args: []string{"-token", tok}, wantAuth: "Bearer " + tok},
		{name: "-token before IMAGEPIPE_TOKEN_FILE", file: other, env: map[string]string{"IMAGEPIPE_TOKEN_FILE": "@file"}, args: []string{"-token", tok}, wantAuth: "Bearer " + tok},
		{name: "-token-file before IMAGEPIPE_TOKEN", file: tok, env: map[string]string{"IMAGEPIPE_TOKEN": other}, args: []string{"-token-file", "@file"}, wantAuth: "Bearer " + tok},
		{name: "empty -token sends none", env: map[string]string{"IMAGEPIPE_TOKEN": other}, args: []string{"-token="}},
		{name: "flag after the id", args: []string{fakeImageID, "-token", tok}, wantAuth: "Bearer " + tok},

		{name: "both flags", file: tok, args: []string{"-token", tok, "-token-file", "@file"}, wantCode: 2, wantError: "give -token or -token-file, not both"},
		{name: "both variables", file: tok, env: map[string]string{"IMAGEPIPE_TOKEN": tok, "IMAGEPIPE_TOKEN_FILE": "@file"}, wantCode: 2,
			wantError: "IMAGEPIPE_TOKEN and IMAGEPIPE_TOKEN_FILE are both set"},
		{name: "empty file", file: " \n", args: []string{"-token-file", "@file"}, wantCode: 2, wantError: "is empty"},
		{name: "missing file", args: []string{"-token-file", "/nonexistent/admin.key"}, wantCode: 2, wantError: "no such file"},
		{name: "Bearer prefix", env: map[string]string{"IMAGEPIPE_TOKEN": "Bearer " + tok}, wantCode: 2,
			wantError: "the token from IMAGEPIPE_TOKEN holds spaces or characters other than printable ASCII"},
		{name: "two lines in a file", file: tok + "\n" + other + "\n", args: []string{"-token-file", "@file"}, wantCode: 2, wantError: "holds spaces"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := startFake(t)
			path := ""
			if c.file != "" {
				path = writeTokenFile(t, c.file)
			}
			at := func(s string) string { return strings.ReplaceAll(s, "@file", path) }
			for k, v := range c.env {
				t.Setenv(k, at(v))
			}
			args := []string{"status"}
			for _, a := range c.args {
				args = append(args, at(a))
			}
			if !slices.Contains(args, fakeImageID) {
				args = append(args, fakeImageID)
			}
			code, stdout, stderr := runCLI(t, args...)
			if code != c.wantCode || !strings.Contains(stderr, c.wantError) {
				t.Fatalf("exit %d, stderr:\n%s\nwant %d and %q", code, stderr, c.wantCode, c.wantError)
			}
			for _, secret := range []string{tok, other} {
				if strings.Contains(stdout+stderr, secret) {
					t.Errorf("the token is printed:\n%s%s", stdout, stderr)
				}
			}
			calls := f.received()
			if c.wantCode != 0 {
				if len(calls) > 0 {
					t.Errorf("a usage error reached the server: %v", calls)
				}
				return
			}
			checkAuth(t, c.name, calls, c.wantAuth)
		})
	}
}

// Every command that calls a server sends the token on every call, and
// none without one; health never sends one.
func TestEveryClientCommandSendsToken(t *testing.T) {
	const tok = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJjaSJ9.c2ln"
	photo := writePNGs(t, t.TempDir(), 1)[0]
	calls := [][]string{
		{"status", fakeImageID},
		{"watch", fakeImageID},
		{"upload", "-wait", photo},
		{"upload", "-private", photo},
		{"retry", fakeImageID},
		{"dlq", "ls"},
		{"dlq", "redrive", "-all"},
		{"dlq", "purge", "m1"},
		{"keys", "create", "-scopes", "read"},
		{"keys", "ls", "-all"},
		{"keys", "revoke", fakeKeyID},
		{"delete", fakeImageID},
		{"delete", "-batch", "b1"},
		{"sign-url", fakeImageID},
		{"webhooks", "rotate-secret"},
		{"list", "-state", "ready"},
	}
	seen := map[string]bool{}
	for _, args := range calls {
		seen[args[0]] = true
		name := strings.Join(args, " ")
		t.Run(name, func(t *testing.T) {
			f := startFake(t)
			for _, token := range []string{tok, ""} {
				t.Setenv("IMAGEPIPE_TOKEN", token)
				code, stdout, stderr := runCLI(t, args...)
				if code != 0 {
					t.Fatalf("token %q: exit %d\n%s%s", token, code, stdout, stderr)
				}
				if strings.Contains(stdout+stderr, tok) {
					t.Errorf("the token is printed:\n%s%s", stdout, stderr)
				}
				want := ""
				if token != "" {
					want = "Bearer " + token
				}
				checkAuth(t, fmt.Sprintf("%s (token %q)", name, token), f.received(), want)
			}
		})
	}
	// A new client command belongs in the table above.
	for name, cmd := range commands {
		if !seen[name] && !slices.Contains([]string{"health", "init", "process"}, name) {
			t.Errorf("command %q (%s) is not checked", name, cmd.summary)
		}
	}

	f := startFake(t)
	t.Setenv("IMAGEPIPE_TOKEN", tok)
	if code, stdout, stderr := runCLI(t, "health", "-grpc", f.addr); code != 0 || strings.TrimSpace(stdout) != "SERVING" {
		t.Fatalf("health: exit %d\n%s%s", code, stdout, stderr)
	}
	checkAuth(t, "health", f.received(), "")
}

// An UNAUTHENTICATED answer is printed with a hint: to set a token when
// none was sent, that the one sent (named by where it came from, never
// shown) was refused otherwise. An upload stops calling the server once it
// was refused. Other errors get no hint.
func TestUnauthenticatedHint(t *testing.T) {
	const good, bad = "ipk_k1_Z29vZC1nb29kLWdvb2QtZ29vZA", "ipk_k1_YmFkLWJhZC1iYWQtYmFkLWJhZA"
	const hint = "set IMAGEPIPE_TOKEN (the operator's key is in $IMAGEPIPE_DATA_DIR/admin.key)"
	f := startFake(t)
	f.requireToken = good
	badFile := writeTokenFile(t, bad+"\n")
	photos := writePNGs(t, t.TempDir(), 3)
	for _, c := range []struct {
		args       []string
		want       []string
		wantCalls  int
		wantStdout bool
	}{
		{[]string{"status", fakeImageID}, []string{"imagepipe: this call needs credentials", "imagepipe: no token was sent: " + hint}, 1, false},
		{[]string{"dlq", "ls"}, []string{"imagepipe: no token was sent: " + hint}, 1, false},
		{[]string{"keys", "ls", "-token-file", badFile}, []string{"imagepipe: invalid API key or token",
			"imagepipe: the token from -token-file " + badFile + " was refused (revoked, expired or mistyped?): " + hint}, 1, false},
		{[]string{"status", "-token", bad, fakeImageID}, []string{"the token from -token was refused"}, 1, false},
		{append([]string{"upload", "-concurrency", "1"}, photos...), []string{"imagepipe: no token was sent: " + hint}, 1, true},
	} {
		code, stdout, stderr := runCLI(t, c.args...)
		if code != 1 {
			t.Errorf("%v: exit %d, want 1\n%s", c.args, code, stderr)
		}
		for _, w := range c.want {
			if strings.Count(stderr, w) != 1 {
				t.Errorf("%v: stderr lacks %q once:\n%s", c.args, w, stderr)
			}
		}
		if strings.Contains(stdout+stderr, bad) || strings.Contains(stdout+stderr, good) {
			t.Errorf("%v: a token is printed:\n%s%s", c.args, stdout, stderr)
		}
		if (stdout != "") != c.wantStdout {
			t.Errorf("%v: stdout %q", c.args, stdout)
		}
		if calls := f.received(); len(calls) != c.wantCalls {
			t.Errorf("%v: %d calls, want %d", c.args, len(calls), c.wantCalls)
		}
	}

	// Allowed in, refused by the method: no hint.
	f.on("ListApiKeys", func(proto.Message) (proto.Message, error) {
		return nil, status.Error(codes.PermissionDenied, "this call needs the admin scope")
	})
	code, _, stderr := runCLI(t, "keys", "ls", "-token", good)
	if code != 1 || strings.TrimSpace(stderr) != "imagepipe: this call needs the admin scope" {
		t.Errorf("permission denied: exit %d, stderr %q", code, stderr)
	}
}

// The credentials never print the token.
func TestBearerTokenRedacted(t *testing.T) {
	b := bearerToken{"ipk_k1_c2VjcmV0"}
	if s := fmt.Sprintf("%v %+v %#v %s", b, b, b, b); strings.Contains(s, "c2VjcmV0") {
		t.Errorf("printed: %s", s)
	}
	md, err := b.GetRequestMetadata(t.Context())
	if err != nil || md["authorization"] != "Bearer ipk_k1_c2VjcmV0" || len(md) != 1 || b.RequireTransportSecurity() {
		t.Errorf("metadata %v, %v; transport security %v", md, err, b.RequireTransportSecurity())
	}
}

// upload -private asks for private images; without it, the server's
// default. A private upload has its own idempotency key.
func TestUploadPrivate(t *testing.T) {
	f := startFake(t)
	photo := writePNGs(t, t.TempDir(), 1)[0]
	keys := map[pb.Visibility]string{}
	for _, c := range []struct {
		args []string
		want pb.Visibility
	}{
		{[]string{"upload", photo}, pb.Visibility_VISIBILITY_UNSPECIFIED},
		{[]string{"upload", "-private", photo}, pb.Visibility_VISIBILITY_PRIVATE},
	} {
		if code, _, stderr := runCLI(t, c.args...); code != 0 {
			t.Fatalf("%v: exit %d\n%s", c.args, code, stderr)
		}
		reqs := f.requests("Upload")
		if len(reqs) != 1 {
			t.Fatalf("%v: %d uploads", c.args, len(reqs))
		}
		md := reqs[0].(*pb.UploadMetadata)
		if md.GetVisibility() != c.want || md.GetFileName() != filepath.Base(photo) {
			t.Errorf("%v: visibility %v, file %q; want %v", c.args, md.GetVisibility(), md.GetFileName(), c.want)
		}
		keys[c.want] = md.GetIdempotencyKey()
		f.received()
	}
	if keys[pb.Visibility_VISIBILITY_PRIVATE] == keys[pb.Visibility_VISIBILITY_UNSPECIFIED] {
		t.Error("private and public uploads share an idempotency key")
	}
}
