package schemas_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/lifeline-hq/lifeline/connectors/ndjson"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/journey"
	"github.com/lifeline-hq/lifeline/rules"
	"github.com/lifeline-hq/lifeline/schemas"
)

// kindSchema is one kind's compiled schema and the fields it declares.
type kindSchema struct {
	schema *jsonschema.Schema
	fields map[string]bool
}

func compile(t *testing.T) map[string]kindSchema {
	t.Helper()
	c := jsonschema.NewCompiler()
	out := map[string]kindSchema{}
	for _, kind := range schemas.Kinds() {
		raw, err := schemas.Schema(kind)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s.schema.json is not JSON: %v", kind, err)
		}
		url := kind + ".schema.json"
		if err := c.AddResource(url, doc); err != nil {
			t.Fatal(err)
		}
		s, err := c.Compile(url)
		if err != nil {
			t.Fatalf("%s.schema.json: %v", kind, err)
		}
		var decl struct {
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if err := json.Unmarshal(raw, &decl); err != nil {
			t.Fatal(err)
		}
		ks := kindSchema{schema: s, fields: map[string]bool{}}
		for f := range decl.Properties {
			ks.fields[f] = true
		}
		out[kind] = ks
	}
	return out
}

// check validates one record against its kind's schema, and requires
// every field it has to be one the schema declares: a field added to the
// records must be added to the schema too.
func check(schemas map[string]kindSchema, rec []byte) string {
	var fields map[string]any
	if err := json.Unmarshal(rec, &fields); err != nil {
		return "not a JSON object: " + err.Error()
	}
	kind, _ := fields["kind"].(string)
	ks, ok := schemas[kind]
	if !ok {
		return "no schema for kind " + kind
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(rec))
	if err != nil {
		return err.Error()
	}
	if err := ks.schema.Validate(inst); err != nil {
		return err.Error()
	}
	for f := range fields {
		if !ks.fields[f] {
			return "field " + f + " is not in " + kind + ".schema.json"
		}
	}
	return ""
}

// records are the golden journeys' records and those of a generated
// workload replayed with the default pack: every kind, timers, resolutions.
func records(t *testing.T) [][]byte {
	t.Helper()
	var out [][]byte
	golden, err := filepath.Glob("../connectors/ndjson/testdata/golden/*.golden")
	if err != nil || len(golden) == 0 {
		t.Fatalf("no golden files (%v)", err)
	}
	for _, f := range golden {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for line := range bytes.Lines(b) {
			if line = bytes.TrimSpace(line); len(line) > 0 {
				out = append(out, line)
			}
		}
	}
	g, err := journey.New(journey.Config{Customers: 300, Days: 120, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	var in bytes.Buffer
	for r, ok := g.Next(); ok; r, ok = g.Next() {
		in.Write(r.Value)
		in.WriteByte('\n')
	}
	eng, err := engine.Open(t.TempDir(), rules.Default(), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	part, err := eng.Partition(0)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Release(part)
	var buf bytes.Buffer
	if _, err := ndjson.Replay(context.Background(), &in, part, &buf, ndjson.Options{}); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, bytes.Clone(sc.Bytes()))
	}
	return out
}

// TestRecordsMatchSchemas validates every record the golden journeys and a
// generated workload produce against the published schemas.
func TestRecordsMatchSchemas(t *testing.T) {
	ks := compile(t)
	seen := map[string]int{}
	bad := 0
	for _, rec := range records(t) {
		var v struct {
			Kind    string  `json:"kind"`
			Status  string  `json:"status"`
			EventID *string `json:"event_id"`
		}
		_ = json.Unmarshal(rec, &v)
		seen[v.Kind]++
		if v.Status == "resolved" {
			seen["resolved alert"]++
		}
		if v.Kind != "health" && v.EventID == nil {
			seen["caused by a timer"]++
		}
		if msg := check(ks, rec); msg != "" {
			if bad++; bad <= 5 {
				t.Errorf("%s\n  %s", rec, strings.ReplaceAll(msg, "\n", "\n  "))
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d records do not match their schema", bad)
	}
	t.Logf("records validated: %v", seen)
	for _, k := range []string{"stage", "health", "alert", "resolved alert", "caused by a timer"} {
		if seen[k] == 0 {
			t.Errorf("no %s record among those validated: the test proves little", k)
		}
	}
}

// TestSchemasRejectTheOldShapes: the schemas catch what was wrong before
// schema_version 1 (a timer's record with "event_id":"", no
// schema_version, a resolved record without resolved_by), and a field the
// schema does not declare.
func TestSchemasRejectTheOldShapes(t *testing.T) {
	ks := compile(t)
	good := `{"kind":"alert","schema_version":1,"customer_id":"ann","at":"2026-03-16T10:00:00.000Z","rules_version":"v1","alert_id":"f3e556df09521a0c","rule":"silent-customer","severity":"warning","status":"firing","reasons":["no engagement for 15 days"]}`
	if msg := check(ks, []byte(good)); msg != "" {
		t.Fatalf("a good record is refused: %s", msg)
	}
	for name, rec := range map[string]string{
		"empty event_id":           strings.Replace(good, `"reasons"`, `"event_id":"","reasons"`, 1),
		"no schema_version":        strings.Replace(good, `"schema_version":1,`, ``, 1),
		"resolved, no resolved_by": strings.Replace(good, `"firing"`, `"resolved"`, 1),
		"firing with resolved_by":  strings.Replace(good, `"reasons"`, `"resolved_by":"churned","reasons"`, 1),
		"undeclared field":         strings.Replace(good, `"reasons"`, `"resolve_reasons":["x"],"reasons"`, 1),
		"at without milliseconds":  strings.Replace(good, `10:00:00.000Z`, `10:00:00Z`, 1),
		"health components a list": `{"kind":"health","schema_version":1,"customer_id":"ann","at":"2026-03-16T10:00:00.000Z","rules_version":"v1","score":75,"band":"green","components":[{"name":"engagement","score":50}]}`,
	} {
		if msg := check(ks, []byte(rec)); msg == "" {
			t.Errorf("%s: accepted: %s", name, rec)
		}
	}
}
