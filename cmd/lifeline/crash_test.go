package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lifeline-hq/lifeline/connectors/decode"
	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// lifelineBinary builds this command into a temp dir, once per test binary.
var buildOnce struct {
	sync.Once
	path string
	err  error
	dir  string
}

func lifelineBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH to build the binary")
	}
	buildOnce.Do(func() {
		buildOnce.dir, buildOnce.err = os.MkdirTemp("", "lifeline-crash-test-")
		if buildOnce.err != nil {
			return
		}
		buildOnce.path = filepath.Join(buildOnce.dir, "lifeline")
		// With the failpoints (faults_on.go): the kill tests reach named
		// instants through it; without its variables it is the shipped
		// binary.
		out, err := exec.Command(goTool, "build", "-tags", "failpoints", "-o", buildOnce.path, ".").CombinedOutput()
		if err != nil {
			buildOnce.err = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildOnce.dir != "" {
		os.RemoveAll(buildOnce.dir)
	}
	os.Exit(code)
}

// runResult is one child process run of `lifeline replay`.
type runResult struct {
	out    []byte // stdout as received, possibly ending in a partial line
	killed bool
	err    error
	stderr string
}

// runReplay starts `lifeline replay --state-dir dir --in file --batch N` and,
// when killAfterBytes > 0 or killAfter > 0, SIGKILLs it once it has written
// that many bytes to stdout or that much time has passed, whichever first.
func runReplay(t *testing.T, bin, dir, file string, batch, killAfterBytes int, killAfter time.Duration) runResult {
	t.Helper()
	cmd := exec.Command(bin, "replay", "--state-dir", dir, "--in", file, "--batch", strconv.Itoa(batch))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		killed bool
	)
	kill := func() {
		mu.Lock()
		defer mu.Unlock()
		if !killed {
			killed = cmd.Process.Signal(syscall.SIGKILL) == nil
		}
	}
	if killAfter > 0 {
		timer := time.AfterFunc(killAfter, kill)
		defer timer.Stop()
	}
	var out bytes.Buffer
	buf := make([]byte, 32<<10)
	for {
		n, rerr := pipe.Read(buf)
		out.Write(buf[:n])
		if killAfterBytes > 0 && out.Len() >= killAfterBytes {
			kill()
		}
		if rerr != nil {
			if !errors.Is(rerr, io.EOF) && !errors.Is(rerr, os.ErrClosed) {
				t.Fatalf("read child stdout: %v", rerr)
			}
			break
		}
	}
	werr := cmd.Wait()
	mu.Lock()
	defer mu.Unlock()
	if killed {
		// The kill may land after a clean exit: then it did not count.
		var ee *exec.ExitError
		if !errors.As(werr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			killed = false
		}
	}
	return runResult{out: out.Bytes(), killed: killed, err: werr, stderr: stderr.String()}
}

// completeLines returns the newline-terminated lines of out: a child killed
// in the middle of a write may leave a partial last line, which does not
// count as delivered.
func completeLines(out []byte) []string {
	if i := bytes.LastIndexByte(out, '\n'); i >= 0 {
		out = out[:i+1]
	} else {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}

// TestCrashExactlyOnce kills `lifeline replay --state-dir DIR` with SIGKILL at
// random moments while it works, restarts it on the same DIR until a run
// finishes, and checks that (1) every customer's state and the partition's
// checkpoint and aggregates equal those of one uninterrupted run: each
// input record applied exactly once; (2) outputs are at least once: each
// run's output is a contiguous stretch of the uninterrupted run's output,
// starting at or before where the previous runs' delivered output ended,
// and together they reach its end. No record is lost; the only repeats are
// those of the batches in flight at a kill.
//
// Checkpoints every 50 lines, as operators run it, and every line, where
// the commit is most of the work and kills land in or around it.
func TestCrashExactlyOnce(t *testing.T) {
	bin := lifelineBinary(t)
	tmp := t.TempDir()
	input := filepath.Join(tmp, "events.ndjson")
	if out, err := exec.Command(bin, "gen", "--customers", "300", "--days", "60", "--out", input).CombinedOutput(); err != nil {
		t.Fatalf("gen: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(input)
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d (random kill points)", seed)
	for _, tc := range []struct {
		batch, kills int
	}{
		{50, 6},
		{1, 8},
	} {
		t.Run("batch="+strconv.Itoa(tc.batch), func(t *testing.T) {
			c := &crashCase{
				bin: bin, input: input, inputLines: int64(bytes.Count(raw, []byte("\n"))),
				batch: tc.batch, kills: tc.kills,
				rng: rand.New(rand.NewPCG(seed, uint64(tc.batch))),
			}
			c.reference(t)
			dir := filepath.Join(t.TempDir(), "crashy")
			c.crashRuns(t, dir)
			compareStores(t, input, c.refDir, dir)
		})
	}
}

// crashCase is one configuration of TestCrashExactlyOnce and its
// uninterrupted reference run.
type crashCase struct {
	bin, input   string
	inputLines   int64
	batch, kills int
	rng          *rand.Rand

	refDir   string
	refLines []string
	offsets  []int // offsets[i]: byte offset of refLines[i] in the output
	startup  time.Duration
	work     time.Duration
}

// reference runs the replay uninterrupted, then once more with nothing
// left to do, to time the start-up (process, Pebble, skipping applied
// lines) apart from the work.
func (c *crashCase) reference(t *testing.T) {
	c.refDir = filepath.Join(t.TempDir(), "ref")
	start := time.Now()
	ref := runReplay(t, c.bin, c.refDir, c.input, c.batch, 0, 0)
	total := time.Since(start)
	if ref.err != nil {
		t.Fatalf("uninterrupted replay: %v\n%s", ref.err, ref.stderr)
	}
	c.refLines = completeLines(ref.out)
	// The first kill (crashRuns) relies on the last 40% of the output
	// being more than the pipe holds (64 KiB on Linux), with room to spare.
	if len(c.refLines) < 1000 || len(ref.out)*2/5 < 2*(64<<10) {
		t.Fatalf("uninterrupted replay wrote %d records (%d bytes); the workload should give thousands, over 320 KiB", len(c.refLines), len(ref.out))
	}
	c.offsets = make([]int, len(c.refLines)+1)
	for i, l := range c.refLines {
		c.offsets[i+1] = c.offsets[i] + len(l) + 1
	}
	start = time.Now()
	if idle := runReplay(t, c.bin, c.refDir, c.input, c.batch, 0, 0); idle.err != nil || len(idle.out) != 0 {
		t.Fatalf("replay of an applied input: %v, %d bytes of output\n%s", idle.err, len(idle.out), idle.stderr)
	}
	c.startup = time.Since(start)
	c.work = max(total-c.startup, time.Millisecond)
	t.Logf("uninterrupted run: %d records in %v (start-up %v)", len(c.refLines), total.Round(time.Millisecond), c.startup.Round(time.Millisecond))
}

// crashRuns runs replay on dir, killing it up to c.kills times, until a
// run completes. It checks each run's output as it goes.
//
// The first kill is placed so that it lands after progress and before the
// end whatever the machine's speed: once 40-60% of the output has come out
// of the pipe, which the child fills only as it commits batch after batch
// (the records of a batch are written before it commits), and long before
// the rest (more than the pipe holds) has been written. The other kills
// come at random moments, by output or by time.
func (c *crashCase) crashRuns(t *testing.T, dir string) {
	var (
		kills, midKills int
		delivered       int   // ref records delivered so far (the furthest end)
		next            int64 // the checkpoint's input position
		done            bool
	)
	for runNo := 1; runNo <= 4*c.kills && !done; runNo++ {
		var byBytes int
		var byTime time.Duration
		total := c.offsets[len(c.refLines)]
		switch {
		case kills == 0:
			byBytes = total*2/5 + c.rng.IntN(total/5)
		case kills < c.kills:
			// A moment uniformly within the work that remains, give or take
			// the start-up, or once part of the remaining output has come
			// out, whichever first.
			remaining := float64(c.inputLines-next) / float64(c.inputLines)
			byTime = c.startup/2 + time.Duration(c.rng.Float64()*remaining*float64(c.work))
			byBytes = 1 + c.rng.IntN(max(1, (total-c.offsets[delivered])*3/4))
		}
		res := runReplay(t, c.bin, dir, c.input, c.batch, byBytes, byTime)
		lines := completeLines(res.out)
		switch {
		case res.killed:
			kills++
		case res.err != nil:
			t.Fatalf("run %d failed without being killed: %v\n%s", runNo, res.err, res.stderr)
		default:
			done = true
		}
		// This run's output must continue the reference, starting no later
		// than where delivered output ended (a gap is a lost record).
		if len(lines) > 0 {
			s := matchSegment(c.refLines, lines, delivered)
			if s < 0 {
				t.Fatalf("run %d (killed %v): its %d records are not a contiguous stretch of the uninterrupted output starting at or before record %d: records were lost or differ.\nfirst: %s",
					runNo, res.killed, len(lines), delivered+1, lines[0])
			}
			delivered = max(delivered, s+len(lines))
		}
		if res.killed {
			prev := next
			next = storedNext(t, dir)
			if next > prev && next < c.inputLines {
				midKills++
			}
			t.Logf("run %d: killed after %d bytes of output; checkpoint at input line %d of %d; %d/%d records delivered",
				runNo, len(res.out), next, c.inputLines, delivered, len(c.refLines))
		}
	}
	if !done {
		t.Fatalf("no run completed after %d kills", kills)
	}
	if delivered != len(c.refLines) {
		t.Errorf("runs delivered records up to %d of %d", delivered, len(c.refLines))
	}
	t.Logf("%d kills, %d of them after progress and before the end", kills, midKills)
	if midKills == 0 {
		t.Errorf("no kill landed after progress and before the end: the test did not exercise a restart")
	}
}

// matchSegment returns the index s <= limit such that ref[s:s+len(seg)]
// equals seg, the largest such, or -1.
func matchSegment(ref, seg []string, limit int) int {
	for s := min(limit, len(ref)-len(seg)); s >= 0; s-- {
		if ref[s] == seg[0] && reflect.DeepEqual(ref[s:s+len(seg)], seg) {
			return s
		}
	}
	return -1
}

// storedNext reads the checkpoint's input position from a state dir.
func storedNext(t *testing.T, dir string) int64 {
	t.Helper()
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return 0
	}
	eng, err := engine.Open(dir, rules.Default(), engine.Options{})
	if err != nil {
		t.Fatalf("open state after a kill: %v", err)
	}
	defer eng.Close()
	m, _, err := eng.StoredMeta(0)
	if err != nil {
		t.Fatal(err)
	}
	return m.Next
}

// compareStores opens both state dirs and compares the partition meta and
// every customer of the input.
func compareStores(t *testing.T, input, wantDir, gotDir string) {
	t.Helper()
	want, err := engine.Open(wantDir, rules.Default(), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	got, err := engine.Open(gotDir, rules.Default(), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()

	wm, ok1, err1 := want.StoredMeta(0)
	gm, ok2, err2 := got.StoredMeta(0)
	if err1 != nil || err2 != nil || !ok1 || !ok2 {
		t.Fatalf("meta: %v %v (found %v %v)", err1, err2, ok1, ok2)
	}
	if !reflect.DeepEqual(wm, gm) {
		t.Errorf("partition meta differs:\nuninterrupted %+v\ncrashed       %+v", wm, gm)
	}

	customers := customersOf(t, input)
	if int64(len(customers)) != wm.Customers {
		t.Errorf("the input names %d customers, the meta counts %d", len(customers), wm.Customers)
	}
	diffs := 0
	for _, c := range customers {
		ws, wok, werr := want.Lookup(0, c)
		gs, gok, gerr := got.Lookup(0, c)
		if werr != nil || gerr != nil || !wok || !gok {
			t.Fatalf("lookup %s: %v %v (found %v %v)", c, werr, gerr, wok, gok)
		}
		if !reflect.DeepEqual(ws, gs) {
			if diffs++; diffs <= 5 {
				t.Errorf("customer %s differs:\nuninterrupted %+v\ncrashed       %+v", c, ws, gs)
			}
		}
	}
	if diffs > 0 {
		t.Errorf("%d of %d customers differ", diffs, len(customers))
	}
}

// customersOf lists the customer ids of an NDJSON input, decoded the way
// replay decodes it.
func customersOf(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := decode.New(decode.Options{})
	seen := map[string]bool{}
	var ids []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev engine.Event
		if dec.Decode(sc.Bytes(), nil, &ev) != nil {
			continue
		}
		if !seen[ev.CustomerID] {
			id := strings.Clone(ev.CustomerID)
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}
