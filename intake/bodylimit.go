package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// Request bodies cost memory before anything knows who sent them (issue
// 13, item 2: one tokenless 16 MiB request took the API from 30 MB to
// 116 MB of RSS). So:
//
//   - a token in the Authorization header is checked before a byte of the
//     body is read (serveJSON);
//   - without one, at most UnauthenticatedBodyBytes (64 KiB) are read
//     before the body's own request.auth authenticates the caller: a
//     longer body is read further only when its first bytes hold a valid
//     request.auth (before any large field, as Pushwoosh's examples put
//     it), and is otherwise refused with 413 naming the header;
//   - every body's bytes come out of one budget per process
//     (MaxBodyBytesInFlight), taken before reading: by Content-Length when
//     the client sent one, else by the most that may be read. A request
//     that cannot get its bytes before its deadline is answered 503 with
//     Retry-After.

// DefaultUnauthenticatedBodyBytes is SMSFLEET_UNAUTHENTICATED_BODY_BYTES's
// default: ample for any tokenless device call of an open application.
const DefaultUnauthenticatedBodyBytes = 64 << 10

// msgBusy is the 503 of a request whose body did not fit in the in-flight
// budget before its deadline.
const msgBusy = "service unavailable: too many request bytes in flight, retry later"

// bodyBudget is the process's budget of body bytes in flight.
type bodyBudget struct {
	sem  *semaphore.Weighted
	size int64
	// waiting counts requests waiting for bytes (tests watch it instead of
	// a clock).
	waiting atomic.Int64
}

func newBodyBudget(size int64) *bodyBudget {
	return &bodyBudget{sem: semaphore.NewWeighted(size), size: size}
}

// acquire takes n bytes (at most the whole budget), waiting until ctx is
// done; it returns how many it took, which the caller releases.
func (b *bodyBudget) acquire(ctx context.Context, n int64) (int64, error) {
	n = min(max(n, 0), b.size)
	if n == 0 || b.sem.TryAcquire(n) {
		return n, nil
	}
	b.waiting.Add(1)
	defer b.waiting.Add(-1)
	if err := b.sem.Acquire(ctx, n); err != nil {
		return 0, &apiError{HTTP: http.StatusServiceUnavailable, Code: http.StatusServiceUnavailable, Message: msgBusy}
	}
	return n, nil
}

func (b *bodyBudget) release(n int64) {
	if n > 0 {
		b.sem.Release(n)
	}
}

// readBody reads r's body within the limits above. authed says a header
// token already authenticated the caller (for need); the returned release
// gives the body's bytes back to the budget.
func (a *API) readBody(r *http.Request, authed bool, need access) (body []byte, release func(), err error) {
	if r.ContentLength > a.MaxBodyBytes {
		return nil, nil, a.tooLarge()
	}
	var held int64
	release = func() { a.bodies.release(held) }
	take := func(n int64) error {
		got, err := a.bodies.acquire(r.Context(), n)
		held += got
		return err
	}
	limit := a.MaxBodyBytes
	if !authed {
		limit = a.UnauthenticatedBodyBytes
	}
	want := limit
	if r.ContentLength >= 0 {
		want = min(want, r.ContentLength)
	}
	if err := take(want); err != nil {
		release()
		return nil, nil, err
	}
	// One byte over the limit tells "exactly the limit" from "more". A
	// body of unknown length starts with a small buffer.
	hint := r.ContentLength
	if hint < 0 {
		hint = min(limit, DefaultUnauthenticatedBodyBytes)
	}
	body, err = readAtMost(r.Body, nil, limit+1, hint)
	if err != nil {
		release()
		return nil, nil, readError(err)
	}
	if int64(len(body)) <= limit {
		return body, release, nil
	}
	if authed {
		release()
		return nil, nil, a.tooLarge()
	}
	// Unauthenticated and longer than the bound: read on only for a caller
	// whose request.auth, in the bytes read so far, is a valid token.
	token := prefixAuth(body)
	if token == "" {
		release()
		return nil, nil, httpError(http.StatusRequestEntityTooLarge,
			"request body is larger than %d bytes without authentication: send the token in the Authorization: Token header "+
				"(or request.auth before any large field) for bodies up to %d bytes", a.UnauthenticatedBodyBytes, a.MaxBodyBytes)
	}
	if _, err := a.checkToken(r, token, need); err != nil {
		release()
		return nil, nil, err
	}
	total := a.MaxBodyBytes
	if r.ContentLength >= 0 {
		total = r.ContentLength
	}
	if err := take(total - held); err != nil {
		release()
		return nil, nil, err
	}
	body, err = readAtMost(r.Body, body, a.MaxBodyBytes+1-int64(len(body)), total-int64(len(body)))
	if err != nil {
		release()
		return nil, nil, readError(err)
	}
	if int64(len(body)) > a.MaxBodyBytes {
		release()
		return nil, nil, a.tooLarge()
	}
	return body, release, nil
}

func (a *API) tooLarge() error {
	return httpError(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", a.MaxBodyBytes)
}

func readError(err error) error {
	return httpError(http.StatusBadRequest, "reading request body: %v", err)
}

// readAtMost appends at most n bytes of r to prefix. sizeHint (the
// Content-Length, or the limit) sizes the buffer once, so a body of known
// length is read without the doubling io.ReadAll would do.
func readAtMost(r io.Reader, prefix []byte, n, sizeHint int64) ([]byte, error) {
	buf := prefix
	if room := min(sizeHint, n-1) + 1; int64(cap(buf)-len(buf)) < room {
		buf = make([]byte, len(prefix), int64(len(prefix))+room)
		copy(buf, prefix)
	}
	lr := io.LimitReader(r, n)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		m, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// prefixAuth returns request.auth from the first bytes of a body, or ""
// when those bytes end before it: the caller then has to use the header.
// A duplicate "auth" later in the body does not matter: authorize checks
// the whole body again once it is read.
func prefixAuth(prefix []byte) string {
	dec := json.NewDecoder(bytes.NewReader(prefix))
	if !openObject(dec) {
		return ""
	}
	for dec.More() {
		key, ok := objectKey(dec)
		if !ok {
			return ""
		}
		if key != "request" {
			if !skipValue(dec) {
				return ""
			}
			continue
		}
		if !openObject(dec) {
			return ""
		}
		for dec.More() {
			key, ok := objectKey(dec)
			if !ok {
				return ""
			}
			if key == "auth" {
				var auth string
				if dec.Decode(&auth) != nil {
					return ""
				}
				return auth
			}
			if !skipValue(dec) {
				return ""
			}
		}
		return ""
	}
	return ""
}

func openObject(dec *json.Decoder) bool {
	t, err := dec.Token()
	d, ok := t.(json.Delim)
	return err == nil && ok && d == '{'
}

func objectKey(dec *json.Decoder) (string, bool) {
	t, err := dec.Token()
	k, ok := t.(string)
	return k, err == nil && ok
}

// skipValue reads past one value; false when the bytes end within it.
func skipValue(dec *json.Decoder) bool {
	var v json.RawMessage
	return dec.Decode(&v) == nil
}
