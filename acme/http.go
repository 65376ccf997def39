package acme

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/lantls/lantls/internal/jsonkeys"
	"github.com/lantls/lantls/problem"
	"github.com/lantls/lantls/store"
)

// Media types of ACME requests and responses.
const (
	contentTypeJOSE    = "application/jose+json"
	contentTypeJSON    = "application/json"
	contentTypeProblem = "application/problem+json"
	contentTypePEM     = "application/pem-certificate-chain"
)

// plainHandler serves an unsigned request; a returned error is written as
// a problem document.
type plainHandler func(w http.ResponseWriter, r *http.Request) error

// signedHandler serves a POST whose JWS has been verified.
type signedHandler func(w http.ResponseWriter, r *http.Request, req *request) error

// routes lays out every ACME resource. Each path also gets a method-less
// pattern so that a wrong method is a 405 problem document rather than the
// mux's plain-text answer.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	s.get(mux, "/acme/directory", s.directory)
	s.get(mux, "/acme/new-nonce", s.newNonce)
	s.get(mux, "/acme/renewal-info/{certID}", s.renewalInfo)
	s.post(mux, "/acme/new-account", byJWK, s.newAccount)
	s.post(mux, "/acme/new-order", byKID, s.newOrder)
	s.post(mux, "/acme/revoke-cert", byEither, s.revokeCert)
	s.post(mux, "/acme/key-change", byKID, s.keyChange)
	s.post(mux, "/acme/account/{id}", byKID, s.account)
	s.post(mux, "/acme/account/{id}/orders", byKID, s.accountOrders)
	s.post(mux, "/acme/order/{id}", byKID, s.order)
	s.post(mux, "/acme/order/{id}/finalize", byKID, s.finalize)
	s.post(mux, "/acme/authz/{id}", byKID, s.authorization)
	s.post(mux, "/acme/chall/{authzID}/{type}", byKID, s.challenge)
	s.post(mux, "/acme/cert/{serial}", byKID, s.certificate)
	mux.Handle("/acme/", s.serve(func(w http.ResponseWriter, r *http.Request) error {
		return problem.NotFoundErr("no ACME resource at %s", r.URL.Path)
	}))
	return s.common(mux)
}

// get routes GET (and so HEAD) requests for path to h.
func (s *Server) get(mux *http.ServeMux, path string, h plainHandler) {
	mux.Handle("GET "+path, s.serve(h))
	mux.Handle(path, s.serve(methodNotAllowed("GET, HEAD")))
}

// nextReads is what the handler of a path reads first after the account
// of the request's JWS (and the path value that names it), which the
// store may read with the account (store.Expect).
var nextReads = map[string]struct{ next, param string }{
	"/acme/new-order":           {store.NextAccountDevice, ""},
	"/acme/order/{id}":          {store.NextOrder, "id"},
	"/acme/order/{id}/finalize": {store.NextFinalize, "id"},
	"/acme/authz/{id}":          {store.NextAuthorization, "id"},
	"/acme/cert/{serial}":       {store.NextCertificate, "serial"},
}

// post routes POST requests for path to h after verifying their JWS. The
// store may read ahead what the request reads (store.ReadAhead): on
// PostgreSQL, the account and what the handler reads next in one round
// trip.
func (s *Server) post(mux *http.ServeMux, path string, auth authMode, h signedHandler) {
	next := nextReads[path]
	mux.Handle("POST "+path, s.serve(func(w http.ResponseWriter, r *http.Request) error {
		ctx := store.ReadAhead(r.Context())
		if next.next != "" {
			store.Expect(ctx, next.next, r.PathValue(next.param))
		}
		r = r.WithContext(ctx)
		req, err := s.verify(r, auth)
		if err != nil {
			return err
		}
		return h(w, r, req)
	}))
	mux.Handle(path, s.serve(methodNotAllowed("POST")))
}

func methodNotAllowed(allow string) plainHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Allow", allow)
		return problem.MethodNotAllowedErr("method %s is not allowed here; use %s", r.Method, allow)
	}
}

// serve adapts h to http.Handler, writing its error as a problem.
func (s *Server) serve(h plainHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// common sets the headers every ACME response carries (a fresh nonce, the
// directory link, no caching) and logs one line per request.
func (s *Server) common(next http.Handler) http.Handler {
	index := "<" + s.url("directory") + `>;rel="index"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h := w.Header()
		h.Set("Replay-Nonce", s.nonces.mint(s.clock()))
		h.Add("Link", index)
		h.Set("Cache-Control", "no-store")
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "acme request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Duration("duration", time.Since(start)))
	})
}

// writeError writes err as a problem document. Anything that is not a
// *problem.Error, and every serverInternal problem, reaches the client as a
// bare "internal error" and the log with its full text.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := problem.OrInternal(err)
	if p.Kind == problem.ServerInternal {
		s.log.ErrorContext(r.Context(), "acme internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		p = problem.ServerInternalErr("internal error")
	} else {
		s.log.InfoContext(r.Context(), "acme problem", "method", r.Method, "path", r.URL.Path,
			"type", string(p.Kind), "status", p.HTTPStatus(), "detail", p.Detail)
	}
	s.metrics.problem(p.Kind)
	h := w.Header()
	h.Set("Content-Type", contentTypeProblem)
	if p.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(p.RetryAfter.Seconds()))))
	}
	if p.Location != "" {
		h.Set("Location", p.Location)
	}
	w.WriteHeader(p.HTTPStatus())
	json.NewEncoder(w).Encode(p.Document())
}

// writeJSON writes v as the response body with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
	return nil
}

// decodePayload reads a JSON object payload into v; unknown fields are
// allowed, as RFC 8555 asks.
func decodePayload(payload []byte, v any) error {
	if len(payload) == 0 {
		return problem.MalformedErr("this request needs a JSON payload, not POST-as-GET")
	}
	if err := json.Unmarshal(payload, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return problem.MalformedErr("payload field %q has the wrong type", te.Field)
		}
		return problem.MalformedErr("payload is not a valid JSON object")
	}
	if k, dup := jsonkeys.Duplicate(payload); dup {
		return problem.MalformedErr("payload member %q appears twice", k)
	}
	return nil
}

// postAsGet checks that req is a POST-as-GET (an empty payload).
func postAsGet(req *request) error {
	if len(req.payload) != 0 {
		return problem.MalformedErr("this resource is read with POST-as-GET (an empty payload)")
	}
	return nil
}

// statusRecorder remembers the status a handler wrote, for the log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
