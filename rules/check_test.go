package rules

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the .diag files of testdata/check from what Parse reports")

// TestCheck is the diagnostics suite, as data: every testdata/check/*.yaml
// is a pack (each written to show one kind of mistake), and the .diag file
// beside it holds exactly what Parse reports for it, one
// Diagnostic.String() per line, in order; an empty .diag is a pack
// without a single diagnostic. `go test ./rules -run TestCheck -update`
// rewrites the .diag files: review their diff before committing.
//
// The file name in the diagnostics is the .yaml file's base name
// ("unknown-stage.yaml:16:40: error: ..."), what `lifeline rules check
// unknown-stage.yaml` prints in that directory, so that a .diag reads like
// the command's output and does not depend on where the tests run.
func TestCheck(t *testing.T) {
	packs, err := filepath.Glob(filepath.Join("testdata", "check", "*.yaml"))
	if err != nil || len(packs) == 0 {
		t.Fatalf("no packs in testdata/check (%v)", err)
	}
	for _, path := range packs {
		name := filepath.Base(path)
		golden := strings.TrimSuffix(path, ".yaml") + ".diag"
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			p, diags, err := Parse(name, src)
			var got strings.Builder
			for _, d := range diags {
				got.WriteString(d.String())
				got.WriteByte('\n')
			}
			errs := len(Errors(diags))
			if (err != nil) != (errs > 0) || (err == nil) != (p != nil) {
				t.Errorf("Parse returned err %v and a pack %v with %d error diagnostics", err, p != nil, errs)
			}
			if *update {
				if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestCheck -update to create it)", err)
			}
			if got.String() != string(want) {
				t.Errorf("diagnostics of %s differ from %s:\n%s", path, golden, lineDiff(string(want), got.String()))
			}
		})
	}
	// A .diag without its pack is a case deleted by half.
	diags, _ := filepath.Glob(filepath.Join("testdata", "check", "*.diag"))
	for _, golden := range diags {
		if _, err := os.Stat(strings.TrimSuffix(golden, ".diag") + ".yaml"); err != nil {
			t.Errorf("%s has no pack beside it: %v", golden, err)
		}
	}
}

// lineDiff shows two texts line by line: "-" lines only in want, "+"
// lines only in got, in order.
func lineDiff(want, got string) string {
	w, g := lines(want), lines(got)
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		switch {
		case i >= len(g):
			b.WriteString("- " + w[i] + "\n")
		case i >= len(w):
			b.WriteString("+ " + g[i] + "\n")
		case w[i] != g[i]:
			b.WriteString("- " + w[i] + "\n+ " + g[i] + "\n")
		default:
			b.WriteString("  " + w[i] + "\n")
		}
	}
	return b.String()
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// validPack is testdata/check/valid.yaml: a small pack without a single
// diagnostic, for tests that change one part of it.
func validPack(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "check", "valid.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
