package cli

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/imagepipe/imagepipe/internal/app"
	"gopkg.in/yaml.v3"
)

// There is no Docker engine where the tests run, so docker-compose.yml and
// the Dockerfile are kept honest by checking that everything they use
// exists in the project: services, subcommands, flags, environment
// variables and ports.

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Image       string            `yaml:"image"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = parent
	}
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// observers are the third-party services beside imagepipe's own
// (deploy/observability's test checks their configuration).
var observers = []string{"prometheus", "grafana", "jaeger"}

// checkArgs parses a service's command as the project's command line would.
func checkArgs(args []string) error {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, ok := commands[args[0]]
		if !ok {
			return errUnknownCommand(args[0])
		}
		return parseOnly(cmd, args[1:])
	}
	fs := flag.NewFlagSet("imagepipe", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Bool("config.verify", false, "")
	cfg, err := app.FromArgs(fs, args)
	if err != nil {
		return err
	}
	return app.Verify(cfg)
}

func TestComposeUsesOnlyWhatExists(t *testing.T) {
	c := loadCompose(t)
	targets := map[string]string{"status": "status", "ingest": "ingest", "processor": "processor", "gateway": "gateway"}
	for _, want := range []string{"localstack", "init", "status", "ingest", "processor", "gateway"} {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("service %q missing", want)
		}
	}
	for name, s := range c.Services {
		if name == "localstack" {
			if !strings.HasPrefix(s.Image, "localstack/localstack:") || s.Healthcheck == nil || s.Environment["SERVICES"] != "s3,sqs,dynamodb" {
				t.Errorf("localstack: image %q, health check %v, SERVICES %q", s.Image, s.Healthcheck != nil, s.Environment["SERVICES"])
			}
			continue
		}
		if slices.Contains(observers, name) {
			if s.Build != nil || s.Image == "" {
				t.Errorf("%s: want a published image, not a build", name)
			}
			continue
		}
		t.Run(name, func(t *testing.T) {
			if s.Build == nil || s.Build.Context != "." || s.Build.Dockerfile != "Dockerfile" {
				t.Errorf("not built from the project's Dockerfile")
			}
			if err := checkArgs(s.Command); err != nil {
				t.Errorf("command %q: %v", s.Command, err)
			}
			if tgt, ok := targets[name]; ok && !slices.Contains(s.Command, "-target="+tgt) {
				t.Errorf("command %q does not run target %s", s.Command, tgt)
			}
			for k := range s.Environment {
				if !app.ReadsEnv(k) {
					t.Errorf("environment variable %s is not one imagepipe reads", k)
				}
			}
			for dep := range s.DependsOn {
				if _, ok := c.Services[dep]; !ok {
					t.Errorf("depends on unknown service %q", dep)
				}
			}
			if name == "init" {
				return
			}
			if s.Healthcheck == nil || len(s.Healthcheck.Test) < 3 || s.Healthcheck.Test[0] != "CMD" || s.Healthcheck.Test[1] != "imagepipe" {
				t.Fatalf("health check %v: want [CMD imagepipe health ...]", s.Healthcheck)
			}
			if err := checkArgs(s.Healthcheck.Test[2:]); err != nil {
				t.Errorf("health check %q: %v", s.Healthcheck.Test, err)
			}
			// The health check probes the port the command listens on.
			hc := strings.Join(s.Healthcheck.Test, " ")
			for _, arg := range s.Command {
				if m := regexp.MustCompile(`^-(grpc|http)-addr=:(\d+)$`).FindStringSubmatch(arg); m != nil && !strings.Contains(hc, ":"+m[2]) {
					t.Errorf("listens on %s but the health check probes %q", arg, hc)
				}
			}
		})
	}
	gw := c.Services["gateway"]
	if !slices.Contains(gw.Ports, "8080:8080") {
		t.Errorf("gateway ports %v, want 8080:8080", gw.Ports)
	}
	for _, peer := range []string{"IMAGEPIPE_GATEWAY_INGEST_ADDR", "IMAGEPIPE_GATEWAY_STATUS_ADDR", "IMAGEPIPE_GATEWAY_PROCESSOR_ADDR"} {
		host, _, _ := strings.Cut(gw.Environment[peer], ":")
		if _, ok := c.Services[host]; !ok {
			t.Errorf("gateway %s=%q names no service", peer, gw.Environment[peer])
		}
	}
}

func TestDockerfileRuntimeStage(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	stages := bytes.Split(b, []byte("\nFROM "))
	if len(stages) < 2 {
		t.Fatal("Dockerfile is not multi-stage")
	}
	final := string(stages[len(stages)-1])
	if strings.Contains(final, "-dev") || strings.Contains(final, "golang") {
		t.Error("the final stage installs build tooling (-dev packages or Go)")
	}
	// The bundled libvips (scripts/libvips.sh) is one shared library that
	// the build stage copies out; HEIC needs Debian's libheif at run time.
	build := string(bytes.Join(stages[:len(stages)-1], nil))
	if !strings.Contains(build, "scripts/libvips.sh install") || !strings.Contains(build, "libvips-cpp.so") {
		t.Error("the build stage does not fetch the bundled libvips")
	}
	if !regexp.MustCompile(`(?m)^COPY --from=build /out/lib/ /usr/local/lib/\s*$`).MatchString(final) || !strings.Contains(final, "ldconfig") {
		t.Error("the final stage does not install the libvips runtime")
	}
	if !strings.Contains(final, "libheif1") {
		t.Error("the final stage does not install libheif (HEIC)")
	}
	user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindStringSubmatch(final)
	if user == nil || user[1] == "root" || user[1] == "0" {
		t.Errorf("final stage USER %v: want a non-root user", user)
	}
	if !strings.Contains(final, `ENTRYPOINT ["/usr/local/bin/imagepipe"]`) {
		t.Error("entrypoint is not the imagepipe binary")
	}
	if !bytes.Contains(bytes.Join(stages[:len(stages)-1], nil), []byte("go build")) || !bytes.Contains(b, []byte("./cmd/imagepipe")) {
		t.Error("the build stage does not build ./cmd/imagepipe")
	}
}
