package observability_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"google.golang.org/grpc/codes"
	"gopkg.in/yaml.v3"

	"github.com/imagepipe/imagepipe/deploy/observability"
	"github.com/imagepipe/imagepipe/internal/messages/failure"
)

const (
	dashboardFile = "grafana/imagepipe.json"
	rulesFile     = "prometheus/alerts.yml"
	rulesTestFile = "prometheus/alerts_test.yml"
	configFile    = "prometheus/prometheus.yml"
	composeFile   = "../../docker-compose.yml"
)

// query is one PromQL expression and where it was found.
type query struct {
	where string
	expr  string
}

// series maps every series name the list allows (a histogram's _bucket,
// _sum and _count) to its metric.
func series() map[string]observability.Metric {
	m := map[string]observability.Metric{}
	for _, metric := range observability.Metrics {
		if metric.Type == observability.Histogram {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				m[metric.Name+suffix] = metric
			}
			continue
		}
		m[metric.Name] = metric
	}
	return m
}

func TestMetricList(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range observability.Metrics {
		if seen[m.Name] {
			t.Errorf("%s listed twice", m.Name)
		}
		seen[m.Name] = true
		switch m.Type {
		case observability.Counter:
			if !strings.HasSuffix(m.Name, "_total") {
				t.Errorf("counter %s does not end in _total", m.Name)
			}
		case observability.Gauge, observability.Histogram:
			if strings.HasSuffix(m.Name, "_total") {
				t.Errorf("%s %s ends in _total", m.Type, m.Name)
			}
		default:
			t.Errorf("%s: unknown type %q", m.Name, m.Type)
		}
		if m.Source == "" {
			t.Errorf("%s: no source", m.Name)
		}
	}
}

// grafanaDashboard is the part of Grafana's dashboard model the checks read.
type grafanaDashboard struct {
	UID           string         `json:"uid"`
	Title         string         `json:"title"`
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Current    struct {
				Value any `json:"value"`
			} `json:"current"`
		} `json:"list"`
	} `json:"templating"`
}

type grafanaDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaPanel struct {
	ID         int                `json:"id"`
	Type       string             `json:"type"`
	Title      string             `json:"title"`
	Datasource *grafanaDatasource `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string             `json:"refId"`
		Expr       string             `json:"expr"`
		Datasource *grafanaDatasource `json:"datasource"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's
}

func readDashboard(t *testing.T) grafanaDashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// allPanels flattens rows, collapsed or not.
func allPanels(ps []grafanaPanel) []grafanaPanel {
	var out []grafanaPanel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// datasourceOK: the panel's or target's datasource is the dashboard's
// datasource variable, or the provisioned Prometheus by uid.
func datasourceOK(ds *grafanaDatasource) bool {
	return ds != nil && ds.Type == "prometheus" && (ds.UID == "${datasource}" || ds.UID == "prometheus")
}

func TestDashboardIsValidGrafana(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("dashboard uid %q, title %q, schemaVersion %d: want all set (schema 36+)", d.UID, d.Title, d.SchemaVersion)
	}
	var dsVar bool
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && string(v.Query) == `"prometheus"` && v.Current.Value == "prometheus" {
			dsVar = true
		}
	}
	if !dsVar {
		t.Error(`no datasource variable of type prometheus defaulting to uid "prometheus"`)
	}
	ids := map[int]string{}
	for _, p := range allPanels(d.Panels) {
		if other, dup := ids[p.ID]; dup || p.ID <= 0 {
			t.Errorf("panel %q: id %d not unique and positive (also %q)", p.Title, p.ID, other)
		}
		ids[p.ID] = p.Title
		if p.Title == "" {
			t.Errorf("panel %d has no title", p.ID)
		}
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if !datasourceOK(p.Datasource) {
			t.Errorf("panel %q: datasource %+v, want the prometheus variable or uid", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no targets", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.RefID == "" || refs[tg.RefID] || !datasourceOK(tg.Datasource) {
				t.Errorf("panel %q: target %q (refId %q): want an expression, a unique refId and the prometheus datasource", p.Title, tg.Expr, tg.RefID)
			}
			refs[tg.RefID] = true
		}
	}
}

// labelValuesRe is Grafana's label_values(selector, label) variable query.
var labelValuesRe = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

func dashboardQueries(t *testing.T) []query {
	d := readDashboard(t)
	var qs []query
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			qs = append(qs, query{fmt.Sprintf("dashboard panel %q %s", p.Title, tg.RefID), tg.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValuesRe.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, v.Definition)
			continue
		}
		qs = append(qs, query{"dashboard variable " + v.Name, m[1]})
	}
	return qs
}

type alertRule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func readYAML(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func readRules(t *testing.T) []alertRule {
	var f struct {
		Groups []struct {
			Name  string      `yaml:"name"`
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, rulesFile, &f)
	var rules []alertRule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatalf("%s: no rules", rulesFile)
	}
	return rules
}

func ruleQueries(t *testing.T) []query {
	var qs []query
	for _, r := range readRules(t) {
		qs = append(qs, query{"rule " + r.Alert + r.Record, r.Expr})
	}
	return qs
}

func TestAlertRules(t *testing.T) {
	for _, r := range readRules(t) {
		if r.Alert == "" {
			continue
		}
		if r.For == "" {
			t.Errorf("%s: no for:", r.Alert)
		}
		if s := r.Labels["severity"]; s != "warning" && s != "critical" {
			t.Errorf("%s: severity %q, want warning or critical", r.Alert, s)
		}
		if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
			t.Errorf("%s: want summary and description annotations", r.Alert)
		}
	}
}

// TestAlertUnitTests: alerts_test.yml tests these alerts both firing and
// quiet (promtool runs it; this checks it keeps covering them).
func TestAlertUnitTests(t *testing.T) {
	var f struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, rulesTestFile, &f)
	if !slices.Contains(f.RuleFiles, path.Base(rulesFile)) {
		t.Errorf("%s does not load %s", rulesTestFile, path.Base(rulesFile))
	}
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range f.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	for _, name := range []string{"ImagepipeDeadLetters", "ImagepipeQueueMessageOld"} {
		if !firing[name] || !quiet[name] {
			t.Errorf("%s: firing case %v, quiet case %v; want both", name, firing[name], quiet[name])
		}
	}
}

// grafanaVarRe matches Grafana's variables in a query.
var grafanaVarRe = regexp.MustCompile(`\$\{?(\w+)\}?`)

// substituteGrafana replaces Grafana's variables with what they stand for
// so the query parses: intervals with a duration, others with a regexp
// that matches anything.
func substituteGrafana(expr string) string {
	return grafanaVarRe.ReplaceAllStringFunc(expr, func(v string) string {
		name := grafanaVarRe.FindStringSubmatch(v)[1]
		if strings.Contains(name, "interval") || strings.Contains(name, "range") {
			return "5m"
		}
		return ".*"
	})
}

// allowedValues is what a label of a metric may be compared with, nil when
// its values are not bounded by the list.
func allowedValues(metric, label string) []string {
	switch {
	case metric == "imagepipe_images_total" && label == "code":
		return append([]string{""}, failure.All...)
	case metric == "imagepipe_http_requests_total" && label == "code":
		var v []string
		for c := 100; c < 600; c++ {
			v = append(v, strconv.Itoa(c))
		}
		return v
	case label == "grpc_code":
		var v []string
		for c := codes.OK; c <= codes.Unauthenticated; c++ {
			v = append(v, c.String())
		}
		return v
	}
	return observability.Values[label]
}

var literalAlternation = regexp.MustCompile(`^[A-Za-z0-9_]+(\|[A-Za-z0-9_]+)*$`)

// checkMatcher reports a label the metric does not have, or a value it
// never takes.
func checkMatcher(m observability.Metric, series string, lm *labels.Matcher) error {
	if lm.Name == labels.MetricName {
		return nil
	}
	if !slices.Contains(m.Labels, lm.Name) && lm.Name != "job" && lm.Name != "instance" &&
		(lm.Name != "le" || !strings.HasSuffix(series, "_bucket")) {
		return fmt.Errorf("%s has no label %q", series, lm.Name)
	}
	allowed := allowedValues(m.Name, lm.Name)
	if allowed == nil {
		return nil
	}
	switch lm.Type {
	case labels.MatchEqual, labels.MatchNotEqual:
		if !slices.Contains(allowed, lm.Value) {
			return fmt.Errorf("%s: %s never takes the value %q (known: %v)", series, lm.Name, lm.Value, allowed)
		}
	default:
		if literalAlternation.MatchString(lm.Value) {
			for _, v := range strings.Split(lm.Value, "|") {
				if !slices.Contains(allowed, v) {
					return fmt.Errorf("%s: %s never takes the value %q (known: %v)", series, lm.Name, v, allowed)
				}
			}
			return nil
		}
		re := regexp.MustCompile("^(?:" + lm.Value + ")$")
		if !slices.ContainsFunc(allowed, re.MatchString) {
			return fmt.Errorf("%s: %s=~%q matches none of %v", series, lm.Name, lm.Value, allowed)
		}
	}
	return nil
}

func TestQueriesNameKnownMetrics(t *testing.T) {
	known := series()
	dashboardUses := map[string]bool{}
	for _, q := range dashboardQueries(t) {
		for _, name := range checkInto(t, q, known) {
			dashboardUses[name] = true
		}
	}
	for _, q := range ruleQueries(t) {
		checkInto(t, q, known)
	}
	// The list is the dashboard's: a metric no panel shows is either
	// missing a panel or no longer worth listing.
	for _, m := range observability.Metrics {
		if !dashboardUses[m.Name] {
			t.Errorf("%s is listed but no dashboard panel uses it", m.Name)
		}
	}
}

// A broken query must fail the check, or the check proves nothing.
func TestQueryCheckCatchesMistakes(t *testing.T) {
	for _, expr := range []string{
		`rate(imagepipe_uploads_totl[5m])`,                                       // misspelt metric
		`imagepipe_queue_messages{queue="job"}`,                                  // unknown queue
		`imagepipe_queue_messages{queue=~"jobs|dlq"}`,                            // unknown queue in an alternation
		`imagepipe_images_total{state="FAILED",code="corupt"}`,                   // unknown failure code
		`grpc_server_handled_total{grpc_code="Internl"}`,                         // unknown gRPC code
		`imagepipe_processing_seconds_bucket{stage="resize"}`,                    // unknown stage
		`imagepipe_upload_bytes_total{route="/v1/images"}`,                       // label the metric has not
		`sum(rate(imagepipe_http_requests_total{code=~"6.."}[$__range]))`,        // no such status
		`histogram_quantile(0.5, rate(imagepipe_processing_seconds[5m]))`,        // a histogram's bare name
		`sum by (queue) (imagepipe_queue_messages{queue=~"jobs_dlq|events_dlq"}`, // does not parse
	} {
		t.Run(expr, func(t *testing.T) {
			var errs []string
			rec := &recorder{T: t, errs: &errs}
			checkInto(rec, query{"case", expr}, series())
			if len(errs) == 0 {
				t.Errorf("%q passed the check", expr)
			}
		})
	}
}

// recorder collects what the check reports instead of failing the test.
type recorder struct {
	*testing.T
	errs *[]string
}

func (r *recorder) Errorf(format string, args ...any) {
	*r.errs = append(*r.errs, fmt.Sprintf(format, args...))
}

// reporter is what checkInto reports to.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// checkInto parses the expression, reports an unknown metric or a label or
// value it never has, and returns the metric names it names.
func checkInto(r reporter, q query, known map[string]observability.Metric) []string {
	r.Helper()
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(substituteGrafana(q.expr))
	if err != nil {
		r.Errorf("%s: %q does not parse: %v", q.where, q.expr, err)
		return nil
	}
	var names []string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		m, ok := known[vs.Name]
		if !ok {
			r.Errorf("%s: metric %q is not in observability.Metrics (selector %s)", q.where, vs.Name, vs)
			return nil
		}
		names = append(names, m.Name)
		for _, lm := range vs.LabelMatchers {
			if err := checkMatcher(m, vs.Name, lm); err != nil {
				r.Errorf("%s: %v", q.where, err)
			}
		}
		return nil
	})
	return names
}

type scrapeConfig struct {
	JobName       string `yaml:"job_name"`
	MetricsPath   string `yaml:"metrics_path"`
	StaticConfigs []struct {
		Targets []string `yaml:"targets"`
	} `yaml:"static_configs"`
}

type promConfig struct {
	RuleFiles     []string       `yaml:"rule_files"`
	ScrapeConfigs []scrapeConfig `yaml:"scrape_configs"`
}

type composeService struct {
	Image       string         `yaml:"image"`
	Command     []string       `yaml:"command"`
	Environment map[string]any `yaml:"environment"`
	Volumes     []string       `yaml:"volumes"`
	Ports       []string       `yaml:"ports"`
}

func readCompose(t *testing.T) map[string]composeService {
	var f struct {
		Services map[string]composeService `yaml:"services"`
	}
	readYAML(t, composeFile, &f)
	return f.Services
}

// env is a compose service's environment variable as a string.
func env(s composeService, name string) string {
	v, ok := s.Environment[name]
	if !ok || v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// metricsPort is the port a compose service serves /metrics on: the
// gateway's HTTP address, the others' ops listener.
func metricsPort(s composeService) string {
	if addr := env(s, "IMAGEPIPE_OPS_ADDR"); addr != "" {
		_, port, _ := net.SplitHostPort(addr)
		return port
	}
	for _, arg := range s.Command {
		if addr, ok := strings.CutPrefix(arg, "-http-addr="); ok {
			_, port, _ := net.SplitHostPort(addr)
			return port
		}
	}
	return ""
}

// mounts maps a service's container paths to the repository files mounted
// there (bind mounts of ./ paths only).
func mounts(t *testing.T, name string, s composeService) map[string]string {
	m := map[string]string{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || !strings.HasPrefix(parts[0], "./") {
			continue
		}
		host := filepath.Join(filepath.Dir(composeFile), parts[0])
		if _, err := os.Stat(host); err != nil {
			t.Errorf("compose %s mounts %s, which does not exist", name, parts[0])
		}
		m[parts[1]] = host
	}
	return m
}

var imagepipeTargets = []string{"gateway", "ingest", "processor", "status"}

func TestComposeAndPrometheusConfig(t *testing.T) {
	services := readCompose(t)
	for _, name := range append([]string{"prometheus", "grafana", "jaeger"}, imagepipeTargets...) {
		if _, ok := services[name]; !ok {
			t.Fatalf("docker-compose.yml has no service %s", name)
		}
	}
	for name, s := range services {
		mounts(t, name, s)
	}

	// Prometheus: its mounted config scrapes every target by service name
	// and metrics port, one job per target named after it, and the rule
	// files it loads are mounted beside it.
	promMounts := mounts(t, "prometheus", services["prometheus"])
	configDir, ok := promMounts["/etc/prometheus"]
	if !ok {
		t.Fatal("prometheus: ./deploy/observability/prometheus is not mounted at /etc/prometheus")
	}
	var cfg promConfig
	readYAML(t, filepath.Join(configDir, "prometheus.yml"), &cfg)
	if abs, _ := filepath.Abs(filepath.Join(configDir, "prometheus.yml")); abs != mustAbs(t, configFile) {
		t.Errorf("prometheus mounts %s, not %s", configDir, filepath.Dir(configFile))
	}
	for _, rf := range cfg.RuleFiles {
		if _, err := os.Stat(filepath.Join(configDir, rf)); err != nil {
			t.Errorf("prometheus.yml loads rules %s, not beside it: %v", rf, err)
		}
	}
	if !slices.Contains(cfg.RuleFiles, path.Base(rulesFile)) {
		t.Errorf("prometheus.yml does not load %s", path.Base(rulesFile))
	}
	var jobs []string
	for _, sc := range cfg.ScrapeConfigs {
		jobs = append(jobs, sc.JobName)
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, port, err := net.SplitHostPort(target)
				s, ok := services[host]
				if err != nil || !ok {
					t.Errorf("job %s scrapes %s, not a compose service", sc.JobName, target)
					continue
				}
				if host != sc.JobName {
					t.Errorf("job %s scrapes service %s: the dashboard wants job = target name", sc.JobName, host)
				}
				if want := metricsPort(s); port != want {
					t.Errorf("job %s scrapes port %s; %s serves metrics on %q", sc.JobName, port, host, want)
				}
			}
		}
	}
	slices.Sort(jobs)
	if want := slices.Sorted(slices.Values(observability.Values["job"])); !slices.Equal(jobs, want) {
		t.Errorf("prometheus.yml jobs %v, the dashboard and rules expect %v", jobs, want)
	}

	// Traces: every target exports OTLP to the jaeger service under its
	// own service name.
	names := map[string]bool{}
	for _, name := range imagepipeTargets {
		s := services[name]
		if env(s, "OTEL_TRACES_EXPORTER") != "otlp" {
			t.Errorf("%s: OTEL_TRACES_EXPORTER %q, want otlp", name, env(s, "OTEL_TRACES_EXPORTER"))
		}
		if ep := env(s, "OTEL_EXPORTER_OTLP_ENDPOINT"); ep != "http://jaeger:4317" {
			t.Errorf("%s: OTEL_EXPORTER_OTLP_ENDPOINT %q, want http://jaeger:4317", name, ep)
		}
		sn := env(s, "OTEL_SERVICE_NAME")
		if sn == "" || names[sn] {
			t.Errorf("%s: OTEL_SERVICE_NAME %q, want one of its own", name, sn)
		}
		names[sn] = true
	}
	if !slices.Contains(services["jaeger"].Ports, "4317:4317") || !slices.Contains(services["jaeger"].Ports, "4318:4318") {
		t.Errorf("jaeger ports %v, want OTLP 4317 and 4318", services["jaeger"].Ports)
	}
}

func mustAbs(t *testing.T, p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// TestGrafanaProvisioning: the provisioned Prometheus has the uid the
// dashboard defaults to, and the dashboard provider reads the folder the
// dashboard is mounted in.
func TestGrafanaProvisioning(t *testing.T) {
	g := readCompose(t)["grafana"]
	m := mounts(t, "grafana", g)
	dsDir, ok := m["/etc/grafana/provisioning/datasources"]
	if !ok {
		t.Fatal("grafana: no datasources provisioning mounted")
	}
	dbDir, ok := m["/etc/grafana/provisioning/dashboards"]
	if !ok {
		t.Fatal("grafana: no dashboards provisioning mounted")
	}
	var ds struct {
		Datasources []struct {
			UID, Type, URL string
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(dsDir, "datasources.yml"), &ds)
	var prom bool
	for _, d := range ds.Datasources {
		if d.UID == "prometheus" && d.Type == "prometheus" && d.URL == "http://prometheus:9090" {
			prom = true
		}
	}
	if !prom {
		t.Errorf("no Prometheus data source with uid prometheus at http://prometheus:9090: %+v", ds.Datasources)
	}
	var db struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(dbDir, "dashboards.yml"), &db)
	var found bool
	for container, host := range m {
		if mustAbs(t, host) != mustAbs(t, dashboardFile) {
			continue
		}
		for _, p := range db.Providers {
			if path.Dir(container) == p.Options.Path {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("grafana: %s is not mounted in a provisioned dashboards folder", dashboardFile)
	}
}
