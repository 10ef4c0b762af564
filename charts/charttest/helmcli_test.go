package charttest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"
)

// helmCLI returns the real helm binary, or skips (fails under CI=true, where
// .ci/run installs it) when it is not on PATH.
func helmCLI(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("helm")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("helm is not on PATH; CI must install it (.ci/run: go install helm.sh/helm/v3/cmd/helm@<charts/go.mod's version>)")
		}
		t.Skip("helm is not on PATH: install it (go install helm.sh/helm/v3/cmd/helm@v3.22.0) to run the real-CLI checks")
	}
	return path
}

// helmRunner runs helm with its caches, config and data in a temporary
// directory, so nothing of the user's (repositories, registries) is used.
type helmRunner struct {
	t    *testing.T
	bin  string
	env  []string
	work string
}

func newHelmRunner(t *testing.T) *helmRunner {
	home := t.TempDir()
	env := append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	return &helmRunner{t: t, bin: helmCLI(t), env: env, work: t.TempDir()}
}

// run runs helm and returns its output, failing the test on an error. The
// minute is a guard against a hang, not a measurement.
func (h *helmRunner) run(args ...string) string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, args...)
	cmd.Env = h.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		h.t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// stage lays the chart and the umbrella out as in the repository
// (charts/smsfleet, charts/charttest/testdata/umbrella, whose Chart.yaml
// names ../../../smsfleet), with the chart's bitnami repositories swapped for
// file:// ones holding the stubs, then runs `helm dependency build` on both,
// which packages the stubs (and the chart into the umbrella) offline.
func (h *helmRunner) stage() (chart, umbrella string) {
	h.t.Helper()
	chart = filepath.Join(h.work, "charts", "smsfleet")
	umbrella = filepath.Join(h.work, "charts", "charttest", "testdata", "umbrella")
	copyDir(h.t, chartDir, chart)
	copyDir(h.t, umbrellaDir, umbrella)
	meta, err := chartutil.LoadChartfile(filepath.Join(chart, "Chart.yaml"))
	if err != nil {
		h.t.Fatal(err)
	}
	for _, dep := range meta.Dependencies {
		stub, err := filepath.Abs(filepath.Join(stubsDir, dep.Name))
		if err != nil {
			h.t.Fatal(err)
		}
		dep.Repository = "file://" + stub
	}
	if err := chartutil.SaveChartfile(filepath.Join(chart, "Chart.yaml"), meta); err != nil {
		h.t.Fatal(err)
	}
	h.run("dependency", "build", "--skip-refresh", chart)
	h.run("dependency", "build", "--skip-refresh", umbrella)
	return chart, umbrella
}

// TestHelmCLI runs the real helm: `helm lint --strict` with every ci/ value
// set and on the umbrella chart, and `helm template` of the chart with the
// bundled Redis and Kafka on, with everything on (every template renders),
// and as the umbrella's subchart, with and without the bundled services.
func TestHelmCLI(t *testing.T) {
	h := newHelmRunner(t)
	t.Logf("%s", strings.TrimSpace(h.run("version", "--short")))
	chart, umbrella := h.stage()
	kube := "--kube-version=" + kubeVersion.Version

	for _, file := range ciValueFiles(t) {
		out := h.run("lint", "--strict", kube, chart, "-f", file)
		if !strings.Contains(out, "1 chart(s) linted, 0 chart(s) failed") {
			t.Errorf("helm lint -f %s:\n%s", filepath.Base(file), out)
		}
	}
	if out := h.run("lint", "--strict", "--with-subcharts", kube, umbrella); !strings.Contains(out, "0 chart(s) failed") {
		t.Errorf("helm lint umbrella:\n%s", out)
	}

	out := h.run("template", releaseName, chart, "-n", namespace, kube, "-f", filepath.Join(chartDir, "ci", "subcharts-on-values.yaml"))
	for _, want := range []string{
		"# Source: smsfleet/charts/redis/templates/services.yaml", "name: prod-redis-master",
		"# Source: smsfleet/charts/kafka/templates/service.yaml", "name: prod-kafka",
		`SMSFLEET_REDIS_ADDR: "prod-redis-master:6379"`, `SMSFLEET_KAFKA_BROKERS: "prod-kafka:9092"`,
		"name: prod-redis\n", "key: redis-password\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("helm template with the subcharts on lacks %q", want)
		}
	}

	out = h.run("template", releaseName, chart, "-n", namespace, kube, "--api-versions", promOperatorAPI, "-f", filepath.Join(chartDir, "ci", "everything-on-values.yaml"))
	for _, tpl := range templateFiles(t) {
		if !strings.Contains(out, "# Source: "+tpl+"\n") {
			t.Errorf("helm template with everything on renders nothing from %s", tpl)
		}
	}

	out = h.run("template", releaseName, umbrella, "-n", namespace, kube)
	for _, want := range []string{"# Source: umbrella/charts/smsfleet/templates/deployment.yaml", "name: prod-smsfleet-api", "name: prod-umbrella", `SMSFLEET_REDIS_ADDR: "redis-master.data:6379"`} {
		if !strings.Contains(out, want) {
			t.Errorf("helm template umbrella lacks %q", want)
		}
	}
	out = h.run("template", releaseName, umbrella, "-n", namespace, kube,
		"--set", "smsfleet.redis.enabled=true,smsfleet.kafka.enabled=true,smsfleet.config.redis.addr=,smsfleet.config.kafka.brokers=null")
	for _, want := range []string{"# Source: umbrella/charts/smsfleet/charts/redis/templates/services.yaml", `SMSFLEET_REDIS_ADDR: "prod-redis-master:6379"`, `SMSFLEET_KAFKA_BROKERS: "prod-kafka:9092"`} {
		if !strings.Contains(out, want) {
			t.Errorf("helm template umbrella with the bundled services lacks %q", want)
		}
	}
}
