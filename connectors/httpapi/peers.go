package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Peers asks the other instances of the group for a customer held in
// partitions this one does not hold. Each is asked
// GET /v1/customers/{id}?scope=local: its own partitions only, so that a
// lookup never travels further than one hop and never loops. Create it with
// NewPeers; it is safe for concurrent use.
type Peers struct {
	targets  []peerTarget
	timeout  time.Duration
	max      int
	client   *http.Client
	resolver *net.Resolver
}

// peerTarget is one api.peers entry: a base URL, or a DNS name whose every
// address is a peer (dns true; base is then the URL with the name in it).
type peerTarget struct {
	base *url.URL
	dns  bool
}

// The bounds of asking peers, beyond those of PeersConfig.
const (
	// maxPeerBody bounds a peer's answer: a customer is a few KiB; an
	// answer longer than this is refused, not read into memory.
	maxPeerBody = 1 << 20
	// DefaultPeerTimeout and DefaultMaxPeers are PeersConfig's defaults.
	DefaultPeerTimeout = 2 * time.Second
	DefaultMaxPeers    = 32
)

// PeersConfig configures NewPeers.
type PeersConfig struct {
	// URLs are the peers: http(s)://host:port base URLs, or
	// dns+http(s)://name:port, resolved at each lookup to every address
	// of name (a Kubernetes headless Service).
	URLs []string
	// Timeout bounds asking the peers, DNS included (default
	// DefaultPeerTimeout); the request's own context bounds it too.
	Timeout time.Duration
	// Max bounds how many peers one lookup asks (default
	// DefaultMaxPeers).
	Max int
	// Resolver resolves dns+ names (default net.DefaultResolver).
	Resolver *net.Resolver
}

// NewPeers checks the peers' URLs; it resolves nothing yet. It returns nil
// and no error when there are none.
func NewPeers(c PeersConfig) (*Peers, error) {
	if len(c.URLs) == 0 {
		return nil, nil
	}
	p := &Peers{timeout: c.Timeout, max: c.Max, resolver: c.Resolver}
	if p.timeout <= 0 {
		p.timeout = DefaultPeerTimeout
	}
	if p.max <= 0 {
		p.max = DefaultMaxPeers
	}
	if p.resolver == nil {
		p.resolver = net.DefaultResolver
	}
	for _, s := range c.URLs {
		u, err := url.Parse(s)
		if err != nil || u.Hostname() == "" {
			return nil, fmt.Errorf("peer %q: not a base URL such as http://lifeline-1:8080 or dns+http://lifeline-headless:8080", s)
		}
		t := peerTarget{base: u}
		switch u.Scheme {
		case "http", "https":
		case "dns+http", "dns+https":
			t.dns = true
			u.Scheme = strings.TrimPrefix(u.Scheme, "dns+")
		default:
			return nil, fmt.Errorf("peer %q: scheme %q (expected http, https, dns+http or dns+https)", s, u.Scheme)
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		p.targets = append(p.targets, t)
	}
	// Peers are other instances on the cluster's network: no proxy from
	// the environment, and connections bounded in time.
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: p.timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: p.timeout,
		TLSHandshakeTimeout:   p.timeout,
	}
	p.client = &http.Client{Transport: tr, Timeout: p.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return p, nil
}

// Close releases the idle connections to the peers.
func (p *Peers) Close() {
	if p != nil {
		p.client.CloseIdleConnections()
	}
}

// resolve returns the base URLs to ask, at most p.max, and the entries
// that could not be resolved.
func (p *Peers) resolve(ctx context.Context) ([]string, []PeerError) {
	var urls []string
	var errs []PeerError
	for _, t := range p.targets {
		if !t.dns {
			urls = append(urls, t.base.String())
			continue
		}
		addrs, err := p.resolver.LookupHost(ctx, t.base.Hostname())
		if err != nil {
			errs = append(errs, PeerError{Peer: "dns+" + t.base.String(), Error: fmt.Sprintf("resolve %s: %v", t.base.Hostname(), err)})
			continue
		}
		slices.Sort(addrs)
		for _, a := range addrs {
			u := *t.base
			u.Host = a
			if port := t.base.Port(); port != "" {
				u.Host = net.JoinHostPort(a, port)
			} else if strings.Contains(a, ":") {
				u.Host = "[" + a + "]"
			}
			urls = append(urls, u.String())
		}
	}
	slices.Sort(urls)
	urls = slices.Compact(urls)
	if len(urls) > p.max {
		for _, u := range urls[p.max:] {
			errs = append(errs, PeerError{Peer: u, Error: fmt.Sprintf("not asked: more than api.max_peers (%d) peers", p.max)})
		}
		urls = urls[:p.max]
	}
	return urls, errs
}

// PeerError says why a peer's partitions could not be searched.
type PeerError struct {
	Peer  string `json:"peer"`
	Error string `json:"error"`
}

// peerAnswers is what asking the peers gave.
type peerAnswers struct {
	// found is the answer of the peer that found the customer (its body,
	// as it sent it), or nil.
	found []byte
	// searched and restoring are the partitions the peers that answered
	// report searching and restoring.
	searched, restoring []int32
	errs                []PeerError
}

// localAnswer is the part of an answer to ?scope=local that asking peers
// reads: where a found customer is, or which partitions were searched.
type localAnswer struct {
	Partition *int32  `json:"partition"`
	Searched  []int32 `json:"searched"`
	Restoring []int32 `json:"restoring"`
}

// ask asks every peer, in parallel, for customer in its own partitions
// (GET /v1/customers/{id}{suffix}?scope=local: suffix "" for the customer,
// "/timeline" for its timeline);
// it returns when one has found it (the others are cancelled), when all
// have answered, or when the timeout or ctx ends, and it waits for each
// request it started to finish.
func (p *Peers) ask(ctx context.Context, customer, suffix string) peerAnswers {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	var out peerAnswers
	urls, errs := p.resolve(ctx)
	out.errs = errs
	type result struct {
		peer string
		body []byte
		ans  localAnswer
		err  error
	}
	results := make(chan result, len(urls))
	var wg sync.WaitGroup
	for _, base := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, ans, err := p.askOne(ctx, base, customer, suffix)
			results <- result{peer: base, body: body, ans: ans, err: err}
		}()
	}
	// Every request ends with ctx: cancelled on return, so that the
	// wait below is short once one peer has found the customer.
	defer wg.Wait()
	defer cancel()
	for range urls {
		r := <-results
		switch {
		case r.err != nil:
			out.errs = append(out.errs, PeerError{Peer: r.peer, Error: r.err.Error()})
		case r.ans.Partition != nil:
			out.found = r.body
			return out
		default:
			out.searched = append(out.searched, r.ans.Searched...)
			out.restoring = append(out.restoring, r.ans.Restoring...)
		}
	}
	return out
}

// askOne asks one peer. A found customer comes back as its answer's body;
// a peer that does not hold it answers 404 with the partitions it
// searched; anything else is an error.
func (p *Peers) askOne(ctx context.Context, base, customer, suffix string) ([]byte, localAnswer, error) {
	var ans localAnswer
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/customers/"+url.PathEscape(customer)+suffix+"?scope=local", nil)
	if err != nil {
		return nil, ans, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, ans, fmt.Errorf("ask: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPeerBody+1))
	if err != nil {
		return nil, ans, fmt.Errorf("read the answer: %w", err)
	}
	if len(body) > maxPeerBody {
		return nil, ans, fmt.Errorf("answer longer than %d bytes", maxPeerBody)
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusNotFound:
	default:
		return nil, ans, fmt.Errorf("answered %s: %.200s", resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, ans, fmt.Errorf("answered %s with a body that is not a lookup's JSON: %w", resp.Status, err)
	}
	if resp.StatusCode == http.StatusOK && ans.Partition == nil {
		return nil, ans, fmt.Errorf("answered 200 without the customer's partition")
	}
	if resp.StatusCode == http.StatusNotFound {
		ans.Partition = nil
	}
	return body, ans, nil
}

// maxPeerListBody bounds a peer's answer to a cluster-wide question (an
// alert page of at most maxAlertLimit+1 alerts, a meta per partition).
const maxPeerListBody = 16 << 20

// peerBody is one peer's answer to gather: its 200 body, or why there is
// none.
type peerBody struct {
	peer string
	body []byte
	err  error
}

// gather asks every peer, in parallel, GET path with query and
// scope=local (its own partitions only: one hop, no loops), and returns
// each peer's answer once all have answered or the timeout or ctx has
// ended. Only a 200 answer counts; it waits for each request it started.
func (p *Peers) gather(ctx context.Context, path string, query url.Values) ([]peerBody, []PeerError) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	urls, errs := p.resolve(ctx)
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("scope", "local")
	out := make([]peerBody, len(urls))
	var wg sync.WaitGroup
	for i, base := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, err := p.getLocal(ctx, base+path+"?"+q.Encode())
			out[i] = peerBody{peer: base, body: body, err: err}
		}()
	}
	wg.Wait()
	var ok []peerBody
	for _, b := range out {
		if b.err != nil {
			errs = append(errs, PeerError{Peer: b.peer, Error: b.err.Error()})
			continue
		}
		ok = append(ok, b)
	}
	return ok, errs
}

// getLocal GETs u from a peer and returns its 200 answer's body.
func (p *Peers) getLocal(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("ask: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPeerListBody+1))
	if err != nil {
		return nil, fmt.Errorf("read the answer: %w", err)
	}
	if len(body) > maxPeerListBody {
		return nil, fmt.Errorf("answer longer than %d bytes", maxPeerListBody)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("answered %s: %.200s", resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}
