package acme

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/lantls/lantls/acme/jws"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// authMode says which key a resource accepts in the JWS header.
type authMode int

const (
	// byKID: an existing account's URL (every resource but two).
	byKID authMode = iota
	// byJWK: the key itself (newAccount).
	byJWK
	// byEither: revokeCert, by account or by the certificate's key.
	byEither
)

// request is a POST whose JWS has passed every check.
type request struct {
	url        string // the URL the JWS was signed for
	payload    []byte // empty for POST-as-GET
	key        *jose.JSONWebKey
	thumbprint string
	account    *store.Account // nil when signed with a jwk
}

// verify runs the checks of RFC 8555 section 6 on a POST: media type, size,
// JWS form and algorithm, nonce, url, key or account, signature. The cheap
// stateless checks come first; the nonce is spent only once the signature
// holds, so that forged requests cannot burn nonces.
func (s *Server) verify(r *http.Request, auth authMode) (*request, error) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != contentTypeJOSE {
		p := problem.MalformedErr("Content-Type must be %s", contentTypeJOSE)
		p.Status = http.StatusUnsupportedMediaType
		return nil, p
	}
	body, err := readBody(r)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			p := problem.MalformedErr("request body is larger than %d bytes", maxBodyBytes)
			p.Status = http.StatusRequestEntityTooLarge
			return nil, p
		}
		return nil, problem.MalformedErr("cannot read request body")
	}
	msg, err := jws.Parse(body)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	ticket, err := s.nonces.check(msg.Nonce, now)
	if err != nil {
		return nil, err
	}
	req := &request{url: s.base + r.URL.RequestURI()}
	if msg.URL != req.url {
		return nil, problem.UnauthorizedErr("JWS url %q is not the request URL %q", msg.URL, req.url)
	}
	switch {
	case msg.Key != nil && auth == byKID:
		return nil, problem.MalformedErr("this resource needs a JWS with kid (an account URL), not jwk")
	case msg.Key == nil && auth == byJWK:
		return nil, problem.MalformedErr("this resource needs a JWS with jwk, not kid")
	case msg.Key != nil:
		// A key that comes with the request is checked against the key
		// policy; an account's key was checked when the account got it.
		if err := s.keyRules.AccountKey(msg.Key.Key); err != nil {
			return nil, err
		}
		req.key = msg.Key
	default:
		if req.account, req.key, err = s.accountByKID(r.Context(), msg.KeyID); err != nil {
			return nil, err
		}
	}
	if req.payload, err = msg.Verify(req.key); err != nil {
		return nil, err
	}
	if req.account != nil {
		req.thumbprint = req.account.KeyThumbprint
	} else if req.thumbprint, err = jws.Thumbprint(req.key); err != nil {
		return nil, err
	}
	if err := s.nonces.spend(r.Context(), msg.Nonce, ticket); err != nil {
		return nil, err
	}
	if req.account != nil && req.account.Status != store.StatusValid {
		return nil, problem.UnauthorizedErr("account is %s", req.account.Status)
	}
	return req, nil
}

// readBody reads r's body, up to maxBodyBytes, into one buffer of the
// size its Content-Length announces (net/http holds the body to it), where
// io.ReadAll would start at 512 bytes and grow: its buffers were the
// issuer's largest allocation by bytes.
func readBody(r *http.Request) ([]byte, error) {
	size := 512
	if r.ContentLength >= 0 && r.ContentLength < maxBodyBytes {
		size = int(r.ContentLength) + 1 // room for the read that finds EOF
	}
	body := make([]byte, 0, size)
	rd := http.MaxBytesReader(nil, r.Body, maxBodyBytes)
	for {
		if len(body) == cap(body) {
			body = append(body, 0)[:len(body)]
		}
		n, err := rd.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		if err == io.EOF {
			return body, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// accountByKID loads the account a kid names and its key.
func (s *Server) accountByKID(ctx context.Context, kid string) (*store.Account, *jose.JSONWebKey, error) {
	prefix := s.url("account/")
	id, ok := strings.CutPrefix(kid, prefix)
	if !ok || id == "" || strings.Contains(id, "/") {
		return nil, nil, problem.MalformedErr("kid %q is not an account URL of this server", kid)
	}
	acct, err := s.store.GetAccount(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, problem.New(problem.AccountDoesNotExist, "account %s does not exist", kid)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("get account: %w", err)
	}
	key, err := s.keys.parse(acct.KeyJWK)
	if err != nil {
		return nil, nil, fmt.Errorf("account %s has a broken stored key: %v", acct.ID, err)
	}
	return acct, key, nil
}

// sameAccount requires that req was signed by the account with id.
func sameAccount(req *request, id string) error {
	if req.account == nil || req.account.ID != id {
		return problem.UnauthorizedErr("this resource belongs to another account")
	}
	return nil
}

// keyCache keeps parsed account keys by their stored JSON, so that a
// request signed with kid does not parse the same JWK again. The JSON is
// the key, so an entry can never go stale; the cache only forgets, all at
// once, when it is full.
type keyCache struct {
	mu   sync.RWMutex
	keys map[string]*jose.JSONWebKey
}

// maxCachedKeys bounds the cache: about 1 KiB each.
const maxCachedKeys = 50_000

func (c *keyCache) parse(jwk []byte) (*jose.JSONWebKey, error) {
	c.mu.RLock()
	k, ok := c.keys[string(jwk)]
	c.mu.RUnlock()
	if ok {
		return k, nil
	}
	k, err := jws.ParseKey(jwk)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.keys == nil || len(c.keys) >= maxCachedKeys {
		c.keys = make(map[string]*jose.JSONWebKey)
	}
	c.keys[string(jwk)] = k
	c.mu.Unlock()
	return k, nil
}
