package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/lifeline-hq/lifeline/engine"
)

// Partitions says which input partitions a cluster-wide answer (funnel,
// KPIs, alert list) covers: Answered are counted, each once, from the
// instance that holds it; Missing could not be (held by a peer that did
// not answer, being restored, or held by another instance when no peers
// are configured).
type Partitions struct {
	Total    int32   `json:"total"`
	Answered []int32 `json:"answered"`
	Missing  []int32 `json:"missing"`
}

// partitionsOf lists the partitions of total that answered covers.
func partitionsOf(total int32, answered map[int32]bool) Partitions {
	ps := Partitions{Total: total, Answered: []int32{}, Missing: []int32{}}
	for p := range answered {
		total = max(total, p+1) // a peer that knows the topic has grown
	}
	ps.Total = total
	for p := range total {
		if answered[p] {
			ps.Answered = append(ps.Answered, p)
		} else {
			ps.Missing = append(ps.Missing, p)
		}
	}
	return ps
}

// scope reads ?scope: local (this instance's partitions only, as peers
// ask) or all (the default).
func scope(w http.ResponseWriter, r *http.Request) (local, ok bool) {
	switch s := r.URL.Query().Get("scope"); s {
	case "", "all":
		return false, true
	case "local":
		return true, true
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("scope %q: expected local (this instance's partitions only) or all (the default)", s))
		return false, false
	}
}

// localMetas is the part of a ?scope=local funnel or KPIs answer that
// gathering reads: the meta of each partition the peer holds restored.
type localMetas struct {
	Partitions     Partitions            `json:"partitions"`
	PartitionMetas map[int32]engine.Meta `json:"partition_metas"`
}

// gathered is the metas of the partitions an answer covers, each from
// one instance.
type gathered struct {
	metas map[int32]engine.Meta
	parts Partitions
	errs  []PeerError
}

// gatherMetas collects the committed meta of every partition this
// instance holds restored and, unless local, those the peers hold (asked
// GET path?scope=local). A partition two instances report (a rebalance in
// flight) is counted once, from the one further along its input.
func (a *api) gatherMetas(ctx context.Context, path string, local bool) (gathered, error) {
	cov, err := a.src.Coverage(ctx)
	if err != nil {
		return gathered{}, err
	}
	g := gathered{metas: map[int32]engine.Meta{}}
	all := a.src.Metas()
	for _, p := range cov.Held {
		if m, ok := all[p]; ok {
			g.metas[p] = m
		}
	}
	total := cov.Partitions
	if !local && a.peers != nil && len(g.metas) < int(total) {
		bodies, errs := a.peers.gather(ctx, path, nil)
		g.errs = errs
		for _, b := range bodies {
			var lm localMetas
			if err := json.Unmarshal(b.body, &lm); err != nil || lm.PartitionMetas == nil {
				g.errs = append(g.errs, PeerError{Peer: b.peer, Error: fmt.Sprintf("answered 200 with a body that is not a scope=local answer with partition_metas: %v", err)})
				continue
			}
			total = max(total, lm.Partitions.Total)
			for p, m := range lm.PartitionMetas {
				if have, ok := g.metas[p]; !ok || m.Next > have.Next {
					g.metas[p] = m
				}
			}
		}
	}
	answered := make(map[int32]bool, len(g.metas))
	for p := range g.metas {
		answered[p] = true
	}
	g.parts = partitionsOf(total, answered)
	for _, e := range g.errs {
		a.log.Debug().Str("peer", e.Peer).Str("error", e.Error).Str("path", path).Msg("a peer could not be asked")
	}
	return g, nil
}

// clusterAnswer serves /v1/funnel or /v1/kpis: body computes the answer
// from the gathered metas' totals.
func (a *api) clusterAnswer(path string, body func(t engine.Meta) any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		local, ok := scope(w, r)
		if !ok {
			return
		}
		g, err := a.gatherMetas(r.Context(), path, local)
		if err != nil {
			a.log.Warn().Err(err).Str("path", path).Msg("gather partition metas")
			w.Header().Set("Retry-After", "5")
			writeError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		out := struct {
			Answer     any        `json:"-"`
			Partitions Partitions `json:"partitions"`
			// Partial: some partitions are not counted (Partitions.Missing).
			Partial        bool                  `json:"partial"`
			PeerErrors     []PeerError           `json:"peer_errors,omitempty"`
			PartitionMetas map[int32]engine.Meta `json:"partition_metas,omitempty"`
		}{Partitions: g.parts, Partial: len(g.parts.Missing) > 0, PeerErrors: g.errs}
		if local {
			out.PartitionMetas = g.metas
		}
		writeJSON(w, http.StatusOK, merged{body(engine.Totals(g.metas)), out})
	}
}

// merged encodes the fields of two structs as one JSON object: an
// answer's own (engine.Funnel, engine.KPIs) and the coverage fields added
// to it, so that the answer keeps its earlier shape.
type merged [2]any

func (m merged) MarshalJSON() ([]byte, error) {
	a, err := json.Marshal(m[0])
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(m[1])
	if err != nil {
		return nil, err
	}
	if len(a) < 2 || a[0] != '{' || len(b) < 2 || b[0] != '{' {
		return nil, fmt.Errorf("merge %s and %s: not objects", a, b)
	}
	if len(b) == 2 {
		return a, nil
	}
	if len(a) == 2 {
		return b, nil
	}
	return slices.Concat(a[:len(a)-1], []byte{','}, b[1:]), nil
}
