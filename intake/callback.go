package intake

import (
	"net/url"
)

// maxCallbackURL bounds status_callback; it is stored with the message.
const maxCallbackURL = 2048

// checkCallback validates a notification's status_callback: an absolute
// https URL (http only for an application whose callback_allow_http is
// set), without credentials, and an application with a callback secret
// to sign with. Where it may connect is checked again when it is dialled
// (outcomes.NewHTTPClient), since DNS can change after intake.
func (a *API) checkCallback(app, raw, field string) (string, error) {
	if raw == "" {
		return "", nil
	}
	if len(raw) > maxCallbackURL {
		return "", argError(field, "longer than %d characters", maxCallbackURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// Not echoed: an unparsable URL may still hold credentials.
		return "", argError(field, "must be an absolute http or https URL")
	}
	if u.User != nil {
		// Credentials would be stored with the message, shown wherever
		// the URL is, and sent with every POST; the signature is what
		// authenticates a callback. The URL is not echoed: it holds them.
		return "", argError(field, "must not carry a user name or password (user:password@); the receiver authenticates callbacks by their signature")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", argError(field, "must be an absolute http or https URL, got %q", raw)
	}
	if u.Scheme == "http" && !a.apps[app].CallbackAllowHTTP {
		return "", argError(field, "must be an https URL: application %s does not allow http callbacks (callback_allow_http in SMSFLEET_CONFIG)", app)
	}
	if a.CallbackSecret == nil || a.CallbackSecret(app) == "" {
		return "", argError(field, "application %s has no callback secret to sign callbacks with (SMSFLEET_CALLBACK_SECRETS, or callback_secret in SMSFLEET_CONFIG)", app)
	}
	return raw, nil
}
