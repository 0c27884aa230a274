package rules_test

import (
	"testing"

	"github.com/lifeline-hq/lifeline/rules"
)

// BenchmarkClassify is the engine's per-event touchpoint lookup against
// the default pack: a name spelled as the pack writes it (exact), one
// spelled as RudderStack writes it (folded: lower case, snake case), a
// name the pack does not map (miss), and a page call (no name).
func BenchmarkClassify(b *testing.B) {
	p := rules.Default()
	for _, bc := range []struct{ name, call, event string }{
		{"exact", "track", "Order Completed"},
		{"folded", "track", "order_completed"},
		{"miss", "track", "Cart Viewed In Detail"},
		{"call", "page", ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var sink rules.Category
			for i := 0; i < b.N; i++ {
				sink += p.Classify(bc.call, bc.event)
			}
			_ = sink
		})
	}
}
