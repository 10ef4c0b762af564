package intake

import (
	"net/url"
)

// maxCallbackURL bounds status_callback; it is stored with the message.
const maxCallbackURL = 2048

// checkCallback validates a notification's status_callback: an absolute
// http(s) URL, and an application with a callback secret to sign with.
func (a *API) checkCallback(app, raw, field string) (string, error) {
	if raw == "" {
		return "", nil
	}
	if len(raw) > maxCallbackURL {
		return "", argError(field, "longer than %d characters", maxCallbackURL)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", argError(field, "must be an absolute http or https URL, got %q", raw)
	}
	if a.CallbackSecret == nil || a.CallbackSecret(app) == "" {
		return "", argError(field, "application %s has no callback secret to sign callbacks with (SMSFLEET_CALLBACK_SECRETS, or callback_secret in SMSFLEET_CONFIG)", app)
	}
	return raw, nil
}
