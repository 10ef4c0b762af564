package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// NewHTTPClient returns the HTTP client provider calls use: a 10 s
// deadline, and a connection pool that keeps as many idle connections per
// provider as a worker sends at once. Go's default keeps two, so 50
// concurrent sends would open and close connections (and TLS sessions)
// all the time.
//
// The phase timeouts are shorter than the overall deadline on purpose: a
// provider that cannot be reached (dial) or cannot finish a handshake has
// accepted nothing, and failing fast there gives a clean, non-ambiguous
// error the worker may fail over on, instead of burning the whole send
// budget on one dead host.
func NewHTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = dialer.DialContext
	t.TLSHandshakeTimeout = 5 * time.Second
	// Bounds the wait for an answer even when a caller drops the client's
	// Timeout; the per-request context usually ends it sooner.
	t.ResponseHeaderTimeout = 10 * time.Second
	t.ExpectContinueTimeout = time.Second
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	return &http.Client{Timeout: 10 * time.Second, Transport: t}
}

// maxResponseBytes caps how much of a provider's answer is read: answers
// are small JSON documents, and a misbehaving endpoint must not make the
// worker buffer megabytes per send.
const maxResponseBytes = 64 << 10

// maxMessageLen caps a provider's error message kept in an Error, because
// the message ends up in the SMS's stored state and in logs.
const maxMessageLen = 300

// withTimeout bounds ctx by d when d is positive.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}

// readBody reads a provider's answer up to maxResponseBytes.
func readBody(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	// Drain a little more so the connection can be reused even when the
	// body was longer than we care for.
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	return raw, err
}

// scalar renders a JSON string or number as a string; anything else (an
// object, an array, null, true/false) is "". Providers disagree on whether
// codes and references are numbers or strings, so both are accepted.
func scalar(raw json.RawMessage) string {
	raw = json.RawMessage(strings.TrimSpace(string(raw)))
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			return n.String()
		}
	}
	return ""
}

// errorDetails pulls an error code and message out of a provider's JSON
// answer. It understands the common shapes: {"code":…,"message":…},
// {"error":"…"} and {"error":{"code":…,"message":…}}.
func errorDetails(raw []byte) (code, message string) {
	var top map[string]json.RawMessage
	if json.Unmarshal(raw, &top) != nil {
		return "", ""
	}
	code, message = scalar(top["code"]), scalar(top["message"])
	if e, ok := top["error"]; ok {
		if s := scalar(e); s != "" {
			if message == "" {
				message = s
			} else if message != s {
				message = s + ": " + message
			}
		} else {
			var nested map[string]json.RawMessage
			if json.Unmarshal(e, &nested) == nil {
				if code == "" {
					code = scalar(nested["code"])
				}
				if message == "" {
					message = scalar(nested["message"])
				}
			}
		}
	}
	return code, message
}

// statusMessage is msg, shortened, or "HTTP <status>" when the provider
// gave no message.
func statusMessage(msg string, status int) string {
	if msg == "" {
		return fmt.Sprintf("HTTP %d", status)
	}
	if len(msg) > maxMessageLen {
		cut := maxMessageLen
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}
