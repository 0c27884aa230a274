package engine_test

import (
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"syscall"
	"testing"

	"github.com/lifeline-hq/lifeline/engine"
	"github.com/lifeline-hq/lifeline/rules"
)

// killChildEnv, when set in the environment, makes this test binary the
// child of TestCommitThenProcessKill: it commits batches into the state dir
// named by the variable and kills itself with SIGKILL right after.
const killChildEnv = "LIFELINE_ENGINE_KILL_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(killChildEnv); dir != "" {
		killChild(dir)
		return // not reached
	}
	os.Exit(m.Run())
}

const (
	killBatch     = 10 // events per commit
	killCustomers = 37
)

// killEvent is input record i of the kill test's stream.
func killEvent(i int64) engine.Event {
	names := []string{"Feature Used", "Signed Up", "Order Completed", "Ticket Opened", "Signed In", "NPS Responded"}
	e := ev(fmt.Sprintf("cus_%03d", i%killCustomers), names[i%int64(len(names))], t0+i*hour, fmt.Sprint("m", i))
	e.Score, e.HasScore = float64(i%11), true
	e.SetAmount(rules.MoneyRevenue, 10)
	return e
}

// killChild applies the stream from the store's checkpoint in batches,
// committing each, and dies by SIGKILL right after the last Commit
// returns: no Release, no Close, nothing after.
func killChild(dir string) {
	batches, _ := strconv.Atoi(os.Getenv(killChildEnv + "_BATCHES"))
	sync := os.Getenv(killChildEnv+"_SYNC") == "1"
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	eng, err := engine.Open(dir, rules.Default(), engine.Options{Sync: sync})
	if err != nil {
		fail(err)
	}
	p, err := eng.Partition(0)
	if err != nil {
		fail(err)
	}
	d := engine.NewDriver(p)
	for b := 0; b < batches; b++ {
		src := engine.Events{First: p.Next()}
		for i := range int64(killBatch) {
			src.List = append(src.List, killEvent(src.First+i))
		}
		if err := d.Process(&src); err != nil {
			fail(err)
		}
		if _, err := d.Flush(); err != nil {
			fail(err)
		}
		if err := d.Commit(0); err != nil {
			fail(err)
		}
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

// TestCommitThenProcessKill kills a process right after Commit returns.
// With Options.Sync, every committed batch survives. Without it (the
// default), Pebble keeps the tail of its write-ahead log in process memory
// until a 32 KiB block fills, so the last commits may be lost; what
// survives must then be a consistent checkpoint: a batch boundary, with
// every customer's state and the aggregates exactly those of applying the
// records before it once.
func TestCommitThenProcessKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	for _, sync := range []bool{true, false} {
		t.Run(fmt.Sprintf("sync=%v", sync), func(t *testing.T) {
			dir := t.TempDir()
			var next int64
			rounds := []int{1, 3, 20, 2}
			if !sync {
				// Enough to fill several WAL blocks: some commits survive.
				rounds = []int{1, 60, 400, 2}
			}
			survived := false
			for round, batches := range rounds {
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				flag := "0"
				if sync {
					flag = "1"
				}
				cmd.Env = append(os.Environ(), killChildEnv+"="+dir, killChildEnv+"_BATCHES="+strconv.Itoa(batches), killChildEnv+"_SYNC="+flag)
				out, err := cmd.CombinedOutput()
				if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
					t.Fatalf("child %d: %v, want death by SIGKILL\n%s", round, err, out)
				}
				committed := next + int64(killBatch*batches)
				got := checkKillStore(t, dir)
				switch {
				case sync && got != committed:
					t.Fatalf("round %d: checkpoint at %d after a kill, want every committed record (%d)", round, got, committed)
				case got < next || got > committed || got%killBatch != 0:
					t.Fatalf("round %d: checkpoint at %d, want a batch boundary in [%d, %d]", round, got, next, committed)
				}
				t.Logf("round %d: %d records committed before the kill, %d survived", round, committed, got)
				survived = survived || got > next
				next = got
			}
			if !survived {
				t.Errorf("no commit survived any kill: nothing was checked")
			}
		})
	}
}

// checkKillStore compares the store left by a killed child with a
// reference that applied the stream up to the store's checkpoint, and
// returns that checkpoint.
func checkKillStore(t *testing.T, dir string) int64 {
	t.Helper()
	eng, err := engine.Open(dir, rules.Default(), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	m, _, err := eng.StoredMeta(0)
	if err != nil {
		t.Fatal(err)
	}
	ref := newHarness(t, engine.Options{})
	for i := int64(0); i < m.Next; i++ {
		ref.apply(killEvent(i))
		if (i+1)%killBatch == 0 {
			ref.commit()
		}
	}
	ref.commit()
	if want, _, _ := ref.eng.StoredMeta(0); !reflect.DeepEqual(m, want) {
		t.Fatalf("meta after the kill:\n%+v\nwant (the stream applied up to %d):\n%+v", m, m.Next, want)
	}
	for c := 0; c < killCustomers; c++ {
		id := fmt.Sprintf("cus_%03d", c)
		got, ok1, err1 := eng.Lookup(0, id)
		want, ok2, err2 := ref.eng.Lookup(0, id)
		if err1 != nil || err2 != nil || ok1 != ok2 || !reflect.DeepEqual(got, want) {
			t.Fatalf("customer %s after the kill (found %v, %v):\n%+v\nwant:\n%+v (found %v, %v)", id, ok1, err1, got, want, ok2, err2)
		}
	}
	return m.Next
}
