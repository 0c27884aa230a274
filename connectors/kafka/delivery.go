package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A guarantee is how a batch's outputs become durable and its input
// positions recorded: the one difference between exactly_once and
// at_least_once. The loop calls it from its own goroutine, for each batch:
// deliver, then stored (the workers committed the batch to the store) or
// aborted (they took it back).
type guarantee interface {
	// deliver produces the batch: produceOutputs (output records and dead
	// letters), then produceChangelog, and makes them durable with the
	// input offsets. committed false: the group moved on (a rebalance), or
	// a record failed to be produced (produceErr), and the batch must be
	// processed again.
	deliver(ctx context.Context, produceOutputs, produceChangelog func(), produceErr func() error) (committed bool, err error)
	// stored runs once the store holds the batch.
	stored(ctx context.Context)
	// aborted runs once the workers have taken an undelivered batch back;
	// next is each partition's input position.
	aborted(next map[int32]int64)
}

// transactional is exactly_once: a batch's outputs, dead letters,
// changelog entries and input offsets commit in one Kafka transaction;
// the store is written only after it commits, so it can lag the
// changelog, never lead it.
type transactional struct {
	sess *kgo.GroupTransactSession
	id   string // the transactional id
}

func (t *transactional) deliver(ctx context.Context, produceOutputs, produceChangelog func(), produceErr func() error) (bool, error) {
	if err := t.sess.Begin(); err != nil {
		return false, fmt.Errorf("begin transaction: %w", err)
	}
	produceOutputs()
	produceChangelog()
	// franz-go commits whatever was produced when asked to, even after a
	// record failed (a non-retriable answer such as UNKNOWN_SERVER_ERROR,
	// which leaves the producer usable): the input offsets would commit
	// without that record, and it would be lost. So wait for every
	// record's answer first, and abort if any failed.
	if err := t.sess.Client().Flush(ctx); err != nil {
		return false, fmt.Errorf("produce: not done within engine.transaction_timeout, after which the broker aborts the transaction: %w", err)
	}
	end := kgo.TryCommit
	if produceErr() != nil {
		end = kgo.TryAbort
	}
	// A transaction whose partitions were revoked meanwhile is aborted
	// too (committed false). OUT_OF_ORDER_SEQUENCE_NUMBER on a produce
	// fails the producer id: with transaction version 2 (Kafka 4.0+,
	// kfake) the abort bumps the epoch and the batch is processed again
	// in process; with older brokers the id cannot be recovered and End
	// returns an error, like a fenced producer: the instance stops, and
	// the restart's new producer id aborts what is left of the
	// transaction (see fencePrevious) before the batch is processed again.
	committed, err := t.sess.End(ctx, end)
	if errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) {
		return false, fmt.Errorf("commit transaction: fenced: a newer producer uses transactional id %q (another instance with the same group and client_id, or a restart of this one), or the broker timed the transaction out (engine.transaction_timeout); nothing of it is committed: %w", t.id, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return false, fmt.Errorf("commit transaction: not answered within engine.transaction_timeout, after which the broker aborts it: %w", err)
	}
	if err != nil {
		return false, fmt.Errorf("commit transaction: %w", err)
	}
	return committed, nil
}

func (t *transactional) stored(context.Context) {}

// aborted has nothing to rewind: the session resets the consumer to the
// committed offsets of an aborted transaction.
func (t *transactional) aborted(map[int32]int64) {}

// atLeastOnce flushes outputs before the changelog, the changelog before
// the store, and commits input offsets last: a crash repeats outputs
// (with the same deterministic ids), never loses them.
type atLeastOnce struct {
	cl    *kgo.Client
	input string // the input topic
	log   zerolog.Logger
}

func (a *atLeastOnce) deliver(ctx context.Context, produceOutputs, produceChangelog func(), produceErr func() error) (bool, error) {
	produceOutputs()
	// Outputs are durable before the state that produced them is recorded
	// anywhere: if one failed, the changelog is not written and the batch
	// is processed again (its outputs that did land repeat, with the same
	// ids).
	if err := a.cl.Flush(ctx); err != nil {
		return false, fmt.Errorf("flush outputs: %w", err)
	}
	if produceErr() != nil {
		return false, nil
	}
	produceChangelog()
	if err := a.cl.Flush(ctx); err != nil {
		return false, fmt.Errorf("flush changelog: %w", err)
	}
	return produceErr() == nil, nil
}

// stored commits the input offsets, after the store holds the batch. A
// failure costs nothing but time: after a restart the partition skips
// the records its stored position says it has applied.
func (a *atLeastOnce) stored(ctx context.Context) {
	if err := a.cl.CommitUncommittedOffsets(context.WithoutCancel(ctx)); err != nil {
		a.log.Warn().Err(err).Msg("commit offsets failed; the batch will be skipped by its stored position after a restart")
	}
}

// aborted rewinds the consumer to the partitions' positions, so that the
// batch is read again.
func (a *atLeastOnce) aborted(next map[int32]int64) {
	offs := make(map[int32]kgo.EpochOffset, len(next))
	for p, n := range next {
		offs[p] = kgo.EpochOffset{Epoch: -1, Offset: n}
	}
	a.cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{a.input: offs})
}
