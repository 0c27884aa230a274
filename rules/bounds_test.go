package rules

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The merge-key bomb of testdata/check (585 bytes of YAML that stand for 10^9
// transitions) is refused before any of it is walked: one error, at the
// alias that passes the limit, naming the limit. Before the bound, it ran
// for minutes and ran out of memory; if the bound breaks, this test does
// not finish.
func TestAliasBombIsRefused(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "check", "yaml-alias-bomb.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p, diags, err := Parse("bomb.yaml", src)
	var inv *InvalidError
	if p != nil || !errors.As(err, &inv) {
		t.Fatalf("Parse = %v, %v; want an *InvalidError", p != nil, err)
	}
	if len(diags) != 1 {
		t.Fatalf("%d diagnostics, want the one about aliases:\n%v", len(diags), err)
	}
	want := fmt.Sprintf("bomb.yaml:11:36: error: YAML aliases: with this alias (*d), the sections that aliases and merges (<<) copy add up to more than %d YAML nodes, the limit", MaxAliasNodes)
	if !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error:\n%v\nwant prefix:\n%s", err, want)
	}
}

// Anchors and merges in ordinary use are no bomb: a pack whose alerts all
// merge one base (a thousand of them) loads, and each alert has what it
// merged.
func TestAliasesWithinTheLimitLoad(t *testing.T) {
	var b strings.Builder
	b.WriteString(validPack(t))
	b.WriteString("  - &base {name: base, severity: warning, stages: [customer], when: open_tickets >= 3, resolve: open_tickets == 0, reasons: [\"{open_tickets} tickets open\"]}\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "  - {<<: *base, name: tickets-%d, when: open_tickets >= %d}\n", i, 4+i)
	}
	// The alerts were the last list of the valid pack but kpis follows
	// them: move kpis to the end.
	src := strings.Replace(b.String(), "kpis: {converted: customer}\n", "", 1) + "kpis: {converted: customer}\n"
	p, _, err := Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	a := p.Alert("tickets-999")
	if a == nil || a.Severity != "warning" || len(a.Stages) != 1 || a.Stages[0] != "customer" || len(a.Reasons) != 1 {
		t.Fatalf("alert tickets-999 = %+v, want what it merged from base", a)
	}
}

// A text over MaxPackSize is refused before it is read, with an error
// that names the file and the limit.
func TestPackOverTheSizeLimitIsRefused(t *testing.T) {
	src := []byte("version: big\n" + strings.Repeat("# padding\n", MaxPackSize/10))
	_, diags, err := Parse("big.yaml", src)
	if err == nil || len(diags) != 1 {
		t.Fatalf("Parse = %v with %d diagnostics; want one error", err, len(diags))
	}
	want := fmt.Sprintf("big.yaml: error: the file is 4.0 MiB (%d bytes): a rule pack may be at most 4 MiB (4194304 bytes)", len(src))
	if err.Error() != want {
		t.Fatalf("error:\n%v\nwant:\n%s", err, want)
	}
}

// ParseContext stops when its context ends and says why: the cause the
// caller gave (a timeout, a shutdown).
func TestParseStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("checking took longer than 30s"))
	p, _, err := ParseContext(ctx, "large.yaml", largePack(256<<10))
	var inv *InvalidError
	if p != nil || !errors.As(err, &inv) {
		t.Fatalf("ParseContext = %v, %v; want an *InvalidError", p != nil, err)
	}
	want := "large.yaml: error: the pack was not checked to the end: checking took longer than 30s"
	if len(inv.Diags) != 1 || err.Error() != want {
		t.Fatalf("error:\n%v\nwant:\n%s", err, want)
	}
	// Without the cancellation, the same pack is valid: the error above is
	// the context's alone.
	if _, diags, err := Parse("large.yaml", largePack(256<<10)); err != nil || len(diags) != 0 {
		t.Fatalf("the large pack has diagnostics %v (%v)", diags, err)
	}
}
