package charttest

import (
	"fmt"
	"slices"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
)

// TestNetworkPolicy checks the NetworkPolicy: off by default; on, it selects
// the release's pods, lets port http in (from anyone, or the listed peers and
// the release itself) and lets out DNS, Redis, Kafka and the providers.
func TestNetworkPolicy(t *testing.T) {
	t.Parallel()
	if r := render(t, valueSet{}, capabilities{}); len(r.names("NetworkPolicy")) > 0 {
		t.Fatalf("NetworkPolicy rendered by default: %v", r.names("NetworkPolicy"))
	}
	ports := func(rule networkingv1.NetworkPolicyEgressRule) []string {
		var out []string
		for _, p := range rule.Ports {
			out = append(out, fmt.Sprintf("%s/%s", p.Port.String(), *p.Protocol))
		}
		return out
	}
	for _, tc := range []struct {
		name       string
		yaml       string
		ingressN   int // peers in the ingress rule (0: anyone)
		egressN    int // egress rules (0: egress unrestricted)
		wantEgress [][]string
	}{
		{"defaults", "networkPolicy: {enabled: true}", 0, 5, [][]string{{"http/TCP"}, {"53/TCP", "53/UDP"}, {"6379/TCP", "26379/TCP"}, {"9092/TCP"}, {"443/TCP", "2775/TCP"}}},
		{"ingress from the ingress controller", "networkPolicy: {enabled: true, ingressFrom: [{namespaceSelector: {matchLabels: {name: ingress}}}], egress: {extra: [{ports: [{port: 8443}]}]}}", 2, 6, nil},
		{"egress unrestricted", "networkPolicy: {enabled: true, egress: {enabled: false}}", 0, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, valueSet{yaml: tc.yaml}, capabilities{})
			np := get[*networkingv1.NetworkPolicy](t, r, "NetworkPolicy", fullname)
			sel := np.Spec.PodSelector.MatchLabels
			for _, role := range roles {
				for k, v := range sel {
					if r.deployment(t, role).Spec.Template.Labels[k] != v {
						t.Errorf("the policy's selector %v misses the %s pods", sel, role)
					}
				}
			}
			if len(np.Spec.Ingress) != 1 || np.Spec.Ingress[0].Ports[0].Port.String() != "http" || len(np.Spec.Ingress[0].From) != tc.ingressN {
				t.Errorf("ingress %+v, want port http from %d peers", np.Spec.Ingress, tc.ingressN)
			}
			if len(np.Spec.Egress) != tc.egressN || slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) != (tc.egressN > 0) {
				t.Errorf("%d egress rules, policy types %v; want %d", len(np.Spec.Egress), np.Spec.PolicyTypes, tc.egressN)
			}
			for i, want := range tc.wantEgress {
				if got := ports(np.Spec.Egress[i]); !slices.Equal(got, want) {
					t.Errorf("egress rule %d ports %v, want %v", i, got, want)
				}
			}
		})
	}
}
