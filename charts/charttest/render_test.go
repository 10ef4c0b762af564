package charttest

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/strvals"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// chartDir is the chart under test.
var chartDir = filepath.Join("..", "smsfleet")

const (
	releaseName = "prod"
	namespace   = "sms"
	fullname    = "prod-smsfleet"
	// promOperatorAPI is the API group version the chart looks for before it
	// renders a ServiceMonitor and a PrometheusRule.
	promOperatorAPI = "monitoring.coreos.com/v1"
)

// kubeVersion is the cluster version the chart is rendered for.
var kubeVersion = &chartutil.KubeVersion{Version: "v1.33.0", Major: "1", Minor: "33"}

// roles are the chart's Deployments, each running `smsfleet <role>`.
var roles = []string{"api", "worker", "receipts", "monitor"}

// baseValues are the values every install needs (the chart fails without
// them): Redis, Kafka for receipts, an application for the API and the
// monitor's password.
const baseValues = `
config:
  redis: {addr: "redis-master.data:6379"}
  kafka: {brokers: ["kafka-0.kafka:9092", "kafka-1.kafka:9092"]}
secrets:
  applications: "SHOP1-00001:shop-server-token:shop-device-token"
  monitorPassword: "monitor-pass-123"
`

// valueSet is values the way an operator passes them: a values file and
// --set flags, on top of baseValues unless bare.
type valueSet struct {
	yaml string   // a values file
	set  []string // --set flags, applied after yaml
	bare bool     // leave baseValues out
}

// values builds the user-supplied values of a valueSet.
func (v valueSet) values(t testing.TB) map[string]any {
	t.Helper()
	vals := map[string]any{}
	docs := []string{v.yaml}
	if !v.bare {
		docs = []string{baseValues, v.yaml}
	}
	for _, doc := range docs {
		m, err := chartutil.ReadValues([]byte(doc))
		if err != nil {
			t.Fatalf("values %q: %v", doc, err)
		}
		vals = chartutil.CoalesceTables(m, vals) // m wins
	}
	for _, s := range v.set {
		if err := strvals.ParseInto(s, vals); err != nil {
			t.Fatalf("--set %s: %v", s, err)
		}
	}
	return vals
}

// capabilities is what the cluster serves beyond the Kubernetes defaults.
type capabilities struct {
	apiVersions []string
}

var withPromOperator = capabilities{apiVersions: []string{promOperatorAPI, promOperatorAPI + "/ServiceMonitor", promOperatorAPI + "/PrometheusRule"}}

// rendered is one release rendered like `helm template`: every manifest,
// strictly decoded, by kind and name.
type rendered struct {
	notes   string
	objects map[string]map[string]any // kind -> name -> typed object
	raw     map[string]string         // "Kind/name" -> manifest
	sources map[string]string         // "Kind/name" -> template path, e.g. smsfleet/templates/service.yaml
}

// renderChart renders the chart like `helm template` (client-only dry-run
// install) and returns the error instead of failing.
func renderChart(t testing.TB, vs valueSet, caps capabilities) (string, string, error) {
	t.Helper()
	return renderLoaded(t, loadChart(t), vs.values(t), caps)
}

// renderLoaded renders a loaded chart like `helm template`, hooks (the helm
// test Pod) included, as `helm template` prints them.
func renderLoaded(t testing.TB, chrt *chart.Chart, vals map[string]any, caps capabilities) (string, string, error) {
	t.Helper()
	cfg := &action.Configuration{Log: func(string, ...any) {}}
	install := action.NewInstall(cfg)
	install.DryRun = true
	install.DryRunOption = "client"
	install.ClientOnly = true
	install.Replace = true
	install.IncludeCRDs = true
	install.ReleaseName = releaseName
	install.Namespace = namespace
	install.KubeVersion = kubeVersion
	install.APIVersions = chartutil.VersionSet(caps.apiVersions)
	rel, err := install.Run(chrt, vals)
	if err != nil {
		return "", "", err
	}
	manifest := rel.Manifest
	for _, h := range rel.Hooks {
		manifest += "\n---\n# Source: " + h.Path + "\n" + h.Manifest
	}
	return manifest, rel.Info.Notes, nil
}

// render renders the chart and strictly decodes every manifest; any error
// fails the test.
func render(t testing.TB, vs valueSet, caps capabilities) *rendered {
	t.Helper()
	manifest, notes, err := renderChart(t, vs, caps)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return decodeManifest(t, manifest, notes)
}

// ownTemplate matches the template paths of this chart's objects, also as a
// subchart of an umbrella; a dependency's (charts/redis/...) are its own.
var ownTemplate = regexp.MustCompile(`(^|/)smsfleet/templates/`)

// decodeManifest strictly decodes every manifest of a rendered release and
// checks the metadata of the chart's own objects.
func decodeManifest(t testing.TB, manifest, notes string) *rendered {
	t.Helper()
	r := &rendered{notes: notes, objects: map[string]map[string]any{}, raw: map[string]string{}, sources: map[string]string{}}
	for _, doc := range releaseutil.SplitManifests(manifest) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var tm struct {
			metav1.TypeMeta `json:",inline"`
			Metadata        struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("manifest is not YAML: %v\n%s", err, doc)
		}
		obj := decodeStrict(t, tm.APIVersion, tm.Kind, doc)
		key := tm.Kind + "/" + tm.Metadata.Name
		if _, dup := r.raw[key]; dup {
			t.Fatalf("%s rendered twice", key)
		}
		r.raw[key] = doc
		if r.objects[tm.Kind] == nil {
			r.objects[tm.Kind] = map[string]any{}
		}
		r.objects[tm.Kind][tm.Metadata.Name] = obj
		r.sources[key] = sourceOf(doc)
		if ownTemplate.MatchString(r.sources[key]) {
			checkMeta(t, key, objectMeta(obj))
		}
	}
	return r
}

// decodeStrict decodes one manifest into its API type; an unknown field, a
// duplicate key, a wrong type or an unexpected kind fails the test.
func decodeStrict(t testing.TB, apiVersion, kind, doc string) any {
	t.Helper()
	var obj any
	switch apiVersion + " " + kind {
	case "v1 ServiceAccount":
		obj = &corev1.ServiceAccount{}
	case "v1 ConfigMap":
		obj = &corev1.ConfigMap{}
	case "v1 Secret":
		obj = &corev1.Secret{}
	case "v1 Service":
		obj = &corev1.Service{}
	case "apps/v1 Deployment":
		obj = &appsv1.Deployment{}
	case "autoscaling/v2 HorizontalPodAutoscaler":
		obj = &autoscalingv2.HorizontalPodAutoscaler{}
	case "policy/v1 PodDisruptionBudget":
		obj = &policyv1.PodDisruptionBudget{}
	case "v1 Pod":
		obj = &corev1.Pod{}
	case "networking.k8s.io/v1 NetworkPolicy":
		obj = &networkingv1.NetworkPolicy{}
	case "networking.k8s.io/v1 Ingress":
		obj = &networkingv1.Ingress{}
	case "keda.sh/v1alpha1 ScaledObject":
		obj = &ScaledObject{}
	case "monitoring.coreos.com/v1 ServiceMonitor":
		obj = &ServiceMonitor{}
	case "monitoring.coreos.com/v1 PrometheusRule":
		obj = &PrometheusRule{}
	default:
		t.Fatalf("unexpected object %s %s:\n%s", apiVersion, kind, doc)
	}
	if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
		t.Fatalf("%s does not decode strictly into its API type: %v\n%s", kind, err, doc)
	}
	return obj
}

// objectMeta returns the metadata of a decoded object.
func objectMeta(obj any) *metav1.ObjectMeta {
	if o, ok := obj.(metav1.ObjectMetaAccessor); ok {
		return o.GetObjectMeta().(*metav1.ObjectMeta)
	}
	panic(fmt.Sprintf("%T has no ObjectMeta", obj))
}

// names returns the sorted names of the rendered objects of kind.
func (r *rendered) names(kind string) []string {
	var out []string
	for name := range r.objects[kind] {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// get returns the rendered object kind/name, failing the test when missing.
func get[T any](t testing.TB, r *rendered, kind, name string) T {
	t.Helper()
	obj, ok := r.objects[kind][name]
	if !ok {
		t.Fatalf("no %s %q rendered; have %v", kind, name, r.names(kind))
	}
	return obj.(T)
}

func (r *rendered) deployment(t testing.TB, role string) *appsv1.Deployment {
	t.Helper()
	return get[*appsv1.Deployment](t, r, "Deployment", fullname+"-"+role)
}

func (r *rendered) has(kind, name string) bool {
	_, ok := r.objects[kind][name]
	return ok
}

// ScaledObject mirrors the fields of keda.sh/v1alpha1 ScaledObject the chart
// uses (the KEDA module is too heavy to import); any other field fails.
type ScaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ScaleTargetRef struct {
			APIVersion             string `json:"apiVersion"`
			Kind                   string `json:"kind"`
			Name                   string `json:"name"`
			EnvSourceContainerName string `json:"envSourceContainerName"`
		} `json:"scaleTargetRef"`
		PollingInterval *int32 `json:"pollingInterval"`
		CooldownPeriod  *int32 `json:"cooldownPeriod"`
		MinReplicaCount *int32 `json:"minReplicaCount"`
		MaxReplicaCount *int32 `json:"maxReplicaCount"`
		Triggers        []struct {
			Type              string            `json:"type"`
			Name              string            `json:"name"`
			Metadata          map[string]string `json:"metadata"`
			AuthenticationRef *struct {
				Name string `json:"name"`
				Kind string `json:"kind"`
			} `json:"authenticationRef"`
		} `json:"triggers"`
	} `json:"spec"`
}

// ServiceMonitor mirrors the monitoring.coreos.com/v1 fields the chart uses.
type ServiceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector struct {
			Any        bool     `json:"any"`
			MatchNames []string `json:"matchNames"`
		} `json:"namespaceSelector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
			BasicAuth     *struct {
				Username corev1.SecretKeySelector `json:"username"`
				Password corev1.SecretKeySelector `json:"password"`
			} `json:"basicAuth"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// PrometheusRule mirrors the monitoring.coreos.com/v1 fields the chart uses.
type PrometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []Rule `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

// Rule is one alerting rule of a PrometheusRule.
type Rule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// sourceOf returns the template path of a manifest's "# Source:" line.
func sourceOf(doc string) string {
	for _, line := range strings.Split(doc, "\n") {
		if src, ok := strings.CutPrefix(strings.TrimSpace(line), "# Source: "); ok {
			return src
		}
	}
	return ""
}
