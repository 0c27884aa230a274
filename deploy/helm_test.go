package deploy_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"text/template"

	"go.yaml.in/yaml/v3"

	"github.com/lifeline-hq/lifeline/config"
)

const chartDir = "helm/lifeline"

// helmRelease is what `helm template NAME CHART -n NAMESPACE -f OVERRIDES` is given.
type helmRelease struct {
	name, namespace string
	overrides       string // YAML merged over values.yaml
}

// renderChart renders the chart the way Helm 3 does, for what this chart uses: every file in
// templates/ parsed into one template set (so defines are shared), the functions the templates
// call with Helm's semantics (helmFuncs; a template calling any other fails the test), values
// parsed as Helm parses them (numbers become float64 through JSON), the files whose names start
// with _ not rendered, and the output split into YAML documents. It is stricter than Helm in one
// way: a missing map key is an error instead of "<no value>", so every value a template reads
// must be in values.yaml. It returns the documents by file, and NOTES.txt.
func renderChart(t *testing.T, rel helmRelease) (map[string][]string, string, error) {
	t.Helper()
	var chart struct {
		Name       string `yaml:"name"`
		Version    string `yaml:"version"`
		AppVersion string `yaml:"appVersion"`
	}
	if err := readYAML(filepath.Join(chartDir, "Chart.yaml"), &chart); err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := readYAML(filepath.Join(chartDir, "values.yaml"), &values); err != nil {
		t.Fatal(err)
	}
	if rel.overrides != "" {
		var over map[string]any
		if err := yaml.Unmarshal([]byte(rel.overrides), &over); err != nil {
			t.Fatal(err)
		}
		values = mergeValues(values, over)
	}
	values = asJSON(t, values).(map[string]any)

	top := map[string]any{
		"Values": values,
		"Release": map[string]any{
			"Name": rel.name, "Namespace": rel.namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Chart": map[string]any{"Name": chart.Name, "Version": chart.Version, "AppVersion": chart.AppVersion},
		"Capabilities": map[string]any{
			"KubeVersion": map[string]any{"Version": "v1.31.0", "Major": "1", "Minor": "31"},
		},
		"Template": map[string]any{"BasePath": chart.Name + "/templates"},
	}

	files, err := filepath.Glob(filepath.Join(chartDir, "templates", "*"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	root := template.New("chart").Option("missingkey=error")
	funcs := helmFuncs(root)
	used, err := templateFuncs(files)
	if err != nil {
		t.Fatal(err)
	}
	if missing := undefinedFuncs(used, funcs); len(missing) > 0 {
		t.Fatalf("the chart calls functions this emulation of Helm does not define: %s.\n"+
			"Add each to helmFuncs (helmfuncs_test.go) with Helm's semantics, and a case to TestHelmFuncs.",
			strings.Join(missing, "; "))
	}
	root.Funcs(funcs)

	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := root.New(filepath.Base(f)).Parse(string(text)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	docs := map[string][]string{}
	var notes string
	for _, f := range files {
		base := filepath.Base(f)
		if strings.HasPrefix(base, "_") {
			continue
		}
		var buf bytes.Buffer
		tp := top
		tp["Template"].(map[string]any)["Name"] = chart.Name + "/templates/" + base
		if err := root.ExecuteTemplate(&buf, base, tp); err != nil {
			return nil, "", err
		}
		if base == "NOTES.txt" {
			notes = buf.String()
			continue
		}
		for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(buf.String(), -1) {
			if strings.TrimSpace(stripComments(d)) != "" {
				docs[base] = append(docs[base], d)
			}
		}
	}
	return docs, notes, nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func readYAML(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// asJSON round-trips v through JSON, as Helm's values loading (sigs.k8s.io/yaml) does: maps
// become map[string]any and every number a float64.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// helmToYAML is Helm's toYaml: YAML through JSON (sorted keys), without the final newline.
// One difference in form, not in content: yaml.v3 indents list items under their key, where
// Helm (sigs.k8s.io/yaml) writes them flush with it.
func helmToYAML(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var generic any
	if err := yaml.Unmarshal(data, &generic); err != nil {
		return ""
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(generic); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// mergeValues merges over into base as Helm merges -f files: maps deeply, anything else replaced.
func mergeValues(base, over map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = mergeValues(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// k8sObject is a rendered document, parsed.
type k8sObject map[string]any

func (o k8sObject) get(path ...any) any {
	var cur any = map[string]any(o)
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = m[k]
		case int:
			l, ok := cur.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			cur = l[k]
		}
	}
	return cur
}

func (o k8sObject) str(path ...any) string {
	s, _ := o.get(path...).(string)
	return s
}

func (o k8sObject) kind() string { return o.str("kind") }
func (o k8sObject) name() string { return o.str("metadata", "name") }

var dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// parseObjects parses every rendered document and checks what every Kubernetes object needs.
func parseObjects(t *testing.T, docs map[string][]string) []k8sObject {
	t.Helper()
	var objs []k8sObject
	var files []string
	for f := range docs {
		files = append(files, f)
	}
	sort.Strings(files)
	seen := map[string]bool{}
	for _, f := range files {
		for i, d := range docs[f] {
			// Decoded as a plain map: yaml.v3 would give nested maps a named map type.
			var m map[string]any
			dec := yaml.NewDecoder(strings.NewReader(d))
			if err := dec.Decode(&m); err != nil {
				t.Fatalf("%s document %d does not parse as YAML: %v\n%s", f, i, err, d)
			}
			o := k8sObject(m)
			where := fmt.Sprintf("%s document %d", f, i)
			if o.str("apiVersion") == "" || o.kind() == "" || o.name() == "" {
				t.Errorf("%s: apiVersion, kind and metadata.name are needed\n%s", where, d)
			}
			if len(o.name()) > 63 || !dnsLabelRE.MatchString(o.name()) {
				t.Errorf("%s: name %q is not a DNS label", where, o.name())
			}
			if o.str("metadata", "namespace") == "" {
				t.Errorf("%s: no metadata.namespace", where)
			}
			key := o.kind() + "/" + o.name()
			if seen[key] {
				t.Errorf("%s: %s rendered twice", where, key)
			}
			seen[key] = true
			objs = append(objs, o)
		}
	}
	return objs
}

func byKind(objs []k8sObject, kind string) []k8sObject {
	var out []k8sObject
	for _, o := range objs {
		if o.kind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func one(t *testing.T, objs []k8sObject, kind string) k8sObject {
	t.Helper()
	l := byKind(objs, kind)
	if len(l) != 1 {
		t.Fatalf("%d objects of kind %s rendered, want 1", len(l), kind)
	}
	return l[0]
}

func stringMap(v any) map[string]string {
	out := map[string]string{}
	m, _ := v.(map[string]any)
	for k, x := range m {
		out[k] = fmt.Sprint(x)
	}
	return out
}

// selects reports whether selector matches every label in it.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// podEnviron is the environment the container would get: literal values, the pod name for
// fieldRef metadata.name, and secret keys from the rendered Secrets (or from extSecrets for
// Secrets the chart does not own).
func podEnviron(t *testing.T, container k8sObject, objs []k8sObject, pod string, extSecrets map[string]map[string]string) []string {
	t.Helper()
	secrets := map[string]map[string]string{}
	for n, s := range extSecrets {
		secrets[n] = s
	}
	for _, s := range byKind(objs, "Secret") {
		data := stringMap(s.get("stringData"))
		for k, v := range stringMap(s.get("data")) {
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				t.Fatalf("Secret %s key %s: %v", s.name(), k, err)
			}
			data[k] = string(b)
		}
		secrets[s.name()] = data
	}
	env, _ := container.get("env").([]any)
	var out []string
	for _, e := range env {
		ev := k8sObject(e.(map[string]any))
		name := ev.str("name")
		switch {
		case ev.get("value") != nil:
			out = append(out, name+"="+fmt.Sprint(ev.get("value")))
		case ev.str("valueFrom", "fieldRef", "fieldPath") == "metadata.name":
			out = append(out, name+"="+pod)
		case ev.get("valueFrom", "secretKeyRef") != nil:
			sn, sk := ev.str("valueFrom", "secretKeyRef", "name"), ev.str("valueFrom", "secretKeyRef", "key")
			v, ok := secrets[sn][sk]
			if !ok {
				t.Errorf("env %s: secret %s has no key %s", name, sn, sk)
			}
			out = append(out, name+"="+v)
		default:
			t.Errorf("env %s: unexpected source %v", name, ev)
		}
	}
	return out
}

func TestHelmChart(t *testing.T) {
	rulePack := "# a rule pack\nversion: test-1\n"
	for _, tc := range []struct {
		name       string
		rel        helmRelease
		extSecrets map[string]map[string]string
		check      func(t *testing.T, objs []k8sObject, cfg config.Config, notes string)
	}{
		{
			name: "defaults",
			rel:  helmRelease{name: "lifeline", namespace: "default"},
			check: func(t *testing.T, objs []k8sObject, cfg config.Config, notes string) {
				sts := one(t, objs, "StatefulSet")
				if r, _ := sts.get("spec", "replicas").(int); r != 3 {
					t.Errorf("replicas %v, want 3", sts.get("spec", "replicas"))
				}
				if len(byKind(objs, "ScaledObject")) != 0 || len(byKind(objs, "Secret")) != 0 {
					t.Error("KEDA and SASL objects rendered without being enabled")
				}
				if cfg.ClientID != "lifeline-0" || cfg.Rules != "" || cfg.SASL.Mechanism != "" {
					t.Errorf("client_id %q rules %q sasl %q", cfg.ClientID, cfg.Rules, cfg.SASL.Mechanism)
				}
				// A customer lookup asks every pod of the headless Service, at the container port.
				if want := "dns+http://" + sts.str("spec", "serviceName") + ".default.svc:8080"; len(cfg.API.Peers) != 1 || cfg.API.Peers[0] != want {
					t.Errorf("api.peers %q, want [%s]", cfg.API.Peers, want)
				}
				if !strings.Contains(notes, "statefulset/lifeline") {
					t.Errorf("NOTES.txt:\n%s", notes)
				}
			},
		},
		{
			name: "keda, sasl, tls and a rule pack",
			rel: helmRelease{name: "cs", namespace: "analytics", overrides: `
config:
  brokers: [b-1.kafka:9096, b-2.kafka:9096]
  topics: {input: segment-events}
  create_topics: {partitions: 24}
  api: {peers: ["http://lifeline-a.analytics:8080", "http://lifeline-b.analytics:8080"]}
keda: {enabled: true, maxReplicaCount: 24, lagThreshold: 2000000}
sasl: {mechanism: SCRAM-SHA-512, username: lifeline, password: s3cret}
tls: {enabled: true, existingSecret: kafka-ca}
goMemLimit: 1800MiB
serviceMonitor: {enabled: true}
rules:
  pack: |
    # a rule pack
    version: test-1
`},
			extSecrets: map[string]map[string]string{"kafka-ca": {"ca.crt": "PEM"}},
			check: func(t *testing.T, objs []k8sObject, cfg config.Config, notes string) {
				sts := one(t, objs, "StatefulSet")
				if sts.get("spec", "replicas") != nil {
					t.Error("with KEDA, the StatefulSet must leave replicas to the autoscaler")
				}
				so := one(t, objs, "ScaledObject")
				if so.str("spec", "scaleTargetRef", "kind") != "StatefulSet" || so.str("spec", "scaleTargetRef", "name") != sts.name() {
					t.Errorf("ScaledObject targets %v", so.get("spec", "scaleTargetRef"))
				}
				if mx, _ := so.get("spec", "maxReplicaCount").(int); mx != 24 {
					t.Errorf("maxReplicaCount %v", so.get("spec", "maxReplicaCount"))
				}
				trig := k8sObject(so.get("spec", "triggers", 0).(map[string]any))
				want := map[string]string{
					"bootstrapServers": "b-1.kafka:9096,b-2.kafka:9096", "consumerGroup": "lifeline",
					"topic": "segment-events", "lagThreshold": "2000000", "sasl": "scram_sha512", "tls": "enable",
				}
				got := stringMap(trig.get("metadata"))
				for k, v := range want {
					if got[k] != v {
						t.Errorf("trigger metadata %s = %q, want %q", k, got[k], v)
					}
				}
				if trig.str("type") != "kafka" {
					t.Errorf("trigger type %q", trig.str("type"))
				}
				ta := one(t, objs, "TriggerAuthentication")
				if trig.str("authenticationRef", "name") != ta.name() {
					t.Errorf("the trigger does not use TriggerAuthentication %s", ta.name())
				}
				if cfg.ClientID != "cs-lifeline-0" || cfg.SASL.Username != "lifeline" || cfg.SASL.Password != "s3cret" ||
					cfg.TLS.CAFile != "/etc/lifeline-tls/ca.crt" || cfg.Rules != "/etc/lifeline-rules/rules.yaml" {
					t.Errorf("config as the pod sees it: %+v", cfg)
				}
				if !slices.Equal(cfg.API.Peers, []string{"http://lifeline-a.analytics:8080", "http://lifeline-b.analytics:8080"}) {
					t.Errorf("api.peers %q: config.api.peers does not replace the headless Service", cfg.API.Peers)
				}
				var rules k8sObject
				for _, cm := range byKind(objs, "ConfigMap") {
					if strings.HasSuffix(cm.name(), "-rules") {
						rules = cm
					}
				}
				if rules == nil || rules.str("data", "rules.yaml") != rulePack {
					t.Errorf("the rule pack ConfigMap does not carry rules.pack verbatim: %v", rules)
				}
				sm := one(t, objs, "ServiceMonitor")
				if !selects(stringMap(sm.get("spec", "selector", "matchLabels")), stringMap(serviceNamed(objs, sts.str("spec", "serviceName")).get("metadata", "labels"))) {
					t.Error("the ServiceMonitor does not select the headless Service")
				}
			},
		},
		{
			name: "http ingest",
			rel: helmRelease{name: "lifeline", namespace: "default", overrides: `
ingest: {enabled: true, port: 8090}
config:
  ingest: {http: {write_keys: [wk_live], max_body_bytes: 2097152}}
`},
			check: func(t *testing.T, objs []k8sObject, cfg config.Config, notes string) {
				h := cfg.Ingest.HTTP
				if h.Addr != "0.0.0.0:8090" || len(h.WriteKeys) != 1 || h.MaxBodyBytes != 2<<20 {
					t.Errorf("ingest config as the pod sees it: %+v", h)
				}
				sts := one(t, objs, "StatefulSet")
				ports, _ := sts.get("spec", "template", "spec", "containers", 0, "ports").([]any)
				found := false
				for _, p := range ports {
					pm := k8sObject(p.(map[string]any))
					if pm.str("name") == "ingest" && pm.get("containerPort") == 8090 {
						found = true
					}
				}
				if !found {
					t.Errorf("the container does not open the ingest port 8090: %v", ports)
				}
				svc := serviceNamed(objs, "lifeline")
				sports, _ := svc.get("spec", "ports").([]any)
				found = false
				for _, p := range sports {
					pm := k8sObject(p.(map[string]any))
					if pm.str("name") == "ingest" && pm.get("port") == 8090 && pm.str("targetPort") == "ingest" {
						found = true
					}
				}
				if !found {
					t.Errorf("the Service does not expose the ingest port: %v", sports)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, notes, err := renderChart(t, tc.rel)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			objs := parseObjects(t, docs)
			sts := one(t, objs, "StatefulSet")
			pod := k8sObject(sts.get("spec", "template").(map[string]any))
			podLabels := stringMap(pod.get("metadata", "labels"))
			if !selects(stringMap(sts.get("spec", "selector", "matchLabels")), podLabels) {
				t.Error("the StatefulSet's selector does not match its pod labels")
			}
			containers, _ := pod.get("spec", "containers").([]any)
			if len(containers) != 1 {
				t.Fatalf("%d containers", len(containers))
			}
			c := k8sObject(containers[0].(map[string]any))

			// Readiness on /readyz, liveness on /healthz, on the container's http port.
			if c.str("readinessProbe", "httpGet", "path") != "/readyz" || c.str("livenessProbe", "httpGet", "path") != "/healthz" {
				t.Errorf("probes: readiness %v liveness %v", c.get("readinessProbe"), c.get("livenessProbe"))
			}
			if c.get("ports", 0, "containerPort") != 8080 || c.str("readinessProbe", "httpGet", "port") != c.str("ports", 0, "name") {
				t.Errorf("ports %v", c.get("ports"))
			}
			// The pod name as client_id.
			env := podEnviron(t, c, objs, "x", tc.extSecrets)
			if !slices.Contains(env, "LIFELINE_CLIENT_ID=x") {
				t.Errorf("no LIFELINE_CLIENT_ID from metadata.name in %v", env)
			}
			// Service links would inject a variable per Service in the namespace (for one named
			// lifeline: LIFELINE_SERVICE_HOST & co., which the config ignores): Lifeline needs none.
			if pod.get("spec", "enableServiceLinks") != false {
				t.Error("enableServiceLinks must be false")
			}
			// Graceful termination and a non-root, read-only container.
			if g, _ := pod.get("spec", "terminationGracePeriodSeconds").(int); g < 60 {
				t.Errorf("terminationGracePeriodSeconds %v", pod.get("spec", "terminationGracePeriodSeconds"))
			}
			if pod.get("spec", "securityContext", "runAsNonRoot") != true || c.get("securityContext", "readOnlyRootFilesystem") != true ||
				c.get("securityContext", "allowPrivilegeEscalation") != false {
				t.Errorf("security context: pod %v container %v", pod.get("spec", "securityContext"), c.get("securityContext"))
			}
			if c.get("resources", "requests", "memory") == nil || c.get("resources", "limits", "memory") == nil {
				t.Errorf("resources %v", c.get("resources"))
			}
			// The store's volume from a claim template at /var/lib/lifeline; every other mount
			// has a volume.
			vcts, _ := sts.get("spec", "volumeClaimTemplates").([]any)
			if len(vcts) != 1 {
				t.Fatalf("%d volumeClaimTemplates", len(vcts))
			}
			vct := k8sObject(vcts[0].(map[string]any))
			if vct.get("spec", "resources", "requests", "storage") == nil {
				t.Error("the volumeClaimTemplate requests no storage")
			}
			volumes := map[string]bool{vct.name(): true}
			vols, _ := pod.get("spec", "volumes").([]any)
			for _, v := range vols {
				volumes[k8sObject(v.(map[string]any)).name()] = true
				volumes[k8sObject(v.(map[string]any)).str("name")] = true
			}
			mounts := map[string]string{}
			ms, _ := c.get("volumeMounts").([]any)
			for _, m := range ms {
				mo := k8sObject(m.(map[string]any))
				mounts[mo.str("mountPath")] = mo.str("name")
				if !volumes[mo.str("name")] {
					t.Errorf("volumeMount %s has no volume", mo.str("name"))
				}
			}
			if mounts["/var/lib/lifeline"] != vct.name() {
				t.Errorf("/var/lib/lifeline is mounted from %q, not the claim template %q", mounts["/var/lib/lifeline"], vct.name())
			}
			// Services: the headless one governs the StatefulSet; both select the pods.
			headless := serviceNamed(objs, sts.str("spec", "serviceName"))
			if headless == nil || headless.str("spec", "clusterIP") != "None" {
				t.Errorf("the StatefulSet's serviceName %q is not a headless Service", sts.str("spec", "serviceName"))
			}
			svcs := byKind(objs, "Service")
			if len(svcs) != 2 {
				t.Errorf("%d Services, want the headless one and the HTTP one", len(svcs))
			}
			for _, s := range svcs {
				if !selects(stringMap(s.get("spec", "selector")), podLabels) {
					t.Errorf("Service %s does not select the pods", s.name())
				}
			}
			pdb := one(t, objs, "PodDisruptionBudget")
			if pdb.get("spec", "maxUnavailable") != 1 || !selects(stringMap(pdb.get("spec", "selector", "matchLabels")), podLabels) {
				t.Errorf("PodDisruptionBudget spec %v", pdb.get("spec"))
			}
			// lifeline.yaml from the ConfigMap, with the pod's environment, loads and validates
			// through the code `lifeline run` uses.
			var cm k8sObject
			for _, o := range byKind(objs, "ConfigMap") {
				if o.str("data", "lifeline.yaml") != "" {
					cm = o
				}
			}
			if cm == nil {
				t.Fatal("no ConfigMap with lifeline.yaml")
			}
			if mounts["/etc/lifeline"] == "" {
				t.Error("the config is not mounted at /etc/lifeline")
			}
			if args, _ := c.get("args").([]any); fmt.Sprint(args) != "[run --config /etc/lifeline/lifeline.yaml]" {
				t.Errorf("args %v", args)
			}
			path := filepath.Join(t.TempDir(), "lifeline.yaml")
			if err := os.WriteFile(path, []byte(cm.str("data", "lifeline.yaml")), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := loadConfig(path, podEnviron(t, c, objs, sts.name()+"-0", tc.extSecrets))
			if err != nil {
				t.Fatalf("the rendered lifeline.yaml does not load: %v\n%s", err, cm.str("data", "lifeline.yaml"))
			}
			if cfg.HTTP != "0.0.0.0:8080" || cfg.StateDir != "/var/lib/lifeline" {
				t.Errorf("http %q state_dir %q", cfg.HTTP, cfg.StateDir)
			}
			if strings.Contains(cm.str("data", "lifeline.yaml"), "password") {
				t.Error("the ConfigMap must not carry the SASL password")
			}
			tc.check(t, objs, cfg, notes)
		})
	}
}

func TestHelmChartRejects(t *testing.T) {
	for _, tc := range []struct{ name, overrides, want string }{
		{"sasl without a password", `sasl: {mechanism: PLAIN, username: u}`, "sasl.password is needed"},
		{"keda down to zero", `keda: {enabled: true, minReplicaCount: 0}`, "minReplicaCount must be at least 1"},
		{"unknown sasl mechanism for keda", `{keda: {enabled: true}, sasl: {mechanism: GSSAPI, existingSecret: s}}`, "expected PLAIN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := renderChart(t, helmRelease{name: "lifeline", namespace: "default", overrides: tc.overrides})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func serviceNamed(objs []k8sObject, name string) k8sObject {
	for _, s := range byKind(objs, "Service") {
		if s.name() == name {
			return s
		}
	}
	return nil
}
