package engine

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/lifeline-hq/lifeline/rules"
)

// Options configure an Engine. The zero value of each field means its
// default.
type Options struct {
	// CacheStates is how many customer states each partition keeps decoded
	// in memory (a write-back cache over Pebble). Default 50,000.
	CacheStates int
	// BlockCacheBytes is Pebble's block cache. Default 256 MiB: at a
	// million customers per instance, 64 MiB gave 48k events/s and 256 MiB
	// 160k (bench/README.md), most events reading a cold state.
	BlockCacheBytes int64
	// AllowedLateness is how far behind the newest event time the watermark
	// stays: events up to this late still fall before timers they could
	// cancel. Default 10 minutes; negative for none (see Lateness).
	AllowedLateness time.Duration
	// MaxEventAhead bounds how far ahead of the partition's reference time
	// an event's time may be: an event later than the reference plus
	// MaxEventAhead is not applied (the Driver counts it in Stats.Ahead
	// and hands it to the Source's Reject, if it has one), so that one
	// record dated years ahead (9999-12-31) can neither fire every timer
	// of its partition at once nor hold the watermark there for good. The
	// reference is the runtime's wall clock when it gives one
	// (Driver.SetNow), else the input's own progress: the newest event
	// time the partition has applied (kept in its checkpoint, so a
	// resumed run judges as an uninterrupted one would), unless the
	// Source confirms the event's time from the records after it
	// (Confirmer: a quiet spell, not an outlier); the first event
	// of a partition without a clock cannot be judged and is applied.
	// Zero, the default, sets no bound (the rule-pack tests, benchmarks);
	// the Kafka runtime and replay take it from engine.max_event_ahead
	// and --max-event-ahead. An event exactly MaxEventAhead ahead is
	// applied.
	MaxEventAhead time.Duration
	// DedupeIDs is the dedupe horizon: how many of its most recent event
	// ids (Event.ID) each customer remembers. An event whose id is among
	// them is a redelivery and is not applied: with DedupeIDs N, a copy
	// that arrives after at most N-1 of the customer's other events
	// (other customers' events do not count) is dropped for sure, one
	// after N or more is applied again. Each id costs 8 bytes of the
	// customer's state, in the store, the changelog and the cache. Default
	// DefaultDedupeIDs (8); at most MaxDedupeIDs. A store written with
	// another setting (or by an earlier version, which kept 8) is read as
	// it is; a customer's ids shrink to the newest DedupeIDs when it next
	// has an event.
	DedupeIDs int
	// Sync makes each commit fsync Pebble's WAL, so that a commit that
	// has returned survives any crash. Off by default, and then even a
	// process crash (SIGKILL, OOM kill) may lose the last commits: Pebble
	// keeps the WAL's tail, up to a 32 KiB block, in process memory until
	// the block fills. The store is still consistent (it restarts from an
	// earlier checkpoint, whose Next says where to resume); in Kafka mode
	// the changelog covers the lost commits. A runtime that records input
	// positions elsewhere (Kafka group offsets) must resume from Meta.Next,
	// not from those, unless Sync is set.
	Sync bool
	// CheckpointEvents and CheckpointInterval let Commit leave the
	// committed states in memory and write them to Pebble (a checkpoint)
	// only once this many events have been applied, or this much time has
	// passed, since the last checkpoint, or once the pending states reach
	// half the state cache. A customer changed in several batches in
	// between is written once. Until then the store lags the last commit,
	// so only a runtime that keeps every committed state elsewhere (the
	// Kafka changelog, from which a restart restores the difference) may
	// set them. Lookup still answers with the last commit. Zero for both
	// (the default) checkpoints at every Commit.
	CheckpointEvents   int
	CheckpointInterval time.Duration
	// FS is the filesystem the store lives on. Default (nil): the
	// operating system's. Tests pass Pebble's in-memory, crashable
	// (vfs.NewCrashableMem) or fault-injecting (vfs/errorfs) ones.
	FS vfs.FS
	// RebuildCorrupt makes Open start over with an empty store when the
	// one in dir is corrupt (Pebble reports corruption opening it, or an
	// earlier run found a corrupt file while reading: see
	// ErrStoreCorrupt): the corrupt store is renamed to
	// <dir>.corrupt-<UTC time> (or, when dir cannot be renamed, as a
	// volume's mount point cannot, its files are moved into
	// <dir>/corrupt-<UTC time>), kept for inspection, and Rebuilt reports
	// it. Only a runtime that restores every partition it owns from a
	// changelog may set it (the Kafka runtime: a store without a meta
	// restores from the changelog's start); replay, without one, would
	// silently start over. Off by default. A store that is not corrupt
	// but cannot be opened (locked by another process, written by a newer
	// Pebble format) still fails Open.
	RebuildCorrupt bool
	// TimelineRecords is how many of its last output records (stage,
	// health, alert) each customer's timeline keeps (Engine.Timeline),
	// written with the checkpoints; at most MaxTimelineRecords. Zero, the
	// default, keeps none and costs nothing; the runtime takes it from
	// engine.timeline_records.
	TimelineRecords int
}

// Lateness returns a configured allowed lateness as
// Options.AllowedLateness, whose zero value means the default: an
// explicit zero (no lateness) becomes negative.
func Lateness(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

func (o *Options) withDefaults() Options {
	r := *o
	if r.CacheStates <= 0 {
		r.CacheStates = 50_000
	}
	if r.FS == nil {
		r.FS = vfs.Default
	}
	if r.BlockCacheBytes <= 0 {
		r.BlockCacheBytes = 256 << 20
	}
	if r.DedupeIDs <= 0 {
		r.DedupeIDs = DefaultDedupeIDs
	}
	switch {
	case r.AllowedLateness == 0:
		r.AllowedLateness = 10 * time.Minute
	case r.AllowedLateness < 0:
		r.AllowedLateness = 0
	}
	return r
}

// Engine owns the Pebble store that holds every partition's customer
// states, timers and checkpoints. Partitions are processed independently,
// each by one goroutine.
type Engine struct {
	db   *pebble.DB
	dir  string
	opts Options
	pack atomic.Pointer[rules.Pack]

	mu    sync.Mutex
	parts map[int32]*Partition

	// rebuilt is set when Open replaced a corrupt store (RebuildCorrupt).
	rebuilt *Rebuild
	// corrupt is the first corruption Pebble reported since Open;
	// corrupted closes then.
	noteMu    sync.Mutex
	corrupt   atomic.Pointer[error]
	corrupted chan struct{}

	// failCheckpoint, set by tests only, makes the next checkpoint's
	// commit fail.
	failCheckpoint atomic.Bool
}

// ErrStoreCorrupt marks errors caused by a corrupt store: a file whose
// checksum or format is wrong, or missing. Reads that meet one return it
// (wrapped, with Pebble's error and the file's path); the engine also
// leaves a note in the store's directory (CorruptNote) so that the next
// Open with Options.RebuildCorrupt rebuilds the store instead of meeting
// the same file again. The state in the store cannot be trusted: a
// runtime should stop and restart.
var ErrStoreCorrupt = errors.New("state store is corrupt")

// CorruptNote is the file, in the store's directory, that records a
// corruption found while the store was open (its text says what and
// where). Open treats a store holding it as corrupt: it rebuilds it with
// Options.RebuildCorrupt, and refuses it without. An operator who
// removes the note makes Open try the store as it is.
const CorruptNote = "LIFELINE-CORRUPT"

// Rebuild describes a corrupt store that Open replaced with an empty one.
type Rebuild struct {
	// Aside is where the corrupt store was moved, for inspection.
	Aside string
	// Reason is the corruption found.
	Reason error
}

// Open opens (creating if needed) the store in dir. With
// Options.RebuildCorrupt, a corrupt store is moved aside and replaced
// with an empty one (Rebuilt says so); without it, Open fails with an
// error that wraps ErrStoreCorrupt.
func Open(dir string, pack *rules.Pack, opts Options) (*Engine, error) {
	if pack == nil {
		return nil, errors.New("open engine: no rule pack")
	}
	if opts.TimelineRecords < 0 || opts.TimelineRecords > MaxTimelineRecords {
		return nil, fmt.Errorf("open engine: TimelineRecords %d is not within 0 to %d records per customer", opts.TimelineRecords, MaxTimelineRecords)
	}
	if opts.DedupeIDs > MaxDedupeIDs {
		return nil, fmt.Errorf("open engine: DedupeIDs %d is over the limit of %d ids per customer", opts.DedupeIDs, MaxDedupeIDs)
	}
	o := opts.withDefaults()
	e := &Engine{dir: dir, opts: o, parts: map[int32]*Partition{}, corrupted: make(chan struct{})}
	e.pack.Store(pack)
	db, err := e.openDB()
	if err != nil && o.RebuildCorrupt && errors.Is(err, ErrStoreCorrupt) {
		aside, merr := moveAside(o.FS, dir, time.Now())
		if merr != nil {
			return nil, fmt.Errorf("%w; setting it aside to rebuild it failed: %w", err, merr)
		}
		e.rebuilt = &Rebuild{Aside: aside, Reason: err}
		db, err = e.openDB()
	}
	if err != nil {
		return nil, err
	}
	e.db = db
	return e, nil
}

// openDB opens Pebble on e.dir, reporting a corrupt store (Pebble's
// corruption errors, or a CorruptNote left by an earlier run) with an
// error that wraps ErrStoreCorrupt.
func (e *Engine) openDB() (*pebble.DB, error) {
	o := &e.opts
	if note, err := readNote(o.FS, e.dir); err != nil {
		return nil, fmt.Errorf("open state store %s: %w", e.dir, err)
	} else if note != "" {
		return nil, fmt.Errorf("open state store %s: %w: an earlier run found: %s", e.dir, ErrStoreCorrupt, note)
	}
	if err := checkMarker(o.FS, e.dir); err != nil {
		return nil, fmt.Errorf("open state store %s: %w", e.dir, err)
	}
	cache := pebble.NewCache(o.BlockCacheBytes)
	defer cache.Unref()
	popts := &pebble.Options{
		FS:                          o.FS,
		Cache:                       cache,
		MemTableSize:                32 << 20,
		MemTableStopWritesThreshold: 4,
		L0CompactionThreshold:       4,
		FormatMajorVersion:          pebble.FormatNewest,
		Logger:                      QuietPebbleLogger{},
		EventListener: &pebble.EventListener{
			// Pebble's default makes a corrupt file fatal (a panic, with
			// QuietPebbleLogger), even when only a background job read
			// it: every restart would die the same way. The reader gets
			// the error instead, and the note makes the next Open rebuild.
			DataCorruption: e.noteCorruption,
		},
	}
	popts.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	for i := range popts.Levels {
		popts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		popts.Levels[i].BlockSize = 16 << 10
	}
	db, err := pebble.Open(e.dir, popts)
	if err != nil {
		if corruptAtOpen(err) && !errors.Is(err, ErrStoreCorrupt) {
			err = fmt.Errorf("%w: %w", ErrStoreCorrupt, err)
		}
		return nil, fmt.Errorf("open state store %s: %w", e.dir, err)
	}
	return db, nil
}

// corruptAtOpen reports whether pebble.Open failed because the store's
// files are damaged, rather than because it cannot be opened now (locked
// by another process, no permission, an I/O error) or by this binary (a
// newer format version): Pebble's corruption errors (a malformed MANIFEST
// or OPTIONS file, a corrupt WAL record before its tail), a file the
// MANIFEST names that is missing, an sstable of another size than the
// MANIFEST says (truncated), and WALs in a directory without a MANIFEST
// marker. TestOpenCorruptStore covers each, so that a Pebble upgrade that
// words them differently fails there.
func corruptAtOpen(err error) bool {
	return pebble.IsCorruptionError(err) ||
		errors.Is(err, os.ErrNotExist) ||
		strings.Contains(err.Error(), "object size mismatch")
}

// checkMarker refuses a directory that holds a store's data (sstables,
// WALs) but not the marker naming its current MANIFEST. Pebble would
// take it for a new store, write a new MANIFEST over the old one, delete
// the sstables as obsolete and replay whatever WAL files are left: a
// store that opens with the meta of the last WAL's checkpoint but without
// the customers that only the sstables held.
func checkMarker(fs vfs.FS, dir string) error {
	names, err := fs.List(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	var data string
	for _, n := range names {
		switch {
		case strings.HasPrefix(n, "marker.manifest."):
			return nil
		case strings.HasSuffix(n, ".sst"), strings.HasSuffix(n, ".log"):
			// Not a MANIFEST alone: Pebble creates it before the marker,
			// so a creation cut short leaves one, and nothing to lose.
			data = n
		}
	}
	if data != "" {
		return fmt.Errorf("%w: it holds %s but no marker.manifest file naming its MANIFEST", ErrStoreCorrupt, data)
	}
	return nil
}

// storeErr marks Pebble's corruption errors with ErrStoreCorrupt.
func storeErr(err error) error {
	if err != nil && pebble.IsCorruptionError(err) && !errors.Is(err, ErrStoreCorrupt) {
		return fmt.Errorf("%w: %w", ErrStoreCorrupt, err)
	}
	return err
}

// noteCorruption is Pebble's DataCorruption event: it leaves a
// CorruptNote in the store's directory for the next Open, then records
// the first corruption and closes Corrupted (so that whoever sees either
// may exit: the note is there).
func (e *Engine) noteCorruption(info pebble.DataCorruptionInfo) {
	e.noteMu.Lock()
	defer e.noteMu.Unlock()
	if e.corrupt.Load() != nil {
		return
	}
	err := fmt.Errorf("%w: %s", ErrStoreCorrupt, info)
	fs := e.opts.FS
	// Best effort: the reader gets the error all the same.
	if f, ferr := fs.Create(fs.PathJoin(e.dir, CorruptNote), vfs.WriteCategoryUnspecified); ferr == nil {
		_, _ = f.Write([]byte(info.String() + "\n"))
		_ = f.Sync()
		_ = f.Close()
	}
	e.corrupt.Store(&err)
	close(e.corrupted)
}

// Corruption returns the first corruption Pebble found in the store since
// Open (nil: none), wrapping ErrStoreCorrupt.
func (e *Engine) Corruption() error {
	if p := e.corrupt.Load(); p != nil {
		return *p
	}
	return nil
}

// Corrupted is closed when Pebble first finds a corrupt file, in a read
// or in a job of its own (a compaction, table statistics) that no caller
// hears of: a runtime watches it to stop, so that the next start, seeing
// the note, rebuilds the store.
func (e *Engine) Corrupted() <-chan struct{} { return e.corrupted }

// Rebuilt reports the corrupt store Open replaced with an empty one (nil:
// it opened the store it found). The runtime logs it: every partition now
// restores from its changelog.
func (e *Engine) Rebuilt() *Rebuild { return e.rebuilt }

// readNote returns the text of dir's CorruptNote ("" when there is none).
func readNote(fs vfs.FS, dir string) (string, error) {
	f, err := fs.Open(fs.PathJoin(dir, CorruptNote))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", CorruptNote, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", CorruptNote, err)
	}
	if s := strings.TrimSpace(string(b)); s != "" {
		return s, nil
	}
	return "(no details)", nil
}

// moveAside renames the store dir to dir.corrupt-<UTC time> (with a
// number added if that exists) and returns the new name. When dir cannot
// be renamed (a volume's mount point, as in the container image and the
// StatefulSet; a parent directory not writable), it moves dir's entries
// into dir/corrupt-<UTC time> instead, leaving out earlier such
// directories; Pebble ignores subdirectories.
func moveAside(fs vfs.FS, dir string, now time.Time) (string, error) {
	stamp := "corrupt-" + now.UTC().Format("20060102T150405Z")
	aside, err := freeName(fs, strings.TrimRight(dir, "/")+"."+stamp)
	if err != nil {
		return "", err
	}
	renameErr := fs.Rename(dir, aside)
	if renameErr == nil {
		return aside, nil
	}
	inside, err := freeName(fs, fs.PathJoin(dir, stamp))
	if err != nil {
		return "", err
	}
	names, err := fs.List(dir)
	if err != nil {
		return "", fmt.Errorf("rename to %s: %w; list the store to move it within: %w", aside, renameErr, err)
	}
	if err := fs.MkdirAll(inside, 0o750); err != nil {
		return "", fmt.Errorf("rename to %s: %w; create %s: %w", aside, renameErr, inside, err)
	}
	for _, n := range names {
		if strings.HasPrefix(n, "corrupt-") {
			continue
		}
		if err := fs.Rename(fs.PathJoin(dir, n), fs.PathJoin(inside, n)); err != nil {
			return "", fmt.Errorf("rename to %s: %w; move %s into %s: %w", aside, renameErr, n, inside, err)
		}
	}
	return inside, nil
}

// freeName returns name, or name.2, name.3 ..., the first that does not
// exist.
func freeName(fs vfs.FS, name string) (string, error) {
	try := name
	for i := 2; ; i++ {
		_, err := fs.Stat(try)
		if errors.Is(err, os.ErrNotExist) {
			return try, nil
		}
		if err != nil {
			return "", err
		}
		try = fmt.Sprintf("%s.%d", name, i)
	}
}

// QuietPebbleLogger is the store's pebble.Logger: it drops Pebble's
// informational and error chatter (every failure reaches the engine's
// caller as an error, with context) and panics on a fatal one, which
// Pebble raises for a store it cannot go on with: a WAL write or sync, or
// a MANIFEST write, that failed (its commit pipeline or version set is
// then wedged). The panic ends the process (it happens in a goroutine
// that writes: a partition's, or Pebble's own, which nothing recovers),
// and the restart finds the store at a checkpoint,
// as after any crash (TestStoreFaults). Corrupt files are not fatal: the
// engine's own event listener turns them into ErrStoreCorrupt. Tools
// that open a Pebble store of their own beside the engine's use it too.
type QuietPebbleLogger struct{}

// Infof implements pebble.Logger.
func (QuietPebbleLogger) Infof(string, ...any) {}

// Errorf implements pebble.Logger.
func (QuietPebbleLogger) Errorf(string, ...any) {}

// Fatalf implements pebble.Logger.
func (QuietPebbleLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}

// Close closes the store. Partitions must not be used after.
func (e *Engine) Close() error {
	if err := e.db.Close(); err != nil {
		return fmt.Errorf("close state store: %w", err)
	}
	return nil
}

// SetPack installs a new rule pack. Each partition switches to it at the
// start of its next batch, never in the middle of one.
func (e *Engine) SetPack(p *rules.Pack) { e.pack.Store(p) }

// Pack returns the rule pack partitions use for new batches.
func (e *Engine) Pack() *rules.Pack { return e.pack.Load() }

// Compact flushes the memtables and compacts the whole store, so that
// DiskUsage measures settled data (for benchmarks and operators).
func (e *Engine) Compact() error {
	if err := e.db.Flush(); err != nil {
		return fmt.Errorf("flush state store: %w", err)
	}
	if err := e.db.Compact(context.Background(), []byte{0}, []byte{0xff}, true); err != nil {
		return fmt.Errorf("compact state store: %w", err)
	}
	return nil
}

// DiskUsage is the bytes the store occupies on disk.
func (e *Engine) DiskUsage() uint64 { return e.db.Metrics().DiskSpaceUsage() }

// Metrics returns Pebble's metrics, for export.
func (e *Engine) Metrics() *pebble.Metrics { return e.db.Metrics() }

// The key prefixes of the store's layout (doc.go, "Store layout").
const (
	prefixState = 's'
	prefixTimer = 't'
	prefixMeta  = 'm'
)

func partKey(prefix byte, p int32) []byte {
	k := make([]byte, 5, 32)
	k[0] = prefix
	binary.BigEndian.PutUint32(k[1:], uint32(p))
	return k
}

func appendTimerKey(dst []byte, p int32, due int64, customer string) []byte {
	dst = append(dst, prefixTimer)
	dst = binary.BigEndian.AppendUint32(dst, uint32(p))
	dst = binary.BigEndian.AppendUint64(dst, uint64(due))
	return append(dst, customer...)
}

// Meta is a partition's checkpoint and aggregates, stored in the same
// Pebble batch as the states it describes.
type Meta struct {
	// Next is the input position to read next (a Kafka offset, a line
	// number): everything before it has been applied.
	Next int64 `json:"next"`
	// ChangelogNext is the changelog offset after the last entry this
	// store has applied (for restore catch-up).
	ChangelogNext int64 `json:"changelog_next"`
	Watermark     int64 `json:"watermark"`
	MaxEventTime  int64 `json:"max_event_time"`
	// Events counts decoded events received, duplicates included;
	// Duplicates counts those dropped as duplicates.
	Events     int64 `json:"events"`
	Duplicates int64 `json:"duplicates"`
	Customers  int64 `json:"customers"`
	// Stages counts customers per stage ("" for no stage yet).
	Stages map[string]int64 `json:"stages"`
	// Bands counts scored customers per health band.
	Bands        map[string]int64 `json:"bands"`
	RevenueCents int64            `json:"revenue_cents"`
	// Purchases and refunds whose amount was not added to RevenueCents:
	// in a currency the pack has no rate for, beyond rules.MaxAmount once
	// converted (or NaN), or negative on a purchase.
	MoneyUnconverted int64 `json:"money_unconverted,omitempty"`
	MoneyOutOfRange  int64 `json:"money_out_of_range,omitempty"`
	MoneyNegative    int64 `json:"money_negative,omitempty"`
	// ChurnedUnpaid counts customers in the pack's churned stage who have
	// never made a purchase (a trial cancelled, an account deleted before
	// buying): the KPIs' churned customers leave them out.
	ChurnedUnpaid int64 `json:"churned_unpaid,omitempty"`
	// Promoters, passives, detractors: customers by latest NPS answer.
	Promoters  int64            `json:"promoters"`
	Passives   int64            `json:"passives"`
	Detractors int64            `json:"detractors"`
	AlertsOpen map[string]int64 `json:"alerts_open"`
	// Entered counts, per stage, customers that ever entered it (funnel).
	Entered map[string]int64 `json:"entered"`
}

func (m *Meta) init() {
	if m.Stages == nil {
		m.Stages = map[string]int64{}
	}
	if m.Bands == nil {
		m.Bands = map[string]int64{}
	}
	if m.AlertsOpen == nil {
		m.AlertsOpen = map[string]int64{}
	}
	if m.Entered == nil {
		m.Entered = map[string]int64{}
	}
}

// Clone returns a deep copy (for readers on other goroutines).
func (m *Meta) Clone() Meta {
	c := *m
	c.Stages = cloneMap(m.Stages)
	c.Bands = cloneMap(m.Bands)
	c.AlertsOpen = cloneMap(m.AlertsOpen)
	c.Entered = cloneMap(m.Entered)
	return c
}

func cloneMap(m map[string]int64) map[string]int64 {
	c := make(map[string]int64, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func decodeMeta(b []byte) (Meta, error) {
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("decode partition meta: %w", err)
	}
	m.init()
	return m, nil
}

// Partition opens partition id's processor, loading its checkpoint. The
// caller owns it: it must be used by one goroutine at a time, and closed
// with Release.
func (e *Engine) Partition(id int32) (*Partition, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, busy := e.parts[id]; busy {
		return nil, fmt.Errorf("partition %d is already open", id)
	}
	p, err := newPartition(e, id)
	if err != nil {
		return nil, fmt.Errorf("open partition %d: %w", id, err)
	}
	e.parts[id] = p
	return p, nil
}

// Release closes a partition's processor, dropping its cache (it keeps
// its stored state).
func (e *Engine) Release(p *Partition) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.parts[p.id] == p {
		delete(e.parts, p.id)
	}
	p.release()
}

// DropPartition deletes partition id's stored state, timers and
// checkpoint (e.g. a store found inconsistent with the changelog).
func (e *Engine) DropPartition(id int32) error {
	for _, prefix := range []byte{prefixState, prefixTimer, prefixMeta, prefixTimeline, prefixTimelineSlot} {
		start := partKey(prefix, id)
		end := partKey(prefix, id+1)
		if err := e.db.DeleteRange(start, end, pebble.Sync); err != nil {
			return fmt.Errorf("drop partition %d: %w", id, err)
		}
	}
	return nil
}

// StoredMeta reads a partition's checkpoint without opening it (ok is
// false when the store has none).
func (e *Engine) StoredMeta(id int32) (m Meta, ok bool, err error) {
	v, closer, err := e.db.Get(partKey(prefixMeta, id))
	if errors.Is(err, pebble.ErrNotFound) {
		m.init()
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("read partition %d meta: %w", id, storeErr(err))
	}
	defer closer.Close()
	m, err = decodeMeta(v)
	return m, err == nil, err
}

// Lookup reads a customer's committed state from partition id's store,
// for queries from other goroutines (the HTTP API). It sees what the last
// commit wrote, not a batch in progress.
func (e *Engine) Lookup(id int32, customer string) (State, bool, error) {
	e.mu.Lock()
	p := e.parts[id]
	e.mu.Unlock()
	if p != nil {
		// Committed since the partition's last checkpoint?
		if st, ok, err := p.lookupCommitted(customer); ok || err != nil {
			return st, ok, err
		}
	}
	var st State
	key := append(partKey(prefixState, id), customer...)
	v, closer, err := e.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("look up customer %q: %w", customer, storeErr(err))
	}
	defer closer.Close()
	if err := st.Decode(v); err != nil {
		return st, false, err
	}
	return st, true, nil
}
