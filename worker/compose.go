package worker

import (
	"errors"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/content/render"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// composed is an SMS ready for a provider: its text encoded, its segment
// count and its sender.
type composed struct {
	text     string
	parts    int
	encoding string
	from     string
	// failure is the outcome of an SMS that cannot be composed (fateFail).
	failure store.Outcome
}

// compose renders each SMS for its recipient's language, encodes it,
// counts its segments and picks its sender. A template tag the device
// does not have suppresses the SMS (missing_tag); too many segments, or a
// template that will not render, fail it.
func (s *Sender) compose(items []*item) {
	for _, it := range items {
		it.msg, it.verdict = s.composeOne(it.l, it.pol, it.verdict)
	}
}

func (s *Sender) composeOne(l store.Loaded, pol config.Resolved, v verdict) (composed, verdict) {
	zone := func() *time.Location {
		if v.zone == nil {
			v.zone = recipientZone(l)
		}
		return v.zone
	}
	text, err := s.render(l, zone)
	if errors.Is(err, render.ErrMissingTag) {
		return composed{}, verdict{fate: fateSuppress, reason: ReasonMissingTag}
	}
	if err != nil {
		return composed{failure: store.Outcome{Error: "render_failed: " + err.Error()}}, verdict{fate: fateFail}
	}
	enc, err := sms.Encode(text, pol.SmartEncoding)
	if err != nil {
		return composed{failure: store.Outcome{Error: "encode_failed: " + err.Error()}}, verdict{fate: fateFail}
	}
	if enc.Parts > pol.MaxSegments {
		return composed{failure: store.Outcome{Error: ErrorTooLong, Segments: enc.Parts, Encoding: enc.Encoding}}, verdict{fate: fateFail}
	}
	return composed{text: enc.Text, parts: enc.Parts, encoding: enc.Encoding, from: senderOf(l, pol)}, v
}

// senderOf is the SMS's From: the notification's, else the application's,
// else DefaultSender.
func senderOf(l store.Loaded, pol config.Resolved) string {
	switch {
	case l.Sender != "":
		return l.Sender
	case pol.Sender != "":
		return pol.Sender
	}
	return DefaultSender
}
