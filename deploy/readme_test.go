package deploy_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lifeline-hq/lifeline/config"
)

// snippet is a piece of the guide a reader copies: an inline code span or a fenced code block.
type snippet struct {
	lang string // a fenced block's info string ("sh", "promql"); empty for a span
	text string // a span's text has its line breaks folded into spaces
	line int    // where it starts
	end  int    // offset in guide.prose just after a span's closing backtick
}

// guide is deploy/README.md, read the way an operator uses it.
type guide struct {
	text   string    // the whole file
	prose  string    // the file with the fenced blocks' lines blanked (line numbers kept)
	spans  []snippet // inline code, outside fenced blocks
	blocks []snippet // fenced code blocks
}

var spanRE = regexp.MustCompile("`([^`]+)`")

func readGuide(t *testing.T) *guide {
	t.Helper()
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	g := &guide{text: string(data)}
	lines := strings.Split(g.text, "\n")
	var prose []string
	var block *snippet
	var body []string
	for i, l := range lines {
		fence := strings.HasPrefix(strings.TrimSpace(l), "```")
		switch {
		case block == nil && fence:
			block = &snippet{lang: strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "```")), line: i + 2}
			body = nil
			prose = append(prose, "")
		case block != nil && fence:
			block.text = strings.Join(body, "\n")
			g.blocks = append(g.blocks, *block)
			block = nil
			prose = append(prose, "")
		case block != nil:
			body = append(body, l)
			prose = append(prose, "")
		default:
			prose = append(prose, l)
		}
	}
	if block != nil {
		t.Fatalf("README.md:%d: the code block is not closed", block.line-1)
	}
	g.prose = strings.Join(prose, "\n")
	for _, m := range spanRE.FindAllStringSubmatchIndex(g.prose, -1) {
		g.spans = append(g.spans, snippet{
			text: strings.Join(strings.Fields(g.prose[m[2]:m[3]]), " "),
			line: g.proseLine(m[0]),
			end:  m[1],
		})
	}
	return g
}

// textLine and proseLine are the line numbers of offsets in text and in prose.
func (g *guide) textLine(offset int) int  { return 1 + strings.Count(g.text[:offset], "\n") }
func (g *guide) proseLine(offset int) int { return 1 + strings.Count(g.prose[:offset], "\n") }

// section returns the prose of the "## title" section, and the offset in prose it starts at.
func (g *guide) section(t *testing.T, title string) (string, int) {
	t.Helper()
	start := strings.Index(g.prose, "\n## "+title+"\n")
	if start < 0 {
		t.Fatalf("README.md: no section %q", title)
	}
	end := strings.Index(g.prose[start+1:], "\n## ")
	if end < 0 {
		return g.prose[start:], start
	}
	return g.prose[start : start+1+end], start
}

// TestReadme checks what an operator copies out of the operations guide against what the binary,
// the config package, the chart, the alert rules and the dashboard define. Each subtest names
// README.md:line of what it finds wrong.
func TestReadme(t *testing.T) {
	g := readGuide(t)
	exported := exportedMetrics(t)

	// Every lifeline_* name is a metric the binary exports. A name with a (a|b) group, as in a
	// grep -E pattern, stands for each of its expansions.
	t.Run("metric names", func(t *testing.T) {
		for _, m := range metricMentionRE.FindAllStringIndex(g.text, -1) {
			for _, name := range expandAlternatives(g.text[m[0]:m[1]]) {
				if strings.HasSuffix(name, "_") {
					continue // the prefix itself
				}
				if _, _, ok := lookup(exported, name); !ok {
					t.Errorf("README.md:%d: %s is not a metric lifeline exports", g.textLine(m[0]), name)
				}
			}
		}
	})

	// An inline code span that names a lifeline_ metric is PromQL, as is every expression of a
	// ```promql block (expressions are separated by blank lines; # starts a comment): each refers
	// only to metrics and labels the binary exports. Shell commands belong in ```sh blocks.
	t.Run("PromQL", func(t *testing.T) {
		var exprs []snippet
		for _, s := range g.spans {
			if metricMentionRE.MatchString(s.text) {
				exprs = append(exprs, s)
			}
		}
		for _, b := range g.blocks {
			if b.lang != "promql" {
				continue
			}
			var cur []string
			start := b.line
			for i, l := range append(strings.Split(b.text, "\n"), "") {
				if c, _, _ := strings.Cut(l, "#"); strings.TrimSpace(c) != "" {
					if len(cur) == 0 {
						start = b.line + i
					}
					cur = append(cur, c)
					continue
				}
				if strings.TrimSpace(l) == "" && len(cur) > 0 {
					exprs = append(exprs, snippet{text: strings.Join(cur, "\n"), line: start})
					cur = nil
				}
			}
		}
		if len(exprs) == 0 {
			t.Fatal("README.md: no PromQL found: has the guide stopped quoting metrics in code?")
		}
		for _, e := range exprs {
			for _, p := range checkExpr(exported, e.text) {
				t.Errorf("README.md:%d: %s\n\t%s", e.line, p, e.text)
			}
		}
	})

	// Every alert named is one of prometheus/lifeline-alerts.yaml; every alert there has its
	// runbook section and every runbook section is an alert.
	t.Run("alerts", func(t *testing.T) {
		var rf ruleFile
		if err := readYAML("prometheus/lifeline-alerts.yaml", &rf); err != nil {
			t.Fatal(err)
		}
		alerts := map[string]bool{}
		for _, gr := range rf.Groups {
			for _, r := range gr.Rules {
				alerts[r.Alert] = true
			}
		}
		for _, m := range alertMentionRE.FindAllStringIndex(g.text, -1) {
			if name := g.text[m[0]:m[1]]; !alerts[name] {
				t.Errorf("README.md:%d: %s is not an alert of prometheus/lifeline-alerts.yaml", g.textLine(m[0]), name)
			}
		}
		runbook, at := g.section(t, "Alert runbook")
		sections := map[string]bool{}
		for _, m := range regexp.MustCompile(`(?m)^### (.+)$`).FindAllStringSubmatchIndex(runbook, -1) {
			name := runbook[m[2]:m[3]]
			sections[name] = true
			if !alerts[name] {
				t.Errorf("README.md:%d: runbook section %q is for no alert of prometheus/lifeline-alerts.yaml", g.proseLine(at+m[0]), name)
			}
		}
		for a := range alerts {
			if !sections[a] {
				t.Errorf("README.md: alert %s has no runbook section \"### %s\"", a, a)
			}
		}
	})

	// A code span that starts with a top-level config key (`state_dir`, `engine.cache_states`,
	// `log.format: json`, `tls.*`) or chart value (`keda.enabled`, `rules.pack`) is a key path of
	// one of them. A config key shown with a value (`guarantee: exactly_once`) loads and validates
	// with it; a config key followed by "(default X)" or ", default X" has that default. Spans
	// that start with anything else (topic names, broker settings, files) are not keys.
	t.Run("config keys and chart values", func(t *testing.T) {
		cfgPaths := configPaths()
		helmPaths := chartValuePaths(t)
		defaults := config.Defaults()
		for _, s := range g.spans {
			m := keyMentionRE.FindStringSubmatch(s.text)
			if m == nil {
				continue
			}
			path, value := m[1], m[3]+m[4]
			top, _, _ := strings.Cut(path, ".")
			if _, ok := cfgPaths[top]; !ok && !helmPaths[top] {
				continue
			}
			// tls.* names a section; engine or engine: a section or a key; engine.x: v a key.
			prefix, wildcard := strings.CutSuffix(path, ".*")
			leaf, isConfig := cfgPaths[prefix]
			if wildcard {
				isConfig = isConfig && !leaf
			} else if value != "" {
				isConfig = isConfig && leaf
			}
			if !isConfig && !helmPaths[prefix] {
				t.Errorf("README.md:%d: `%s` is neither a config key (lifeline.example.yaml) nor a chart value (helm/lifeline/values.yaml)", s.line, s.text)
				continue
			}
			if !isConfig || !leaf || wildcard {
				continue
			}
			if value != "" && !helmPaths[path] {
				if err := loadConfigWith(t, path, value); err != nil {
					t.Errorf("README.md:%d: `%s` does not load: %v", s.line, s.text, err)
				}
			}
			if d := defaultRE.FindStringSubmatch(g.prose[s.end:]); d != nil && value == "" {
				if want := d[1] + d[2]; !sameValue(configValue(&defaults, path), want) {
					t.Errorf("README.md:%d: %s defaults to %v (config.Defaults), not %s", s.line, path, configValue(&defaults, path).Interface(), want)
				}
			}
		}
	})

	// Every LIFELINE_* variable named sets a config key through config.ApplyEnv (with the value
	// the guide gives, or one of the key's type), or is one ApplyEnv accepts and ignores (the
	// service-link variables Kubernetes injects). None stops `lifeline run`.
	t.Run("environment variables", func(t *testing.T) {
		for _, m := range envMentionRE.FindAllStringSubmatchIndex(g.text, -1) {
			name, value := g.text[m[2]:m[3]], ""
			if m[4] >= 0 {
				value = g.text[m[4]:m[5]]
			}
			where := fmt.Sprintf("README.md:%d: %s", g.textLine(m[0]), name)
			cfg := config.Defaults()
			field, isKey := envField(&cfg, name)
			if value == "" || value == "..." {
				value = "probe"
				if isKey {
					value = probeValue(field)
				}
			}
			if err := config.ApplyEnv(&cfg, []string{name + "=" + value}); err != nil {
				t.Errorf("%s: `lifeline run` stops on it: %v", where, err)
				continue
			}
			changed := !reflect.DeepEqual(cfg, config.Defaults())
			switch {
			case isKey && !changed:
				t.Errorf("%s=%s changes no config key", where, value)
			case !isKey && changed:
				t.Errorf("%s is no config key, yet ApplyEnv changed the config", where)
			}
		}
	})

	// Every helm install/upgrade/template command in a ```sh block sets only values the chart has,
	// and renders, with the Secret the guide says to create, pods whose lifeline.yaml loads.
	t.Run("helm commands", func(t *testing.T) {
		secrets := guideSecrets(g.text)
		n := 0
		for _, b := range g.blocks {
			if b.lang != "sh" {
				continue
			}
			for _, cmd := range shellCommands(b) {
				if len(cmd.args) < 4 || cmd.args[0] != "helm" || (cmd.args[1] != "install" && cmd.args[1] != "upgrade" && cmd.args[1] != "template") {
					continue
				}
				n++
				checkHelmCommand(t, cmd, secrets)
			}
		}
		if n == 0 {
			t.Error("README.md: no helm command found in a ```sh block")
		}
	})

	// Every dashboard row is described in "Reading the dashboard" under its title, and every
	// panel, stat or row the guide names in quotes is on the dashboard.
	t.Run("dashboard", func(t *testing.T) {
		data, err := os.ReadFile("grafana/lifeline-dashboard.json")
		if err != nil {
			t.Fatal(err)
		}
		var d grafanaDashboard
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatal(err)
		}
		rows, panels := map[string]bool{}, map[string]bool{}
		var walk func([]grafanaPanel)
		walk = func(ps []grafanaPanel) {
			for _, p := range ps {
				if p.Type == "row" {
					rows[p.Title] = true
					walk(p.Panels)
				} else {
					panels[p.Title] = true
				}
			}
		}
		walk(d.Panels)
		reading, at := g.section(t, "Reading the dashboard")
		described := map[string]bool{}
		for _, m := range regexp.MustCompile(`(?m)^- \*\*(.+?)\*\*`).FindAllStringSubmatchIndex(reading, -1) {
			title := reading[m[2]:m[3]]
			described[title] = true
			if !rows[title] {
				t.Errorf("README.md:%d: the dashboard has no row %q", g.proseLine(at+m[0]), title)
			}
		}
		for r := range rows {
			if !described[r] {
				t.Errorf("README.md: \"Reading the dashboard\" does not describe the row %q (a bullet - **%s**: ...)", r, r)
			}
		}
		for _, m := range quotedPanelRE.FindAllStringSubmatchIndex(g.prose, -1) {
			title, kind := strings.Join(strings.Fields(g.prose[m[2]:m[3]]), " "), g.prose[m[4]:m[5]]
			if (kind == "row" && !rows[title]) || (kind != "row" && !panels[title]) {
				t.Errorf("README.md:%d: the dashboard has no %s %q", g.proseLine(m[0]), kind, title)
			}
		}
	})

	// Every relative link points at a file or directory that exists.
	t.Run("links", func(t *testing.T) {
		for _, m := range linkRE.FindAllStringSubmatchIndex(g.prose, -1) {
			target := g.prose[m[2]:m[3]]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "#") {
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			if _, err := os.Stat(filepath.FromSlash(target)); err != nil {
				t.Errorf("README.md:%d: link to %s: %v", g.proseLine(m[0]), target, err)
			}
		}
	})
}

var (
	metricMentionRE = regexp.MustCompile(`\blifeline_[a-z0-9_]*(?:\([a-z0-9_|]+\)[a-z0-9_]*)*`)
	alertMentionRE  = regexp.MustCompile(`\bLifeline[A-Z][A-Za-z0-9]*\b`)
	envMentionRE    = regexp.MustCompile(`\b(LIFELINE_[A-Z0-9_]*[A-Z0-9])(?:=([^\s` + "`" + `'"),;]+))?`)
	// a key path, optionally followed by ": value", ":" or "=value"
	keyMentionRE = regexp.MustCompile(`^([a-z_][A-Za-z0-9_]*(?:\.(?:[A-Za-z0-9_]+|\*))*)(?:(:)(?: (.+))?|=(.+))?$`)
	// what follows a key's code span when the guide states its default
	defaultRE     = regexp.MustCompile("^\\)?,?\\s*\\(?default\\s+(?:`([^`]+)`|([0-9][0-9,]*(?:\\.[0-9]+)?[a-z]*))")
	quotedPanelRE = regexp.MustCompile(`"([^"\n]+(?:\n[^"\n]+)?)"\s+(panel|stat|row)\b`)
	linkRE        = regexp.MustCompile(`\]\(([^)\s]+)\)`)
)

// expandAlternatives expands each (a|b) group: lifeline_(x|y)_total is lifeline_x_total and
// lifeline_y_total.
func expandAlternatives(s string) []string {
	open := strings.IndexByte(s, '(')
	if open < 0 {
		return []string{s}
	}
	end := strings.IndexByte(s[open:], ')')
	if end < 0 {
		return []string{s}
	}
	var out []string
	for _, alt := range strings.Split(s[open+1:open+end], "|") {
		out = append(out, expandAlternatives(s[:open]+alt+s[open+end+1:])...)
	}
	return out
}

// configPaths lists the key paths of config.Config: leaves (true) and sections (false).
func configPaths() map[string]bool {
	out := map[string]bool{}
	for _, k := range configKeys(reflect.TypeOf(config.Config{}), "") {
		out[k] = true
		parts := strings.Split(k, ".")
		for i := 1; i < len(parts); i++ {
			out[strings.Join(parts[:i], ".")] = false
		}
	}
	return out
}

// chartValuePaths lists the key paths of the chart's values.yaml, maps and leaves.
func chartValuePaths(t *testing.T) map[string]bool {
	t.Helper()
	var values map[string]any
	if err := readYAML(filepath.Join(chartDir, "values.yaml"), &values); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	var walk func(m map[string]any, prefix string)
	walk = func(m map[string]any, prefix string) {
		for k, v := range m {
			out[prefix+k] = true
			if sub, ok := v.(map[string]any); ok {
				walk(sub, prefix+k+".")
			}
		}
	}
	walk(values, "")
	return out
}

// loadConfigWith loads a lifeline.yaml that sets path to value, as `lifeline run` would.
func loadConfigWith(t *testing.T, path, value string) error {
	t.Helper()
	var doc strings.Builder
	parts := strings.Split(path, ".")
	for i, p := range parts {
		doc.WriteString(strings.Repeat("  ", i) + p + ":")
		if i == len(parts)-1 {
			doc.WriteString(" " + value)
		}
		doc.WriteString("\n")
	}
	file := filepath.Join(t.TempDir(), "lifeline.yaml")
	if err := os.WriteFile(file, []byte(doc.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := loadConfig(file, nil)
	return err
}

// configValue is the field of cfg at a key path (engine.cache_states), by the yaml tags.
func configValue(cfg *config.Config, path string) reflect.Value {
	v := reflect.ValueOf(cfg).Elem()
	for _, p := range strings.Split(path, ".") {
		found := false
		for i := 0; i < v.NumField(); i++ {
			if strings.Split(v.Type().Field(i).Tag.Get("yaml"), ",")[0] == p {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return reflect.Value{}
		}
	}
	return v
}

// sameValue reports whether the guide's text s (50,000; 1m; /var/lib/lifeline) states v.
func sameValue(v reflect.Value, s string) bool {
	if !v.IsValid() {
		return false
	}
	switch x := v.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(s)
		return err == nil && d == x
	case string:
		return s == x
	case bool:
		b, err := strconv.ParseBool(s)
		return err == nil && b == x
	}
	if v.CanInt() {
		n, err := strconv.ParseInt(strings.ReplaceAll(s, ",", ""), 10, 64)
		return err == nil && n == v.Int()
	}
	return false
}

// envField is the field that the variable name sets, by ApplyEnv's naming rule (LIFELINE_ and
// the key path in upper case joined by _).
func envField(cfg *config.Config, name string) (reflect.Value, bool) {
	for _, k := range configKeys(reflect.TypeOf(config.Config{}), "") {
		if "LIFELINE_"+strings.ToUpper(strings.ReplaceAll(k, ".", "_")) == name {
			return configValue(cfg, k), true
		}
	}
	return reflect.Value{}, false
}

// probeValue is a valid value for a field that differs from the field's current one.
func probeValue(f reflect.Value) string {
	switch x := f.Interface().(type) {
	case time.Duration:
		return (x + time.Second).String()
	case bool:
		return strconv.FormatBool(!x)
	case []string:
		return "probe:9092"
	case string:
		return x + "-probe"
	}
	if f.CanInt() {
		return strconv.FormatInt(f.Int()+1, 10)
	}
	return "probe"
}

// guideSecrets reads the Secrets the guide tells the operator to create:
// kubectl create secret generic NAME --from-literal=KEY=VALUE ...
func guideSecrets(text string) map[string]map[string]string {
	out := map[string]map[string]string{}
	re := regexp.MustCompile("create secret generic ([a-z0-9-]+)((?:\\s+--from-literal=[A-Za-z0-9_.-]+=[^\\s`]*)+)")
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		keys := map[string]string{}
		for _, kv := range regexp.MustCompile("--from-literal=([A-Za-z0-9_.-]+)=([^\\s`]*)").FindAllStringSubmatch(m[2], -1) {
			keys[kv[1]] = kv[2]
		}
		out[m[1]] = keys
	}
	return out
}

type shellCommand struct {
	args []string
	line int
}

// shellCommands splits a ```sh block into commands (backslash continuations joined, pipes and
// ; ending a command) and words (single and double quotes honoured, # comments dropped).
func shellCommands(b snippet) []shellCommand {
	var out []shellCommand
	var cur shellCommand
	var word strings.Builder
	inWord := false
	flushWord := func() {
		if inWord {
			cur.args = append(cur.args, word.String())
			word.Reset()
			inWord = false
		}
	}
	flushCmd := func() {
		flushWord()
		if len(cur.args) > 0 {
			out = append(out, cur)
		}
		cur = shellCommand{}
	}
	line := b.line
	s := b.text
	for i := 0; i < len(s); i++ {
		c := s[i]
		if cur.line == 0 {
			cur.line = line
		}
		switch {
		case c == '\\' && i+1 < len(s) && s[i+1] == '\n':
			i++
			line++
		case c == '\n':
			flushCmd()
			line++
		case c == '|' || c == ';' || c == '&':
			flushCmd()
		case c == '#' && !inWord:
			for i+1 < len(s) && s[i+1] != '\n' {
				i++
			}
		case c == ' ' || c == '\t':
			flushWord()
		case c == '\'' || c == '"':
			end := strings.IndexByte(s[i+1:], c)
			if end < 0 {
				end = len(s) - i - 1
			}
			word.WriteString(s[i+1 : i+1+end])
			inWord = true
			i += end + 1
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	flushCmd()
	return out
}

// checkHelmCommand checks `helm install|upgrade|template NAME CHART [-n NS] [--set k=v]...`:
// the chart is this one, each --set names a value of values.yaml, and the chart renders with
// those values to pods whose lifeline.yaml loads with their environment (Secrets from secrets).
func checkHelmCommand(t *testing.T, cmd shellCommand, secrets map[string]map[string]string) {
	t.Helper()
	where := fmt.Sprintf("README.md:%d", cmd.line)
	rel := helmRelease{name: cmd.args[2], namespace: "default"}
	if chart := cmd.args[3]; filepath.Clean(chart) != filepath.Join("deploy", chartDir) {
		t.Errorf("%s: helm %s installs %s, not deploy/%s", where, cmd.args[1], chart, chartDir)
	}
	paths := chartValuePaths(t)
	over := map[string]any{}
	for i := 4; i < len(cmd.args); i++ {
		switch a := cmd.args[i]; a {
		case "-n", "--namespace":
			if i+1 < len(cmd.args) {
				rel.namespace = cmd.args[i+1]
				i++
			}
		case "--set", "--set-string":
			if i+1 >= len(cmd.args) {
				t.Errorf("%s: %s without a value", where, a)
				continue
			}
			i++
			key, value, ok := strings.Cut(cmd.args[i], "=")
			if !ok || !paths[key] {
				t.Errorf("%s: --set %s: the chart has no value %s (helm/lifeline/values.yaml)", where, cmd.args[i], key)
				continue
			}
			setPath(over, key, helmSetValue(value, a == "--set-string"))
		}
	}
	data, err := yaml.Marshal(over)
	if err != nil {
		t.Fatal(err)
	}
	rel.overrides = string(data)
	docs, _, err := renderChart(t, rel)
	if err != nil {
		t.Errorf("%s: the chart does not render: %v", where, err)
		return
	}
	objs := parseObjects(t, docs)
	sts := one(t, objs, "StatefulSet")
	containers, _ := sts.get("spec", "template", "spec", "containers").([]any)
	if len(containers) == 0 {
		t.Fatalf("%s: no container", where)
	}
	var cm k8sObject
	for _, o := range byKind(objs, "ConfigMap") {
		if o.str("data", "lifeline.yaml") != "" {
			cm = o
		}
	}
	if cm == nil {
		t.Fatalf("%s: no ConfigMap with lifeline.yaml", where)
	}
	file := filepath.Join(t.TempDir(), "lifeline.yaml")
	if err := os.WriteFile(file, []byte(cm.str("data", "lifeline.yaml")), 0o600); err != nil {
		t.Fatal(err)
	}
	env := podEnviron(t, k8sObject(containers[0].(map[string]any)), objs, sts.name()+"-0", secrets)
	if _, err := loadConfig(file, env); err != nil {
		t.Errorf("%s: the pods' lifeline.yaml does not load: %v", where, err)
	}
}

// helmSetValue parses a --set value as Helm does (strvals): {a,b} is a list, true and false are
// bools, null is nil, whole numbers are int64, anything else a string; --set-string keeps text.
func helmSetValue(s string, asString bool) any {
	if asString {
		return s
	}
	if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
		var l []any
		for _, e := range strings.Split(s[1:len(s)-1], ",") {
			l = append(l, helmSetValue(e, false))
		}
		return l
	}
	switch s {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	return s
}

func setPath(m map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		sub, ok := m[p].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[p] = sub
		}
		m = sub
	}
	m[parts[len(parts)-1]] = v
}
