package kafka

import (
	"context"
	"slices"

	"github.com/lifeline-hq/lifeline/engine"
)

// Coverage says which input partitions an answer from this instance
// covers: those held here and restored. The others are held elsewhere, or
// being restored here.
type Coverage struct {
	// Partitions is the input topic's partition count.
	Partitions int32
	// Held are the partitions held here and restored, ascending.
	Held []int32
	// Restoring are the partitions held here and being restored from the
	// changelog, ascending.
	Restoring []int32
}

// Coverage returns which input partitions this instance holds restored,
// and which it is restoring. An error is the input topic's partition
// count being unknown.
func (r *Runtime) Coverage(ctx context.Context) (Coverage, error) {
	n, err := r.partitionCount(ctx)
	if err != nil {
		return Coverage{}, err
	}
	held := r.Partitions()
	for id := range held {
		if id >= n { // the topic has grown since it was counted
			r.nparts.Store(0)
			if n, err = r.partitionCount(ctx); err != nil {
				return Coverage{}, err
			}
			break
		}
	}
	c := Coverage{Partitions: n}
	for id, ready := range held {
		if ready {
			c.Held = append(c.Held, id)
		} else {
			c.Restoring = append(c.Restoring, id)
		}
	}
	slices.Sort(c.Held)
	slices.Sort(c.Restoring)
	return c, nil
}

// Scan calls fn with the committed state of every customer in the
// partitions held here and restored (engine.Engine.Scan: one partition
// after the other, in partition then customer order; st is valid during
// the call only). It returns the coverage: Held are the partitions
// scanned. It stops at fn's first error or when ctx ends; a partition
// handed to another instance during the scan is scanned from what this
// instance's store has.
func (r *Runtime) Scan(ctx context.Context, fn func(p int32, customer string, st *engine.State) error) (Coverage, error) {
	c, err := r.Coverage(ctx)
	if err != nil {
		return c, err
	}
	for _, p := range c.Held {
		// Engine.Scan's errors name the partition.
		if err := r.eng.Scan(ctx, p, func(customer string, st *engine.State) error { return fn(p, customer, st) }); err != nil {
			return c, err
		}
	}
	return c, nil
}
