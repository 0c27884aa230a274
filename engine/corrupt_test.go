package engine_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// fillStore commits the kill test's stream up to record 300 in a store in
// dir, compacts it (so that it has an sstable), commits 20 more records
// (in the WAL) and closes it. It returns the store's files.
func fillStore(t *testing.T, dir string) []string {
	t.Helper()
	eng, p := openPartition(t, dir, engine.Options{})
	d := engine.NewDriver(p)
	commit := func(from, to int64) {
		src := engine.Events{First: from}
		for i := from; i < to; i++ {
			src.List = append(src.List, killEvent(i))
		}
		if err := d.Process(&src); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := d.Commit(0); err != nil {
			t.Fatal(err)
		}
	}
	for from := int64(0); from < 300; from += killBatch {
		commit(from, from+killBatch)
	}
	if err := eng.Compact(); err != nil {
		t.Fatal(err)
	}
	commit(300, 320)
	eng.Release(p)
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	names, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// glob returns dir's files matching pattern, failing the test when there
// are none (the corruption would damage nothing).
func glob(t *testing.T, dir, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil || len(m) == 0 {
		t.Fatalf("no %s in %s (%v)", pattern, dir, err)
	}
	return m
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestOpenCorruptStore damages a real store on disk in the ways a full
// disk, a bad block or an operator's mistake do, and opens it again.
// Without Options.RebuildCorrupt, Open fails with ErrStoreCorrupt; with
// it, the damaged store is moved to <dir>.corrupt-<time>, untouched, and
// Open starts an empty store (no meta: a Kafka runtime restores every
// partition from the changelog's start).
func TestOpenCorruptStore(t *testing.T) {
	cases := []struct {
		name    string
		corrupt func(t *testing.T, dir string)
	}{
		{"truncated MANIFEST", func(t *testing.T, dir string) {
			for _, f := range glob(t, dir, "MANIFEST-*") {
				must(t, os.Truncate(f, 10))
			}
		}},
		{"missing MANIFEST", func(t *testing.T, dir string) {
			for _, f := range glob(t, dir, "MANIFEST-*") {
				must(t, os.Remove(f))
			}
		}},
		{"garbage OPTIONS", func(t *testing.T, dir string) {
			for _, f := range glob(t, dir, "OPTIONS-*") {
				must(t, os.WriteFile(f, []byte("[Options]\n  not a key value line\n"), 0o600))
			}
		}},
		{"truncated sstable", func(t *testing.T, dir string) {
			for _, f := range glob(t, dir, "*.sst") {
				must(t, os.Truncate(f, 100))
			}
		}},
		{"missing sstable", func(t *testing.T, dir string) {
			for _, f := range glob(t, dir, "*.sst") {
				must(t, os.Remove(f))
			}
		}},
		{"missing MANIFEST marker", func(t *testing.T, dir string) {
			for _, f := range glob(t, dir, "marker.manifest.*") {
				must(t, os.Remove(f))
			}
		}},
		{"note of a corruption found by an earlier run", func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, engine.CorruptNote), []byte("block checksum mismatch in 000006.sst\n"), 0o600))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			fillStore(t, dir)
			tc.corrupt(t, dir)
			before := snapshotDir(t, dir)

			_, err := engine.Open(dir, rules.Default(), engine.Options{})
			if !errors.Is(err, engine.ErrStoreCorrupt) {
				t.Fatalf("Open without RebuildCorrupt: %v, want ErrStoreCorrupt", err)
			}
			if got := snapshotDir(t, dir); got != before {
				t.Fatalf("a failed Open changed the store:\nbefore %s\nafter  %s", before, got)
			}

			eng, err := engine.Open(dir, rules.Default(), engine.Options{RebuildCorrupt: true})
			if err != nil {
				t.Fatalf("Open with RebuildCorrupt: %v", err)
			}
			defer eng.Close()
			rb := eng.Rebuilt()
			if rb == nil || !errors.Is(rb.Reason, engine.ErrStoreCorrupt) {
				t.Fatalf("Rebuilt() = %+v, want the corruption", rb)
			}
			if !strings.HasPrefix(rb.Aside, dir+".corrupt-") {
				t.Errorf("set aside as %s, want %s.corrupt-<time>", rb.Aside, dir)
			}
			if got := snapshotDir(t, rb.Aside); got != before {
				t.Errorf("the store set aside is not the damaged one, untouched:\nwas %s\nnow %s", before, got)
			}
			if _, ok, err := eng.StoredMeta(0); ok || err != nil {
				t.Errorf("rebuilt store has a meta (%v, %v): it should be empty", ok, err)
			}
			t.Logf("%s: %v", tc.name, rb.Reason)
		})
	}
}

// snapshotDir describes dir's files by name and size.
func snapshotDir(t *testing.T, dir string) string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range es {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%d ", e.Name(), fi.Size())
	}
	return b.String()
}

// TestOpenNotCorruptRefused checks that what is not corruption is not
// "repaired" by throwing the store away: a store locked by another
// process, and customer states written by a newer Lifeline, still refuse.
func TestOpenNotCorruptRefused(t *testing.T) {
	opts := engine.Options{RebuildCorrupt: true}
	t.Run("locked", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "state")
		fillStore(t, dir)
		first, err := engine.Open(dir, rules.Default(), opts)
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close()
		second, err := engine.Open(dir, rules.Default(), opts)
		if err == nil {
			second.Close()
			t.Fatal("a second Open of a store in use succeeded")
		}
		if errors.Is(err, engine.ErrStoreCorrupt) || first.Rebuilt() != nil {
			t.Fatalf("a locked store was taken for corrupt: %v", err)
		}
		if m, ok, err := first.StoredMeta(0); !ok || err != nil || m.Next != 320 {
			t.Fatalf("the first engine's store after the second Open: next %d, %v, %v", m.Next, ok, err)
		}
	})
	t.Run("newer state", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "state")
		fillStore(t, dir)
		// Give one customer's state a newer encoding version, in Pebble
		// directly ('s', partition 0, customer id: doc.go's layout).
		db, err := pebble.Open(dir, &pebble.Options{Logger: engine.QuietPebbleLogger{}})
		if err != nil {
			t.Fatal(err)
		}
		key := binary.BigEndian.AppendUint32([]byte{'s'}, 0)
		key = append(key, "cus_007"...)
		v, closer, err := db.Get(key)
		if err != nil {
			t.Fatal(err)
		}
		newer := append([]byte{0x7f}, v[1:]...)
		closer.Close()
		must(t, db.Set(key, newer, pebble.Sync))
		must(t, db.Close())

		eng, err := engine.Open(dir, rules.Default(), opts)
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close()
		if eng.Rebuilt() != nil {
			t.Fatalf("a store with a newer state was rebuilt: %+v", eng.Rebuilt())
		}
		_, _, err = eng.Lookup(0, "cus_007")
		if !errors.Is(err, engine.ErrNewerState) || errors.Is(err, engine.ErrStoreCorrupt) {
			t.Fatalf("lookup of a newer state: %v, want ErrNewerState (not corruption)", err)
		}
		p, err := eng.Partition(0)
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Release(p)
		err = engine.NewDriver(p).Process(&engine.Events{List: []engine.Event{killEvent(7 + 9*killCustomers)}, First: 320})
		if !errors.Is(err, engine.ErrNewerState) {
			t.Fatalf("processing an event of a customer with a newer state: %v, want ErrNewerState", err)
		}
	})
}

// TestCorruptionFoundWhileReading flips bits in an sstable's data blocks,
// which Open does not read: the first read of them fails with
// ErrStoreCorrupt (wrapped, with the file) instead of Pebble's default,
// a fatal error that would kill the process on every restart; the engine
// leaves a note, and the next Open with RebuildCorrupt rebuilds.
func TestCorruptionFoundWhileReading(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	fillStore(t, dir)
	ssts := glob(t, dir, "*.sst")
	for _, f := range ssts {
		b, err := os.ReadFile(f)
		must(t, err)
		for i := 100; i < len(b)-200; i += 50 {
			b[i] ^= 0xff
		}
		must(t, os.WriteFile(f, b, 0o600))
	}
	eng, err := engine.Open(dir, rules.Default(), engine.Options{RebuildCorrupt: true})
	if err != nil {
		t.Fatalf("Open (which reads no data block): %v", err)
	}
	if eng.Rebuilt() != nil {
		t.Fatalf("rebuilt at the first Open: %+v", eng.Rebuilt())
	}
	var lookupErr error
	for c := 0; c < killCustomers && lookupErr == nil; c++ {
		_, _, lookupErr = eng.Lookup(0, fmt.Sprintf("cus_%03d", c))
	}
	if !errors.Is(lookupErr, engine.ErrStoreCorrupt) || !strings.Contains(lookupErr.Error(), strings.TrimSuffix(filepath.Base(ssts[0]), ".sst")) {
		t.Fatalf("lookups in a corrupt sstable: %v, want ErrStoreCorrupt naming the file", lookupErr)
	}
	// Pebble's table-statistics job may have met the corruption first,
	// and be writing the note still.
	select {
	case <-eng.Corrupted():
	case <-time.After(10 * time.Second):
		t.Fatal("Corrupted() is not closed after a corrupt read")
	}
	if !errors.Is(eng.Corruption(), engine.ErrStoreCorrupt) {
		t.Errorf("Corruption() = %v after a corrupt read", eng.Corruption())
	}
	t.Logf("read error: %.300s", lookupErr)
	must(t, eng.Close())
	if _, err := os.Stat(filepath.Join(dir, engine.CorruptNote)); err != nil {
		t.Fatalf("no note of the corruption left: %v", err)
	}

	eng, err = engine.Open(dir, rules.Default(), engine.Options{RebuildCorrupt: true})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if eng.Rebuilt() == nil {
		t.Fatal("the next Open did not rebuild the store")
	}
	if _, ok, err := eng.StoredMeta(0); ok || err != nil {
		t.Errorf("rebuilt store has a meta (%v, %v)", ok, err)
	}
}

// TestRebuildWhenDirCannotBeRenamed: the state dir is often a volume's
// mount point (the container image's VOLUME, the StatefulSet's claim),
// which cannot be renamed. The corrupt store's files then go into a
// corrupt-<time> directory inside it, which Pebble ignores, and a later
// rebuild leaves that one alone.
func TestRebuildWhenDirCannotBeRenamed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpRename && filepath.Clean(op.Path) == dir {
			return fmt.Errorf("rename %s: %w", op.Path, syscall.EBUSY)
		}
		return nil
	}))
	opts := engine.Options{FS: fs, RebuildCorrupt: true}
	var asides []string
	for round := range 2 {
		files := fillStore(t, dir)
		for _, f := range glob(t, dir, "MANIFEST-*") {
			must(t, os.Truncate(f, 10))
		}
		eng, err := engine.Open(dir, rules.Default(), opts)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		rb := eng.Rebuilt()
		if rb == nil || filepath.Dir(rb.Aside) != dir || !strings.HasPrefix(filepath.Base(rb.Aside), "corrupt-") {
			t.Fatalf("round %d: Rebuilt() = %+v, want the store moved into %s/corrupt-<time>", round, rb, dir)
		}
		for _, f := range files {
			if strings.HasPrefix(filepath.Base(f), "corrupt-") {
				continue
			}
			if _, err := os.Stat(filepath.Join(rb.Aside, filepath.Base(f))); err != nil {
				t.Errorf("round %d: %s not kept: %v", round, filepath.Base(f), err)
			}
		}
		if _, ok, err := eng.StoredMeta(0); ok || err != nil {
			t.Errorf("round %d: rebuilt store has a meta (%v, %v)", round, ok, err)
		}
		must(t, eng.Close())
		asides = append(asides, rb.Aside)
	}
	if asides[0] == asides[1] {
		t.Fatalf("both rebuilds used %s", asides[0])
	}
	if m, _ := filepath.Glob(filepath.Join(asides[0], "MANIFEST-*")); len(m) == 0 {
		t.Errorf("the second rebuild moved the first one's files away from %s", asides[0])
	}
	eng, err := engine.Open(dir, rules.Default(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if eng.Rebuilt() != nil {
		t.Fatalf("a healthy store beside corrupt-* directories was rebuilt: %+v", eng.Rebuilt())
	}
}
