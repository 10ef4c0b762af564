package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/smsfleet/smsfleet/internal/provider"
)

// File is the optional YAML configuration named by SMSFLEET_CONFIG: what
// does not fit an environment variable, such as each application's
// policy. Example:
//
//	applications:
//	  - code: SHOP1-00001
//	    server_token: shop-server-token   # or server_token_env: SHOP_TOKEN
//	    device_token: shop-device-token
//	    open_devices: false
//	    legacy_user_binding: false   # true: device tokens may bind userId (legacy clients)
//	    sender: ACME
//	    max_segments: 6
//	    quiet_hours: "21:00-09:00"
type File struct {
	// RateLimits is in SMSFLEET_RATE_LIMITS' syntax, which wins when set.
	RateLimits string `yaml:"rate_limits"`
	// OperatorOverrides maps number prefixes to operator keys.
	OperatorOverrides map[string]string `yaml:"operator_overrides"`
	Providers         []provider.Config `yaml:"providers"`
	Route             *Route            `yaml:"route"`
	Applications      []FileApplication `yaml:"applications"`
	// Prices are the providers' prices per segment (prices.go).
	Prices Prices `yaml:"prices"`
	// Guards are the fleet-wide default guards (guards.go).
	Guards *Guards `yaml:"guards"`
}

// FileApplication is one application in the file.
type FileApplication struct {
	Code        string `yaml:"code"`
	ServerToken string `yaml:"server_token"`
	// ServerTokenEnv names an environment variable holding the server token,
	// so the file can live in a ConfigMap and the token in a Secret.
	ServerTokenEnv string `yaml:"server_token_env"`
	DeviceToken    string `yaml:"device_token"`
	DeviceTokenEnv string `yaml:"device_token_env"`
	OpenDevices    bool   `yaml:"open_devices"`
	// LegacyUserBinding: see Application.LegacyUserBinding (off by default).
	LegacyUserBinding bool `yaml:"legacy_user_binding"`
	// CallbackSecret signs status callbacks; callback_secret_env names an
	// environment variable holding it instead.
	CallbackSecret    string `yaml:"callback_secret"`
	CallbackSecretEnv string `yaml:"callback_secret_env"`
	Route             *Route `yaml:"route"`
	Policy            `yaml:",inline"`
	Privacy           `yaml:",inline"`

	// CallbackAllowHTTP lets status_callback URLs be http (default https).
	CallbackAllowHTTP bool `yaml:"callback_allow_http"`
	// AllowBroadcast: see Application.AllowBroadcast (off by default).
	AllowBroadcast bool `yaml:"allow_broadcast"`
	// Inbound: replies, keywords and their answers (inbound.go).
	Inbound *FileInbound `yaml:"inbound"`
	// Guards: the application's guards over the fleet's (guards.go).
	Guards *Guards `yaml:"guards"`
	// Quotas per day and month (quotas.go).
	Quotas *FileQuotas `yaml:"quotas"`
}

// readFile reads and strictly decodes path: an unknown key is an error, so
// a typo does not silently fall back to a default.
func readFile(path string) (File, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return File{}, fmt.Errorf("config: SMSFLEET_CONFIG: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var f File
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) { // an empty file is an empty configuration
		return File{}, fmt.Errorf("config: SMSFLEET_CONFIG %s: %w", path, err)
	}
	return f, nil
}

func (fa FileApplication) application() (app Application, err error) {
	app = Application{Code: fa.Code, ServerToken: fa.ServerToken, DeviceToken: fa.DeviceToken, OpenDevices: fa.OpenDevices,
		LegacyUserBinding: fa.LegacyUserBinding, Policy: fa.Policy, Route: fa.Route, AllowBroadcast: fa.AllowBroadcast}
	if fa.ServerTokenEnv != "" {
		app.ServerToken = os.Getenv(fa.ServerTokenEnv)
		if app.ServerToken == "" {
			return Application{}, fmt.Errorf("application %s: server_token_env %s is empty", fa.Code, fa.ServerTokenEnv)
		}
	}
	if fa.DeviceTokenEnv != "" {
		app.DeviceToken = os.Getenv(fa.DeviceTokenEnv)
	}
	app.Inbound = fa.Inbound.application()
	app.Guards = fa.Guards
	app.CallbackSecret = fa.CallbackSecret
	app.CallbackAllowHTTP = fa.CallbackAllowHTTP
	if fa.CallbackSecretEnv != "" {
		app.CallbackSecret = os.Getenv(fa.CallbackSecretEnv)
		if app.CallbackSecret == "" {
			return Application{}, fmt.Errorf("application %s: callback_secret_env %s is empty", fa.Code, fa.CallbackSecretEnv)
		}
	}
	if app.CallbackSecret != "" && len(app.CallbackSecret) < 16 {
		return Application{}, fmt.Errorf("application %s: callback_secret must be at least 16 characters", fa.Code)
	}
	if app.Privacy, err = fa.Privacy.load(fa.Code); err != nil {
		return Application{}, err
	}
	if app.Quotas, err = fa.Quotas.resolve(); err != nil {
		return Application{}, fmt.Errorf("application %s: %w", fa.Code, err)
	}
	if err := app.validate(); err != nil {
		return Application{}, err
	}
	return app, nil
}
