// Package deploy_test checks what deploy/ hands to operators against the code it describes: the
// Grafana dashboard and the Prometheus rules reference only metrics (and labels) the binary
// exports, the Helm chart renders to Kubernetes objects that hold together, the example,
// compose and chart configurations load through the same code as `lifeline run`, and what the
// operations guide (README.md) quotes exists (readme_test.go).
package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"text/template"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
	"go.yaml.in/yaml/v3"

	"github.com/lifeline-hq/lifeline/connectors/metrics"
)

// metricKind says which series names a metric family exposes.
type metricKind int

const (
	scalar    metricKind = iota // counter, gauge or untyped: the name itself
	histogram                   // name_bucket (with le), name_sum, name_count
	summary                     // name (with quantile), name_sum, name_count
)

type metricInfo struct {
	kind   metricKind
	labels map[string]bool
}

// targetLabels are attached by Prometheus (job, instance) or by Kubernetes service discovery
// relabelling in common setups; queries may filter and group by them.
var targetLabels = []string{"job", "instance", "namespace", "pod", "container", "service", "endpoint"}

// synthetic are series Prometheus writes itself for every target.
var synthetic = []string{"up", "scrape_duration_seconds", "scrape_samples_scraped"}

var descRE = regexp.MustCompile(`^Desc\{fqName: "([^"]+)", .*constLabels: \{([^}]*)\}, variableLabels: \{([^}]*)\}\}$`)

// exportedMetrics builds the metric families `lifeline run` registers, wired as in
// cmd/lifeline/run.go: metrics.New (Lifeline's own plus the Go and process collectors), the
// Pebble collector, and franz-go's kprom metrics under the namespace lifeline_kafka.
func exportedMetrics(t *testing.T) map[string]*metricInfo {
	t.Helper()
	out := map[string]*metricInfo{}
	add := func(name string, kind metricKind, labels []string) {
		mi := out[name]
		if mi == nil {
			mi = &metricInfo{kind: kind, labels: map[string]bool{}}
			out[name] = mi
		}
		for _, l := range labels {
			if l != "" {
				mi.labels[l] = true
			}
		}
	}
	describe := func(c prometheus.Collector, kind metricKind) {
		ch := make(chan *prometheus.Desc, 64)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := descRE.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read the metric description %s (has client_golang changed Desc.String?)", d)
			}
			var labels []string
			for _, kv := range strings.Split(m[2], ",") {
				if k, _, ok := strings.Cut(kv, "="); ok {
					labels = append(labels, strings.TrimSpace(k))
				}
			}
			for _, l := range strings.Split(m[3], ",") {
				labels = append(labels, strings.TrimSpace(l))
			}
			add(m[1], kind, labels)
		}
	}

	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test")
	reg.MustRegister(metrics.NewPebbleCollector(func() *pebble.Metrics { return nil }))

	// Families with a value come out of Gather with their type: the Go and process collectors,
	// and Lifeline's metrics without labels.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		kind := scalar
		switch mf.GetType().String() {
		case "HISTOGRAM", "GAUGE_HISTOGRAM":
			kind = histogram
		case "SUMMARY":
			kind = summary
		}
		var labels []string
		for _, mm := range mf.GetMetric() {
			for _, lp := range mm.GetLabel() {
				labels = append(labels, lp.GetName())
			}
		}
		add(mf.GetName(), kind, labels)
	}

	// Every exported field of *metrics.Metrics that is a collector: vectors have no series until
	// first use, so they are described instead; their kind comes from their type.
	v := reflect.ValueOf(m).Elem()
	for i := 0; i < v.NumField(); i++ {
		if !v.Type().Field(i).IsExported() {
			continue
		}
		c, ok := v.Field(i).Interface().(prometheus.Collector)
		if !ok {
			continue
		}
		kind := scalar
		switch c.(type) {
		case *prometheus.HistogramVec:
			kind = histogram
		case *prometheus.SummaryVec:
			kind = summary
		case prometheus.Histogram: // also matches a Summary; Gather above has the real type
			kind = histogram
		}
		describe(c, kind)
	}
	describe(metrics.NewPebbleCollector(func() *pebble.Metrics { return nil }), scalar)

	// kprom creates its collectors when a client is created with its hooks (no connection is
	// made). Its histograms are observed only when enabled with kprom.Histograms, which the
	// binary does not do, so they count here as plain names: a dashboard asking for their
	// _bucket series would show nothing, and fails this check.
	// They are served under metrics.KafkaName, which renames two.
	kp := kprom.NewMetrics("lifeline_kafka", kprom.Registerer(reg), kprom.Gatherer(reg))
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"), kgo.WithHooks(kp))
	if err != nil {
		t.Fatal(err)
	}
	kafka := map[string]*metricInfo{}
	out, kafka = kafka, out
	describe(kp, scalar)
	out, kafka = kafka, out
	for name, mi := range kafka {
		out[metrics.KafkaName(name)] = mi
	}
	cl.Close()

	for _, n := range synthetic {
		add(n, scalar, nil)
	}
	for _, mi := range out {
		for _, l := range targetLabels {
			mi.labels[l] = true
		}
	}
	if len(out) < 40 || out["lifeline_events_processed_total"] == nil || out["lifeline_kafka_fetch_bytes_total"] == nil || out["lifeline_pebble_disk_usage_bytes"] == nil {
		t.Fatalf("the exported metric list looks incomplete (%d names)", len(out))
	}
	return out
}

// lookup resolves a series name to its family and the extra label the suffix brings.
func lookup(exported map[string]*metricInfo, name string) (*metricInfo, string, bool) {
	if mi, ok := exported[name]; ok {
		extra := ""
		if mi.kind == summary {
			extra = "quantile"
		}
		return mi, extra, true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suf)
		if !ok {
			continue
		}
		mi, ok := exported[base]
		if !ok {
			continue
		}
		switch {
		case mi.kind == histogram && suf == "_bucket":
			return mi, "le", true
		case mi.kind != scalar && suf != "_bucket":
			return mi, "", true
		}
	}
	return nil, "", false
}

// A PromQL reader, enough to find what an expression refers to: vector selectors (metric name
// and the label names of their matchers) and the label names of by/without/on/ignoring/
// group_left/group_right clauses. It skips strings, numbers and durations, range and subquery
// brackets, function calls, operators and Grafana variables ($var, ${var}, $__rate_interval).

type selector struct {
	name   string
	labels []string
}

type promRefs struct {
	selectors   []selector
	groupLabels []string
}

var aggregations = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
}

var groupingKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

var operatorKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "atan2": true, "bool": true, "offset": true,
	"inf": true, "nan": true, "Inf": true, "NaN": true,
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

func scanPromQL(expr string) (promRefs, error) {
	var refs promRefs
	s := expr
	i := 0
	depth := 0
	lastMetric := -1 // index in refs.selectors of a selector that a '{' may still attach to
	skipSpace := func() {
		for i < len(s) && strings.ContainsRune(" \t\r\n", rune(s[i])) {
			i++
		}
	}
	readString := func() (string, error) {
		q := s[i]
		start := i
		i++
		for i < len(s) && s[i] != q {
			if s[i] == '\\' && q != '`' {
				i++
			}
			i++
		}
		if i >= len(s) {
			return "", fmt.Errorf("unterminated string at %d", start)
		}
		i++
		return s[start+1 : i-1], nil
	}
	readIdent := func() string {
		start := i
		for i < len(s) && isIdentChar(s[i]) {
			i++
		}
		return s[start:i]
	}
	for {
		skipSpace()
		if i >= len(s) {
			break
		}
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			if _, err := readString(); err != nil {
				return refs, err
			}
			lastMetric = -1
		case c == '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return refs, fmt.Errorf("unclosed [ at %d", i)
			}
			i += end + 1
			lastMetric = -1
		case c == '{':
			if lastMetric < 0 {
				return refs, fmt.Errorf("label matchers without a metric name at %d", i)
			}
			i++
			for {
				skipSpace()
				if i >= len(s) {
					return refs, fmt.Errorf("unclosed { in %q", expr)
				}
				if s[i] == '}' {
					i++
					break
				}
				if s[i] == ',' {
					i++
					continue
				}
				var label string
				if s[i] == '"' {
					l, err := readString()
					if err != nil {
						return refs, err
					}
					label = l
				} else if isIdentStart(s[i]) {
					label = readIdent()
				} else {
					return refs, fmt.Errorf("unexpected %q in label matchers at %d", s[i], i)
				}
				skipSpace()
				op := i
				for i < len(s) && strings.ContainsRune("=!~", rune(s[i])) {
					i++
				}
				if op == i {
					return refs, fmt.Errorf("label %s without a matcher operator", label)
				}
				skipSpace()
				if i >= len(s) || (s[i] != '"' && s[i] != '\'' && s[i] != '`') {
					return refs, fmt.Errorf("label %s: value is not a string", label)
				}
				if _, err := readString(); err != nil {
					return refs, err
				}
				refs.selectors[lastMetric].labels = append(refs.selectors[lastMetric].labels, label)
			}
			lastMetric = -1
		case c == '$':
			i++
			if i < len(s) && s[i] == '{' {
				end := strings.IndexByte(s[i:], '}')
				if end < 0 {
					return refs, fmt.Errorf("unclosed ${ at %d", i)
				}
				i += end + 1
			} else {
				readIdent()
			}
			lastMetric = -1
		case c >= '0' && c <= '9' || (c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9'):
			for i < len(s) && (isIdentChar(s[i]) || s[i] == '.') {
				i++
			}
			lastMetric = -1
		case isIdentStart(c):
			id := readIdent()
			skipSpace()
			next := byte(0)
			if i < len(s) {
				next = s[i]
			}
			lastMetric = -1
			switch {
			case groupingKeywords[id]:
				if next == '(' {
					end := strings.IndexByte(s[i:], ')')
					if end < 0 {
						return refs, fmt.Errorf("unclosed %s ( at %d", id, i)
					}
					for _, l := range strings.Split(s[i+1:i+end], ",") {
						if l = strings.TrimSpace(l); l != "" {
							refs.groupLabels = append(refs.groupLabels, l)
						}
					}
					i += end + 1
				}
			case aggregations[id], operatorKeywords[id], next == '(':
				// an aggregation, a function call or a keyword operator
			default:
				refs.selectors = append(refs.selectors, selector{name: id})
				lastMetric = len(refs.selectors) - 1
			}
		default:
			switch c {
			case '(':
				depth++
			case ')':
				depth--
				if depth < 0 {
					return refs, fmt.Errorf("unbalanced ) at %d", i)
				}
			}
			i++
			lastMetric = -1
		}
	}
	if depth != 0 {
		return refs, fmt.Errorf("unbalanced parentheses")
	}
	return refs, nil
}

// checkExpr reports what in expr the binary does not export: unknown metric names, matcher
// labels a metric does not have, and grouping labels none of its metrics has.
func checkExpr(exported map[string]*metricInfo, expr string) []string {
	refs, err := scanPromQL(expr)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	if len(refs.selectors) == 0 {
		problems = append(problems, "refers to no metric")
	}
	known := map[string]bool{}
	for _, sel := range refs.selectors {
		mi, extra, ok := lookup(exported, sel.name)
		if !ok {
			problems = append(problems, fmt.Sprintf("metric %s is not exported by lifeline", sel.name))
			continue
		}
		allowed := map[string]bool{extra: extra != ""}
		for l := range mi.labels {
			allowed[l] = true
		}
		for l := range allowed {
			known[l] = true
		}
		for _, l := range sel.labels {
			if !allowed[l] {
				problems = append(problems, fmt.Sprintf("metric %s has no label %s", sel.name, l))
			}
		}
	}
	for _, l := range refs.groupLabels {
		if !known[l] {
			problems = append(problems, fmt.Sprintf("grouping label %s is on none of the expression's metrics", l))
		}
	}
	return problems
}

func TestScanPromQL(t *testing.T) {
	exported := map[string]*metricInfo{
		"a_total":   {kind: scalar, labels: map[string]bool{"reason": true, "job": true}},
		"latency_s": {kind: histogram, labels: map[string]bool{"job": true}},
	}
	for _, tc := range []struct {
		name, expr string
		problems   int
	}{
		{"rate with matchers", `sum by (reason) (rate(a_total{job=~"$job", reason!="x"}[$__rate_interval]))`, 0},
		{"histogram quantile", `histogram_quantile(0.99, sum by (job, le) (rate(latency_s_bucket[5m]))) > 2.5`, 0},
		{"arithmetic", `60 * sum(rate(a_total[1m])) / 1e3`, 0},
		{"set operators", `(a_total > 0) unless on (job) (latency_s_count offset 5m)`, 0},
		{"unknown metric", `rate(b_total[5m])`, 1},
		{"bucket of a counter", `a_total_bucket`, 1},
		{"unknown matcher label", `a_total{outcome="x"}`, 1},
		{"unknown grouping label", `sum by (outcome) (a_total)`, 1},
		{"unbalanced", `sum(rate(a_total[5m])`, 1},
		{"no metric", `vector(1)`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := checkExpr(exported, tc.expr)
			if len(p) != tc.problems {
				t.Errorf("%s: got problems %q, want %d", tc.expr, p, tc.problems)
			}
		})
	}
}

// The metrics the dashboard must show (issue 5): at least one panel queries each.
var dashboardMustShow = []string{
	"lifeline_events_processed_total", "lifeline_processing_latency_seconds_bucket",
	"lifeline_consumer_lag_records", "lifeline_watermark_lag_seconds", "lifeline_dead_letters_total",
	"lifeline_alerts_total", "lifeline_stage_transitions_total",
	"lifeline_customers", "lifeline_customers_by_health_band", "lifeline_restore_remaining_records",
	"lifeline_partitions_assigned", "lifeline_partitions_ready", "lifeline_pebble_disk_usage_bytes",
	"lifeline_pebble_compaction_debt_bytes", "lifeline_pebble_read_amplification",
	"lifeline_kafka_fetch_bytes_total", "lifeline_batches_total", "lifeline_rules_info",
}

type grafanaPanel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaDashboard struct {
	UID           string         `json:"uid"`
	Title         string         `json:"title"`
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

var labelValuesRE = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

func TestDashboard(t *testing.T) {
	data, err := os.ReadFile("grafana/lifeline-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(data) {
		t.Fatal("grafana/lifeline-dashboard.json is not valid JSON")
	}
	var d grafanaDashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" {
		t.Error("the dashboard needs a uid and a title")
	}
	if d.SchemaVersion < 36 || d.SchemaVersion > 41 {
		t.Errorf("schemaVersion %d: expected a current Grafana schema (36-41)", d.SchemaVersion)
	}
	exported := exportedMetrics(t)

	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Type == "datasource" {
			var q string
			if err := json.Unmarshal(v.Query, &q); err != nil || q != "prometheus" {
				t.Errorf("variable %s: a datasource variable of type prometheus expected, got query %s", v.Name, v.Query)
			}
			continue
		}
		if v.Type != "query" {
			continue
		}
		var q string
		if err := json.Unmarshal(v.Query, &q); err != nil {
			var obj struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				t.Fatalf("variable %s: unreadable query %s", v.Name, v.Query)
			}
			q = obj.Query
		}
		m := labelValuesRE.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("variable %s: expected label_values(selector, label), got %q", v.Name, q)
			continue
		}
		for _, p := range checkExpr(exported, fmt.Sprintf("sum by (%s) (%s)", m[2], m[1])) {
			t.Errorf("variable %s (%s): %s", v.Name, q, p)
		}
	}
	if !vars["datasource"] {
		t.Error("the dashboard needs a datasource variable, so that it imports into any Grafana")
	}

	ids := map[int]bool{}
	used := map[string]bool{}
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
			if ids[p.ID] {
				t.Errorf("%s: duplicate panel id", where)
			}
			ids[p.ID] = true
			if p.Title == "" {
				t.Errorf("%s: no title", where)
			}
			if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("%s: gridPos %+v does not fit a 24-column grid", where, p.GridPos)
			}
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if !strings.Contains(string(p.Datasource), "${datasource}") {
				t.Errorf("%s: datasource %s is not the ${datasource} variable", where, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no queries", where)
			}
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				if tg.RefID == "" || refs[tg.RefID] {
					t.Errorf("%s: missing or duplicate refId %q", where, tg.RefID)
				}
				refs[tg.RefID] = true
				for _, prob := range checkExpr(exported, tg.Expr) {
					t.Errorf("%s: %s\n\t%s", where, prob, tg.Expr)
				}
				if r, err := scanPromQL(tg.Expr); err == nil {
					for _, s := range r.selectors {
						used[s.name] = true
					}
				}
			}
		}
	}
	walk(d.Panels)
	for _, name := range dashboardMustShow {
		if !used[name] {
			t.Errorf("no panel shows %s", name)
		}
	}
}

// The Prometheus rule-file schema (what promtool reads), strictly: unknown keys are errors.
type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			Alert         string            `yaml:"alert"`
			Record        string            `yaml:"record"`
			Expr          string            `yaml:"expr"`
			For           string            `yaml:"for"`
			KeepFiringFor string            `yaml:"keep_firing_for"`
			Labels        map[string]string `yaml:"labels"`
			Annotations   map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

var (
	promDurationRE = regexp.MustCompile(`^(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$`)
	alertNameRE    = regexp.MustCompile(`^Lifeline[A-Z][A-Za-z0-9]+$`)
)

// promTemplateFuncs stands in for the functions of Prometheus's alert templates, so that the
// annotations are parsed as the templates they are.
func promTemplateFuncs() template.FuncMap {
	fm := template.FuncMap{}
	for _, f := range []string{"humanize", "humanize1024", "humanizeDuration", "humanizePercentage",
		"humanizeTimestamp", "title", "toUpper", "toLower", "match", "reReplaceAll", "query", "first",
		"label", "value", "sortByLabel", "args", "tmpl", "safeHtml", "pathPrefix", "externalURL",
		"graphLink", "tableLink", "stripPort", "stripDomain", "parseDuration", "strvalue", "toTime"} {
		fm[f] = func(...any) any { return nil }
	}
	return fm
}

func TestAlertRules(t *testing.T) {
	data, err := os.ReadFile("prometheus/lifeline-alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("prometheus/lifeline-alerts.yaml: %v", err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	exported := exportedMetrics(t)
	if len(rf.Groups) == 0 {
		t.Fatal("no rule groups")
	}
	groups := map[string]bool{}
	alerts := map[string]bool{}
	used := map[string]bool{}
	for _, g := range rf.Groups {
		if g.Name == "" || groups[g.Name] {
			t.Errorf("group %q: missing or duplicate name", g.Name)
		}
		groups[g.Name] = true
		if g.Interval != "" && !promDurationRE.MatchString(g.Interval) {
			t.Errorf("group %s: interval %q is not a Prometheus duration", g.Name, g.Interval)
		}
		for _, r := range g.Rules {
			where := fmt.Sprintf("rule %q", r.Alert)
			if r.Record != "" || r.Alert == "" {
				t.Errorf("%s: this file holds alerting rules only (alert set, record empty)", where)
				continue
			}
			if !alertNameRE.MatchString(r.Alert) || alerts[r.Alert] {
				t.Errorf("%s: names are unique and LifelineCamelCase", where)
			}
			alerts[r.Alert] = true
			if r.For == "" || !promDurationRE.MatchString(r.For) {
				t.Errorf("%s: for %q is not a Prometheus duration", where, r.For)
			}
			switch r.Labels["severity"] {
			case "critical", "warning", "info":
			default:
				t.Errorf("%s: labels.severity %q (expected critical, warning or info)", where, r.Labels["severity"])
			}
			for _, k := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(r.Annotations[k]) == "" {
					t.Errorf("%s: annotation %s is missing", where, k)
				}
			}
			for k, v := range r.Annotations {
				// Prometheus defines these variables before expanding an annotation.
				const header = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"
				if _, err := template.New(k).Funcs(promTemplateFuncs()).Parse(header + v); err != nil {
					t.Errorf("%s: annotation %s does not parse as a template: %v", where, k, err)
				}
			}
			anchor := strings.ToLower(r.Alert)
			if !strings.HasSuffix(r.Annotations["runbook_url"], "deploy/README.md#"+anchor) {
				t.Errorf("%s: runbook_url should point at deploy/README.md#%s", where, anchor)
			}
			if !strings.Contains(string(readme), "\n### "+r.Alert+"\n") {
				t.Errorf("%s: README.md has no runbook section \"### %s\"", where, r.Alert)
			}
			for _, p := range checkExpr(exported, r.Expr) {
				t.Errorf("%s: %s\n\t%s", where, p, r.Expr)
			}
			if refs, err := scanPromQL(r.Expr); err == nil {
				for _, s := range refs.selectors {
					used[s.name] = true
				}
			}
		}
	}
	// The engine conditions issue 5 asks to alert on.
	for _, name := range []string{"lifeline_consumer_lag_records", "lifeline_dead_letters_total",
		"lifeline_restore_remaining_records", "lifeline_partitions_ready", "lifeline_partitions_assigned",
		"lifeline_processing_latency_seconds_bucket", "lifeline_events_processed_total", "lifeline_batches_total"} {
		if !used[name] {
			t.Errorf("no alert uses %s", name)
		}
	}
	var names []string
	for a := range alerts {
		names = append(names, a)
	}
	sort.Strings(names)
	t.Logf("%d alerts: %s", len(names), strings.Join(names, ", "))
}

// promtoolTests is the schema of a `promtool test rules` file, strictly.
type promtoolTests struct {
	RuleFiles          []string `yaml:"rule_files"`
	EvaluationInterval string   `yaml:"evaluation_interval"`
	Tests              []struct {
		Name        string `yaml:"name"`
		Interval    string `yaml:"interval"`
		InputSeries []struct {
			Series string `yaml:"series"`
			Values string `yaml:"values"`
		} `yaml:"input_series"`
		AlertRuleTest []struct {
			EvalTime  string `yaml:"eval_time"`
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `yaml:"exp_labels"`
				ExpAnnotations map[string]string `yaml:"exp_annotations"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestAlertRuleUnitTests checks the promtool unit tests without promtool: they cover every
// alert (firing at least once), their input series are metrics and labels the binary exports,
// and the severities they expect are the rules'. promtool itself runs them where it is
// installed (`promtool test rules prometheus/lifeline-alerts_test.yaml`).
func TestAlertRuleUnitTests(t *testing.T) {
	var rf ruleFile
	if err := readYAML("prometheus/lifeline-alerts.yaml", &rf); err != nil {
		t.Fatal(err)
	}
	severity := map[string]string{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			severity[r.Alert] = r.Labels["severity"]
		}
	}
	data, err := os.ReadFile("prometheus/lifeline-alerts_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var pt promtoolTests
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&pt); err != nil {
		t.Fatalf("prometheus/lifeline-alerts_test.yaml: %v", err)
	}
	if len(pt.RuleFiles) != 1 || pt.RuleFiles[0] != "lifeline-alerts.yaml" {
		t.Errorf("rule_files %v: expected [lifeline-alerts.yaml]", pt.RuleFiles)
	}
	exported := exportedMetrics(t)
	fires := map[string]bool{}
	for _, tc := range pt.Tests {
		if tc.Interval == "" || !promDurationRE.MatchString(tc.Interval) {
			t.Errorf("test %q: interval %q is not a Prometheus duration", tc.Name, tc.Interval)
		}
		for _, s := range tc.InputSeries {
			for _, p := range checkExpr(exported, s.Series) {
				t.Errorf("test %q: input series %s: %s", tc.Name, s.Series, p)
			}
		}
		for _, at := range tc.AlertRuleTest {
			want, ok := severity[at.Alertname]
			if !ok {
				t.Errorf("test %q: no alert named %s", tc.Name, at.Alertname)
				continue
			}
			for _, e := range at.ExpAlerts {
				fires[at.Alertname] = true
				if e.ExpLabels["severity"] != want {
					t.Errorf("test %q: %s expects severity %q, the rule says %q", tc.Name, at.Alertname, e.ExpLabels["severity"], want)
				}
				if e.ExpAnnotations["summary"] == "" {
					t.Errorf("test %q: %s: promtool compares annotations; exp_annotations are missing", tc.Name, at.Alertname)
				}
			}
		}
	}
	for a := range severity {
		if !fires[a] {
			t.Errorf("no promtool test makes %s fire", a)
		}
	}
}
