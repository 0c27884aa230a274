package deploy_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/lifeline-hq/lifeline/config"
)

// configKeys lists the key paths of config.Config (topics.input, engine.idle_timeout, ...).
func configKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		if t.Field(i).Type.Kind() == reflect.Struct && t.Field(i).Type.String() != "time.Duration" {
			keys = append(keys, configKeys(t.Field(i).Type, prefix+tag+".")...)
			continue
		}
		keys = append(keys, prefix+tag)
	}
	return keys
}

// yamlKeys lists the leaf key paths of a YAML mapping, each with the comment above or beside it.
func yamlKeys(n *yaml.Node, prefix string, out map[string]string) {
	if n.Kind == yaml.DocumentNode {
		yamlKeys(n.Content[0], prefix, out)
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind == yaml.MappingNode {
			yamlKeys(v, prefix+k.Value+".", out)
			continue
		}
		out[prefix+k.Value] = strings.TrimSpace(k.HeadComment + k.LineComment + v.LineComment)
	}
}

func TestExampleConfig(t *testing.T) {
	const path = "lifeline.example.yaml"
	cfg, err := loadConfig(path, nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// Every value is the default; client_id (default: the host name) is left to the default.
	if want := config.Defaults(); !reflect.DeepEqual(cfg, want) {
		t.Errorf("%s differs from config.Defaults():\n got  %+v\n want %+v", path, cfg, want)
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	present := map[string]string{}
	yamlKeys(&doc, "", present)
	for _, key := range configKeys(reflect.TypeOf(config.Config{}), "") {
		comment, ok := present[key]
		switch {
		case key == "client_id":
			// Written as a comment: an explicit value would be shared by every copy of the file.
			if ok || !strings.Contains(string(data), "\n# client_id: ") {
				t.Errorf("%s: client_id should be documented as a comment, not set", path)
			}
		case !ok:
			t.Errorf("%s: key %s is missing", path, key)
		case comment == "":
			t.Errorf("%s: key %s has no comment", path, key)
		}
		delete(present, key)
	}
	for key := range present {
		t.Errorf("%s: key %s is not a config key", path, key)
	}
}

type composeFile struct {
	Services map[string]struct {
		Image string `yaml:"image"`
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Command     any               `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
		Profiles    []string          `yaml:"profiles"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func TestCompose(t *testing.T) {
	var c composeFile
	if err := readYAML("docker-compose.yaml", &c); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"redpanda", "lifeline", "gen", "producer"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("service %s is missing", name)
		}
	}
	for name, s := range c.Services {
		for dep := range s.DependsOn {
			if _, ok := c.Services[dep]; !ok {
				t.Errorf("service %s depends on unknown service %s", name, dep)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("service %s mounts undeclared volume %s", name, src)
			}
		}
		if s.Build != nil {
			if _, err := os.Stat(filepath.Join(s.Build.Context, "go.mod")); err != nil {
				t.Errorf("service %s builds from %s, which holds no go.mod", name, s.Build.Context)
			}
			if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
				t.Errorf("service %s: dockerfile %s: %v", name, s.Build.Dockerfile, err)
			}
		}
	}
	ll := c.Services["lifeline"]
	if !slices.Contains(ll.Ports, "8080:8080") {
		t.Errorf("lifeline ports %v: 8080 should be published", ll.Ports)
	}
	if ll.DependsOn["redpanda"].Condition != "service_healthy" {
		t.Error("lifeline should wait for a healthy redpanda")
	}
	// Its config file, with its environment, loads as `lifeline run` would load it, and
	// creates the topics on the single broker.
	var cfgFile string
	for _, v := range ll.Volumes {
		if src, dst, _ := strings.Cut(v, ":"); strings.HasPrefix(dst, "/etc/lifeline/lifeline.yaml") {
			cfgFile = src
		}
	}
	if cfgFile == "" {
		t.Fatal("lifeline mounts no config at /etc/lifeline/lifeline.yaml")
	}
	var environ []string
	for k, v := range ll.Environment {
		environ = append(environ, k+"="+v)
	}
	cfg, err := loadConfig(cfgFile, append(environ, dockerfileEnv(t)...))
	if err != nil {
		t.Fatalf("%s: %v", cfgFile, err)
	}
	if !cfg.CreateTopics.Enabled || cfg.CreateTopics.Replication != 1 || !slices.Contains(cfg.Brokers, "redpanda:9092") || cfg.ClientID == "" {
		t.Errorf("compose config: %+v", cfg)
	}
	if p := c.Services["producer"]; !strings.Contains(fmt.Sprint(p.Command), "kcat") || !strings.Contains(fmt.Sprint(p.Command), cfg.Topics.Input) {
		t.Errorf("the producer should produce to %s with kcat: %v", cfg.Topics.Input, p.Command)
	}
	if g := c.Services["gen"]; !strings.HasPrefix(fmt.Sprint(g.Command), "[gen ") {
		t.Errorf("the gen service should run `lifeline gen`: %v", g.Command)
	}
}

var envLineRE = regexp.MustCompile(`^ENV\s+([A-Z_]+)=(\S+)$`)

// dockerfileEnv returns the LIFELINE_* variables the image sets.
func dockerfileEnv(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if m := envLineRE.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil && strings.HasPrefix(m[1], "LIFELINE_") {
			env = append(env, m[1]+"="+m[2])
		}
	}
	return env
}

// TestDockerfile checks what can be checked without a Docker engine: the build stage's Go
// matches go.mod, the build is static, the final image runs as non-root with the documented
// entrypoint, and the image's default config (the example, plus the image's environment)
// loads and listens on every interface.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(data)
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(gomod))
	if goVersion == nil {
		t.Fatal("no go directive in go.mod")
	}
	for _, want := range []string{
		"ARG GO_VERSION=" + goVersion[1],
		"FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build",
		"CGO_ENABLED=0",
		"-trimpath",
		`-ldflags "-s -w -X main.version=${VERSION}"`,
		"./cmd/lifeline",
		"FROM gcr.io/distroless/static-debian12:nonroot",
		"USER 65532:65532",
		"EXPOSE 8080",
		`VOLUME ["/var/lib/lifeline"]`,
		`ENTRYPOINT ["/usr/local/bin/lifeline"]`,
		`CMD ["run", "--config", "/etc/lifeline/lifeline.yaml"]`,
		"COPY deploy/lifeline.example.yaml /etc/lifeline/lifeline.yaml",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile: %q is missing", want)
		}
	}
	// The version variable main.version exists where -X points.
	main, err := os.ReadFile("../cmd/lifeline/main.go")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^var version = `).Match(main) {
		t.Error("cmd/lifeline has no package-level `var version` for -X main.version")
	}
	// .dockerignore must keep what the build copies.
	ignore, err := os.ReadFile("Dockerfile.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ignore), "!deploy/lifeline.example.yaml") {
		t.Error("Dockerfile.dockerignore excludes deploy/ but must keep deploy/lifeline.example.yaml, which the image copies")
	}
	cfg, err := loadConfig("lifeline.example.yaml", dockerfileEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP != "0.0.0.0:8080" || cfg.StateDir != "/var/lib/lifeline" {
		t.Errorf("the image's default config: http %q state_dir %q", cfg.HTTP, cfg.StateDir)
	}
}

// loadConfig reads and validates a config as `lifeline run` does.
func loadConfig(path string, environ []string) (config.Config, error) {
	cfg, err := config.Read(path, environ)
	if err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}
