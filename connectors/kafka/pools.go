package kafka

import "github.com/twmb/franz-go/pkg/kgo"

// fetchPools lends franz-go the buffers it decompresses fetched batches
// into and the record slices it decodes them into, so that a steady stream
// reuses the same memory instead of handing the garbage collector a
// batch's worth per fetch (about 600 bytes per event before). The loop
// recycles every record once its batch has committed or aborted.
//
// Free lists are buffered channels: unlike sync.Pool they box nothing on
// Put, and a full list drops the slice for the collector.
type fetchPools struct {
	bytes chan []byte
	recs  chan []kgo.Record
}

func newFetchPools(n int) *fetchPools {
	return &fetchPools{bytes: make(chan []byte, n), recs: make(chan []kgo.Record, n)}
}

var (
	_ kgo.PoolDecompressBytes = (*fetchPools)(nil)
	_ kgo.PoolRecords         = (*fetchPools)(nil)
)

// GetDecompressBytes implements kgo.PoolDecompressBytes.
func (p *fetchPools) GetDecompressBytes([]byte, kgo.CompressionCodecType) []byte {
	select {
	case b := <-p.bytes:
		return b
	default:
		return nil
	}
}

// PutDecompressBytes implements kgo.PoolDecompressBytes.
func (p *fetchPools) PutDecompressBytes(b []byte) {
	select {
	case p.bytes <- b:
	default:
	}
}

// GetRecords implements kgo.PoolRecords.
func (p *fetchPools) GetRecords(n int) []kgo.Record {
	select {
	case r := <-p.recs:
		if cap(r) >= n {
			return r[:0]
		}
	default:
	}
	return make([]kgo.Record, 0, n)
}

// PutRecords implements kgo.PoolRecords.
func (p *fetchPools) PutRecords(r []kgo.Record) {
	select {
	case p.recs <- r:
	default:
	}
}
