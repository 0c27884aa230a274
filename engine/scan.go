package engine

import (
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Scan calls fn with every customer's committed state in partition id, in
// customer id order, for queries from other goroutines (the HTTP API's
// alert list). Like Lookup it sees what the last commit wrote, not a batch
// in progress; a commit or checkpoint that lands during the scan may or
// may not be seen, customer by customer. st is valid only during the call
// (fn copies what it keeps). It stops at fn's first error, or when ctx
// ends, and returns that error.
//
// It decodes every state of the partition: its cost grows with the
// partition's customers (a few hundred nanoseconds each), which a caller
// bounds by how often it asks, not by what it keeps.
func (e *Engine) Scan(ctx context.Context, id int32, fn func(customer string, st *State) error) error {
	// The states committed since the last checkpoint, copied first: a
	// checkpoint that lands after the copy writes them to the store,
	// where the iteration below finds the same or newer ones.
	var committed map[string][]byte
	e.mu.Lock()
	p := e.parts[id]
	e.mu.Unlock()
	if p != nil {
		p.ckpt.mu.RLock()
		committed = make(map[string][]byte, len(p.ckpt.committed))
		for k, v := range p.ckpt.committed {
			committed[k] = v
		}
		p.ckpt.mu.RUnlock()
	}
	prefix := partKey(prefixState, id)
	iter, err := e.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: partKey(prefixState, id+1)})
	if err != nil {
		return fmt.Errorf("scan partition %d: %w", id, storeErr(err))
	}
	defer iter.Close()
	var st State
	n := 0
	for ok := iter.First(); ok; ok = iter.Next() {
		if n++; n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		customer := string(iter.Key()[len(prefix):])
		v := iter.Value()
		if enc, ok := committed[customer]; ok {
			v = enc
			delete(committed, customer)
		}
		if err := st.Decode(v); err != nil {
			return fmt.Errorf("scan partition %d: customer %q: %w", id, customer, err)
		}
		if err := fn(customer, &st); err != nil {
			return err
		}
	}
	if err := iter.Error(); err != nil {
		return fmt.Errorf("scan partition %d: %w", id, storeErr(err))
	}
	// Customers new since the last checkpoint.
	for customer, enc := range committed {
		if err := st.Decode(enc); err != nil {
			return fmt.Errorf("scan partition %d: customer %q: %w", id, customer, err)
		}
		if err := fn(customer, &st); err != nil {
			return err
		}
	}
	return nil
}
