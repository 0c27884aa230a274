// Package schemas holds the JSON Schemas (draft 2020-12) of Lifeline's
// output records, one per kind, embedded so that a program (a test, a
// consumer written in Go) reads the very files the repository publishes.
package schemas

import (
	"embed"
	"fmt"
	"io/fs"
)

//go:embed *.schema.json
var files embed.FS

// Kinds are the output record kinds that have a schema.
func Kinds() []string { return []string{"stage", "health", "alert"} }

// Schema returns the JSON Schema of output records of kind.
func Schema(kind string) ([]byte, error) {
	b, err := fs.ReadFile(files, kind+".schema.json")
	if err != nil {
		return nil, fmt.Errorf("schema of %q records: %w", kind, err)
	}
	return b, nil
}
