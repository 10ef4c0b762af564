package config

import "fmt"

// Quotas (issue 18) cap what an application may send per UTC day and per
// UTC month, in SMS, in segments and in money (the currency of prices:).
// The money quota per month is the application's monthly budget. Each
// quota has a warning threshold in percent of its limit: crossing it
// emits one event per application, quota and period (internal/quota).
// File only, under the application's entry:
//
//	quotas:
//	  sms_per_day:       {limit: 1000}               # warn_percent defaults to 80
//	  sms_per_month:     {limit: 20000, warn_percent: 90}
//	  segments_per_day:  {limit: 2500}
//	  segments_per_month: {limit: 50000}
//	  money_per_day:     {limit: "40.00"}            # decimal string, as prices
//	  money_per_month:   {limit: "900.00"}           # the monthly budget
type FileQuotas struct {
	SMSPerDay        *FileQuota `yaml:"sms_per_day"`
	SMSPerMonth      *FileQuota `yaml:"sms_per_month"`
	SegmentsPerDay   *FileQuota `yaml:"segments_per_day"`
	SegmentsPerMonth *FileQuota `yaml:"segments_per_month"`
	MoneyPerDay      *FileQuota `yaml:"money_per_day"`
	MoneyPerMonth    *FileQuota `yaml:"money_per_month"`
}

// FileQuota is one quota of the file: its limit (a whole number of SMS or
// segments, or a money amount as a decimal string) and its warning
// threshold.
type FileQuota struct {
	Limit       string `yaml:"limit"`
	WarnPercent *int   `yaml:"warn_percent"`
}

// QuotaKind names one of an application's quotas; it indexes Quotas.
type QuotaKind int

// The quotas, in the order they are checked and shown.
const (
	SMSPerDay QuotaKind = iota
	SMSPerMonth
	SegmentsPerDay
	SegmentsPerMonth
	MoneyPerDay
	MoneyPerMonth
	NumQuotas
)

// quotaNames are the quotas' names in the file, the API, refusals
// (quota_<name> reasons) and metrics.
var quotaNames = [NumQuotas]string{"sms_per_day", "sms_per_month", "segments_per_day", "segments_per_month", "money_per_day", "money_per_month"}

// String is the quota's name, such as sms_per_day.
func (k QuotaKind) String() string {
	if k < 0 || k >= NumQuotas {
		return fmt.Sprintf("quota(%d)", int(k))
	}
	return quotaNames[k]
}

// Monthly reports whether the quota's period is the UTC month (else the
// UTC day).
func (k QuotaKind) Monthly() bool {
	return k == SMSPerMonth || k == SegmentsPerMonth || k == MoneyPerMonth
}

// Money reports whether the quota counts money (in Micros).
func (k QuotaKind) Money() bool { return k == MoneyPerDay || k == MoneyPerMonth }

// Quota is one resolved quota: Limit is in SMS, segments or Micros; 0
// means no such quota.
type Quota struct {
	Limit       int64
	WarnPercent int
}

// Quotas are an application's resolved quotas, indexed by QuotaKind (an
// array keeps Application comparable).
type Quotas [NumQuotas]Quota

// Any reports whether any quota is set.
func (q Quotas) Any() bool { return q != Quotas{} }

// Money reports whether a money quota is set.
func (q Quotas) Money() bool { return q[MoneyPerDay].Limit > 0 || q[MoneyPerMonth].Limit > 0 }

// DefaultWarnPercent is a quota's warning threshold when the file names none.
const DefaultWarnPercent = 80

// resolve checks the file's quotas and resolves them; errors name the
// field (quotas.<name>.limit).
func (fq *FileQuotas) resolve() (Quotas, error) {
	var out Quotas
	if fq == nil {
		return out, nil
	}
	for k, f := range [NumQuotas]*FileQuota{fq.SMSPerDay, fq.SMSPerMonth, fq.SegmentsPerDay, fq.SegmentsPerMonth, fq.MoneyPerDay, fq.MoneyPerMonth} {
		if f == nil {
			continue
		}
		q, err := f.resolve(QuotaKind(k))
		if err != nil {
			return Quotas{}, fmt.Errorf("quotas.%s.%w", QuotaKind(k), err)
		}
		out[k] = q
	}
	return out, nil
}

// maxQuotaCount bounds a count quota, far past any real one, so sums in
// Lua (doubles) stay exact.
const maxQuotaCount = 1 << 50

func (f FileQuota) resolve(k QuotaKind) (Quota, error) {
	q := Quota{WarnPercent: DefaultWarnPercent}
	if f.WarnPercent != nil {
		if *f.WarnPercent < 1 || *f.WarnPercent > 100 {
			return Quota{}, fmt.Errorf("warn_percent: %d is not a percentage from 1 to 100", *f.WarnPercent)
		}
		q.WarnPercent = *f.WarnPercent
	}
	if f.Limit == "" {
		return Quota{}, fmt.Errorf("limit: required")
	}
	if k.Money() {
		m, err := parseMicros(f.Limit)
		if err != nil {
			return Quota{}, fmt.Errorf("limit: %w", err)
		}
		if m <= 0 || m > maxQuotaCount {
			return Quota{}, fmt.Errorf("limit: %q must be above 0 and at most %d", f.Limit, int64(maxQuotaCount/1_000_000))
		}
		q.Limit = int64(m)
		return q, nil
	}
	var n int64
	if _, err := fmt.Sscanf(f.Limit, "%d", &n); err != nil || fmt.Sprint(n) != f.Limit {
		return Quota{}, fmt.Errorf("limit: %q is not a whole number", f.Limit)
	}
	if n < 1 || n > maxQuotaCount {
		return Quota{}, fmt.Errorf("limit: %d must be from 1 to %d", n, int64(maxQuotaCount))
	}
	q.Limit = n
	return q, nil
}

// validateQuotas refuses a money quota without prices: its spend could
// not be known.
func (c Config) validateQuotas() error {
	for _, a := range c.Applications {
		if a.Quotas.Money() && len(c.Prices.Providers) == 0 {
			return fmt.Errorf("config: application %s: quotas money_per_day/money_per_month need prices: (SMSFLEET_CONFIG prices) to know what an SMS costs", a.Code)
		}
	}
	return nil
}

// QuotasOf is an application's quotas (none for an unknown application).
func (c Config) QuotasOf(app string) Quotas {
	for _, a := range c.Applications {
		if a.Code == app {
			return a.Quotas
		}
	}
	return Quotas{}
}
