package rules

import (
	"context"
	"time"

	"go.yaml.in/yaml/v3"
)

// A rule pack is user input that a running node reloads: reading it must
// take bounded time and memory whatever its text. Three bounds hold:
//
//   - size: Parse refuses a text over MaxPackSize before reading it;
//   - aliases: YAML anchors (&a), aliases (*a) and merges (<<: *a) copy a
//     section wherever they are used, so that a few hundred bytes of nested
//     aliases (a "billion laughs" bomb) stand for billions of nodes. Parse
//     counts, before it walks the tree, how many nodes the aliases add
//     once expanded, and refuses a pack past MaxAliasNodes;
//   - time: ParseContext stops when its context ends, at the next section,
//     rule or YAML node, and reports why (context.Cause). Lifeline's
//     commands and the hot reload give it DefaultTimeout.
//
// Within the first two bounds Parse costs time in proportion to the size
// (BenchmarkParseLarge: about 2 seconds for a 4 MiB pack).

// MaxPackSize is the largest rule pack Parse reads: 4 MiB, a hundred times
// the default pack's size and more than ten thousand rules.
const MaxPackSize = 4 << 20

// MaxAliasNodes is how many YAML nodes (keys, values, list items) the
// aliases and merges of a pack may add once expanded: 100,000, some ten
// times what a large pack that shares its conditions and reasons through
// anchors needs.
const MaxAliasNodes = 100_000

// DefaultTimeout is the time bound Lifeline's commands and the hot reload
// put on ParseContext. A pack within MaxPackSize and MaxAliasNodes checks
// in a few seconds at most; this only stops a pack that would not.
const DefaultTimeout = 30 * time.Second

// checkSize reports a text over MaxPackSize.
func (d *diags) checkSize(data []byte) bool {
	if len(data) <= MaxPackSize {
		return true
	}
	d.errorf(0, 0, "the file is %.1f MiB (%d bytes): a rule pack may be at most %d MiB (%d bytes)", float64(len(data))/(1<<20), len(data), MaxPackSize>>20, MaxPackSize)
	return false
}

// checkAliases counts the nodes the aliases of the tree at root add once
// expanded, and reports the alias at which they pass MaxAliasNodes. It
// costs the size of the tree: each anchored section's expanded size is
// worked out once.
func (d *diags) checkAliases(root *yaml.Node) bool {
	const limit = MaxAliasNodes
	sizes := map[*yaml.Node]int{}
	const inProgress = -1
	// size is n's node count with its aliases expanded, at most limit+1.
	var size func(n *yaml.Node) int
	size = func(n *yaml.Node) int {
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		switch s, seen := sizes[n]; {
		case seen && s == inProgress:
			return 1 // an alias inside its own anchor: the shape check reports it
		case seen:
			return s
		}
		sizes[n] = inProgress
		s := 1
		for _, c := range n.Content {
			s = min(s+size(c), limit+1)
		}
		sizes[n] = s
		return s
	}
	added := 0
	var walk func(n *yaml.Node) bool
	walk = func(n *yaml.Node) bool {
		if n.Kind == yaml.AliasNode {
			if n.Alias == nil {
				return true
			}
			added += size(n.Alias)
			if added > limit {
				d.errorf(n.Line, n.Column, "YAML aliases: with this alias (*%s), the sections that aliases and merges (<<) copy add up to more than %d YAML nodes, the limit for a rule pack: nested aliases can stand for billions of nodes; write the shared sections out, or alias fewer and smaller ones", n.Value, limit)
				return false
			}
			return true
		}
		for _, c := range n.Content {
			if !walk(c) {
				return false
			}
		}
		return true
	}
	return walk(root)
}

// stopped tells whether the context Parse runs under has ended; the first
// time it finds so, it reports why. The checks call it at each section,
// rule and YAML node, and stop when it is true.
func (d *diags) stopped() bool {
	if d.halted {
		return true
	}
	if d.ctx == nil {
		return false
	}
	if d.polls++; d.polls%64 != 1 {
		return false
	}
	if d.ctx.Err() == nil {
		return false
	}
	d.halted = true
	d.errorf(0, 0, "the pack was not checked to the end: %v", context.Cause(d.ctx))
	return true
}
