package intake

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/language"

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
	Timezone   string                     `json:"timezone"`
	Language   string                     `json:"language"`
	PushToken  string                     `json:"push_token"` // accepted and ignored: an SMS device is its phone
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
	if _, err := a.Store.RegisterDevice(ctx, app, store.Device{
		Phone: phone, UserID: req.UserID, Language: req.Language, Timezone: req.Timezone, Tags: req.Tags,
	}); err != nil {
		return nil, deviceLimit(err, "hwid")
	}
	return nil, nil
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
	if err := a.Store.SetTags(ctx, app, phone, req.Tags); errors.Is(err, store.ErrNotFound) {
		return nil, argError("hwid", "device %s is not registered", phone)
	} else if err != nil {
		return nil, err
	}
	return map[string]any{"skipped": []string{}}, nil
}

func (a *API) getTags(ctx context.Context, app string, raw json.RawMessage) (any, error) {
	_, phone, err := a.deviceArgs(raw)
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
	if req.Timezone != "" {
		// As createMessage: "Local" is the server's zone, not an IANA name.
		if _, err := time.LoadLocation(req.Timezone); err != nil || strings.EqualFold(req.Timezone, "local") {
			return req, "", argError("timezone", "unknown IANA time zone %q", req.Timezone)
		}
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
