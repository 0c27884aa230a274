package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lifeline-hq/lifeline/rules"
)

// The packs of packs/ are what bench/README's rows measure with -rules:
// each must stay a valid pack as the language changes.
func TestPacksAreValid(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("packs", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no packs in bench/packs (%v)", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := rules.Parse(f, data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
