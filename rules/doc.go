// Package rules is the rule pack: the YAML file that says which events are
// which kind of touchpoint, how customers move between lifecycle stages,
// how their health is scored and which alerts fire. It parses a pack,
// checks it (reporting every problem at once, each at its file:line:col),
// and compiles it into an immutable Pack that the engine evaluates for
// each event without allocating.
//
// The package is pure: no I/O, no clock, no goroutines; time comes in as
// an argument. rules/README.md is the language reference, default.yaml the
// built-in pack (embedded), default_test.yaml its unit tests (run by
// engine/ruletest and `lifeline rules test`).
//
// Where things are: schema.go is the YAML schema; shape.go reads the YAML
// with positioned errors; pack.go is the compiled model the engine calls
// (Pack, Transition, Scorecard, Alert, Timer); compile.go builds it, one
// function per section of the pack; duration.go reads durations; expr.go
// turns expressions into closures, and language.go says what expressions
// may use and words their errors; vars.go declares the variables;
// template.go renders reasons; check.go and analyze.go find what a pack
// that compiles can still get wrong (a transition that can never fire, an
// alert that can never resolve); diag.go carries the diagnostics.
package rules
