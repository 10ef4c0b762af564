package charttest

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestPodSpecExtensions checks the pod-spec values: security contexts (null
// drops a key, for OpenShift), the startup probe, extra env/volumes, init
// containers and sidecars (global then per role), command/args, strategy.
func TestPodSpecExtensions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		vs    valueSet
		check func(t *testing.T, r *rendered)
	}{
		{"defaults", valueSet{}, func(t *testing.T, r *rendered) {
			for _, role := range roles {
				d := r.deployment(t, role)
				c := d.Spec.Template.Spec.Containers[0]
				checkProbe(t, role+" startup", c.StartupProbe, "/healthz")
				if c.StartupProbe.FailureThreshold*c.StartupProbe.PeriodSeconds < 60 {
					t.Errorf("%s: the startup probe gives up after %ds", role, c.StartupProbe.FailureThreshold*c.StartupProbe.PeriodSeconds)
				}
				if d.Spec.Strategy.Type != "" || len(d.Spec.Template.Spec.Containers) != 1 || len(c.EnvFrom) != 2 {
					t.Errorf("%s: strategy %q, %d containers, envFrom %v", role, d.Spec.Strategy.Type, len(d.Spec.Template.Spec.Containers), c.EnvFrom)
				}
			}
		}},
		{"openshift", valueSet{yaml: "podSecurityContext: {runAsUser: null, runAsGroup: null, fsGroup: null}\nsecurityContext: {runAsUser: null, runAsGroup: null}\n"}, func(t *testing.T, r *rendered) {
			for _, role := range roles {
				spec := r.deployment(t, role).Spec.Template.Spec
				psc, sc := spec.SecurityContext, spec.Containers[0].SecurityContext
				if psc.RunAsUser != nil || psc.RunAsGroup != nil || psc.FSGroup != nil || sc.RunAsUser != nil || sc.RunAsGroup != nil {
					t.Errorf("%s: a UID or GID is still set: pod %+v container %+v", role, psc, sc)
				}
				if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
					sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
					t.Errorf("%s: the rest of the restricted profile is gone: pod %+v container %+v", role, psc, sc)
				}
			}
			pod := get[*corev1.Pod](t, r, "Pod", fullname+"-test-readyz")
			if pod.Spec.SecurityContext.RunAsUser != nil || pod.Spec.Containers[0].SecurityContext.RunAsUser != nil {
				t.Error("the helm test Pod still sets a UID")
			}
		}},
		{"own security contexts", valueSet{yaml: "podSecurityContext: {runAsUser: 1000, fsGroupChangePolicy: OnRootMismatch}\nsecurityContext: {runAsUser: 1000}\n"}, func(t *testing.T, r *rendered) {
			spec := r.deployment(t, "api").Spec.Template.Spec
			if *spec.SecurityContext.RunAsUser != 1000 || *spec.Containers[0].SecurityContext.RunAsUser != 1000 ||
				spec.SecurityContext.FSGroupChangePolicy == nil || *spec.SecurityContext.FSGroupChangePolicy != "OnRootMismatch" {
				t.Errorf("security contexts %+v / %+v", spec.SecurityContext, spec.Containers[0].SecurityContext)
			}
		}},
		{"startup probe off", valueSet{set: []string{"worker.probes.startup.enabled=false"}}, func(t *testing.T, r *rendered) {
			if r.deployment(t, "worker").Spec.Template.Spec.Containers[0].StartupProbe != nil {
				t.Error("worker has a startup probe")
			}
			if r.deployment(t, "api").Spec.Template.Spec.Containers[0].StartupProbe == nil {
				t.Error("api lost its startup probe")
			}
		}},
		{"extensions", valueSet{yaml: `
extraEnvFrom: [{secretRef: {name: shared}}]
extraVolumes: [{name: ca, configMap: {name: ca}}]
extraVolumeMounts: [{name: ca, mountPath: /etc/ca}]
initContainers: [{name: wait, image: busybox}]
sidecars: [{name: proxy, image: envoy}]
worker:
  extraEnvFrom: [{configMapRef: {name: worker-only}}]
  extraVolumes: [{name: spool, emptyDir: {}}]
  extraVolumeMounts: [{name: spool, mountPath: /spool}]
  initContainers: [{name: migrate, image: smsfleet}]
  sidecars: [{name: shipper, image: fluent-bit}]
  command: [/smsfleet]
  args: [worker, --verbose]
  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
`}, func(t *testing.T, r *rendered) {
			names := func(d *appsv1.Deployment) (env, vols, mounts, inits, ctrs []string) {
				spec := d.Spec.Template.Spec
				for _, e := range spec.Containers[0].EnvFrom {
					if e.SecretRef != nil {
						env = append(env, e.SecretRef.Name)
					} else {
						env = append(env, e.ConfigMapRef.Name)
					}
				}
				for _, v := range spec.Volumes {
					vols = append(vols, v.Name)
				}
				for _, m := range spec.Containers[0].VolumeMounts {
					mounts = append(mounts, m.Name+":"+m.MountPath)
				}
				for _, c := range spec.InitContainers {
					inits = append(inits, c.Name)
				}
				for _, c := range spec.Containers {
					ctrs = append(ctrs, c.Name)
				}
				return
			}
			for _, tc := range []struct {
				role                           string
				env, vols, mounts, inits, ctrs []string
			}{
				{"worker", []string{fullname, fullname, "shared", "worker-only"}, []string{"tmp", "ca", "spool"}, []string{"tmp:/tmp", "ca:/etc/ca", "spool:/spool"}, []string{"wait", "migrate"}, []string{"worker", "proxy", "shipper"}},
				{"api", []string{fullname, fullname, "shared"}, []string{"tmp", "ca"}, []string{"tmp:/tmp", "ca:/etc/ca"}, []string{"wait"}, []string{"api", "proxy"}},
			} {
				env, vols, mounts, inits, ctrs := names(r.deployment(t, tc.role))
				for _, got := range []struct {
					what      string
					got, want []string
				}{{"envFrom", env, tc.env}, {"volumes", vols, tc.vols}, {"mounts", mounts, tc.mounts}, {"initContainers", inits, tc.inits}, {"containers", ctrs, tc.ctrs}} {
					if !slices.Equal(got.got, got.want) {
						t.Errorf("%s %s = %v, want %v", tc.role, got.what, got.got, got.want)
					}
				}
			}
			w := r.deployment(t, "worker")
			c := w.Spec.Template.Spec.Containers[0]
			if !slices.Equal(c.Command, []string{"/smsfleet"}) || !slices.Equal(c.Args, []string{"worker", "--verbose"}) {
				t.Errorf("worker command %v args %v", c.Command, c.Args)
			}
			if w.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || w.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 0 {
				t.Errorf("worker strategy %+v", w.Spec.Strategy)
			}
		}},
		{"common labels and annotations", valueSet{yaml: "commonLabels: {team: sms}\ncommonAnnotations: {owner: oncall}\napi: {service: {annotations: {owner: api-team}}, autoscaling: {enabled: true}}\n" +
			"ingress: {enabled: true, host: sms.example.com}\nworker: {keda: {enabled: true}}\nnetworkPolicy: {enabled: true}\nsecrets: {adminToken: an-admin-token-0123456789}\n"}, func(t *testing.T, r *rendered) {
			for key, src := range r.sources {
				m := objectMeta(r.objects[strings.Split(key, "/")[0]][strings.SplitN(key, "/", 2)[1]])
				if m.Labels["team"] != "sms" {
					t.Errorf("%s (%s): no commonLabels", key, src)
				}
				want := "oncall"
				if key == "Service/"+fullname+"-api" {
					want = "api-team" // the object's own annotation wins
				}
				if m.Annotations["owner"] != want {
					t.Errorf("%s: annotation owner = %q, want %q", key, m.Annotations["owner"], want)
				}
			}
			tpl := r.deployment(t, "api").Spec.Template
			if tpl.Labels["team"] != "sms" || tpl.Annotations["owner"] != "oncall" {
				t.Errorf("pod template labels %v annotations %v", tpl.Labels, tpl.Annotations)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.check(t, render(t, tc.vs, withPromOperator))
		})
	}
}

// TestPodSpecSchemaRejects checks the schema of the new values names them.
func TestPodSpecSchemaRejects(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"common label redefining the chart's", "commonLabels: {app.kubernetes.io/name: other}", "invalid propertyName 'app.kubernetes.io/name'"},
		{"unknown security context key", "securityContext: {runAsUsr: 1}", "securityContext"},
		{"security context wrong type", "podSecurityContext: {runAsUser: root}", "podSecurityContext"},
		{"sidecar without a name", "sidecars: [{image: envoy}]", "sidecars"},
		{"mount without a path", "api: {extraVolumeMounts: [{name: ca}]}", "extraVolumeMounts"},
		{"bad strategy", "worker: {updateStrategy: {type: BlueGreen}}", "updateStrategy"},
		{"startup probe bad threshold", "api: {probes: {startup: {enabled: true, failureThreshold: 0}}}", "startup"},
		{"network policy port", "networkPolicy: {enabled: true, egress: {redis: {ports: [70000]}}}", "networkPolicy"},
		{"command not a list", "api: {command: /smsfleet}", "command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := renderChart(t, valueSet{yaml: tc.yaml}, capabilities{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
}
