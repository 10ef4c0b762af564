package intake

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/store"
)

// checkQuota refuses, with a 210 naming the quota, a notification whose
// SMS would exceed one of the application's SMS quotas as already used
// (quota sms_per_day 1000 reached (998 used, 5 requested)). It reserves
// nothing: the worker reserves each SMS exactly when it knows its
// segments and price (worker/quota.go). Only the SMS due now are
// counted: a scheduled group goes in a later period, where the worker
// checks it. A targeted notification's count is unknown until its
// dispatch, so only the worker holds it.
func (a *API) checkQuota(ctx context.Context, app, field string, audiences []store.Audience) error {
	if a.Quotas == nil {
		return nil
	}
	var n int64
	now := a.Now()
	for _, au := range audiences {
		if !au.SendAt.After(now) {
			n += int64(len(au.Phones))
		}
	}
	if n == 0 {
		return nil
	}
	refusal, err := a.Quotas.CheckSMS(ctx, app, n)
	if err != nil {
		return err
	}
	if refusal != nil {
		metrics.QuotaRefused.WithLabelValues(refusal.Quota.String(), "intake").Add(float64(n))
		return argError(field, "%s", refusal.Error())
	}
	return nil
}

// quotaView is one quota of GET /api/v1/quotas.
type quotaView struct {
	Quota       string `json:"quota"`
	Unit        string `json:"unit"`
	Period      string `json:"period"`
	Used        string `json:"used"`
	Limit       string `json:"limit"`
	WarnPercent int    `json:"warn_percent"`
	PeriodEnd   string `json:"period_end"`
}

// quotas answers GET /api/v1/quotas: each of the application's quotas in
// its current UTC period, what it used, its limit and when the period
// ends (money amounts as decimals in the prices' currency).
func (a *API) quotas(r *http.Request, app string, _ page) (any, int, error) {
	out := []quotaView{}
	if a.Quotas != nil {
		us, err := a.Quotas.Usage(r.Context(), app)
		if err != nil {
			return nil, 0, err
		}
		for _, u := range us {
			v := quotaView{Quota: u.Quota.String(), Unit: "sms", Period: "day", WarnPercent: u.WarnPercent,
				Used: strconv.FormatInt(u.Used, 10), Limit: strconv.FormatInt(u.Limit, 10), PeriodEnd: u.PeriodEnd.UTC().Format(time.RFC3339)}
			switch {
			case u.Quota.Money():
				v.Unit, v.Used, v.Limit = "money", config.Micros(u.Used).String(), config.Micros(u.Limit).String()
			case u.Quota == config.SegmentsPerDay || u.Quota == config.SegmentsPerMonth:
				v.Unit = "segments"
			}
			if u.Quota.Monthly() {
				v.Period = "month"
			}
			out = append(out, v)
		}
	}
	return map[string]any{"currency": a.Currency, "quotas": out}, http.StatusOK, nil
}
