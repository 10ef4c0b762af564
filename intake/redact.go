package intake

import (
	"encoding/json"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// redactOf decides a notification's `redact` (issue 17, docs/privacy.md):
// true removes its text (content and dynamic_content_placeholders) once
// its SMS are settled, keeping the counts and each SMS's statistics. The
// notification's own value wins; else the application's `redact` in
// SMSFLEET_CONFIG; else only security codes (message_type otp) are
// redacted. A value that is not a boolean never reaches here: decoding
// refuses it with a 210 naming notifications[i].redact.
func (a *API) redactOf(app string, v *bool, typ sms.Type) bool {
	if v != nil {
		return *v
	}
	return a.apps[app].Privacy.RedactByDefault(string(typ))
}

// contentOf is a message's content as the API shows it: its JSON, or the
// string "[redacted]" ("[expired]" past its text retention) once the text
// was removed, so a caller sees why it is gone; nil when neither.
func contentOf(m store.Message) json.RawMessage {
	switch {
	case m.TextGone != "":
		return json.RawMessage(`"[` + m.TextGone + `]"`)
	case json.Valid([]byte(m.Content)):
		return json.RawMessage(m.Content)
	}
	return nil
}
