// Package config reads smsfleet's configuration from SMSFLEET_* environment
// variables. Every variable is listed, with its default, in the README.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/smsfleet/smsfleet/internal/httprole"
	"github.com/smsfleet/smsfleet/internal/provider"
)

// Config is the whole configuration of one smsfleet process.
type Config struct {
	HTTPAddr      string        `env:"HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	LogLevel      string        `env:"LOG_LEVEL" envDefault:"info"`
	LogFormat     string        `env:"LOG_FORMAT"` // json or console; empty: console in dev, json elsewhere
	ShutdownGrace time.Duration `env:"SHUTDOWN_GRACE" envDefault:"25s"`
	// RequestTimeout is every HTTP request's deadline (plus a second per
	// MiB of body): a dependency that does not answer within it gets the
	// caller a 503 with Retry-After instead of a hang.
	RequestTimeout time.Duration `env:"REQUEST_TIMEOUT" envDefault:"5s"`
	MaxBodyBytes   int64         `env:"MAX_BODY_BYTES" envDefault:"16777216"`
	// UnauthenticatedBodyBytes bounds what the intake reads of a body
	// before its caller is authenticated; MaxBodyBytesInFlight caps the
	// body bytes one process holds at once (issue 13, item 2).
	UnauthenticatedBodyBytes int64 `env:"UNAUTHENTICATED_BODY_BYTES" envDefault:"65536"`
	MaxBodyBytesInFlight     int64 `env:"MAX_BODY_BYTES_IN_FLIGHT" envDefault:"67108864"`
	// AuthFailures failed authentications from one address (IPv6: /64)
	// are allowed at once, refilling over AuthFailureWindow; beyond them
	// the address gets 429 (0: never throttled). Issue 13, item 10.
	AuthFailures      int           `env:"AUTH_FAILURES" envDefault:"20"`
	AuthFailureWindow time.Duration `env:"AUTH_FAILURE_WINDOW" envDefault:"1m"`
	// HTTP bounds every role's connections (SMSFLEET_HTTP_*).
	HTTP           HTTP          `envPrefix:"HTTP_"`
	MaxRecipients  int           `env:"MAX_RECIPIENTS" envDefault:"1000000"`
	DefaultRegion  string        `env:"DEFAULT_REGION"` // ISO country for numbers without +; empty: + required
	Retention      time.Duration `env:"RETENTION" envDefault:"720h"`
	DispatchChunk  int           `env:"DISPATCH_CHUNK" envDefault:"1000"`
	Applications   Applications  `env:"APPLICATIONS"`
	DevApplication string        `env:"DEV_APPLICATION" envDefault:"DEMO0-00000"`
	DevAuth        string        `env:"DEV_AUTH" envDefault:"dev-token"`
	SimulatorURL   string        `env:"SIMULATOR_URL"`
	// Simulator "inprocess" mounts the provider simulator on the HTTP
	// listener of a role that sends (all, worker). It has no
	// authentication and shows every number and text, so outside `dev` it
	// runs only when asked for (a test fleet); "" runs none.
	Simulator string `env:"SIMULATOR"`
	// OutcomesMax bounds the outcome stream sf:oc (events waiting for the
	// relay, e.g. while Kafka is down); beyond it the oldest are dropped,
	// counted and alerted on (docs/decisions.md#19).
	OutcomesMax int64 `env:"OUTCOMES_MAX" envDefault:"1000000"`
	// MaxDevicesPerApp bounds the devices one application may register
	// (0: unbounded): devices do not expire (docs/decisions.md#19).
	MaxDevicesPerApp int `env:"MAX_DEVICES_PER_APP" envDefault:"10000000"`
	// ConfigFile is an optional YAML file (see File) adding applications
	// with their policies.
	ConfigFile string `env:"CONFIG"`

	Defaults Defaults
	Breaker  Breaker  `envPrefix:"BREAKER_"`
	Kafka    Kafka    `envPrefix:"KAFKA_"`
	Receipts Receipts `envPrefix:"RECEIPTS_"`
	// PublicURL is the base URL providers reach this fleet's webhooks at
	// (https://sms.example.com); status callbacks are built from it, and
	// Twilio-style webhook signatures are checked over it (never over the
	// Host or X-Forwarded-* a caller sends).
	PublicURL string `env:"PUBLIC_URL"`
	// TrustedProxies are the peers (CIDRs) whose X-Forwarded-Proto and
	// X-Forwarded-Host give a Twilio-style signature's URL instead.
	TrustedProxies []netip.Prefix `env:"TRUSTED_PROXIES"`
	// SimulatorSecret signs the webhooks of simulator providers that name
	// no dlr_secret_env (and the fleet's own implicit simulator); dev
	// generates one. There is no built-in default.
	SimulatorSecret string `env:"SIMULATOR_SECRET"`
	// Dev is set by `smsfleet dev` (LoadDev): it may generate the secrets
	// a deployment must set.
	Dev bool
	// DevKafkaAddr is where `smsfleet dev` listens with its embedded Kafka.
	DevKafkaAddr string `env:"DEV_KAFKA_ADDR" envDefault:"127.0.0.1:9092"`
	// DeliveryWait is how long a sent SMS waits for its receipt before it
	// becomes unknown, unless a notification sets delivery_wait.
	DeliveryWait time.Duration `env:"DELIVERY_WAIT" envDefault:"24h"`
	// SimDLRDelay is how long the simulator waits before posting a receipt.
	SimDLRDelay time.Duration `env:"SIM_DLR_DELAY" envDefault:"200ms"`
	Rate        Rate          `envPrefix:"RATE_"`
	// RouteList is SMSFLEET_ROUTE, the default route's providers in order.
	RouteList string `env:"ROUTE"`
	// Providers and DefaultRoute come from the configuration file (and
	// RouteList); with none, the fleet sends through one simulator.
	Providers    []provider.Config
	DefaultRoute Route
	// Prices are what each provider charges per segment (the file's
	// prices:, prices.go); none: costs are not recorded.
	Prices Prices
	// Guards are the fleet-wide default guards (the file's guards:,
	// guards.go); GuardsOf merges an application's over them.
	Guards Guards
	// policies holds each application's resolved policy (see PolicyOf).
	policies map[string]Resolved
	// privacies holds each application's resolved privacy (PrivacyOf).
	privacies map[string]ResolvedPrivacy

	Callback Callback `envPrefix:"CALLBACK_"`
	Inbound  Inbound  `envPrefix:"INBOUND_"`
	// IDSecret pins the fleet's SMS id key (docs/decisions.md#20): empty,
	// the key is the one in Redis (created at random by the first process);
	// set (at least 32 bytes), it seeds an empty Redis and a process whose
	// Redis holds another key refuses to start.
	IDSecret string `env:"ID_SECRET"`
	// DevCallbackSecret signs the dev application's status callbacks.
	DevCallbackSecret string `env:"DEV_CALLBACK_SECRET" envDefault:"dev-callback-secret"`

	Redis Redis `envPrefix:"REDIS_"`
	// RedisPartitions splits the store's fleet-wide structures (outbox,
	// delivery-wait index, outcome stream, parked receipts, counters) into
	// this many partitions, each with its own hash tag, sweeps and relay
	// loop, so that no Redis Cluster slot is hot (partitions.go,
	// docs/decisions.md#22). 0 (unset): 1, or 16 on a Redis Cluster.
	RedisPartitions int `env:"REDIS_PARTITIONS" envDefault:"0"`

	Worker  Worker  `envPrefix:"WORKER_"`
	Monitor Monitor `envPrefix:"MONITOR_"`
	// Lanes shards the lanes into asynq queues (lanes.go).
	Lanes Lanes `envPrefix:"LANE_"`
	// Pprof is the opt-in profiling endpoint (pprof.go).
	Pprof Pprof
	// Privacy holds the fleet-wide text and number retentions (privacy.go).
	Privacy PrivacyDefaults
	// Admin and Quality: the operator API and routing on delivery quality (admin.go).
	Admin   Admin   `envPrefix:"ADMIN_"`
	Quality Quality `envPrefix:"QUALITY_"`
}

// HTTP bounds the connections of every role's HTTP server, so slow or
// idle clients cannot exhaust its file descriptors. Its fields are those
// of httprole.Limits, which it converts to (httprole.Limits(c.HTTP)).
type HTTP struct {
	// ReadTimeout bounds reading a whole request, body included: long
	// enough for a SMSFLEET_MAX_BODY_BYTES body on a slow link.
	ReadTimeout time.Duration `env:"READ_TIMEOUT" envDefault:"60s"`
	// WriteTimeout bounds a request from its headers to the end of its
	// response; it must exceed the request deadline (SMSFLEET_REQUEST_TIMEOUT
	// plus a second per MiB of SMSFLEET_MAX_BODY_BYTES).
	WriteTimeout time.Duration `env:"WRITE_TIMEOUT" envDefault:"60s"`
	// IdleTimeout bounds a keep-alive connection between requests.
	IdleTimeout time.Duration `env:"IDLE_TIMEOUT" envDefault:"60s"`
	// MaxHeaderBytes bounds a request's line and headers (431 beyond).
	MaxHeaderBytes int `env:"MAX_HEADER_BYTES" envDefault:"65536"`
	// MaxConns caps the connections one process has open (0: no cap).
	MaxConns int `env:"MAX_CONNS" envDefault:"4096"`
}

// validate checks the HTTP limits; requestDeadline is the longest
// deadline a request can get, which the write timeout must exceed.
func (h HTTP) validate(requestDeadline time.Duration) error {
	switch {
	case h.ReadTimeout < 0:
		return fmt.Errorf("config: SMSFLEET_HTTP_READ_TIMEOUT must not be negative, got %s", h.ReadTimeout)
	case h.WriteTimeout < 0:
		return fmt.Errorf("config: SMSFLEET_HTTP_WRITE_TIMEOUT must not be negative, got %s", h.WriteTimeout)
	case h.IdleTimeout < 0:
		return fmt.Errorf("config: SMSFLEET_HTTP_IDLE_TIMEOUT must not be negative, got %s", h.IdleTimeout)
	case h.MaxHeaderBytes < 0:
		return fmt.Errorf("config: SMSFLEET_HTTP_MAX_HEADER_BYTES must not be negative, got %d", h.MaxHeaderBytes)
	case h.MaxConns < 0:
		return fmt.Errorf("config: SMSFLEET_HTTP_MAX_CONNS must not be negative, got %d", h.MaxConns)
	case h.WriteTimeout > 0 && requestDeadline > 0 && h.WriteTimeout <= requestDeadline:
		// A handler's 503 at its deadline must still reach the client.
		return fmt.Errorf("config: SMSFLEET_HTTP_WRITE_TIMEOUT (%s) must exceed the longest request deadline, SMSFLEET_REQUEST_TIMEOUT plus a second per MiB of SMSFLEET_MAX_BODY_BYTES (%s)", h.WriteTimeout, requestDeadline)
	}
	return nil
}

// LoadHTTP reads only the SMSFLEET_HTTP_* limits, for a role that needs
// nothing else (the standalone simulator).
func LoadHTTP() (HTTP, error) {
	h := Default().HTTP
	if err := env.ParseWithOptions(&h, env.Options{Prefix: envPrefix + "HTTP_"}); err != nil {
		return HTTP{}, fmt.Errorf("config: %w", err)
	}
	if err := h.validate(0); err != nil {
		return HTTP{}, err
	}
	return h, nil
}

// requestDeadline is the longest deadline a request gets: the request
// timeout plus a second per MiB of the largest body (httprole.Deadline).
func (c Config) requestDeadline() time.Duration {
	return httprole.RequestDeadline(c.RequestTimeout, c.MaxBodyBytes)
}

// validateHTTP checks the HTTP servers' limits.
func (c Config) validateHTTP() error { return c.HTTP.validate(c.requestDeadline()) }

// Callback configures status callbacks: each SMS's outcome POSTed to its
// notification's status_callback URL, signed with its application's secret.
type Callback struct {
	// Secrets maps application codes to callback secrets
	// (CODE=secret,CODE=secret); the configuration file's callback_secret
	// wins for its applications.
	Secrets     map[string]string `env:"SECRETS" envKeyValSeparator:"="`
	MaxAttempts int               `env:"MAX_ATTEMPTS" envDefault:"12"`
	Timeout     time.Duration     `env:"TIMEOUT" envDefault:"10s"`
	// AllowPrivate lets callbacks reach loopback and private addresses
	// (dev and tests); off, a customer's URL cannot probe the cluster.
	AllowPrivate bool `env:"ALLOW_PRIVATE" envDefault:"false"`
}

// Inbound configures replies from phones: a reply that is one of StopWords
// opts its phone out, one of StartWords opts it back in (case does not
// matter; surrounding spaces and punctuation are ignored).
type Inbound struct {
	StopWords  []string `env:"STOP_WORDS" envDefault:"STOP,STOPALL,UNSUBSCRIBE,END,QUIT,CANCEL,REVOKE,OPTOUT"`
	StartWords []string `env:"START_WORDS" envDefault:"START,UNSTOP,YES"`
	// Topic and Group: where replies are landed in Kafka before they are
	// applied, and the consumer group that applies them (inbound/).
	Topic string `env:"TOPIC" envDefault:"smsfleet.inbound"`
	Group string `env:"GROUP" envDefault:"smsfleet-inbound"`
}

// CallbackSecretOf returns the secret app's status callbacks are signed
// with ("" for none).
func (c Config) CallbackSecretOf(app string) string {
	for _, a := range c.Applications {
		if a.Code == app && a.CallbackSecret != "" {
			return a.CallbackSecret
		}
	}
	return c.Callback.Secrets[app]
}

// Monitor configures the Asynq web monitor (`smsfleet monitor`, and
// /monitoring in dev). asynqmon has no authentication of its own, so the
// fleet puts HTTP basic auth in front of it unless Auth is "none" (for an
// operator who runs it behind their own authenticating proxy).
type Monitor struct {
	Auth     string `env:"AUTH" envDefault:"basic"`
	User     string `env:"USER" envDefault:"admin"`
	Password string `env:"PASSWORD"`
	// ReadOnly hides and refuses every action that changes a queue
	// (retry, delete, archive, pause); on-call opt in to them.
	ReadOnly bool `env:"READ_ONLY" envDefault:"true"`
}

// Redis is how to reach the fleet's Redis: a standalone primary, a
// primary found through Sentinel, or a Redis Cluster (Mode; redis.go
// checks the combination, redisx.New builds the client).
type Redis struct {
	// Modes (issue 15): Mode is standalone (Addr, or Addrs holding one
	// address), sentinel (Addrs are the sentinels, MasterName the primary
	// they monitor, SentinelUsername/SentinelPassword their own
	// credentials, apart from the data nodes' Username/Password) or cluster
	// (Addrs are seed nodes; the client discovers the others). Every role,
	// the monitor included, reads the same settings.
	Mode             string   `env:"MODE" envDefault:"standalone"`
	Addrs            []string `env:"ADDRS" envSeparator:","`
	MasterName       string   `env:"MASTER_NAME"`
	SentinelUsername string   `env:"SENTINEL_USERNAME"`
	SentinelPassword string   `env:"SENTINEL_PASSWORD"`

	Addr     string `env:"ADDR" envDefault:"127.0.0.1:6379"`
	Username string `env:"USERNAME"`
	Password string `env:"PASSWORD"`
	DB       int    `env:"DB" envDefault:"0"`
	TLS      bool   `env:"TLS" envDefault:"false"`
	// TLSInsecure skips certificate verification; for test clusters only.
	TLSInsecure bool `env:"TLS_INSECURE" envDefault:"false"`
	// Timeout bounds each dial, read, write and wait for a pooled
	// connection; a command is tried at most twice (redisx.New).
	Timeout time.Duration `env:"TIMEOUT" envDefault:"3s"`
	// WaitReplicas makes createMessage and registerDevice answer only once
	// this many replicas acknowledged the write (Redis WAIT), 503 otherwise;
	// 0 answers once the primary has it (docs/operations.md, "Durability").
	WaitReplicas int `env:"WAIT_REPLICAS" envDefault:"0"`
	// WaitTimeout bounds that wait; it shares the write's round trip, read
	// within the client's read timeout (Timeout), so it must stay half a
	// second below it.
	WaitTimeout time.Duration `env:"WAIT_TIMEOUT" envDefault:"1s"`
}

// Worker tunes the asynq server that runs sends and fan-outs.
type Worker struct {
	// Concurrency is per send lane (otp, transactional, marketing): each lane
	// has its own asynq server, so lanes never take each other's slots.
	Concurrency int `env:"CONCURRENCY" envDefault:"50"`
	// DispatchConcurrency is how many fan-outs run at once.
	DispatchConcurrency int `env:"DISPATCH_CONCURRENCY" envDefault:"4"`
	// TaskCheckInterval bounds the extra latency of an idle lane: asynq sleeps
	// this long when every queue was empty (docs/decisions.md#2).
	TaskCheckInterval time.Duration `env:"TASK_CHECK_INTERVAL" envDefault:"100ms"`
	// OTPCheckInterval is TaskCheckInterval for the OTP lane alone: a
	// security code that finds its lane idle waits on average about this
	// long for the next poll, so it is much shorter than the other lanes'.
	// An idle OTP lane costs one empty dequeue per poll per worker process:
	// about 160 a second at 5 ms, under 1 % of a Redis core (measured,
	// docs/benchmarks.md).
	OTPCheckInterval time.Duration `env:"OTP_CHECK_INTERVAL" envDefault:"5ms"`
	// DelayedCheckInterval is how often scheduled tasks are moved to their
	// lane; it bounds how late a scheduled message starts.
	DelayedCheckInterval time.Duration `env:"DELAYED_CHECK_INTERVAL" envDefault:"250ms"`
	MaxAttempts          int           `env:"MAX_ATTEMPTS" envDefault:"8"`
	RetryBase            time.Duration `env:"RETRY_BASE" envDefault:"1s"`
	RetryMax             time.Duration `env:"RETRY_MAX" envDefault:"10m"`
	SendTimeout          time.Duration `env:"SEND_TIMEOUT" envDefault:"30s"`
	OutboxInterval       time.Duration `env:"OUTBOX_INTERVAL" envDefault:"15s"`
	// Batch is how many SMS one send task carries at most (a fan-out
	// chunk's batches, the intake's group commits); 1 sends one task per
	// SMS (docs/decisions.md#21).
	Batch int `env:"BATCH" envDefault:"64"`
}

// Load reads the environment. It fails on values that cannot work, so a bad
// deployment stops at start-up rather than at the first SMS.
func Load() (Config, error) { return load(false) }

// LoadDev is Load for `smsfleet dev`: secrets a deployment must set (the
// simulator's webhook secret) are generated when not set.
func LoadDev() (Config, error) { return load(true) }

func load(dev bool) (Config, error) {
	c := Default()
	c.Dev = dev
	if err := env.ParseWithOptions(&c, env.Options{Prefix: envPrefix}); err != nil {
		return Config{}, fmt.Errorf("config: %w", nameVariables(err))
	}
	if c.ConfigFile != "" {
		f, err := readFile(c.ConfigFile)
		if err != nil {
			return Config{}, err
		}
		c.Providers = f.Providers
		c.Prices = f.Prices
		if f.Guards != nil {
			c.Guards = *f.Guards
		}
		if c.Rate.Limits == "" {
			c.Rate.Limits = f.RateLimits
		}
		if c.Rate.OperatorOverrides == "" {
			for prefix, op := range f.OperatorOverrides {
				c.Rate.OperatorOverrides += prefix + "=" + op + ","
			}
		}
		if f.Route != nil {
			c.DefaultRoute = *f.Route
		}
		for i, fa := range f.Applications {
			app, err := fa.application()
			if err != nil {
				return Config{}, fmt.Errorf("config: SMSFLEET_CONFIG applications[%d]: %w", i, err)
			}
			c.Applications = append(c.Applications, app)
		}
	}
	if c.RouteList != "" {
		c.DefaultRoute = parseRoute(c.RouteList)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// RouteOf returns an application's route: its own, else the default.
func (c Config) RouteOf(app string) Route {
	for _, a := range c.Applications {
		if a.Code == app && a.Route != nil {
			return *a.Route
		}
	}
	return c.DefaultRoute
}

// PolicyOf returns an application's resolved policy (the fleet-wide
// defaults for an application that sets none). Validate must have run.
func (c Config) PolicyOf(app string) Resolved {
	if r, ok := c.policies[app]; ok {
		return r
	}
	r, _ := Policy{}.resolve(c.Defaults, "defaults")
	return r
}

// Validate checks the values that env parsing cannot and resolves every
// application's policy.
func (c *Config) Validate() error {
	c.fillSimulatorSecret()
	c.fillAdminToken()
	if err := c.validate(); err != nil {
		return err
	}
	c.policies = make(map[string]Resolved, len(c.Applications))
	for _, app := range c.Applications {
		r, err := app.Policy.resolve(c.Defaults, "config: application "+app.Code)
		if err != nil {
			return err
		}
		c.policies[app.Code] = r
	}
	c.privacies = c.resolvePrivacies()
	return nil
}

// validate checks each part of the configuration in turn; the first
// problem found is reported.
func (c Config) validate() error {
	for _, check := range []func() error{
		c.validateLimits, c.validateApplications, c.Defaults.Validity.validate, c.validateProviders,
		c.validateRate, c.validateDefaults, c.validateCallbacks, c.validateInbound, c.validateReceipts, c.validateFormats,
		c.validateHTTP, c.validateWebhookURL, c.Redis.validate, c.Lanes.validate, c.validatePartitions, c.validatePrivacy,
		c.validateHTTP, c.validateWebhookURL, c.Redis.validate, c.Lanes.validate, c.validatePartitions, c.validateTraffic,
		c.validateGuards,
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// validateLimits checks the sizes, counts and durations.
func (c Config) validateLimits() error {
	for _, check := range []func() error{c.validateIntakeLimits, c.validateWorkerLimits, c.validateStoreLimits} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// validateIntakeLimits checks the intake's bounds on requests.
func (c Config) validateIntakeLimits() error {
	switch {
	case c.MaxBodyBytes < 1024:
		return fmt.Errorf("config: SMSFLEET_MAX_BODY_BYTES must be at least 1024, got %d", c.MaxBodyBytes)
	case c.UnauthenticatedBodyBytes < 1024:
		// Above SMSFLEET_MAX_BODY_BYTES it means that (intake.NewAPI).
		return fmt.Errorf("config: SMSFLEET_UNAUTHENTICATED_BODY_BYTES must be at least 1024, got %d", c.UnauthenticatedBodyBytes)
	case c.MaxBodyBytesInFlight < c.MaxBodyBytes:
		return fmt.Errorf("config: SMSFLEET_MAX_BODY_BYTES_IN_FLIGHT must be at least SMSFLEET_MAX_BODY_BYTES (%d), got %d", c.MaxBodyBytes, c.MaxBodyBytesInFlight)
	case c.AuthFailures < 0 || (c.AuthFailures > 0 && c.AuthFailureWindow <= 0):
		return fmt.Errorf("config: SMSFLEET_AUTH_FAILURES must not be negative and SMSFLEET_AUTH_FAILURE_WINDOW must be positive, got %d per %s", c.AuthFailures, c.AuthFailureWindow)
	case c.MaxRecipients < 1:
		return fmt.Errorf("config: SMSFLEET_MAX_RECIPIENTS must be positive, got %d", c.MaxRecipients)
	case c.DispatchChunk < 1:
		return fmt.Errorf("config: SMSFLEET_DISPATCH_CHUNK must be positive, got %d", c.DispatchChunk)
	case c.RequestTimeout < 0:
		return fmt.Errorf("config: SMSFLEET_REQUEST_TIMEOUT must not be negative, got %s", c.RequestTimeout)
	}
	return nil
}

// validateWorkerLimits checks the worker's concurrency, polling and retries.
func (c Config) validateWorkerLimits() error {
	switch {
	case c.Worker.Concurrency < 1:
		return fmt.Errorf("config: SMSFLEET_WORKER_CONCURRENCY must be positive, got %d", c.Worker.Concurrency)
	case c.Worker.TaskCheckInterval <= 0 || c.Worker.OTPCheckInterval <= 0:
		// asynq would take either as its default of one second.
		return fmt.Errorf("config: SMSFLEET_WORKER_TASK_CHECK_INTERVAL and SMSFLEET_WORKER_OTP_CHECK_INTERVAL must be positive, got %s and %s", c.Worker.TaskCheckInterval, c.Worker.OTPCheckInterval)
	case c.Worker.DispatchConcurrency < 1:
		return fmt.Errorf("config: SMSFLEET_WORKER_DISPATCH_CONCURRENCY must be positive, got %d", c.Worker.DispatchConcurrency)
	case c.Worker.Batch < 1 || c.Worker.Batch > 1000:
		return fmt.Errorf("config: SMSFLEET_WORKER_BATCH must be 1 to 1000, got %d", c.Worker.Batch)
	case c.Worker.MaxAttempts < 1:
		return fmt.Errorf("config: SMSFLEET_WORKER_MAX_ATTEMPTS must be positive, got %d", c.Worker.MaxAttempts)
	case c.Worker.RetryBase <= 0 || c.Worker.RetryMax < c.Worker.RetryBase:
		return fmt.Errorf("config: SMSFLEET_WORKER_RETRY_BASE must be positive and at most SMSFLEET_WORKER_RETRY_MAX")
	case c.Worker.OutboxInterval <= 0:
		// The outbox sweeper ticks at this interval; zero would never tick.
		return fmt.Errorf("config: SMSFLEET_WORKER_OUTBOX_INTERVAL must be positive, got %s", c.Worker.OutboxInterval)
	}
	return nil
}

// validateStoreLimits checks Redis's timeouts and what the store keeps.
func (c Config) validateStoreLimits() error {
	switch {
	case c.Redis.Timeout < 0:
		return fmt.Errorf("config: SMSFLEET_REDIS_TIMEOUT must not be negative, got %s", c.Redis.Timeout)
	case c.Redis.WaitReplicas < 0:
		return fmt.Errorf("config: SMSFLEET_REDIS_WAIT_REPLICAS must not be negative, got %d", c.Redis.WaitReplicas)
	case c.Redis.WaitReplicas > 0 && (c.Redis.WaitTimeout <= 0 || c.Redis.WaitTimeout > c.Redis.Timeout-500*time.Millisecond):
		// WAIT 0 would block forever; the pipeline is read within the
		// client's 3 s read timeout.
		return fmt.Errorf("config: SMSFLEET_REDIS_WAIT_TIMEOUT must be from 1ms to SMSFLEET_REDIS_TIMEOUT minus 0.5s (%s), got %s", c.Redis.Timeout-500*time.Millisecond, c.Redis.WaitTimeout)
	case c.MaxDevicesPerApp < 0:
		return fmt.Errorf("config: SMSFLEET_MAX_DEVICES_PER_APP must not be negative, got %d", c.MaxDevicesPerApp)
	case c.OutcomesMax < 1000:
		return fmt.Errorf("config: SMSFLEET_OUTCOMES_MAX must be at least 1000, got %d", c.OutcomesMax)
	case c.Retention < time.Hour:
		return fmt.Errorf("config: SMSFLEET_RETENTION must be at least 1h, got %s", c.Retention)
	}
	return nil
}

// validateApplications checks that codes and tokens are unique across
// SMSFLEET_APPLICATIONS and the configuration file.
func (c Config) validateApplications() error {
	seen, tokens := map[string]bool{}, map[string]bool{}
	for _, app := range c.Applications {
		if seen[app.Code] {
			return fmt.Errorf("config: application %s is configured twice (SMSFLEET_APPLICATIONS and SMSFLEET_CONFIG?)", app.Code)
		}
		seen[app.Code] = true
		for _, t := range []string{app.ServerToken, app.DeviceToken} {
			if t != "" && tokens[t] {
				return fmt.Errorf("config: application %s shares a token with another application; every token must be unique", app.Code)
			}
			tokens[t] = true
		}
	}
	return nil
}

// validateRate checks the rate limiter's tuning (left out, zero, by a
// configuration built in code before Default existed).
func (c Config) validateRate() error {
	if c.Rate == (Rate{}) {
		return nil
	}
	return c.Rate.validate()
}

// validateDefaults checks the fleet-wide policy defaults.
func (c Config) validateDefaults() error {
	_, err := (Policy{}).resolve(c.Defaults, "config: SMSFLEET_* defaults")
	return err
}

// validateCallbacks checks the status callbacks' bounds and secrets.
func (c Config) validateCallbacks() error {
	if c.Callback.MaxAttempts < 1 || c.Callback.Timeout <= 0 {
		return fmt.Errorf("config: SMSFLEET_CALLBACK_MAX_ATTEMPTS and SMSFLEET_CALLBACK_TIMEOUT must be positive")
	}
	for app, secret := range c.Callback.Secrets {
		if len(secret) < 16 {
			return fmt.Errorf("config: SMSFLEET_CALLBACK_SECRETS: the secret of %s must be at least 16 characters", app)
		}
	}
	return nil
}

// validateInbound checks the opt-out keywords. An empty list would let a
// STOP go unheard, which carriers' rules forbid.
func (c Config) validateInbound() error {
	if len(c.Inbound.StopWords) == 0 || len(c.Inbound.StartWords) == 0 {
		return fmt.Errorf("config: SMSFLEET_INBOUND_STOP_WORDS and SMSFLEET_INBOUND_START_WORDS must not be empty (start from config.Default())")
	}
	if c.Inbound.Topic == "" || c.Inbound.Group == "" {
		return fmt.Errorf("config: SMSFLEET_INBOUND_TOPIC and SMSFLEET_INBOUND_GROUP must be set")
	}
	if err := checkWords(c.Inbound); err != nil {
		return err
	}
	return c.validateApplicationsInbound()
}

// validateReceipts checks the receipts consumer's settings.
func (c Config) validateReceipts() error {
	if c.Receipts.Group == "" || c.Receipts.ParkTTL <= 0 {
		return fmt.Errorf("config: SMSFLEET_RECEIPTS_GROUP must be set and SMSFLEET_RECEIPTS_PARK_TTL positive")
	}
	return nil
}

// validateFormats checks the enumerated settings.
func (c Config) validateFormats() error {
	switch c.Monitor.Auth {
	case "basic", "none":
	default:
		return fmt.Errorf("config: SMSFLEET_MONITOR_AUTH must be basic or none, got %q", c.Monitor.Auth)
	}
	switch c.LogFormat {
	case "", "json", "console":
	default:
		return fmt.Errorf("config: SMSFLEET_LOG_FORMAT must be json or console, got %q", c.LogFormat)
	}
	switch c.Simulator {
	case "":
	case SimulatorInProcess:
		if c.SimulatorURL != "" {
			// Two simulators would leave it unclear which one "simulator" is.
			return fmt.Errorf("config: SMSFLEET_SIMULATOR=inprocess and SMSFLEET_SIMULATOR_URL are exclusive; set one")
		}
	default:
		return fmt.Errorf("config: SMSFLEET_SIMULATOR must be inprocess or empty, got %q", c.Simulator)
	}
	return nil
}

const envPrefix = "SMSFLEET_"

// nameVariables rewrites env's parse errors, which name the Go field
// ("DB"), to name the environment variable an operator must fix.
func nameVariables(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	vars := map[string][]string{}
	collectVars(reflect.TypeOf(Config{}), envPrefix, vars)
	msgs := make([]string, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			msgs = append(msgs, fmt.Sprintf("%s: %v", strings.Join(vars[pe.Name], " or "), pe.Err))
			continue
		}
		msgs = append(msgs, e.Error())
	}
	return errors.New(strings.Join(msgs, "; "))
}

func collectVars(t reflect.Type, prefix string, out map[string][]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		if p, ok := f.Tag.Lookup("envPrefix"); ok {
			collectVars(f.Type, prefix+p, out)
			continue
		}
		if f.Type.Kind() == reflect.Struct && f.Tag.Get("env") == "" && f.IsExported() {
			collectVars(f.Type, prefix, out)
			continue
		}
		if name, _, _ := strings.Cut(f.Tag.Get("env"), ","); name != "" {
			out[f.Name] = append(out[f.Name], prefix+name)
		}
	}
}

// validateProviders checks the providers and every route. With no
// providers configured, the fleet sends through one simulator named
// "simulator" and routes must name only it.
func (c Config) validateProviders() error {
	if c.Breaker != (Breaker{}) {
		if err := c.Breaker.validate(); err != nil {
			return err
		}
	}
	known := map[string]bool{}
	for _, p := range c.Providers {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("config: SMSFLEET_CONFIG %w", err)
		}
		if known[p.Name] {
			return fmt.Errorf("config: SMSFLEET_CONFIG provider %s is listed twice", p.Name)
		}
		known[p.Name] = true
	}
	if len(c.Providers) == 0 {
		known["simulator"] = true
	}
	if len(c.DefaultRoute.Providers) > 0 {
		if err := c.DefaultRoute.validate("config: the default route (SMSFLEET_ROUTE or route:)", known); err != nil {
			return err
		}
	}
	for _, a := range c.Applications {
		if a.Route != nil {
			if err := a.Route.validate("config: application "+a.Code, known); err != nil {
				return err
			}
		}
	}
	if err := c.validateQuotas(); err != nil {
		return err
	}
	return c.Prices.validate(known)
}

// DevSimulatorSecret is dev's simulator webhook secret unless
// SMSFLEET_SIMULATOR_SECRET is set; never used outside dev.
const DevSimulatorSecret = "dev-simulator-secret"

// fillSimulatorSecret gives every simulator provider without a
// dlr_secret_env the fleet's SMSFLEET_SIMULATOR_SECRET, which dev sets to
// DevSimulatorSecret when it is not set (a known key like dev's token, so
// the README's walk-through can sign a reply as written; dev listens on
// loopback). Outside dev nothing is made up: a
// simulator provider left without a secret fails validation (its kind's
// Validate names what to set).
func (c *Config) fillSimulatorSecret() {
	if c.Dev && c.SimulatorSecret == "" {
		c.SimulatorSecret = DevSimulatorSecret
	}
	for i := range c.Providers {
		p := &c.Providers[i]
		if p.Kind == provider.KindSimulator && p.DLRSecretEnv == "" {
			p.WebhookSecret = c.SimulatorSecret
		}
	}
}

// validateWebhookURL checks SMSFLEET_PUBLIC_URL, and that a Twilio-style
// provider's signatures can be checked: Twilio signs the URL it called,
// which must come from SMSFLEET_PUBLIC_URL (or a trusted proxy), never
// from the caller's Host header.
func (c Config) validateWebhookURL() error {
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("config: SMSFLEET_PUBLIC_URL must be an http(s) URL such as https://sms.example.com, got %q", c.PublicURL)
		}
	}
	if c.Dev || c.PublicURL != "" || len(c.TrustedProxies) > 0 {
		return nil
	}
	for _, p := range c.Providers {
		if p.Kind == provider.KindTwilio {
			return fmt.Errorf("config: provider %s (twilio) signs its webhooks over the fleet's URL: set SMSFLEET_PUBLIC_URL (or SMSFLEET_TRUSTED_PROXIES)", p.Name)
		}
	}
	return nil
}
