package intake

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"
	"golang.org/x/text/language"
	"golang.org/x/time/rate"

	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// deviceTypeSMS is Pushwoosh's device_type for an SMS "device" (a phone).
const deviceTypeSMS = 18

type deviceRequest struct {
	HWID       string                     `json:"hwid"`
	DeviceType *int                       `json:"device_type"`
	UserID     string                     `json:"userId"`
	Tags       map[string]json.RawMessage `json:"tags"`
	// Timezone is Pushwoosh's offset in seconds (3600), or an offset
	// string ("+01:00") or an IANA name ("Europe/Berlin"); deviceZone
	// reads it.
	Timezone  json.RawMessage `json:"timezone"`
	Language  string          `json:"language"`
	PushToken string          `json:"push_token"` // accepted and ignored: an SMS device is its phone

	// zone is Timezone as stored (sms.CanonicalZone), set by
	// registrationArgs.
	zone string
}

// deviceArgs decodes a device call and validates its hwid.
func (a *API) deviceArgs(raw json.RawMessage) (deviceRequest, string, error) {
	var req deviceRequest
	if err := decodeArgs(raw, &req, ""); err != nil {
		return req, "", err
	}
	phone, err := a.phone(req.HWID)
	return req, phone, err
}

// phone validates the hwid of a device call.
func (a *API) phone(hwid string) (string, error) {
	if hwid == "" {
		return "", argError("hwid", "required (the phone number)")
	}
	p, err := sms.NormalizePhone(hwid, a.DefaultRegion)
	if err != nil {
		return "", argError("hwid", "%v", err)
	}
	return p, nil
}

func (a *API) registerDevice(ctx context.Context, app string, raw json.RawMessage) (any, error) {
	req, phone, err := a.registrationArgs(raw)
	if err != nil {
		return nil, err
	}
	who := a.callerOf(ctx, app, raw)
	if err := a.consentNeedsToken(app, who, req.Tags); err != nil {
		return nil, err
	}
	var opts []store.RegisterOption
	if who != callerServer && !a.apps[app].LegacyUserBinding {
		// The store decides whether this binds or moves the user, in the
		// script that writes, against the stored device.
		opts = append(opts, store.NoUserBinding())
	}
	if _, err := a.Store.RegisterDevice(ctx, app, store.Device{
		Phone: phone, UserID: req.UserID, Language: req.Language, Timezone: req.zone, Tags: req.Tags,
	}, opts...); errors.Is(err, store.ErrUserBinding) {
		return nil, a.bindingRefused(app, phone, who)
	} else if err != nil {
		return nil, deviceLimit(err, "hwid")
	}
	return nil, nil
}

// bindingRefused counts and logs a registration that would have bound a
// phone to a user id, or moved it to another, without the server token,
// and is the answer to it: 403 for a device token (a token of too little
// power, as for a server method), 401 without a token (as any call that
// needs one). Both name userId. It is not a 210: the arguments are right,
// the caller's token is what is missing.
func (a *API) bindingRefused(app, phone string, who caller) error {
	metrics.DeviceBindingRefused.WithLabelValues(app).Inc()
	if a.refusals.allow(a.Now()) {
		// The user id is not logged: it may be an email address or another
		// personal identifier; neither is the token, nor the full phone.
		a.log.Warn("device registration refused: binding a phone to a user id needs the server token",
			zap.String("application", app), zap.String("phone", sms.MaskPhone(phone)),
			zap.Stringer("caller", who), zap.Int("suppressed", a.refusals.takeSuppressed()))
	}
	const msg = "userId: binding a phone to a user id, or moving it to another, needs the application's server token " +
		"(client apps carry the device token, so anyone could otherwise receive another user's SMS); " +
		"register the phone without userId, or bind it from your server"
	if who == callerNone {
		return httpError(http.StatusUnauthorized, "%s", msg)
	}
	return httpError(http.StatusForbidden, "%s", msg)
}

// consentNeedsToken refuses, for a call without a token (an open
// application), tags that set the application's consent tag: anyone could
// otherwise opt any phone in to marketing (issue 13 item 9). Any value
// counts, false and null too (withdrawing consent is the application's
// call, not an anonymous one's), and any case of the name, so a policy
// that one day matches it loosely cannot reopen the hole.
func (a *API) consentNeedsToken(app string, who caller, tags map[string]json.RawMessage) error {
	if who != callerNone || len(tags) == 0 {
		return nil
	}
	consent := a.Policy(app).ConsentTag
	for name := range tags {
		if strings.EqualFold(name, consent) {
			return httpError(http.StatusUnauthorized,
				"tags.%s: setting the consent tag needs the application's device or server token (request.auth or Authorization: Token ...), even for an open application", name)
		}
	}
	return nil
}

// needsToken refuses a device call made without a token (an open
// application) that reads or removes what a phone's owner put there:
// getTags and unregisterDevice (issue 13 item 9). The device token
// suffices: Pushwoosh client SDKs make these calls and carry it.
func needsToken(who caller, method string) error {
	if who == callerNone {
		return httpError(http.StatusUnauthorized,
			"missing auth token: %s needs the application's device or server token (request.auth or Authorization: Token ...), even for an open application", method)
	}
	return nil
}

// refusalLog rate-limits the warnings of refused user bindings: a client
// looping on a refused call must not flood the log (warnings are never
// sampled); the metric counts every one. Its zero value is ready.
type refusalLog struct {
	mu         sync.Mutex
	lim        *rate.Limiter
	suppressed int
}

// At most refusalBurst lines at once, then one per refusalEvery.
const (
	refusalEvery = time.Second
	refusalBurst = 10
)

// allow reports whether a refusal at now may be logged; one that may not
// is counted as suppressed.
func (l *refusalLog) allow(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lim == nil {
		l.lim = rate.NewLimiter(rate.Every(refusalEvery), refusalBurst)
	}
	if l.lim.AllowN(now, 1) {
		return true
	}
	l.suppressed++
	return false
}

// takeSuppressed returns how many refusals were not logged since the last
// line that was, and starts counting afresh.
func (l *refusalLog) takeSuppressed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.suppressed
	l.suppressed = 0
	return n
}

// deviceLimit names field in the error of a registration the device
// limit refused (SMSFLEET_MAX_DEVICES_PER_APP); other errors pass.
func deviceLimit(err error, field string) error {
	if errors.Is(err, store.ErrDeviceLimit) {
		return argError(field, "the application has reached its device limit (SMSFLEET_MAX_DEVICES_PER_APP): unregister devices or ask for a higher limit")
	}
	return err
}

func (a *API) unregisterDevice(ctx context.Context, app string, raw json.RawMessage) (any, error) {
	if err := needsToken(a.callerOf(ctx, app, raw), "unregisterDevice"); err != nil {
		return nil, err
	}
	_, phone, err := a.deviceArgs(raw)
	if err != nil {
		return nil, err
	}
	// Unregistering an unknown device succeeds, as in Pushwoosh: the end
	// state the caller asked for holds.
	_, err = a.Store.UnregisterDevice(ctx, app, phone)
	return nil, err
}

func (a *API) setTags(ctx context.Context, app string, raw json.RawMessage) (any, error) {
	req, phone, err := a.deviceArgs(raw)
	if err != nil {
		return nil, err
	}
	if len(req.Tags) == 0 {
		return nil, argError("tags", "required (an object of tag name to value)")
	}
	if err := validateTags(req.Tags); err != nil {
		return nil, err
	}
	if err := a.consentNeedsToken(app, a.callerOf(ctx, app, raw), req.Tags); err != nil {
		return nil, err
	}
	if err := a.Store.SetTags(ctx, app, phone, req.Tags); errors.Is(err, store.ErrNotFound) {
		return nil, argError("hwid", "device %s is not registered", phone)
	} else if err != nil {
		return nil, err
	}
	return map[string]any{"skipped": []string{}}, nil
}

func (a *API) getTags(ctx context.Context, app string, raw json.RawMessage) (any, error) {
	if err := needsToken(a.callerOf(ctx, app, raw), "getTags"); err != nil {
		return nil, err
	}
	var req deviceRequest
	if err := decodeArgs(raw, &req, ""); err != nil {
		return nil, err
	}
	switch {
	case req.HWID == "" && req.UserID != "":
		return a.userTags(ctx, app, req.UserID)
	case req.HWID == "":
		return nil, argError("hwid", "required (the phone number), or userId instead")
	}
	phone, err := a.phone(req.HWID)
	if err != nil {
		return nil, err
	}
	d, err := a.Store.GetDevice(ctx, app, phone)
	if errors.Is(err, store.ErrNotFound) {
		return nil, argError("hwid", "device %s is not registered", phone)
	} else if err != nil {
		return nil, err
	}
	return map[string]any{"result": d.Tags}, nil
}

// userTags answers getTags by userId, which Pushwoosh accepts instead of
// hwid ("can be used instead of hwid to retrieve tags for a specific
// user", https://docs.pushwoosh.com/platform-docs/api-reference/tags,
// getTags). A user may have several phones: the result holds every tag of
// any of them, and where two phones hold different values of one tag, the
// value of the phone that sorts first (E.164), so the answer is the same
// on every call.
func (a *API) userTags(ctx context.Context, app, user string) (any, error) {
	phones, err := a.Store.PhonesOfUsers(ctx, app, []string{user})
	if err != nil {
		return nil, err
	}
	if len(phones[0]) == 0 {
		return nil, argError("userId", "no device is registered for this user")
	}
	tags := map[string]json.RawMessage{}
	for _, phone := range phones[0] {
		d, err := a.Store.GetDevice(ctx, app, phone)
		if errors.Is(err, store.ErrNotFound) {
			continue // unregistered since the lookup
		} else if err != nil {
			return nil, err
		}
		for name, v := range d.Tags {
			if _, seen := tags[name]; !seen {
				tags[name] = v
			}
		}
	}
	return map[string]any{"result": tags}, nil
}

// registrationArgs decodes and validates a registerDevice call: the device
// type, the hwid (returned as E.164), the time zone, the tags and the user
// id, in that order.
func (a *API) registrationArgs(raw json.RawMessage) (deviceRequest, string, error) {
	var req deviceRequest
	if err := decodeArgs(raw, &req, ""); err != nil {
		return req, "", err
	}
	if req.DeviceType == nil {
		return req, "", argError("device_type", "required (18 for SMS)")
	}
	if *req.DeviceType != deviceTypeSMS {
		return req, "", argError("device_type", "must be 18 (SMS), got %d", *req.DeviceType)
	}
	phone, err := a.phone(req.HWID)
	if err != nil {
		return req, "", err
	}
	if req.zone, err = deviceZone(req.Timezone); err != nil {
		return req, "", err
	}
	if req.Language != "" {
		if err := checkLanguage(req.Language); err != nil {
			return req, "", err
		}
	}
	if err := validateTags(req.Tags); err != nil {
		return req, "", err
	}
	if len(req.UserID) > 256 {
		return req, "", argError("userId", "longer than 256 characters")
	}
	return req, phone, nil
}

// Limits of the tags of one request.
const (
	maxTags        = 100     // tags per request
	maxTagName     = 128     // bytes of a tag name
	maxTagValue    = 4 << 10 // bytes of a tag value's JSON
	maxLanguageLen = 35      // bytes of a language code (BCP 47)
)

// checkLanguage accepts a BCP 47 language code (en, de-AT, zh-Hant-TW) of
// at most 35 bytes.
func checkLanguage(l string) error {
	if len(l) > maxLanguageLen {
		return argError("language", "must be a BCP 47 language code of at most %d characters, got %d", maxLanguageLen, len(l))
	}
	if _, err := language.Parse(l); err != nil {
		return argError("language", "must be a BCP 47 language code like \"en\" or \"de-AT\", got %q", l)
	}
	return nil
}

// validateTags accepts the value kinds Pushwoosh tags take: strings,
// numbers, booleans, lists of strings, and null (delete); at most 100
// tags, names of 1 to 128 bytes without control characters, values of at
// most 4 KiB of JSON.
func validateTags(tags map[string]json.RawMessage) error {
	if len(tags) > maxTags {
		return argError("tags", "at most %d tags per request, got %d", maxTags, len(tags))
	}
	for name, v := range tags {
		if name == "" || len(name) > maxTagName {
			return argError("tags", "tag names must be 1 to 128 characters")
		}
		if !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
			return argError("tags", "tag name %q must be valid UTF-8 without control characters", name)
		}
		if len(v) > maxTagValue {
			return argError("tags."+name, "value is %d bytes of JSON, more than the maximum of %d", len(v), maxTagValue)
		}
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			return argError("tags."+name, "not a JSON value")
		}
		switch t := x.(type) {
		case nil, string, float64, bool:
		case []any:
			for _, e := range t {
				if _, ok := e.(string); !ok {
					return argError("tags."+name, "a list tag must hold strings only")
				}
			}
		default:
			return argError("tags."+name, "must be a string, number, boolean, list of strings or null")
		}
	}
	return nil
}

// deviceZone reads registerDevice's timezone in each form clients send:
// Pushwoosh's Device API documents an integer offset in seconds
// ("timezone": 3600, https://docs.pushwoosh.com/developer/api-reference/device-api/),
// which the Go client yyoshiki41/go-pushwoosh sends; other clients send
// an offset string or an IANA name. It returns the stored form ("+01:00",
// or the IANA name); null or absent is "".
func deviceZone(raw json.RawMessage) (string, error) {
	const want = `must be an offset in seconds (3600), an offset like "+01:00" or an IANA name like "Europe/Berlin"`
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if s == "" {
			return "", nil
		}
		z, err := sms.CanonicalZone(s)
		if err != nil {
			return "", argError("timezone", "%s: %v", want, err)
		}
		return z, nil
	}
	var secs json.Number
	if err := json.Unmarshal(raw, &secs); err != nil {
		return "", argError("timezone", "%s, got %s", want, rawKind(raw))
	}
	n, err := secs.Int64()
	if err != nil {
		return "", argError("timezone", "%s: an offset in seconds is a whole number, got %s", want, secs)
	}
	z, err := sms.OffsetZone(int(max(min(n, 1<<31), -1<<31)))
	if err != nil {
		return "", argError("timezone", "%s: %v", want, err)
	}
	return z, nil
}

// rawKind names the kind of a JSON value for an error message (as
// jsonKind does for a decoder's), without echoing the value.
func rawKind(raw json.RawMessage) string {
	switch t := strings.TrimSpace(string(raw)); {
	case strings.HasPrefix(t, "{"):
		return jsonKind("map")
	case strings.HasPrefix(t, "["):
		return jsonKind("array")
	case t == "true" || t == "false":
		return jsonKind("bool")
	}
	return "something else"
}
