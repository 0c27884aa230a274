package rules

import (
	"unicode"
	"unicode/utf8"
)

// Event-name matching: how an incoming event's name is compared with the
// names a pack lists under touchpoints. The same business event is spelled
// differently by the tools that send it (Segment's "Order Completed",
// RudderStack's "order completed" or "order_completed"), so a pack says,
// with event_match and a touchpoint's match, how strictly to compare.

// Match is how a touchpoint's event names are compared with an event's
// name.
type Match uint8

const (
	// MatchExact compares byte for byte: "Order Completed" only.
	MatchExact Match = iota
	// MatchCaseInsensitive ignores letter case (Unicode simple case
	// folding): "order completed", "ORDER COMPLETED".
	MatchCaseInsensitive
	// MatchLoose ignores letter case and counts space, underscore and
	// hyphen as the same character: "order_completed", "order-completed".
	// Nothing else is ignored: a dot ("invoice.paid") is a character like
	// any other, and two spaces are not one.
	MatchLoose
)

var matchNames = [...]string{"exact", "case_insensitive", "loose"}

// String returns the name a pack writes (exact, case_insensitive, loose).
func (m Match) String() string {
	if int(m) < len(matchNames) {
		return matchNames[m]
	}
	return "unknown"
}

// parseMatch reads a match value as a pack writes it.
func parseMatch(s string) (Match, bool) {
	for i, n := range matchNames {
		if s == n {
			return Match(i), true
		}
	}
	return MatchExact, false
}

// foldName appends name's key under m to dst: two names match under m
// when their keys are equal. It gives up, returning false, once the key
// grows past limit bytes (no name of the pack is that long, so the name
// cannot match). It allocates only when the key outgrows dst's capacity.
func foldName(dst []byte, name string, m Match, limit int) ([]byte, bool) {
	for i := 0; i < len(name); {
		if len(dst) >= limit {
			return dst, false
		}
		c := name[i]
		if c < utf8.RuneSelf {
			switch {
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			case m == MatchLoose && (c == '_' || c == '-'):
				c = ' '
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(name[i:])
		i += size
		if r == utf8.RuneError && size == 1 {
			// Invalid UTF-8 is kept as it is: it can only match itself.
			dst = append(dst, name[i-1])
			continue
		}
		dst = utf8.AppendRune(dst, foldRune(r))
	}
	return dst, len(dst) <= limit
}

// foldRune maps every rune of a simple case-folding orbit to one of them:
// the lower case of its upper case ('K', 'k' and the Kelvin sign give 'k';
// 'S', 's' and the long s give 's').
func foldRune(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }

// foldKey is name's key under m, for building the pack's maps.
func foldKey(name string, m Match) string {
	k, _ := foldName(make([]byte, 0, len(name)), name, m, len(name)*4+4)
	return string(k)
}

// namedCategory is a folded key's entry: the category, and the name as
// the pack writes it (what the event variable holds on a folded match).
type namedCategory struct {
	cat  Category
	name string
}

// foldBuf is the size of the stack buffer a folded lookup builds its key
// in; longer keys (packs with names longer than this) allocate.
const foldBuf = 128

// ClassifyName returns the category of an event from its type (Segment
// call type, or the source for the other decoders) and its name, and the
// name as the pack writes it: an event named "order_completed" matched
// loosely by "Order Completed" gives "Order Completed", so that conditions
// comparing the event variable see one spelling. An event the pack does
// not map by name gives its own name back, with the category of its type
// (calls), or CatNone.
//
// It does not allocate (unless the pack lists names longer than 128
// bytes); a name spelled as the pack writes it costs one map lookup, any
// other one folding per matching mode the pack uses.
func (p *Pack) ClassifyName(callType, name string) (Category, string) {
	if name != "" {
		if c, ok := p.byEvent[name]; ok {
			return c, name
		}
		if nc, ok := p.classifyFolded(name); ok {
			return nc.cat, nc.name
		}
	}
	if c, ok := p.byCall[callType]; ok {
		return c, name
	}
	return CatNone, name
}

// classifyFolded looks name up among the names matched case-insensitively,
// then among the loose ones.
func (p *Pack) classifyFolded(name string) (namedCategory, bool) {
	if p.maxFoldKey == 0 {
		return namedCategory{}, false
	}
	var buf [foldBuf]byte
	if len(name) <= len(buf) {
		// The common case, ASCII: the key is as long as the name, so a
		// longer name than every key misses at once, and the loose key
		// is the case-folded one with its separators replaced.
		k := buf[:len(name)]
		ascii := true
		for i := 0; i < len(name); i++ {
			c := name[i]
			if c >= utf8.RuneSelf {
				ascii = false
				break
			}
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			k[i] = c
		}
		if ascii {
			if len(k) > p.maxFoldKey {
				return namedCategory{}, false
			}
			if len(p.byFold) > 0 {
				if nc, ok := p.byFold[string(k)]; ok {
					return nc, true
				}
			}
			if len(p.byLoose) > 0 {
				for i, c := range k {
					if c == '_' || c == '-' {
						k[i] = ' '
					}
				}
				if nc, ok := p.byLoose[string(k)]; ok {
					return nc, true
				}
			}
			return namedCategory{}, false
		}
	}
	if len(p.byFold) > 0 {
		if k, ok := foldName(buf[:0], name, MatchCaseInsensitive, p.maxFoldKey); ok {
			if nc, ok := p.byFold[string(k)]; ok {
				return nc, true
			}
		}
	}
	if len(p.byLoose) > 0 {
		if k, ok := foldName(buf[:0], name, MatchLoose, p.maxFoldKey); ok {
			if nc, ok := p.byLoose[string(k)]; ok {
				return nc, true
			}
		}
	}
	return namedCategory{}, false
}

// NearestEvent returns the event name of the pack closest to name, and
// its category, when one is close enough to be a likely typo ("Order
// Complted" for "Order Completed"); "" and CatNone otherwise. Names are
// compared loosely (case, space, underscore and hyphen aside), whatever
// the pack's matching. It is for messages, not for per-event use.
func (p *Pack) NearestEvent(name string) (string, Category) {
	if name == "" {
		return "", CatNone
	}
	key := foldKey(name, MatchLoose)
	n := utf8.RuneCountInString(key)
	limit := 2
	switch {
	case n <= 4:
		limit = 1
	case n >= 16:
		limit = 3
	}
	best, bestD := "", limit+1
	for _, cand := range sortedKeys(p.byEvent) {
		ck := foldKey(cand, MatchLoose)
		if m := utf8.RuneCountInString(ck); m > n+limit || m < n-limit {
			continue
		}
		if d := editDistance(key, ck); d < bestD {
			best, bestD = cand, d
		}
	}
	if best == "" {
		return "", CatNone
	}
	return best, p.byEvent[best]
}
