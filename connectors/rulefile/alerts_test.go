package rulefile

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// A hot reload that removes an alert rule resolves the customers' open
// alerts of that rule, with resolved_by pack_changed: the file is edited,
// the watcher reloads it into a real engine, and the customer's next event
// closes the alert its old pack opened.
func TestReloadRemovingRuleResolvesItsAlerts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pack.yaml")
	if err := os.WriteFile(path, withVersion("v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(t.TempDir(), rules.Default(), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := eng.Close(); err != nil {
			t.Error(err)
		}
	}()
	p, err := eng.Partition(0)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Release(p)
	d := engine.NewDriver(p)
	var logs bytes.Buffer
	w, _, _ := newWatcher(t, path, &logs)
	w.Apply = eng.SetPack

	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC).UnixMilli()
	var pos int64
	batch := func(evs ...engine.Event) []map[string]any {
		t.Helper()
		if err := d.Process(&engine.Events{List: evs, First: pos}); err != nil {
			t.Fatal(err)
		}
		pos += int64(len(evs))
		var recs []map[string]any
		for _, o := range d.Outputs().Records {
			if o.Kind != engine.KindAlert {
				continue
			}
			var r map[string]any
			if err := json.Unmarshal(o.Value, &r); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r)
		}
		if _, err := d.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := d.Commit(0); err != nil {
			t.Fatal(err)
		}
		return recs
	}
	ticket := func(id string, at int64) engine.Event {
		return engine.Event{ID: id, CustomerID: "gil", Type: "track", Name: "Ticket Opened", Time: at}
	}
	fired := batch(ticket("t1", t0), ticket("t2", t0+1), ticket("t3", t0+2))
	if len(fired) != 1 || fired[0]["rule"] != "support-overload" || fired[0]["status"] != "firing" {
		t.Fatalf("want support-overload firing; got %v", fired)
	}

	src := withVersion("v2")
	i := bytes.Index(src, []byte("  - name: support-overload"))
	j := bytes.Index(src, []byte("  - name: payment-failed"))
	if i < 0 || j < i {
		t.Fatal("default pack: support-overload not found before payment-failed")
	}
	if err := os.WriteFile(path, append(src[:i:i], src[j:]...), 0o600); err != nil {
		t.Fatal(err)
	}
	if !w.Reload(context.Background(), true) {
		t.Fatalf("reload not applied: %s", logs.String())
	}
	batch() // the partition takes the new pack at its next batch

	got := batch(engine.Event{ID: "s1", CustomerID: "gil", Type: "track", Name: "Signed In", Time: t0 + time.Hour.Milliseconds()})
	if len(got) != 1 || got[0]["status"] != "resolved" || got[0]["resolved_by"] != "pack_changed" ||
		got[0]["alert_id"] != fired[0]["alert_id"] || got[0]["rules_version"] != "v2" || got[0]["severity"] != "info" {
		t.Fatalf("want support-overload resolved by pack_changed under v2 (info, alert_id %v); got %v", fired[0]["alert_id"], got)
	}
}
