package e2e_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/e2e/harness"
)

// postV2 posts body to a Statistics API v2 path with the server token and
// decodes the answer into out.
func postV2(t *testing.T, e *harness.Env, path, token string, body any, out any) int {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, e.API.URL+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Token "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("POST %s: HTTP %d: %s", path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// TestStatisticsV2 (issue 16): totalsByIntervals and messages:list as
// Pushwoosh's Statistics API v2 documents them
// (https://docs.pushwoosh.com/developer/api-reference/statistics-api/statistics-api-v2):
// counts as strings per hour, SMS only, messages newest first with their
// details and metrics; bad input a 400 naming it, another application's
// message a 404.
func TestStatisticsV2(t *testing.T) {
	e := harness.New(t)
	ph := harness.Phones(2000, 2)
	e.Register(harness.ShopApp, harness.ShopToken, ph...)
	code := e.Send(map[string]any{"send_date": "now", "content": "Stats", "devices": ph, "sender": "SHOP"})
	e.WaitCounts(code, map[string]int64{"sent": 2}, 10*time.Second)

	var totals struct {
		Metrics []map[string]any
	}
	if st := postV2(t, e, "/api/v2/statistics/messages/totalsByIntervals", harness.ShopToken, map[string]any{"message_code": code}, &totals); st != 200 {
		t.Fatalf("totalsByIntervals: HTTP %d", st)
	}
	if len(totals.Metrics) != 1 || totals.Metrics[0]["sends"] != "2" || totals.Metrics[0]["errors"] != "0" || totals.Metrics[0]["platform"] != float64(18) {
		t.Fatalf("totalsByIntervals: %+v, want one hour with sends \"2\" on platform 18", totals.Metrics)
	}
	if st := postV2(t, e, "/api/v2/statistics/messages/totalsByIntervals", harness.ShopToken, map[string]any{"message_code": code, "platforms": []int{1, 3}}, &totals); st != 200 || len(totals.Metrics) != 0 {
		t.Fatalf("totalsByIntervals for iOS and Android: %d %+v, want no SMS metrics", st, totals.Metrics)
	}

	var list struct {
		Total int
		Items []struct {
			Code, Status string
			Platforms    []string
			SMSInfo      struct {
				Details struct{ Sender, Content string }
				Metrics []map[string]any
			} `json:"sms_info"`
		}
	}
	body := map[string]any{"application": harness.ShopApp, "filters": map[string]any{"platforms": []string{"SMS"}}, "params": map[string]any{"with_details": true, "with_metrics": true}}
	if st := postV2(t, e, "/api/v2/messages:list", harness.ShopToken, body, &list); st != 200 {
		t.Fatalf("messages:list: HTTP %d", st)
	}
	if list.Total != 1 || len(list.Items) != 1 || list.Items[0].Code != code || list.Items[0].SMSInfo.Details.Sender != "SHOP" ||
		list.Items[0].SMSInfo.Details.Content != "Stats" || len(list.Items[0].SMSInfo.Metrics) != 1 || list.Items[0].Platforms[0] != "SMS" {
		t.Fatalf("messages:list: %+v", list)
	}
	for _, tc := range []struct {
		path string
		body map[string]any
		want int
	}{
		{"/api/v2/statistics/messages/totalsByIntervals", map[string]any{}, 400},
		{"/api/v2/statistics/messages/totalsByIntervals", map[string]any{"message_code": "NOPE-00000000-00000000"}, 404},
		{"/api/v2/messages:list", map[string]any{"per_page": 0}, 400},
		{"/api/v2/messages:list", map[string]any{"filters": map[string]any{"date_range": map[string]any{"date_from": "01/11/2026"}}}, 400},
		{"/api/v2/messages:list", map[string]any{"application": harness.BankApp}, 403},
	} {
		var v map[string]any
		if st := postV2(t, e, tc.path, harness.ShopToken, tc.body, &v); st != tc.want || v["error"] == nil {
			t.Errorf("POST %s %v: HTTP %d %v, want %d with an error", tc.path, tc.body, st, v, tc.want)
		}
	}
	var v map[string]any
	if st := postV2(t, e, "/api/v2/statistics/messages/totalsByIntervals", harness.BankToken, map[string]any{"message_code": code}, &v); st != 404 {
		t.Errorf("another application's message: HTTP %d, want 404", st)
	}
}
