package intake

import (
	"context"
	"encoding/json"
	"net/http"
)

// caller is the power of the token a device call came with. The method
// table's access level lets a device call in with any of them; what the
// call may then do depends on it (issue 13 items 1 and 9):
//
//   - binding a phone to a user id, or moving it to another, needs
//     callerServer (or the application's legacy_user_binding);
//   - setting the consent tag, reading tags and unregistering need at
//     least callerDevice, even for an open application.
type caller int

const (
	callerNone   caller = iota // no token: an application configured open
	callerDevice               // the application's device token
	callerServer               // the application's server token
)

func (c caller) String() string {
	switch c {
	case callerServer:
		return "server token"
	case callerDevice:
		return "device token"
	}
	return "no token"
}

// authHeaderKey is the context key of the request's Authorization header.
type authHeaderKey struct{}

// withAuthHeader hands the Authorization header to the method handlers,
// which see only the request object, so a device handler can tell how
// much power its caller's token has (callerOf).
func withAuthHeader(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), authHeaderKey{}, r.Header.Get("Authorization"))
		next(w, r.WithContext(ctx))
	})
}

// callerOf is the power of the token a device call for app came with. It
// runs after authorize let the call in, and finds the token the same way
// (request.auth, else the Authorization header). It can only ever grant
// less than the token is worth: a token that is missing, unknown or of
// another application counts as none, so a disagreement with authorize
// never lets a call do more than its token allows.
func (a *API) callerOf(ctx context.Context, app string, raw json.RawMessage) caller {
	var c struct {
		Auth string `json:"auth"`
	}
	_ = json.Unmarshal(raw, &c) // authorize already refused a malformed request
	token := c.Auth
	if h, _ := ctx.Value(authHeaderKey{}).(string); token == "" && h != "" {
		token = tokenFromHeader(h)
	}
	ti, ok := a.tokens[token]
	switch {
	case token == "" || !ok || ti.app != app:
		return callerNone
	case ti.server:
		return callerServer
	}
	return callerDevice
}
