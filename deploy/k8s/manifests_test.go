// Package k8s holds the tests of the Kubernetes manifests: every file
// decodes strictly into its Kubernetes API type (an unknown or misspelt
// field fails), each kustomization builds, and what the application reads
// from the ConfigMap is a valid client configuration.
package k8s

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/redisha/redisha/client"
)

// kustomization is the part of kustomize's Kustomization these manifests use;
// strict decoding fails on any other field.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	Patches    []struct {
		Path   string `json:"path"`
		Target struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"target"`
	} `json:"patches"`
}

// secretProviderClass is the part of the Secrets Store CSI driver's
// SecretProviderClass (secrets-store.csi.x-k8s.io/v1) these manifests use;
// strict decoding fails on any other field.
type secretProviderClass struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec struct {
		Provider string `json:"provider"`
		// Parameters are the provider's: for the AWS provider region,
		// failoverRegion, usePodIdentity and objects (a YAML list in a string).
		Parameters map[string]string `json:"parameters"`
	} `json:"spec"`
}

// ascpObject is one entry of the AWS provider's objects parameter.
type ascpObject struct {
	ObjectName  string `json:"objectName"`
	ObjectType  string `json:"objectType"`
	ObjectAlias string `json:"objectAlias"`
}

// built is the result of a kustomization: the objects by kind and name.
type built struct {
	configMaps      map[string]*corev1.ConfigMap
	services        map[string]*corev1.Service
	deployments     map[string]*appsv1.Deployment
	serviceAccounts map[string]*corev1.ServiceAccount
	providerClasses map[string]*secretProviderClass
}

// build reads the kustomization in dir and its resources, recursively,
// decoding each strictly, and applies its ConfigMap patches (a merge of data).
func build(t *testing.T, dir string) *built {
	t.Helper()
	var k kustomization
	decodeFile(t, filepath.Join(dir, "kustomization.yaml"), &k)
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Fatalf("%s: apiVersion %q kind %q", dir, k.APIVersion, k.Kind)
	}
	b := &built{configMaps: map[string]*corev1.ConfigMap{}, services: map[string]*corev1.Service{}, deployments: map[string]*appsv1.Deployment{},
		serviceAccounts: map[string]*corev1.ServiceAccount{}, providerClasses: map[string]*secretProviderClass{}}
	for _, r := range k.Resources {
		path := filepath.Join(dir, r)
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			sub := build(t, path)
			merge(b.configMaps, sub.configMaps)
			merge(b.services, sub.services)
			merge(b.deployments, sub.deployments)
			merge(b.serviceAccounts, sub.serviceAccounts)
			merge(b.providerClasses, sub.providerClasses)
			continue
		}
		b.add(t, path)
	}
	for _, p := range k.Patches {
		if p.Target.Kind != "ConfigMap" {
			t.Fatalf("%s: patch %s targets %s: only ConfigMap patches are modelled here", dir, p.Path, p.Target.Kind)
		}
		var patch corev1.ConfigMap
		decodeFile(t, filepath.Join(dir, p.Path), &patch)
		cm, ok := b.configMaps[p.Target.Name]
		if !ok || patch.Name != p.Target.Name {
			t.Fatalf("%s: patch %s: no ConfigMap %q to patch", dir, p.Path, p.Target.Name)
		}
		for key, v := range patch.Data {
			cm.Data[key] = v
		}
	}
	return b
}

func merge[T any](dst, src map[string]T) {
	for k, v := range src {
		dst[k] = v
	}
}

// add decodes one manifest strictly into the type its kind names.
func (b *built) add(t *testing.T, path string) {
	t.Helper()
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &meta); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	switch meta.APIVersion + " " + meta.Kind {
	case "v1 ConfigMap":
		var o corev1.ConfigMap
		decodeFile(t, path, &o)
		b.configMaps[o.Name] = &o
	case "v1 Service":
		var o corev1.Service
		decodeFile(t, path, &o)
		b.services[o.Name] = &o
	case "apps/v1 Deployment":
		var o appsv1.Deployment
		decodeFile(t, path, &o)
		b.deployments[o.Name] = &o
	case "v1 ServiceAccount":
		var o corev1.ServiceAccount
		decodeFile(t, path, &o)
		b.serviceAccounts[o.Name] = &o
	case "secrets-store.csi.x-k8s.io/v1 SecretProviderClass":
		var o secretProviderClass
		decodeFile(t, path, &o)
		b.providerClasses[o.Metadata.Name] = &o
	default:
		t.Fatalf("%s: %s %s has no type in this test: add it", path, meta.APIVersion, meta.Kind)
	}
}

func decodeFile(t *testing.T, path string, into any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "\n---") {
		t.Fatalf("%s: one object per file", path)
	}
	if err := yaml.UnmarshalStrict(data, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// Every YAML file is reached from a kustomization, so none is left unchecked.
func TestEveryFileIsUsed(t *testing.T) {
	used := map[string]bool{}
	var walk func(dir string)
	walk = func(dir string) {
		used[filepath.Join(dir, "kustomization.yaml")] = true
		var k kustomization
		decodeFile(t, filepath.Join(dir, "kustomization.yaml"), &k)
		for _, r := range k.Resources {
			if p := filepath.Join(dir, r); strings.HasSuffix(r, ".yaml") {
				used[p] = true
			} else {
				walk(p)
			}
		}
		for _, p := range k.Patches {
			used[filepath.Join(dir, p.Path)] = true
		}
	}
	walk("base")
	walk(filepath.Join("overlays", "externalname"))
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".yaml") && !used[path] {
			t.Errorf("%s is not part of any kustomization", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The Deployment takes its settings from the ConfigMap, which holds a valid
// client configuration for the failover record; the base connects to
// redis.internal directly, over TLS, accepting only the listed endpoints.
func TestBaseConnectsToTheFailoverRecord(t *testing.T) {
	b := build(t, "base")
	cfg := appConfig(t, b)
	if cfg.Addr != "redis.internal:6379" || !cfg.TLS || len(cfg.TLSNames) != 2 {
		t.Errorf("client config %+v: want redis.internal:6379 over TLS with both endpoints listed", cfg)
	}
	for _, n := range cfg.TLSNames {
		if !strings.HasSuffix(n, ".cache.amazonaws.com") {
			t.Errorf("TLS name %q is not an ElastiCache endpoint", n)
		}
	}
}

// The ExternalName overlay points the application at the Service, which is
// a CNAME to the same failover record: the chain client tests run
// (TestCNAMEChainThroughExternalName: redis.default.svc.cluster.local →
// redis.internal → the endpoint, verified at the end of the chain).
func TestExternalNameOverlay(t *testing.T) {
	base := appConfig(t, build(t, "base"))
	b := build(t, filepath.Join("overlays", "externalname"))
	cfg := appConfig(t, b)
	svc, ok := b.services["redis"]
	if !ok {
		t.Fatal("no Service redis")
	}
	if svc.Spec.Type != corev1.ServiceTypeExternalName || svc.Spec.ExternalName+":6379" != base.Addr {
		t.Errorf("service %s: type %s externalName %q, want ExternalName to the base's host %s", svc.Name, svc.Spec.Type, svc.Spec.ExternalName, base.Addr)
	}
	if cfg.Addr != svc.Name+":6379" || svc.Namespace != "default" {
		t.Errorf("application connects to %s, want the Service %s in default", cfg.Addr, svc.Name)
	}
	if !cfg.TLS || !slices.Equal(cfg.TLSNames, base.TLSNames) {
		t.Errorf("overlay changed TLS: %+v", cfg)
	}
}

// appConfig is what the application reads: the environment the Deployment's
// envFrom gives it, through client.FromEnv.
func appConfig(t *testing.T, b *built) client.Config {
	t.Helper()
	d, ok := b.deployments["my-app"]
	if !ok || len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatal("no Deployment my-app with one container")
	}
	c := d.Spec.Template.Spec.Containers[0]
	if d.Spec.Selector == nil || d.Spec.Selector.MatchLabels["app"] != d.Spec.Template.Labels["app"] {
		t.Errorf("selector %v does not select the pod labels %v", d.Spec.Selector, d.Spec.Template.Labels)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("container %s without requests and limits", c.Name)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			t.Fatalf("container %s: env %s from %v: only literal values are modelled here", c.Name, e.Name, e.ValueFrom)
		}
		env[e.Name] = e.Value
	}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			continue
		}
		cm, ok := b.configMaps[from.ConfigMapRef.Name]
		if !ok {
			t.Fatalf("envFrom names ConfigMap %q, which is not in the build", from.ConfigMapRef.Name)
		}
		merge(env, cm.Data)
	}
	// The mounted token's path exists only in the pod; the application reads
	// a file with the same content here.
	if f := env["REDIS_PASSWORD_FILE"]; f != "" {
		env["REDIS_PASSWORD_FILE"] = filepath.Join(t.TempDir(), filepath.Base(f))
		if err := os.WriteFile(env["REDIS_PASSWORD_FILE"], []byte(testToken+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := client.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("the application cannot start with this ConfigMap: %v", err)
	}
	return cfg
}

// testToken stands for the AUTH token the CSI driver mounts.
const testToken = "token-from-secrets-manager"

// The AUTH token reaches the application as a file that the Secrets Store
// CSI driver mounts from Secrets Manager (the AWS provider, with the
// secret's replica in the other region as the failover), read through
// REDIS_PASSWORD_FILE; no ConfigMap or environment variable carries it. In
// the base and in the overlay.
func TestAuthTokenMountedFromSecretsManager(t *testing.T) {
	for _, dir := range []string{"base", filepath.Join("overlays", "externalname")} {
		t.Run(dir, func(t *testing.T) {
			b := build(t, dir)
			pod := b.deployments["my-app"].Spec.Template.Spec
			if _, ok := b.serviceAccounts[pod.ServiceAccountName]; !ok || pod.ServiceAccountName == "" {
				t.Errorf("pod runs as ServiceAccount %q, which is not in the build: the CSI provider reads the secret as it", pod.ServiceAccountName)
			}
			c := pod.Containers[0]
			var file string
			for _, e := range c.Env {
				if e.Name == "REDIS_PASSWORD_FILE" {
					file = e.Value
				}
				if e.Name == "REDIS_PASSWORD" || e.Name == "REDIS_AUTH_TOKEN" {
					t.Errorf("env %s carries the token itself", e.Name)
				}
			}
			for _, cm := range b.configMaps {
				for k := range cm.Data {
					if strings.Contains(k, "PASSWORD") && k != "REDIS_PASSWORD_FILE" || strings.Contains(k, "TOKEN") {
						t.Errorf("ConfigMap %s has %s: the token belongs in Secrets Manager", cm.Name, k)
					}
				}
			}
			if file == "" {
				t.Fatal("container has no REDIS_PASSWORD_FILE")
			}
			// The file is in a read-only mount of a CSI volume of the driver.
			var mount *corev1.VolumeMount
			for i, m := range c.VolumeMounts {
				if filepath.Dir(file) == filepath.Clean(m.MountPath) {
					mount = &c.VolumeMounts[i]
				}
			}
			if mount == nil || !mount.ReadOnly {
				t.Fatalf("REDIS_PASSWORD_FILE=%s is not in a read-only volume mount (%+v)", file, c.VolumeMounts)
			}
			var spcName string
			for _, v := range pod.Volumes {
				if v.Name == mount.Name {
					if v.CSI == nil || v.CSI.Driver != "secrets-store.csi.k8s.io" || v.CSI.ReadOnly == nil || !*v.CSI.ReadOnly {
						t.Fatalf("volume %s is not a read-only volume of the Secrets Store CSI driver: %+v", v.Name, v.VolumeSource)
					}
					spcName = v.CSI.VolumeAttributes["secretProviderClass"]
				}
			}
			spc, ok := b.providerClasses[spcName]
			if !ok {
				t.Fatalf("volume %s names SecretProviderClass %q, which is not in the build", mount.Name, spcName)
			}
			if spc.APIVersion != "secrets-store.csi.x-k8s.io/v1" || spc.Spec.Provider != "aws" || spc.Metadata.Namespace != "default" {
				t.Errorf("SecretProviderClass %s: %s provider %q in %q, want secrets-store.csi.x-k8s.io/v1, aws, default", spcName, spc.APIVersion, spc.Spec.Provider, spc.Metadata.Namespace)
			}
			p := spc.Spec.Parameters
			if p["region"] == "" || p["failoverRegion"] == "" || p["region"] == p["failoverRegion"] {
				t.Errorf("SecretProviderClass %s: region %q, failoverRegion %q: want this region and the secret's replica region", spcName, p["region"], p["failoverRegion"])
			}
			var objects []ascpObject
			if err := yaml.UnmarshalStrict([]byte(p["objects"]), &objects); err != nil {
				t.Fatalf("SecretProviderClass %s: objects: %v", spcName, err)
			}
			if len(objects) != 1 || objects[0].ObjectType != "secretsmanager" || objects[0].ObjectName == "" ||
				filepath.Join(mount.MountPath, objects[0].ObjectAlias) != file {
				t.Errorf("SecretProviderClass %s mounts %+v; want one Secrets Manager secret at %s", spcName, objects, file)
			}
			if cfg := appConfig(t, b); cfg.Password != testToken {
				t.Errorf("the application read password %q from REDIS_PASSWORD_FILE, want the mounted token", cfg.Password)
			}
		})
	}
}
