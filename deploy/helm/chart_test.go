package helm_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/imagepipe/imagepipe/internal/app"
)

// The chart is rendered with the helm binary scripts/tools.sh pins (built
// once, then cached; `make check-helm` builds it before `make test` runs
// the tests), or the one IMAGEPIPE_HELM names.

const chart = "imagepipe"

var helmPath = sync.OnceValues(func() (string, error) {
	if p := os.Getenv("IMAGEPIPE_HELM"); p != "" {
		return p, nil
	}
	out, err := exec.Command("../../scripts/tools.sh", "helm").Output()
	if err != nil {
		return "", fmt.Errorf("scripts/tools.sh helm: %w", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "helm"), nil
})

// render runs helm template on the chart with a values file and --set
// overrides; the error carries helm's message.
func render(t *testing.T, values string, set ...string) ([]object, error) {
	t.Helper()
	helm, err := helmPath()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"template", "imagepipe", chart, "--namespace", "imagepipe", "-f", filepath.Join(chart, values)}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	cmd := exec.Command(helm, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("helm template: %w: %s", err, stderr.String())
	}
	return parse(t, stdout.Bytes()), nil
}

// object is one rendered document: its kind and name, the rest kept to
// decode into the type of its kind.
type object struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name        string            `yaml:"name"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	node yaml.Node
}

func parse(t *testing.T, out []byte) []object {
	t.Helper()
	var objs []object
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("rendered YAML: %v", err)
		}
		if len(n.Content) == 0 || n.Content[0].Kind != yaml.MappingNode {
			continue // an empty document
		}
		var o object
		if err := n.Decode(&o); err != nil {
			t.Fatalf("rendered object: %v", err)
		}
		o.node = n
		objs = append(objs, o)
	}
}

func (o object) into(t *testing.T, v any) {
	t.Helper()
	if err := o.node.Decode(v); err != nil {
		t.Fatalf("%s %s: %v", o.Kind, o.Metadata.Name, err)
	}
}

type selector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type deployment struct {
	Spec struct {
		Replicas *int     `yaml:"replicas"`
		Selector selector `yaml:"selector"`
		Strategy struct {
			Type string `yaml:"type"`
		} `yaml:"strategy"`
		Template struct {
			Metadata struct {
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	ServiceAccountName string `yaml:"serviceAccountName"`
	SecurityContext    struct {
		RunAsNonRoot *bool `yaml:"runAsNonRoot"`
		RunAsUser    *int  `yaml:"runAsUser"`
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
	Volumes    []struct {
		Name                  string    `yaml:"name"`
		EmptyDir              *struct{} `yaml:"emptyDir"`
		PersistentVolumeClaim *struct {
			ClaimName string `yaml:"claimName"`
		} `yaml:"persistentVolumeClaim"`
	} `yaml:"volumes"`
}

type container struct {
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env            []envVar `yaml:"env"`
	StartupProbe   *probe   `yaml:"startupProbe"`
	LivenessProbe  *probe   `yaml:"livenessProbe"`
	ReadinessProbe *probe   `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []volumeMount `yaml:"volumeMounts"`
}

type volumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
}

type envVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		SecretKeyRef *struct {
			Name string `yaml:"name"`
			Key  string `yaml:"key"`
		} `yaml:"secretKeyRef"`
	} `yaml:"valueFrom"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

type service struct {
	Spec struct {
		ClusterIP string            `yaml:"clusterIP"`
		Selector  map[string]string `yaml:"selector"`
		Ports     []servicePort     `yaml:"ports"`
	} `yaml:"spec"`
}

type servicePort struct {
	Name       string `yaml:"name"`
	Port       int    `yaml:"port"`
	TargetPort string `yaml:"targetPort"`
}

type scaleTarget struct {
	Kind string `yaml:"kind"`
	Name string `yaml:"name"`
}

type hpa struct {
	Spec struct {
		ScaleTargetRef scaleTarget `yaml:"scaleTargetRef"`
		MinReplicas    int         `yaml:"minReplicas"`
		MaxReplicas    int         `yaml:"maxReplicas"`
		Metrics        []struct {
			Resource struct {
				Name string `yaml:"name"`
			} `yaml:"resource"`
		} `yaml:"metrics"`
	} `yaml:"spec"`
}

type scaledObject struct {
	Spec struct {
		ScaleTargetRef  scaleTarget `yaml:"scaleTargetRef"`
		MinReplicaCount int         `yaml:"minReplicaCount"`
		MaxReplicaCount int         `yaml:"maxReplicaCount"`
		Triggers        []struct {
			Type              string            `yaml:"type"`
			Metadata          map[string]string `yaml:"metadata"`
			AuthenticationRef struct {
				Name string `yaml:"name"`
			} `yaml:"authenticationRef"`
		} `yaml:"triggers"`
	} `yaml:"spec"`
}

type triggerAuth struct {
	Spec struct {
		PodIdentity struct {
			Provider      string `yaml:"provider"`
			IdentityOwner string `yaml:"identityOwner"`
			RoleArn       string `yaml:"roleArn"`
		} `yaml:"podIdentity"`
	} `yaml:"spec"`
}

type pdb struct {
	Spec struct {
		MaxUnavailable *int     `yaml:"maxUnavailable"`
		MinAvailable   *int     `yaml:"minAvailable"`
		Selector       selector `yaml:"selector"`
	} `yaml:"spec"`
}

type serviceMonitor struct {
	Spec struct {
		JobLabel  string   `yaml:"jobLabel"`
		Selector  selector `yaml:"selector"`
		Endpoints []struct {
			Port string `yaml:"port"`
			Path string `yaml:"path"`
		} `yaml:"endpoints"`
	} `yaml:"spec"`
}

type secret struct {
	Data map[string]string `yaml:"data"`
}

type pvc struct {
	Spec struct {
		AccessModes []string `yaml:"accessModes"`
	} `yaml:"spec"`
}

// rendered is a release's objects by kind and name.
type rendered map[string]map[string]object

func byKind(objs []object) rendered {
	r := rendered{}
	for _, o := range objs {
		if r[o.Kind] == nil {
			r[o.Kind] = map[string]object{}
		}
		r[o.Kind][o.Metadata.Name] = o
	}
	return r
}

func (r rendered) counts() map[string]int {
	c := map[string]int{}
	for kind, objs := range r {
		c[kind] = len(objs)
	}
	return c
}

// modes are the two values files and what each must render.
var modes = []struct {
	values string
	// deployments: each Deployment's name and its -target.
	deployments map[string]string
	kinds       map[string]int
	// secret is the Secret the secret variables come from ("" none).
	secret string
}{
	{
		values: "values-split.yaml",
		deployments: map[string]string{"imagepipe-gateway": "gateway", "imagepipe-ingest": "ingest",
			"imagepipe-processor": "processor", "imagepipe-status": "status"},
		kinds: map[string]int{"Deployment": 4, "Service": 4, "ServiceAccount": 4, "PodDisruptionBudget": 4,
			"HorizontalPodAutoscaler": 1, "ScaledObject": 1, "TriggerAuthentication": 1, "ServiceMonitor": 1},
		secret: "imagepipe-secrets",
	},
	{
		values:      "values-allinone.yaml",
		deployments: map[string]string{"imagepipe": "all"},
		kinds:       map[string]int{"Deployment": 1, "Service": 1, "ServiceAccount": 1, "PodDisruptionBudget": 1, "PersistentVolumeClaim": 1},
	},
}

func TestChartRendersEachMode(t *testing.T) {
	for _, m := range modes {
		t.Run(m.values, func(t *testing.T) {
			objs, err := render(t, m.values)
			if err != nil {
				t.Fatal(err)
			}
			r := byKind(objs)
			if got := r.counts(); !maps.Equal(got, m.kinds) {
				t.Errorf("kinds rendered %v, want %v", got, m.kinds)
			}
			if got := slices.Sorted(maps.Keys(r["Deployment"])); !slices.Equal(got, slices.Sorted(maps.Keys(m.deployments))) {
				t.Fatalf("deployments %v, want those of %v", got, m.deployments)
			}
			for name, target := range m.deployments {
				t.Run(target, func(t *testing.T) {
					var d deployment
					r["Deployment"][name].into(t, &d)
					checkDeployment(t, r, name, target, d, m.secret)
				})
			}
			checkDisruptionBudgets(t, r)
			checkGatewayAutoscaler(t, r)
			checkScaledObject(t, r)
			checkServiceMonitor(t, r)
		})
	}
}

// checkDeployment checks one target's Deployment against the binary and
// the other rendered objects.
func checkDeployment(t *testing.T, r rendered, name, target string, d deployment, wantSecret string) {
	t.Helper()
	if !maps.Equal(d.Spec.Selector.MatchLabels, subset(d.Spec.Template.Metadata.Labels, d.Spec.Selector.MatchLabels)) {
		t.Errorf("selector %v does not select the pod's labels %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if !slices.Contains(c.Args, "-target="+target) {
		t.Errorf("args %q: want -target=%s", c.Args, target)
	}
	env := checkEnv(t, r, c.Env, wantSecret)
	if err := verify(c.Args, env); err != nil {
		t.Errorf("the binary refuses the rendered configuration: %v", err)
	}
	checkProbes(t, c, env)
	checkListeners(t, r, name, c, env)
	checkSecurity(t, pod, c, env)
	for _, res := range []string{"cpu", "memory"} {
		if c.Resources.Requests[res] == "" {
			t.Errorf("no %s request", res)
		}
	}
	if _, ok := r["ServiceAccount"][pod.ServiceAccountName]; !ok {
		t.Errorf("service account %q not rendered", pod.ServiceAccountName)
	}
	switch target {
	case "all":
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != "Recreate" {
			t.Errorf("embedded stores: replicas %v, strategy %q; want 1 and Recreate", d.Spec.Replicas, d.Spec.Strategy.Type)
		}
	case "gateway", "processor":
		// The HPA (gateway) and KEDA (processor) own the replica count.
		if d.Spec.Replicas != nil {
			t.Errorf("replicas %d set on an autoscaled Deployment", *d.Spec.Replicas)
		}
	}
}

// subset returns the entries of m whose keys are in keys.
func subset(m, keys map[string]string) map[string]string {
	out := map[string]string{}
	for k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

// testSecrets stand for the Secret's values when the configuration is
// verified.
var testSecrets = map[string]string{
	"IMAGEPIPE_ADMIN_KEY":        strings.Repeat("k", 40),
	"IMAGEPIPE_URL_SIGNING_KEYS": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	"IMAGEPIPE_WEBHOOKS_SECRETS": "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
	"AWS_ACCESS_KEY_ID":          "test",
	"AWS_SECRET_ACCESS_KEY":      "test",
}

// checkEnv checks every variable is one the binary reads, set once, and
// that secret ones come from the expected Secret; it returns the
// environment with the secrets filled in.
func checkEnv(t *testing.T, r rendered, vars []envVar, wantSecret string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, v := range vars {
		if !app.ReadsEnv(v.Name) {
			t.Errorf("env %s: the binary does not read it", v.Name)
		}
		if _, dup := env[v.Name]; dup {
			t.Errorf("env %s set twice", v.Name)
		}
		env[v.Name] = v.Value
		if v.ValueFrom == nil {
			continue
		}
		ref := v.ValueFrom.SecretKeyRef
		if ref == nil || ref.Name != wantSecret {
			t.Errorf("env %s: want a key of Secret %q, got %+v", v.Name, wantSecret, ref)
			continue
		}
		if s, ok := r["Secret"][ref.Name]; ok { // else a Secret the operator makes
			var data secret
			s.into(t, &data)
			if _, ok := data.Data[ref.Key]; !ok {
				t.Errorf("env %s: Secret %s has no key %s", v.Name, ref.Name, ref.Key)
			}
		}
		env[v.Name] = testSecrets[v.Name]
	}
	if wantSecret != "" && env["IMAGEPIPE_URL_SIGNING_KEYS"] == "" {
		t.Errorf("IMAGEPIPE_URL_SIGNING_KEYS does not come from Secret %s", wantSecret)
	}
	return env
}

// verify parses args and env as the binary does and checks the
// configuration as `imagepipe -config.verify` would.
func verify(args []string, env map[string]string) error {
	cfg := app.DefaultConfig()
	if err := cfg.LoadEnv(func(name string) string { return env[name] }); err != nil {
		return err
	}
	fs := flag.NewFlagSet("imagepipe", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("arguments left over: %q", fs.Args())
	}
	return app.Verify(cfg)
}

// containerPort returns the number of the container's port name.
func containerPort(c container, name string) int {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// portOf returns the port of a listen address (":9100").
func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return n
}

// checkProbes: liveness on /healthz and readiness on /readyz of the ops
// listener, the one port every target serves them on.
func checkProbes(t *testing.T, c container, env map[string]string) {
	t.Helper()
	ops := env["IMAGEPIPE_OPS_ADDR"]
	if ops == "" {
		t.Fatal("IMAGEPIPE_OPS_ADDR unset: the target has no /healthz and /readyz")
	}
	for _, p := range []struct {
		kind  string
		probe *probe
		path  string
	}{
		{"startup", c.StartupProbe, "/healthz"},
		{"liveness", c.LivenessProbe, "/healthz"},
		{"readiness", c.ReadinessProbe, "/readyz"},
	} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no %s probe", p.kind)
			continue
		}
		got := p.probe.HTTPGet
		if got.Path != p.path {
			t.Errorf("%s probe on %s, want %s", p.kind, got.Path, p.path)
		}
		port, err := strconv.Atoi(got.Port)
		if err != nil {
			port = containerPort(c, got.Port)
		}
		if port != portOf(t, ops) {
			t.Errorf("%s probe on port %s (%d); the ops listener is %s", p.kind, got.Port, port, ops)
		}
	}
}

// checkListeners: the container's ports are the listeners its args and
// env open, its Service's ports reach them, and the gateway's peers are
// the rendered Services' gRPC ports.
func checkListeners(t *testing.T, r rendered, name string, c container, env map[string]string) {
	t.Helper()
	listens := map[string]int{"ops": portOf(t, env["IMAGEPIPE_OPS_ADDR"])}
	for _, a := range c.Args {
		if addr, ok := strings.CutPrefix(a, "-http-addr="); ok {
			listens["http"] = portOf(t, addr)
		}
		if addr, ok := strings.CutPrefix(a, "-grpc-addr="); ok {
			listens["grpc"] = portOf(t, addr)
		}
	}
	for port, n := range listens {
		if got := containerPort(c, port); got != n {
			t.Errorf("container port %s is %d, the listener %d", port, got, n)
		}
	}
	if len(c.Ports) != len(listens) {
		t.Errorf("container ports %+v, listeners %v", c.Ports, listens)
	}
	svcObj, ok := r["Service"][name]
	if !ok {
		t.Fatalf("no Service %s", name)
	}
	var svc service
	svcObj.into(t, &svc)
	for _, p := range svc.Spec.Ports {
		if containerPort(c, p.TargetPort) == 0 {
			t.Errorf("Service port %s targets %q, no container port", p.Name, p.TargetPort)
		}
	}
	for _, peer := range []string{"IMAGEPIPE_GATEWAY_INGEST_ADDR", "IMAGEPIPE_GATEWAY_STATUS_ADDR", "IMAGEPIPE_GATEWAY_PROCESSOR_ADDR"} {
		addr, ok := env[peer]
		if !ok {
			continue
		}
		host, _, _ := net.SplitHostPort(addr)
		var peerSvc service
		o, ok := r["Service"][host]
		if !ok {
			t.Errorf("%s=%s: no such Service", peer, addr)
			continue
		}
		o.into(t, &peerSvc)
		if !slices.ContainsFunc(peerSvc.Spec.Ports, func(p servicePort) bool {
			return p.Name == "grpc" && p.Port == portOf(t, addr)
		}) {
			t.Errorf("%s=%s: Service %s has no grpc port %d", peer, addr, host, portOf(t, addr))
		}
		// The gateway spreads its calls over the pods its peer's name
		// resolves to (round_robin): a virtual IP would be one address.
		if peerSvc.Spec.ClusterIP != "None" {
			t.Errorf("%s=%s: Service %s is not headless (clusterIP %q)", peer, addr, host, peerSvc.Spec.ClusterIP)
		}
	}
}

// checkSecurity: non-root, read-only root file system, and every
// directory the binary writes is a volume.
func checkSecurity(t *testing.T, pod podSpec, c container, env map[string]string) {
	t.Helper()
	if sc := pod.SecurityContext; sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Errorf("pod security context: runAsNonRoot %v, runAsUser %v", sc.RunAsNonRoot, sc.RunAsUser)
	}
	sc := c.SecurityContext
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("root file system not read-only")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("privilege escalation allowed")
	}
	if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("capabilities dropped %v, want ALL", sc.Capabilities.Drop)
	}
	writes := []string{"/tmp"} // os.TempDir: Go's and libvips' temporary files
	if d := env["IMAGEPIPE_PROCESSOR_TEMP_DIR"]; d != "" {
		writes = append(writes, d)
	}
	if d := env["IMAGEPIPE_DATA_DIR"]; d != "" {
		writes = append(writes, d)
	}
	volumes := map[string]bool{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v.EmptyDir != nil || v.PersistentVolumeClaim != nil
	}
	for _, dir := range writes {
		mounted := slices.ContainsFunc(c.VolumeMounts, func(m volumeMount) bool {
			return m.MountPath == dir && volumes[m.Name]
		})
		if !mounted {
			t.Errorf("%s is written but is no writable volume", dir)
		}
	}
}

func checkDisruptionBudgets(t *testing.T, r rendered) {
	t.Helper()
	for name, o := range r["Deployment"] {
		var d deployment
		o.into(t, &d)
		b, ok := r["PodDisruptionBudget"][name]
		if !ok {
			t.Errorf("Deployment %s has no PodDisruptionBudget", name)
			continue
		}
		var p pdb
		b.into(t, &p)
		if !maps.Equal(p.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
			t.Errorf("PodDisruptionBudget %s selects %v, the Deployment's pods are %v", name, p.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels)
		}
		if p.Spec.MaxUnavailable == nil && p.Spec.MinAvailable == nil {
			t.Errorf("PodDisruptionBudget %s bounds nothing", name)
		}
	}
}

func checkGatewayAutoscaler(t *testing.T, r rendered) {
	t.Helper()
	for name, o := range r["HorizontalPodAutoscaler"] {
		var h hpa
		o.into(t, &h)
		target := h.Spec.ScaleTargetRef
		if _, ok := r["Deployment"][target.Name]; target.Kind != "Deployment" || !ok || target.Name != "imagepipe-gateway" {
			t.Errorf("HPA %s scales %+v, want the gateway's Deployment", name, target)
		}
		if h.Spec.MinReplicas < 2 || h.Spec.MaxReplicas < h.Spec.MinReplicas {
			t.Errorf("HPA %s: %d to %d replicas", name, h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
		if len(h.Spec.Metrics) != 1 || h.Spec.Metrics[0].Resource.Name != "cpu" {
			t.Errorf("HPA %s metrics %+v, want cpu", name, h.Spec.Metrics)
		}
	}
}

// checkScaledObject: KEDA scales the processor on the queue it consumes,
// one message per worker.
func checkScaledObject(t *testing.T, r rendered) {
	t.Helper()
	for name, o := range r["ScaledObject"] {
		var s scaledObject
		o.into(t, &s)
		dep, ok := r["Deployment"][s.Spec.ScaleTargetRef.Name]
		if !ok || s.Spec.ScaleTargetRef.Name != "imagepipe-processor" {
			t.Fatalf("ScaledObject %s scales %q, want the processor's Deployment", name, s.Spec.ScaleTargetRef.Name)
		}
		var d deployment
		dep.into(t, &d)
		env := map[string]string{}
		for _, v := range d.Spec.Template.Spec.Containers[0].Env {
			env[v.Name] = v.Value
		}
		if len(s.Spec.Triggers) != 1 || s.Spec.Triggers[0].Type != "aws-sqs-queue" {
			t.Fatalf("ScaledObject %s triggers %+v, want one aws-sqs-queue", name, s.Spec.Triggers)
		}
		trig := s.Spec.Triggers[0]
		queue := strings.TrimPrefix(env["IMAGEPIPE_QUEUE"], "sqs+")
		queue, _, _ = strings.Cut(queue, "?")
		for key, want := range map[string]string{
			"queueURL":    queue,
			"queueLength": env["IMAGEPIPE_PROCESSOR_WORKERS"],
			"awsRegion":   env["AWS_REGION"],
		} {
			if got := trig.Metadata[key]; got != want || want == "" {
				t.Errorf("ScaledObject %s: %s %q, want the processor's %q", name, key, got, want)
			}
		}
		if s.Spec.MinReplicaCount < 1 || s.Spec.MaxReplicaCount < s.Spec.MinReplicaCount {
			t.Errorf("ScaledObject %s: %d to %d replicas", name, s.Spec.MinReplicaCount, s.Spec.MaxReplicaCount)
		}
		authObj, ok := r["TriggerAuthentication"][trig.AuthenticationRef.Name]
		if !ok {
			t.Fatalf("ScaledObject %s: TriggerAuthentication %q not rendered", name, trig.AuthenticationRef.Name)
		}
		var auth triggerAuth
		authObj.into(t, &auth)
		if id := auth.Spec.PodIdentity; id.Provider != "aws" || (id.IdentityOwner == "") == (id.RoleArn == "") {
			t.Errorf("TriggerAuthentication %s: pod identity %+v, want provider aws with identityOwner or roleArn", trig.AuthenticationRef.Name, id)
		}
	}
}

// checkServiceMonitor: it selects every target's Service, each has the
// port it scrapes, and the job label is the target's name.
func checkServiceMonitor(t *testing.T, r rendered) {
	t.Helper()
	for name, o := range r["ServiceMonitor"] {
		var m serviceMonitor
		o.into(t, &m)
		if len(m.Spec.Endpoints) != 1 || m.Spec.Endpoints[0].Path != "/metrics" {
			t.Fatalf("ServiceMonitor %s endpoints %+v, want /metrics", name, m.Spec.Endpoints)
		}
		for svcName, so := range r["Service"] {
			var svc service
			so.into(t, &svc)
			if !maps.Equal(subset(so.Metadata.Labels, m.Spec.Selector.MatchLabels), m.Spec.Selector.MatchLabels) {
				t.Errorf("ServiceMonitor %s does not select Service %s", name, svcName)
			}
			if !slices.ContainsFunc(svc.Spec.Ports, func(p servicePort) bool {
				return p.Name == m.Spec.Endpoints[0].Port
			}) {
				t.Errorf("Service %s has no port %q to scrape", svcName, m.Spec.Endpoints[0].Port)
			}
			if job := so.Metadata.Labels[m.Spec.JobLabel]; !strings.HasSuffix(svcName, "-"+job) {
				t.Errorf("Service %s would be scraped as job %q", svcName, job)
			}
		}
	}
}

// The templates refuse what cannot work, naming the value to change.
func TestChartRefuses(t *testing.T) {
	for _, c := range []struct {
		name   string
		values string
		set    []string
		want   string
	}{
		{"embedded stores, two replicas", "values-allinone.yaml", []string{"allinone.replicas=2"}, "allinone.replicas 2"},
		{"split on embedded stores", "values-split.yaml", []string{"stores.status=sqlite:///data/status.db"}, "mode split"},
		{"split without a store", "values-split.yaml", []string{"stores.originals="}, "mode split"},
		{"unknown mode", "values-split.yaml", []string{"mode=cluster"}, "/mode"}, // values.schema.json
		{"no URL-signing keys", "values-split.yaml", []string{"secrets.existingSecret="}, "IMAGEPIPE_URL_SIGNING_KEYS"},
		{"KEDA without a region", "values-split.yaml", []string{"aws.region="}, "aws.region"},
		{"KEDA on a queue that is not SQS", "values-split.yaml", []string{"stores.queue=amqp://jobs"}, "SQS queue"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := render(t, c.values, c.set...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want one saying %q", err, c.want)
			}
		})
	}
}

// The embedded stores run on more replicas once every store is shared,
// and a Secret made from values feeds the variables.
func TestChartOptions(t *testing.T) {
	objs, err := render(t, "values-allinone.yaml",
		"stores.originals=s3://o", "stores.variants=s3://v", "stores.queue=sqs://jobs", "stores.status=dynamodb://images",
		"allinone.replicas=3", "allinone.persistence.enabled=false", "secrets.urlSigningKeys="+testSecrets["IMAGEPIPE_URL_SIGNING_KEYS"])
	if err != nil {
		t.Fatal(err)
	}
	r := byKind(objs)
	var d deployment
	r["Deployment"]["imagepipe"].into(t, &d)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 || d.Spec.Strategy.Type == "Recreate" {
		t.Errorf("shared stores: replicas %v, strategy %q; want 3, rolling", d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	if len(r["PersistentVolumeClaim"]) != 0 {
		t.Error("a PersistentVolumeClaim with persistence off")
	}
	env := checkEnv(t, r, d.Spec.Template.Spec.Containers[0].Env, "imagepipe")
	if err := verify(d.Spec.Template.Spec.Containers[0].Args, env); err != nil {
		t.Errorf("the binary refuses the rendered configuration: %v", err)
	}
	var s secret
	r["Secret"]["imagepipe"].into(t, &s)
	if len(s.Data) != 1 {
		t.Errorf("Secret keys %v, want only the one given", slices.Collect(maps.Keys(s.Data)))
	}
	// Pods restart when the Secret the chart makes changes.
	if d.Spec.Template.Metadata.Annotations["checksum/secret"] == "" {
		t.Error("no checksum/secret annotation on the pods")
	}
}
