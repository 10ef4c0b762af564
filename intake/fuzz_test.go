package intake

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/smsfleet/smsfleet/dispatcher"
	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/redisx"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// FuzzServeJSON drives the Pushwoosh endpoint (/json/1.3/<method>), from
// the router through authentication to the handlers and a real
// redis-server, with arbitrary methods, bodies and Authorization headers:
// whatever comes in, the answer is a well-formed envelope whose
// status_code matches its HTTP status, never a 5xx and never a panic.
// The seeds (the bad inputs of the other tests, plus valid calls with each
// token) run under plain go test; fuzz with
//
//	go test ./intake/ -run '^$' -fuzz FuzzServeJSON -fuzztime 60s
func FuzzServeJSON(f *testing.F) {
	header := []string{"", "Token " + shopToken, "Token " + shopDev, "Token nope", "Bearer x", "Token "}
	seeds := []struct {
		method, body string
		header       int
	}{
		{"createMessage", `{"request":{"application":"SHOP1-00001","auth":"shop-server","notifications":[{"send_date":"now","content":"hi","devices":["+4915112000001"],"use_auto_registration":true}]}}`, 0},
		{"createMessage", `{"request":{"notifications":[{"send_date":"now","content":{"en":"hi","de":"hallo"},"users":["u1"]}]}}`, 1},
		{"createMessage", `{"request":{"notifications":[{"send_date":"2026-11-24 18:00","timezone":"Local","content":"x","devices":["+4915112000001"],"validity":18446744075}]}}`, 1},
		{"createMessage", `{"request":{"notifications":[{"send_date":"now","content":"hi\u0000","devices":["+4915112000001"]}]}}`, 1},
		{"createMessage", "{\"request\":{\"notifications\":[{\"send_date\":\"now\",\"content\":{\"en\":\"caf\xe9\"},\"devices\":[\"+4915112000001\"]}]}}", 1},
		{"createMessage", `{"request":{"notifications":{}}}`, 1},
		{"createMessage", `{"request":{"notifications":[{"send_date":5}]}}`, 1},
		{"registerDevice", `{"request":{"application":"OPEN1-00003","hwid":"+4915112000002","device_type":18,"tags":{"a":1,"b":["x"]}}}`, 0},
		{"registerDevice", `{"request":{"application":"SHOP1-00001","hwid":"+4915112000003","device_type":18,"language":"english please"}}`, 2},
		{"registerDevice", `{"request":{"application":"SHOP1-00001","hwid":"hello","device_type":18}}`, 2},
		{"setTags", `{"request":{"application":"SHOP1-00001","hwid":"+4915112000001","tags":{"k\u0000":"x"}}}`, 1},
		{"setTags", `{"request":{"application":"SHOP1-00001","hwid":"+4915112000001","tags":{"x":{}}}}`, 1},
		{"getTags", `{"request":{"application":"SHOP1-00001","hwid":"+4915112000001"}}`, 2},
		{"unregisterDevice", `{"request":{"application":"SHOP1-00001"}}`, 1},
		{"deleteMessage", `{"request":{"message":"0000-NOPE"}}`, 1},
		{"getMsgStats", `{"request":{"message":""}}`, 1},
		{"getResults", `{"request":{}}`, 1},
		{"createPreset", `{"request":{"name":"   ","content":"x"}}`, 1},
		{"getPreset", `{"request":{}}`, 1},
		{"listPresets", `{"request":{}}`, 1},
		{"deletePreset", `{"request":{"preset_code":""}}`, 1},
		{"createMessage", `{"request": `, 0},
		{"createMessage", `{"request": {}} {}`, 1},
		{"createMessage", `{"req": {}}`, 1},
		{"createMessage", `{"request": [1]}`, 1},
		{"createMessage", `[]`, 0},
		{"createMessage", `"x"`, 0},
		{"createMessage", `5`, 0},
		{"createMessage", `{"request":{"application":5}}`, 1},
		{"createMessage", `{"request":{"application":"NOPE","auth":"shop-server"}}`, 0},
		{"createMessage", `{"request":{"application":"BANK1-00002","auth":"shop-server"}}`, 0},
		{"createMessage", `{"request":{"auth":"nope"}}`, 3},
		{"createMessage", `{"request":{"pad":"` + strings.Repeat("x", 2000) + `","auth":"shop-server"}}`, 0},
		{"noSuchMethod", `{}`, 0},
		{"", ``, 4},
		{"getTags", ``, 5},
	}
	for _, s := range seeds {
		f.Add(s.method, s.body, s.header)
	}
	r := testenv.NewRedis(f)
	rdb := redisx.New(config.Redis{Addr: r.Addr})
	f.Cleanup(func() { _ = rdb.Close() })
	st := store.New(rdb, 24*time.Hour, store.WithClock(func() time.Time { return testNow }))
	if err := st.LoadScripts(context.Background()); err != nil {
		f.Fatal(err)
	}
	a := newAPIWith(st)
	q := asynq.NewClientFromRedisClient(rdb)
	a.Enqueuer = dispatcher.NewEnqueuer(st, q, 3, time.Minute, func() time.Time { return testNow })
	a.Inspector = asynq.NewInspectorFromRedisClient(rdb)
	mux := http.NewServeMux()
	a.Register(mux)
	f.Fuzz(func(t *testing.T, method, body string, h int) {
		if method == "" || strings.ContainsAny(method, "/?#%") || method == "." || method == ".." {
			return // another route, not this endpoint
		}
		req := httptest.NewRequest(http.MethodPost, "/json/1.3/x", strings.NewReader(body))
		req.URL.Path = "/json/1.3/" + method
		req.RemoteAddr = "192.0.2.99:1"
		if hv := header[((h%len(header))+len(header))%len(header)]; hv != "" {
			req.Header.Set("Authorization", hv)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
		}
		if rec.Code == http.StatusMovedPermanently || rec.Code == http.StatusTemporaryRedirect {
			return // the mux cleaning the path, before this endpoint
		}
		var env struct {
			StatusCode    *int            `json:"status_code"`
			StatusMessage *string         `json:"status_message"`
			Response      json.RawMessage `json:"response"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.StatusCode == nil || env.StatusMessage == nil {
			t.Fatalf("HTTP %d, not an envelope (%v): %s", rec.Code, err, rec.Body)
		}
		switch code := *env.StatusCode; {
		case code == codeArgument && rec.Code == http.StatusOK:
		case code == rec.Code:
		default:
			t.Fatalf("HTTP %d with status_code %d: %s", rec.Code, code, rec.Body)
		}
		if rec.Code != http.StatusOK && string(env.Response) != "null" {
			t.Fatalf("an error with a response: %s", rec.Body)
		}
	})
}
