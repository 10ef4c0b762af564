package charttest

import (
	"bytes"
	"fmt"
	"log"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// lanes are the asynq queues; KEDA scales the workers on their pending lists.
var lanes = []string{"otp", "transactional", "marketing", "dispatch"}

// TestLint runs Helm's linter (what `helm lint` does) with several value
// sets; an error or a warning fails. In lint mode Helm only logs `required`
// and `fail`, so the log is checked too.
func TestLint(t *testing.T) {
	var logged bytes.Buffer
	log.SetOutput(&logged)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	staged := stageChart(t)
	for name, vs := range map[string]valueSet{
		"base":     {},
		"keda":     {set: []string{"worker.keda.enabled=true"}},
		"ingress":  {set: []string{"ingress.enabled=true", "ingress.host=sms.example.com"}},
		"existing": {bare: true, yaml: "config: {redis: {addr: 'redis:6379'}, kafka: {brokers: ['kafka:9092']}}\nsecrets: {existingSecret: smsfleet-prod}\n"},
		"file":     {yaml: "config: {file: {providers: [{name: sim-a, kind: simulator, url: 'http://sim:8080/simulator'}]}}"},
	} {
		t.Run(name, func(t *testing.T) {
			logged.Reset()
			linter := lint.AllWithKubeVersion(staged, vs.values(t), namespace, kubeVersion)
			for _, m := range linter.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("lint: %s", m)
				}
			}
			for _, line := range strings.Split(logged.String(), "\n") {
				if strings.Contains(line, "[INFO] Fail:") || strings.Contains(line, "[INFO] Missing required value") || strings.Contains(line, "warning:") {
					t.Errorf("lint: %s", line)
				}
			}
		})
	}
}

// renderCase is one value set and what must hold when it is rendered.
type renderCase struct {
	name   string
	values valueSet
	caps   capabilities
	// roles are the Deployments that must be rendered (and no others).
	roles []string
	check func(t *testing.T, r *rendered)
}

var renderCases = []renderCase{
	{
		name:  "defaults",
		roles: roles,
		check: func(t *testing.T, r *rendered) {
			// The chart's own Secret, with exactly the keys that were set.
			s := get[*corev1.Secret](t, r, "Secret", fullname)
			wantKeys(t, "Secret data", s.Data, "SMSFLEET_APPLICATIONS", "SMSFLEET_MONITOR_PASSWORD")
			if got := string(s.Data["SMSFLEET_MONITOR_PASSWORD"]); got != "monitor-pass-123" {
				t.Errorf("SMSFLEET_MONITOR_PASSWORD = %q", got)
			}
			cm := get[*corev1.ConfigMap](t, r, "ConfigMap", fullname)
			for k, want := range map[string]string{
				"SMSFLEET_HTTP_ADDR":         "0.0.0.0:8080",
				"SMSFLEET_LOG_FORMAT":        "json",
				"SMSFLEET_SHUTDOWN_GRACE":    "25s",
				"SMSFLEET_REDIS_ADDR":        "redis-master.data:6379",
				"SMSFLEET_REDIS_DB":          "0",
				"SMSFLEET_REDIS_TLS":         "false",
				"SMSFLEET_KAFKA_BROKERS":     "kafka-0.kafka:9092,kafka-1.kafka:9092",
				"SMSFLEET_MONITOR_AUTH":      "basic",
				"SMSFLEET_MONITOR_READ_ONLY": "true",
			} {
				if cm.Data[k] != want {
					t.Errorf("ConfigMap %s = %q, want %q", k, cm.Data[k], want)
				}
			}
			for _, k := range []string{"SMSFLEET_CONFIG", "SMSFLEET_PUBLIC_URL", "SMSFLEET_REDIS_PASSWORD", "SMSFLEET_APPLICATIONS"} {
				if _, ok := cm.Data[k]; ok {
					t.Errorf("ConfigMap has %s", k)
				}
			}
			for _, role := range roles {
				d := r.deployment(t, role)
				if d.Spec.Replicas == nil {
					t.Errorf("%s: no replicas without an autoscaler", role)
				}
				if !r.has("Service", fullname+"-"+role) || !r.has("PodDisruptionBudget", fullname+"-"+role) {
					t.Errorf("%s: Service or PodDisruptionBudget missing", role)
				}
			}
			for _, kind := range []string{"HorizontalPodAutoscaler", "ScaledObject", "Ingress", "ServiceMonitor", "PrometheusRule"} {
				if n := r.names(kind); len(n) > 0 {
					t.Errorf("%s rendered by default: %v", kind, n)
				}
			}
			pdb := get[*policyv1.PodDisruptionBudget](t, r, "PodDisruptionBudget", fullname+"-worker")
			if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
				t.Errorf("worker PDB maxUnavailable = %v", pdb.Spec.MaxUnavailable)
			}
			if !strings.Contains(r.notes, "port-forward svc/"+fullname+"-api 8080:8080") ||
				!strings.Contains(r.notes, "port-forward svc/"+fullname+"-monitor 8081:8080") ||
				!strings.Contains(r.notes, "/monitoring/") {
				t.Errorf("NOTES lack the port-forward commands:\n%s", r.notes)
			}
		},
	},
	{
		name:   "monitor off",
		values: valueSet{set: []string{"monitor.enabled=false", "ingress.enabled=true", "ingress.host=sms.example.com"}},
		caps:   withPromOperator,
		roles:  []string{"api", "worker", "receipts"},
		check: func(t *testing.T, r *rendered) {
			for _, kind := range []string{"Service", "PodDisruptionBudget"} {
				if r.has(kind, fullname+"-monitor") {
					t.Errorf("%s of the monitor rendered", kind)
				}
			}
			ing := get[*networkingv1.Ingress](t, r, "Ingress", fullname)
			paths := ingressPaths(ing)
			if _, ok := paths["sms.example.com/monitoring"]; ok {
				t.Errorf("ingress still routes /monitoring: %v", paths)
			}
			if paths["sms.example.com/json"] != fullname+"-api" {
				t.Errorf("ingress paths %v", paths)
			}
			// Without the monitor nothing exports asynq_queue_latency_seconds.
			pr := get[*PrometheusRule](t, r, "PrometheusRule", fullname)
			if n := len(rulesNamed(pr, "SmsfleetQueueLatencyHigh")); n != 0 {
				t.Errorf("%d queue latency rules without the monitor", n)
			}
			if strings.Contains(r.notes, "Asynq web monitor") {
				t.Errorf("NOTES mention the monitor:\n%s", r.notes)
			}
		},
	},
	{
		name:   "KEDA on",
		values: valueSet{set: []string{"worker.keda.enabled=true", "worker.autoscaling.enabled=true", "api.autoscaling.enabled=true", "secrets.redisPassword=redis-pass", "config.redis.db=2"}},
		roles:  roles,
		check: func(t *testing.T, r *rendered) {
			so := get[*ScaledObject](t, r, "ScaledObject", fullname+"-worker")
			if so.Spec.ScaleTargetRef.Name != fullname+"-worker" || so.Spec.ScaleTargetRef.Kind != "Deployment" {
				t.Errorf("scaleTargetRef = %+v", so.Spec.ScaleTargetRef)
			}
			var lists []string
			for _, tr := range so.Spec.Triggers {
				if tr.Type != "redis" {
					t.Errorf("trigger type %q", tr.Type)
				}
				m := tr.Metadata
				if m["address"] != "redis-master.data:6379" || m["databaseIndex"] != "2" || m["listLength"] == "" || m["passwordFromEnv"] != "SMSFLEET_REDIS_PASSWORD" {
					t.Errorf("trigger %s metadata = %v", tr.Name, m)
				}
				lists = append(lists, m["listName"])
			}
			want := []string{"asynq:{otp}:pending", "asynq:{transactional}:pending", "asynq:{marketing}:pending", "asynq:{dispatch}:pending"}
			if !slices.Equal(lists, want) {
				t.Errorf("trigger lists = %v, want %v", lists, want)
			}
			// KEDA owns the worker's HPA; the chart renders only the api's.
			if got := r.names("HorizontalPodAutoscaler"); !slices.Equal(got, []string{fullname + "-api"}) {
				t.Errorf("HPAs = %v, want only the api's", got)
			}
			if d := r.deployment(t, "worker"); d.Spec.Replicas != nil {
				t.Errorf("worker replicas = %d under KEDA", *d.Spec.Replicas)
			}
			if d := r.deployment(t, "api"); d.Spec.Replicas != nil {
				t.Errorf("api replicas = %d under its HPA", *d.Spec.Replicas)
			}
			hpa := get[*autoscalingv2.HorizontalPodAutoscaler](t, r, "HorizontalPodAutoscaler", fullname+"-api")
			if hpa.Spec.ScaleTargetRef.Name != fullname+"-api" || hpa.Spec.MaxReplicas != 10 || len(hpa.Spec.Metrics) != 1 {
				t.Errorf("api HPA spec = %+v", hpa.Spec)
			}
		},
	},
	{
		name:   "worker HPA without KEDA",
		values: valueSet{set: []string{"worker.autoscaling.enabled=true", "worker.autoscaling.targetMemoryUtilizationPercentage=80"}},
		roles:  roles,
		check: func(t *testing.T, r *rendered) {
			hpa := get[*autoscalingv2.HorizontalPodAutoscaler](t, r, "HorizontalPodAutoscaler", fullname+"-worker")
			if len(hpa.Spec.Metrics) != 2 || hpa.Spec.ScaleTargetRef.Name != fullname+"-worker" {
				t.Errorf("worker HPA = %+v", hpa.Spec)
			}
			if r.has("ScaledObject", fullname+"-worker") {
				t.Error("ScaledObject without KEDA")
			}
		},
	},
	{
		name:   "existing secret",
		values: valueSet{bare: true, yaml: "config: {redis: {addr: 'redis:6379'}, kafka: {brokers: ['kafka:9092']}}\nsecrets: {existingSecret: smsfleet-prod}\n"},
		roles:  roles,
		check: func(t *testing.T, r *rendered) {
			if n := r.names("Secret"); len(n) != 0 {
				t.Errorf("Secrets rendered with existingSecret: %v", n)
			}
			for _, role := range roles {
				refs := secretRefs(r.deployment(t, role))
				if !slices.Equal(refs, []string{"smsfleet-prod"}) {
					t.Errorf("%s loads Secrets %v, want [smsfleet-prod]", role, refs)
				}
			}
			if !strings.Contains(r.notes, "get secret smsfleet-prod") {
				t.Errorf("NOTES do not name the existing Secret:\n%s", r.notes)
			}
		},
	},
	{
		name: "prometheus operator API present",
		values: valueSet{
			set:  []string{"metrics.serviceMonitor.labels.release=kube-prometheus-stack"},
			yaml: "metrics: {prometheusRule: {deliveryRate: {threshold: 0.9}}}", // --set keeps 0.9 a string
		},
		caps:  withPromOperator,
		roles: roles,
		check: func(t *testing.T, r *rendered) {
			sm := get[*ServiceMonitor](t, r, "ServiceMonitor", fullname)
			if sm.Labels["release"] != "kube-prometheus-stack" {
				t.Errorf("ServiceMonitor labels = %v", sm.Labels)
			}
			if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "http" || sm.Spec.Endpoints[0].Path != "/metrics" {
				t.Errorf("ServiceMonitor endpoints = %+v", sm.Spec.Endpoints)
			}
			// The selectors pick every role's Service, each once, and only
			// this release's: the monitor's /metrics needs the monitor's
			// basic auth (issue 13, item 10), so its own ServiceMonitor
			// sends the credentials and the other one leaves it out.
			mon := get[*ServiceMonitor](t, r, "ServiceMonitor", fullname+"-monitor")
			for _, role := range roles {
				svc := get[*corev1.Service](t, r, "Service", fullname+"-"+role)
				picked := 0
				for _, m := range []*ServiceMonitor{sm, mon} {
					sel, err := metav1.LabelSelectorAsSelector(&m.Spec.Selector)
					if err != nil {
						t.Fatalf("ServiceMonitor %s selector: %v", m.Name, err)
					}
					if sel.Matches(labels.Set(svc.Labels)) {
						picked++
						if (m == mon) != (role == "monitor") {
							t.Errorf("ServiceMonitor %s picks the %s Service", m.Name, role)
						}
					}
				}
				if picked != 1 {
					t.Errorf("the %s Service is picked by %d ServiceMonitors, want 1 (%v)", role, picked, svc.Labels)
				}
			}
			if sm.Spec.Selector.MatchLabels["app.kubernetes.io/instance"] != releaseName || mon.Spec.Selector.MatchLabels["app.kubernetes.io/instance"] != releaseName {
				t.Errorf("ServiceMonitor selectors = %v, %v", sm.Spec.Selector.MatchLabels, mon.Spec.Selector.MatchLabels)
			}
			if sm.Spec.Endpoints[0].BasicAuth != nil {
				t.Errorf("the roles' ServiceMonitor sends credentials: %+v", sm.Spec.Endpoints[0].BasicAuth)
			}
			if len(mon.Spec.Endpoints) != 1 || mon.Spec.Endpoints[0].Path != "/metrics" || mon.Spec.Endpoints[0].BasicAuth == nil {
				t.Fatalf("monitor ServiceMonitor endpoints = %+v, want /metrics with basicAuth", mon.Spec.Endpoints)
			}
			ba := mon.Spec.Endpoints[0].BasicAuth
			scrape := get[*corev1.Secret](t, r, "Secret", fullname+"-metrics-auth")
			if ba.Username.Name != scrape.Name || ba.Password.Name != scrape.Name ||
				string(scrape.Data[ba.Username.Key]) != "admin" || string(scrape.Data[ba.Password.Key]) != "monitor-pass-123" {
				t.Errorf("monitor scrape credentials %+v from Secret %s %v, want the monitor's user and password", ba, scrape.Name, scrape.Data)
			}
			pr := get[*PrometheusRule](t, r, "PrometheusRule", fullname)
			anchors := map[string]string{
				"SmsfleetQueueLatencyHigh":      "#alert-smsfleetqueuelatencyhigh",
				"SmsfleetBreakerOpen":           "#alert-smsfleetbreakeropen",
				"SmsfleetDeliveryRateDrop":      "#alert-smsfleetdeliveryratedrop",
				"SmsfleetReceiptsLag":           "#alert-smsfleetreceiptslag",
				"SmsfleetOutcomeGroupRecreated": "#alert-smsfleetoutcomegrouprecreated",
			}
			for alert, anchor := range anchors {
				rules := rulesNamed(pr, alert)
				if len(rules) == 0 {
					t.Errorf("no %s rule", alert)
				}
				for _, rule := range rules {
					if !strings.HasSuffix(rule.Annotations["runbook_url"], "docs/operations.md"+anchor) {
						t.Errorf("%s runbook_url = %q", alert, rule.Annotations["runbook_url"])
					}
					if rule.Annotations["summary"] == "" || rule.Annotations["description"] == "" || rule.Labels["severity"] == "" || rule.For == "" {
						t.Errorf("%s lacks summary, description, severity or for: %+v", alert, rule)
					}
					if !strings.Contains(rule.Expr, `namespace="sms"`) {
						t.Errorf("%s is not scoped to the release: %s", alert, rule.Expr)
					}
				}
			}
			ql := rulesNamed(pr, "SmsfleetQueueLatencyHigh")
			if len(ql) != len(lanes) {
				t.Fatalf("%d queue latency rules, want one per lane", len(ql))
			}
			otp := ql[0]
			if otp.Labels["lane"] != "otp" || otp.For != "2m" || !strings.Contains(otp.Expr, `asynq_queue_latency_seconds{`) || !strings.Contains(otp.Expr, `queue=~"otp([.][0-9]+)?"}) > 30`) {
				t.Errorf("otp latency rule = %+v", otp)
			}
			if br := rulesNamed(pr, "SmsfleetBreakerOpen")[0]; !strings.Contains(br.Expr, "smsfleet_breaker_state{") || !strings.HasSuffix(br.Expr, "== 2") || br.For != "5m" {
				t.Errorf("breaker rule = %+v", br)
			}
			dr := rulesNamed(pr, "SmsfleetDeliveryRateDrop")[0]
			for _, want := range []string{`smsfleet_sms_outcomes_total{`, `outcome="delivered"`, `outcome=~"delivered|undelivered|unknown"`, "[30m]", ") < 0.9", ">= 100"} {
				if !strings.Contains(dr.Expr, want) {
					t.Errorf("delivery rate rule lacks %q: %s", want, dr.Expr)
				}
			}
			if rl := rulesNamed(pr, "SmsfleetReceiptsLag")[0]; !strings.Contains(rl.Expr, "smsfleet_receipts_consumer_lag{") || rl.For != "10m" {
				t.Errorf("receipts lag rule = %+v", rl)
			}
			if og := rulesNamed(pr, "SmsfleetOutcomeGroupRecreated"); len(og) != 1 || !strings.Contains(og[0].Expr, "increase(smsfleet_outcomes_group_recreated_total{") || !strings.HasSuffix(og[0].Expr, "> 0") || og[0].Labels["severity"] != "critical" {
				t.Errorf("outcome group rule = %+v", og)
			}
			for _, rule := range allRules(pr) {
				if err := balanced(rule.Expr); err != nil {
					t.Errorf("%s: %v: %s", rule.Alert, err, rule.Expr)
				}
			}
		},
	},
	{
		name:   "prometheus operator API absent",
		values: valueSet{set: []string{"metrics.serviceMonitor.enabled=true", "metrics.prometheusRule.enabled=true"}},
		roles:  roles,
		check: func(t *testing.T, r *rendered) {
			if r.has("ServiceMonitor", fullname) || r.has("PrometheusRule", fullname) {
				t.Error("Prometheus Operator objects rendered without the API")
			}
			if !strings.Contains(r.notes, "--api-versions monitoring.coreos.com/v1") {
				t.Errorf("NOTES do not explain the missing ServiceMonitor:\n%s", r.notes)
			}
		},
	},
	{
		name:   "prometheus operator API present, toggles off",
		values: valueSet{set: []string{"metrics.serviceMonitor.enabled=false", "metrics.prometheusRule.enabled=false"}},
		caps:   withPromOperator,
		roles:  roles,
		check: func(t *testing.T, r *rendered) {
			if r.has("ServiceMonitor", fullname) || r.has("PrometheusRule", fullname) {
				t.Error("Prometheus Operator objects rendered with their toggles off")
			}
		},
	},
	{
		name: "ingress on",
		values: valueSet{yaml: `
ingress:
  enabled: true
  className: nginx
  host: sms.example.com
  tls: [{secretName: sms-tls, hosts: [sms.example.com, ops.example.com]}]
  monitor: {host: ops.example.com}
config: {publicURL: "https://sms.example.com"}
`},
		roles: roles,
		check: func(t *testing.T, r *rendered) {
			ing := get[*networkingv1.Ingress](t, r, "Ingress", fullname)
			if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" || len(ing.Spec.TLS) != 1 {
				t.Errorf("ingress spec = %+v", ing.Spec)
			}
			want := map[string]string{
				"sms.example.com/json":       fullname + "-api",
				"sms.example.com/api":        fullname + "-api",
				"sms.example.com/webhooks":   fullname + "-receipts",
				"ops.example.com/monitoring": fullname + "-monitor",
			}
			if got := ingressPaths(ing); !maps.Equal(got, want) {
				t.Errorf("ingress paths = %v, want %v", got, want)
			}
			for _, rule := range ing.Spec.Rules {
				for _, p := range rule.HTTP.Paths {
					if p.PathType == nil || *p.PathType != networkingv1.PathTypePrefix || p.Backend.Service.Port.Name != "http" {
						t.Errorf("ingress path %+v", p)
					}
				}
			}
			if !strings.Contains(r.notes, "https://sms.example.com/json/1.3/") || !strings.Contains(r.notes, "https://ops.example.com/monitoring/") {
				t.Errorf("NOTES lack the ingress URLs:\n%s", r.notes)
			}
			if cm := get[*corev1.ConfigMap](t, r, "ConfigMap", fullname); cm.Data["SMSFLEET_PUBLIC_URL"] != "https://sms.example.com" {
				t.Errorf("SMSFLEET_PUBLIC_URL = %q", cm.Data["SMSFLEET_PUBLIC_URL"])
			}
		},
	},
	{
		name:   "receipts and api off",
		values: valueSet{bare: true, yaml: "config: {redis: {addr: 'redis:6379'}}\nsecrets: {monitorPassword: pw}\napi: {enabled: false}\nreceipts: {enabled: false}\ningress: {enabled: true}\n"},
		caps:   withPromOperator,
		roles:  []string{"worker", "monitor"},
		check: func(t *testing.T, r *rendered) {
			ing := get[*networkingv1.Ingress](t, r, "Ingress", fullname)
			if got := ingressPaths(ing); !maps.Equal(got, map[string]string{"/monitoring": fullname + "-monitor"}) {
				t.Errorf("ingress paths = %v", got)
			}
			if cm := get[*corev1.ConfigMap](t, r, "ConfigMap", fullname); cm.Data["SMSFLEET_KAFKA_BROKERS"] != "" {
				t.Errorf("Kafka brokers without receipts: %q", cm.Data["SMSFLEET_KAFKA_BROKERS"])
			}
			if len(rulesNamed(get[*PrometheusRule](t, r, "PrometheusRule", fullname), "SmsfleetReceiptsLag")) != 0 {
				t.Error("receipts lag alert without receipts")
			}
		},
	},
	{
		name: "config file and extra env",
		values: valueSet{yaml: `
config:
  shutdownGraceSeconds: 40
  terminationGraceExtraSeconds: 10
  logLevel: debug
  env: {SMSFLEET_QUIET_HOURS: "21:00-09:00"}
  file:
    providers:
      - {name: twilio-eu, kind: twilio, url: "https://api.twilio.com", account_sid_env: TWILIO_SID, auth_token_env: TWILIO_TOKEN}
    route: {providers: [twilio-eu]}
secrets:
  env: {TWILIO_SID: AC123, TWILIO_TOKEN: tok}
extraEnv:
  - {name: GOMEMLIMIT, valueFrom: {resourceFieldRef: {resource: limits.memory}}}
worker:
  extraEnv: [{name: SMSFLEET_WORKER_MAX_ATTEMPTS, value: "5"}]
image: {digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
`},
		roles: roles,
		check: func(t *testing.T, r *rendered) {
			cm := get[*corev1.ConfigMap](t, r, "ConfigMap", fullname)
			if cm.Data["SMSFLEET_CONFIG"] != "/etc/smsfleet/config.yaml" || cm.Data["SMSFLEET_SHUTDOWN_GRACE"] != "40s" || cm.Data["SMSFLEET_QUIET_HOURS"] != "21:00-09:00" {
				t.Errorf("ConfigMap data = %v", cm.Data)
			}
			file := get[*corev1.ConfigMap](t, r, "ConfigMap", fullname+"-file")
			if !strings.Contains(file.Data["config.yaml"], "account_sid_env: TWILIO_SID") {
				t.Errorf("config.yaml = %q", file.Data["config.yaml"])
			}
			s := get[*corev1.Secret](t, r, "Secret", fullname)
			wantKeys(t, "Secret data", s.Data, "SMSFLEET_APPLICATIONS", "SMSFLEET_MONITOR_PASSWORD", "TWILIO_SID", "TWILIO_TOKEN")
			for _, role := range roles {
				d := r.deployment(t, role)
				spec := d.Spec.Template.Spec
				if *spec.TerminationGracePeriodSeconds != 50 {
					t.Errorf("%s terminationGracePeriodSeconds = %d, want 40+10", role, *spec.TerminationGracePeriodSeconds)
				}
				c := spec.Containers[0]
				if !hasMount(c, "config", "/etc/smsfleet") || !hasConfigMapVolume(spec, "config", fullname+"-file") {
					t.Errorf("%s does not mount the config file: %+v %+v", role, c.VolumeMounts, spec.Volumes)
				}
				if c.Image != "ghcr.io/smsfleet/smsfleet@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" {
					t.Errorf("%s image = %s", role, c.Image)
				}
				var env []string
				for _, e := range c.Env {
					env = append(env, e.Name)
				}
				want := []string{"GOMEMLIMIT"}
				if role == "worker" {
					want = append(want, "SMSFLEET_WORKER_MAX_ATTEMPTS")
				}
				if !slices.Equal(env, want) {
					t.Errorf("%s env = %v, want %v", role, env, want)
				}
			}
		},
	},
	{

		name:   "config file as text (--set-file)",
		values: valueSet{yaml: "config:\n  file: |\n    route:\n      providers: [sim-a, sim-b]\n"},
		roles:  roles,
		check: func(t *testing.T, r *rendered) {
			file := get[*corev1.ConfigMap](t, r, "ConfigMap", fullname+"-file")
			if got := strings.TrimSpace(file.Data["config.yaml"]); got != "route:\n  providers: [sim-a, sim-b]" {
				t.Errorf("config.yaml = %q", got)
			}
			if cm := get[*corev1.ConfigMap](t, r, "ConfigMap", fullname); cm.Data["SMSFLEET_CONFIG"] != "/etc/smsfleet/config.yaml" {
				t.Errorf("SMSFLEET_CONFIG = %q", cm.Data["SMSFLEET_CONFIG"])
			}
		},
	},
}

// TestRender renders the chart with each value set, decodes every manifest
// strictly and checks the facts every Deployment must satisfy plus the
// case's own.
func TestRender(t *testing.T) {
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := render(t, tc.values, tc.caps)
			if got, want := r.names("Deployment"), deploymentNames(tc.roles); !slices.Equal(got, want) {
				t.Fatalf("Deployments = %v, want %v", got, want)
			}
			secretName := fullname
			if s := tc.values.values(t)["secrets"].(map[string]any)["existingSecret"]; s != nil && s != "" {
				secretName = s.(string)
			}
			for _, role := range tc.roles {
				checkDeployment(t, r, role, secretName)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

// checkDeployment checks what every role's Deployment must satisfy.
func checkDeployment(t *testing.T, r *rendered, role, secretName string) {
	t.Helper()
	d := r.deployment(t, role)
	checkComponentLabels(t, "Deployment "+role, d.Labels, role)
	checkComponentLabels(t, "pod template of "+role, d.Spec.Template.Labels, role)
	for k, v := range d.Spec.Selector.MatchLabels {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("%s: selector %s=%s does not match the pod template", role, k, v)
		}
	}
	if _, ok := d.Spec.Selector.MatchLabels["app.kubernetes.io/version"]; ok {
		t.Errorf("%s: the selector holds the version (immutable across upgrades)", role)
	}
	if svc, ok := r.objects["Service"][d.Name].(*corev1.Service); !ok {
		t.Errorf("%s: no Service", role)
	} else if !maps.Equal(svc.Spec.Selector, d.Spec.Selector.MatchLabels) || svc.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("%s: Service selector %v / ports %+v do not reach the pods", role, svc.Spec.Selector, svc.Spec.Ports)
	}

	ann := d.Spec.Template.Annotations
	for _, k := range []string{"checksum/config", "checksum/secret"} {
		if len(ann[k]) != 64 {
			t.Errorf("%s: annotation %s = %q, want a sha256", role, k, ann[k])
		}
	}

	spec := d.Spec.Template.Spec
	if len(spec.Containers) != 1 || len(spec.InitContainers) != 0 {
		t.Fatalf("%s: %d containers, %d init containers", role, len(spec.Containers), len(spec.InitContainers))
	}
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod security context is not restricted: %+v", role, psc)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: the service account token is mounted", role)
	}
	grace, err := time.ParseDuration(get[*corev1.ConfigMap](t, r, "ConfigMap", fullname).Data["SMSFLEET_SHUTDOWN_GRACE"])
	if err != nil {
		t.Errorf("SMSFLEET_SHUTDOWN_GRACE: %v", err)
	}
	if spec.TerminationGracePeriodSeconds == nil || time.Duration(*spec.TerminationGracePeriodSeconds)*time.Second <= grace {
		t.Errorf("%s: terminationGracePeriodSeconds %v is not above SMSFLEET_SHUTDOWN_GRACE %v", role, spec.TerminationGracePeriodSeconds, grace)
	}

	c := spec.Containers[0]
	if c.Name != role || !slices.Equal(c.Args, []string{role}) || len(c.Command) != 0 {
		t.Errorf("%s: container %q runs command %v args %v, want args [%s]", role, c.Name, c.Command, c.Args, role)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("%s: ports %+v, want http 8080", role, c.Ports)
	}
	checkProbe(t, role+" liveness", c.LivenessProbe, "/healthz")
	checkProbe(t, role+" readiness", c.ReadinessProbe, "/readyz")
	sc := c.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532 ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Privileged != nil && *sc.Privileged ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: container security context is not restricted: %+v", role, sc)
	}
	if !hasMount(c, "tmp", "/tmp") || !hasEmptyDir(spec, "tmp") {
		t.Errorf("%s: no emptyDir at /tmp: %+v %+v", role, c.VolumeMounts, spec.Volumes)
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("%s: no memory request and limit: %+v", role, c.Resources)
	}

	// The environment comes from the ConfigMap and the Secret, which exist.
	var cms []string
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil {
			cms = append(cms, ef.ConfigMapRef.Name)
		}
	}
	if !slices.Equal(cms, []string{fullname}) || !r.has("ConfigMap", fullname) {
		t.Errorf("%s: loads ConfigMaps %v, want [%s] (rendered: %v)", role, cms, fullname, r.names("ConfigMap"))
	}
	if refs := secretRefs(d); !slices.Equal(refs, []string{secretName}) {
		t.Errorf("%s: loads Secrets %v, want [%s]", role, refs, secretName)
	}
	if secretName == fullname && !r.has("Secret", fullname) {
		t.Errorf("%s: loads Secret %s, which is not rendered", role, fullname)
	}
	if spec.ServiceAccountName != fullname || !r.has("ServiceAccount", fullname) {
		t.Errorf("%s: service account %q (rendered: %v)", role, spec.ServiceAccountName, r.names("ServiceAccount"))
	}
}

func checkProbe(t *testing.T, what string, p *corev1.Probe, path string) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s: no HTTP probe", what)
		return
	}
	if p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "http" {
		t.Errorf("%s probe = GET %s on %s, want GET %s on http", what, p.HTTPGet.Path, p.HTTPGet.Port.String(), path)
	}
	if p.PeriodSeconds < 1 || p.TimeoutSeconds < 1 || p.FailureThreshold < 1 {
		t.Errorf("%s probe timings %+v", what, p)
	}
}

// standardLabels are the labels every object carries.
var standardLabels = map[string]string{
	"app.kubernetes.io/name":       "smsfleet",
	"app.kubernetes.io/instance":   releaseName,
	"app.kubernetes.io/version":    "0.1.0",
	"app.kubernetes.io/managed-by": "Helm",
	"app.kubernetes.io/part-of":    "smsfleet",
	"helm.sh/chart":                "smsfleet-0.1.0",
}

// checkMeta checks what every rendered object must satisfy: a valid name in
// the release namespace and the standard labels, all valid.
func checkMeta(t testing.TB, key string, m *metav1.ObjectMeta) {
	t.Helper()
	if errs := validation.IsDNS1123Subdomain(m.Name); len(errs) > 0 {
		t.Errorf("%s: name: %v", key, errs)
	}
	if m.Namespace != namespace {
		t.Errorf("%s: namespace %q, want %q", key, m.Namespace, namespace)
	}
	for k, want := range standardLabels {
		if m.Labels[k] != want {
			t.Errorf("%s: label %s = %q, want %q", key, k, m.Labels[k], want)
		}
	}
	for k, v := range m.Labels {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			t.Errorf("%s: label key %q: %v", key, k, errs)
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			t.Errorf("%s: label %s value %q: %v", key, k, v, errs)
		}
	}
}

func checkComponentLabels(t *testing.T, what string, labels map[string]string, role string) {
	t.Helper()
	for k, want := range standardLabels {
		if labels[k] != want {
			t.Errorf("%s: label %s = %q, want %q", what, k, labels[k], want)
		}
	}
	if labels["app.kubernetes.io/component"] != role {
		t.Errorf("%s: component label %q", what, labels["app.kubernetes.io/component"])
	}
}

// TestChecksums checks that the checksum annotations change exactly when the
// ConfigMap or the Secret does, so a config change rolls the pods.
func TestChecksums(t *testing.T) {
	annotations := func(vs valueSet) (config, secret string) {
		r := render(t, vs, capabilities{})
		a := r.deployment(t, "worker").Spec.Template.Annotations
		for _, role := range roles {
			b := r.deployment(t, role).Spec.Template.Annotations
			if b["checksum/config"] != a["checksum/config"] || b["checksum/secret"] != a["checksum/secret"] {
				t.Errorf("%s checksums differ from the worker's", role)
			}
		}
		return a["checksum/config"], a["checksum/secret"]
	}
	baseConfig, baseSecret := annotations(valueSet{})
	for _, tc := range []struct {
		name                      string
		set                       []string
		configChanges, secretChgs bool
	}{
		{"same values", nil, false, false},
		{"log level", []string{"config.logLevel=debug"}, true, false},
		{"redis address", []string{"config.redis.addr=redis-2:6379"}, true, false},
		{"config file", []string{"config.file.rate_limits=default=10"}, true, false},
		{"applications", []string{"secrets.applications=SHOP1-00001:another-token-1"}, false, true},
		{"provider credential", []string{"secrets.env.TWILIO_TOKEN=tok"}, false, true},
		{"replicas only", []string{"api.replicaCount=5"}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			config, secret := annotations(valueSet{set: tc.set})
			if (config != baseConfig) != tc.configChanges {
				t.Errorf("checksum/config changed: %v, want %v", config != baseConfig, tc.configChanges)
			}
			if (secret != baseSecret) != tc.secretChgs {
				t.Errorf("checksum/secret changed: %v, want %v", secret != baseSecret, tc.secretChgs)
			}
		})
	}
}

// TestSchemaRejects checks that values.schema.json rejects bad values with
// a message naming the value.
func TestSchemaRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		vs   valueSet
		want []string // each must appear in the error
	}{
		{"negative replicas", valueSet{set: []string{"api.replicaCount=-1"}}, []string{"/api/replicaCount", "minimum"}},
		{"replicas of the wrong type", valueSet{set: []string{"worker.replicaCount=many"}}, []string{"/worker/replicaCount", "integer"}},
		{"unknown top-level key", valueSet{set: []string{"replicas=3"}}, []string{"replicas"}},
		{"unknown nested key", valueSet{set: []string{"worker.keda.enable=true"}}, []string{"/worker/keda", "enable"}},
		{"typo in a role", valueSet{set: []string{"api.replicacount=3"}}, []string{"/api", "replicacount"}},
		{"bad lane", valueSet{yaml: "worker: {keda: {lanes: [{name: bulk, listLength: 5}]}}"}, []string{"/worker/keda/lanes/0/name", "otp"}},
		{"zero list length", valueSet{yaml: "worker: {keda: {lanes: [{name: otp, listLength: 0}]}}"}, []string{"/worker/keda/lanes/0/listLength", "minimum"}},
		{"bad log format", valueSet{set: []string{"config.logFormat=text"}}, []string{"/config/logFormat", "json"}},
		{"bad log level", valueSet{set: []string{"config.logLevel=verbose"}}, []string{"/config/logLevel"}},
		{"bad monitor auth", valueSet{set: []string{"config.monitor.auth=oauth"}}, []string{"/config/monitor/auth", "basic"}},
		{"read-only as a string", valueSet{set: []string{"config.monitor.readOnly=yes"}}, []string{"/config/monitor/readOnly", "boolean"}},
		{"brokers as a string", valueSet{set: []string{"config.kafka.brokers=kafka:9092"}}, []string{"/config/kafka/brokers", "array"}},
		{"broker without port", valueSet{yaml: "config: {kafka: {brokers: [kafka]}}"}, []string{"/config/kafka/brokers/0"}},
		{"redis address without port", valueSet{set: []string{"config.redis.addr=redis"}}, []string{"/config/redis/addr"}},
		{"zero shutdown grace", valueSet{set: []string{"config.shutdownGraceSeconds=0"}}, []string{"/config/shutdownGraceSeconds", "minimum"}},
		{"bad delivery wait", valueSet{set: []string{"config.deliveryWait=1 day"}}, []string{"/config/deliveryWait"}},
		{"bad text retention", valueSet{set: []string{"config.textRetention=1 week"}}, []string{"/config/textRetention"}},
		{"bad number retention", valueSet{set: []string{"config.numberRetention=7d"}}, []string{"/config/numberRetention"}},
		{"inline number hash key in the config file", valueSet{yaml: "config: {file: {applications: [{code: SHOP1-00001, number_hash_key: secret-key}]}}"}, []string{"/config/file/applications/0/number_hash_key"}},
		{"unknown config file key", valueSet{set: []string{"config.file.provider=x"}}, []string{"/config/file", "provider"}},
		{"bad provider kind", valueSet{yaml: "config: {file: {providers: [{name: a, kind: sendgrid}]}}"}, []string{"/config/file/providers/0/kind"}},
		{"inline token in the config file", valueSet{yaml: "config: {file: {applications: [{code: SHOP1-00001, server_token: secret-token}]}}"}, []string{"/config/file/applications/0/server_token"}},
		{"numeric extra env", valueSet{yaml: "config: {env: {SMSFLEET_MAX_SEGMENTS: 4}}"}, []string{"/config/env/SMSFLEET_MAX_SEGMENTS", "string"}},
		{"bad secret env name", valueSet{yaml: "secrets: {env: {'twilio-token': x}}"}, []string{"/secrets/env", "twilio-token"}},
		{"extra env without a name", valueSet{yaml: "extraEnv: [{value: x}]"}, []string{"/extraEnv/0", "name"}},
		{"bad pull policy", valueSet{set: []string{"image.pullPolicy=Sometimes"}}, []string{"/image/pullPolicy"}},
		{"bad digest", valueSet{set: []string{"image.digest=latest"}}, []string{"/image/digest"}},
		{"bad service port", valueSet{set: []string{"api.service.port=70000"}}, []string{"/api/service/port", "maximum"}},
		{"bad service type", valueSet{set: []string{"api.service.type=Internal"}}, []string{"/api/service/type"}},
		{"bad pdb", valueSet{set: []string{"worker.pdb.maxUnavailable=half"}}, []string{"/worker/pdb/maxUnavailable"}},
		{"autoscaling on receipts", valueSet{set: []string{"receipts.autoscaling.enabled=true"}}, []string{"/receipts", "autoscaling"}},
		{"bad severity", valueSet{set: []string{"metrics.prometheusRule.breakerOpen.severity=page"}}, []string{"/metrics/prometheusRule/breakerOpen/severity"}},
		{"delivery threshold above 1", valueSet{set: []string{"metrics.prometheusRule.deliveryRate.threshold=80"}}, []string{"/metrics/prometheusRule/deliveryRate/threshold", "maximum"}},
		{"bad alert duration", valueSet{set: []string{"metrics.prometheusRule.receiptsLag.for=10 minutes"}}, []string{"/metrics/prometheusRule/receiptsLag/for"}},
		{"unknown lane threshold", valueSet{set: []string{"metrics.prometheusRule.queueLatency.bulk.for=5m"}}, []string{"/metrics/prometheusRule/queueLatency", "bulk"}},
		{"zero lane shards", valueSet{set: []string{"config.laneShards=0"}}, []string{"/config/laneShards", "minimum"}},
		{"too many lane shards", valueSet{set: []string{"config.laneShards=257"}}, []string{"/config/laneShards", "maximum"}},
		{"bad resource quantity", valueSet{set: []string{"api.resources.limits.memory=lots"}}, []string{"/api/resources/limits/memory"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := renderChart(t, tc.vs, capabilities{})
			if err == nil {
				t.Fatal("rendered; want a schema error")
			}
			msg := err.Error()
			if !strings.Contains(msg, "schema") {
				t.Errorf("not a schema error: %v", err)
			}
			for _, want := range tc.want {
				if !strings.Contains(msg, want) {
					t.Errorf("error does not mention %q:\n%v", want, err)
				}
			}
		})
	}
}

// TestRequired checks that values the schema cannot require fail rendering
// with a message naming them.
func TestRequired(t *testing.T) {
	for _, tc := range []struct {
		name string
		vs   valueSet
		want string
	}{
		{"chart defaults", valueSet{bare: true}, "config.redis.addr is required"},
		{"no redis", valueSet{set: []string{"config.redis.addr="}}, "config.redis.addr is required"},
		{"receipts without kafka", valueSet{set: []string{"config.kafka.brokers=null"}}, "config.kafka.brokers is required while receipts.enabled"},
		{"monitor without password", valueSet{set: []string{"secrets.monitorPassword="}}, "secrets.monitorPassword is required"},
		{"api without applications", valueSet{set: []string{"secrets.applications="}}, "secrets.applications is required"},
		{"existing secret and inline secrets", valueSet{set: []string{"secrets.existingSecret=mine"}}, "not used with secrets.existingSecret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := renderChart(t, tc.vs, capabilities{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
	// With the Prometheus Operator and an existing Secret, the monitor's
	// /metrics scrape needs a Secret named for its basic auth.
	existing := valueSet{set: []string{"secrets.applications=", "secrets.monitorPassword=", "secrets.existingSecret=mine"}}
	t.Run("existing secret, no scrape credentials", func(t *testing.T) {
		t.Parallel()
		_, _, err := renderChart(t, existing, withPromOperator)
		if want := "metrics.serviceMonitor.monitorBasicAuth.secretName is required"; err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("err = %v, want one saying %q", err, want)
		}
	})
	// What each requirement yields to.
	for name, vs := range map[string]valueSet{
		"receipts off, no kafka":          {set: []string{"config.kafka.brokers=null", "receipts.enabled=false"}},
		"monitor auth none":               {set: []string{"secrets.monitorPassword=", "config.monitor.auth=none"}},
		"monitor off":                     {set: []string{"secrets.monitorPassword=", "monitor.enabled=false"}},
		"applications in the file":        {yaml: "secrets: {applications: ''}\nconfig: {file: {applications: [{code: SHOP1-00001, server_token_env: SHOP_TOKEN}]}}"},
		"applications in the file's text": {yaml: "secrets: {applications: ''}\nconfig: {file: \"applications:\\n  - code: SHOP1-00001\\n    server_token_env: SHOP_TOKEN\\n\"}"},
		"existing secret, no inline":      {set: []string{"secrets.applications=", "secrets.monitorPassword=", "secrets.existingSecret=mine"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			render(t, vs, capabilities{})
		})
	}
	for name, vs := range map[string]valueSet{
		"existing secret, scrape credentials named": {set: append(slices.Clone(existing.set), "metrics.serviceMonitor.monitorBasicAuth.secretName=mine-scrape")},
		"existing secret, monitor auth none":        {set: append(slices.Clone(existing.set), "config.monitor.auth=none")},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := render(t, vs, withPromOperator)
			if r.has("Secret", fullname+"-metrics-auth") {
				t.Error("a scrape Secret rendered with an existing Secret")
			}
		})
	}
}

// Helpers.

func deploymentNames(rs []string) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fullname+"-"+r)
	}
	slices.Sort(out)
	return out
}

func secretRefs(d *appsv1.Deployment) []string {
	var out []string
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, ef := range c.EnvFrom {
			if ef.SecretRef != nil {
				out = append(out, ef.SecretRef.Name)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				out = append(out, e.ValueFrom.SecretKeyRef.Name)
			}
		}
	}
	return out
}

func hasMount(c corev1.Container, name, path string) bool {
	for _, m := range c.VolumeMounts {
		if m.Name == name && m.MountPath == path {
			return true
		}
	}
	return false
}

func hasEmptyDir(spec corev1.PodSpec, name string) bool {
	for _, v := range spec.Volumes {
		if v.Name == name && v.EmptyDir != nil {
			return true
		}
	}
	return false
}

func hasConfigMapVolume(spec corev1.PodSpec, name, configMap string) bool {
	for _, v := range spec.Volumes {
		if v.Name == name && v.ConfigMap != nil && v.ConfigMap.Name == configMap {
			return true
		}
	}
	return false
}

// ingressPaths maps "host/path" to the backend Service.
func ingressPaths(ing *networkingv1.Ingress) map[string]string {
	out := map[string]string{}
	for _, rule := range ing.Spec.Rules {
		for _, p := range rule.HTTP.Paths {
			out[rule.Host+p.Path] = p.Backend.Service.Name
		}
	}
	return out
}

func allRules(pr *PrometheusRule) []Rule {
	var out []Rule
	for _, g := range pr.Spec.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

func rulesNamed(pr *PrometheusRule, alert string) []Rule {
	var out []Rule
	for _, r := range allRules(pr) {
		if r.Alert == alert {
			out = append(out, r)
		}
	}
	return out
}

// balanced is a cheap PromQL sanity check: brackets pair up, quotes close and
// no template syntax leaked into the expression.
func balanced(expr string) error {
	var stack []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	inQuote := false
	for _, c := range expr {
		switch {
		case c == '"':
			inQuote = !inQuote
		case inQuote:
		case c == '(' || c == '[' || c == '{':
			stack = append(stack, c)
		case c == ')' || c == ']' || c == '}':
			if len(stack) == 0 || stack[len(stack)-1] != pairs[c] {
				return fmt.Errorf("unbalanced %q", c)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if inQuote || len(stack) > 0 {
		return fmt.Errorf("unclosed %q or quote", stack)
	}
	if strings.Contains(expr, "{{") || strings.Contains(expr, "<no value>") || strings.Contains(expr, "%!") {
		return fmt.Errorf("template residue")
	}
	return nil
}

func wantKeys[V any](t *testing.T, what string, m map[string]V, keys ...string) {
	t.Helper()
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(keys)
	if !slices.Equal(got, keys) {
		t.Errorf("%s keys = %v, want %v", what, got, keys)
	}
}
