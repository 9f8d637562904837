package build

import (
	"context"
	"fmt"
	"os"

	"github.com/getsops/sops/v3/cmd/sops/formats"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// LocalResources supplies ConfigMaps and Secrets from files instead of a cluster (push mode without a
// cluster, `--local-resource Kind/namespace/name=FILE`), and the SOPS keys given locally.
type LocalResources struct {
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	// Keys are SOPS decryption keys from local files or the environment; nil when none were given.
	Keys *DecryptionKeys
}

// NewLocalResources returns an empty set.
func NewLocalResources() *LocalResources {
	return &LocalResources{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
}

// AddFile reads a ConfigMap or Secret manifest from file and registers it as kind namespace/name, which
// must match the manifest. A SOPS-encrypted file (YAML or JSON) is decrypted with Keys: set them first.
func (l *LocalResources) AddFile(kind, namespace, name, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("local resource %s/%s/%s: %w", kind, namespace, name, err)
	}
	if data, err = l.decrypt(file, data); err != nil {
		return fmt.Errorf("local resource %s: %w", file, err)
	}
	switch kind {
	case "ConfigMap":
		cm := &corev1.ConfigMap{}
		if err := yaml.UnmarshalStrict(data, cm); err != nil {
			return fmt.Errorf("local resource %s: %w", file, err)
		}
		if cm.Kind != "ConfigMap" || cm.Name != name {
			return fmt.Errorf("local resource %s: holds %s %s, want ConfigMap %s", file, cm.Kind, cm.Name, name)
		}
		cm.Namespace = namespace
		l.AddConfigMap(cm)
	case "Secret":
		s := &corev1.Secret{}
		if err := yaml.UnmarshalStrict(data, s); err != nil {
			return fmt.Errorf("local resource %s: %w", file, err)
		}
		if s.Kind != "Secret" || s.Name != name {
			return fmt.Errorf("local resource %s: holds %s %s, want Secret %s", file, s.Kind, s.Name, name)
		}
		s.Namespace = namespace
		l.AddSecret(s)
	default:
		return fmt.Errorf("local resource %s/%s/%s: only ConfigMap and Secret are supported", kind, namespace, name)
	}
	return nil
}

// AddConfigMap registers cm.
func (l *LocalResources) AddConfigMap(cm *corev1.ConfigMap) {
	l.configMaps[cm.Namespace+"/"+cm.Name] = cm
}

// AddSecret registers s; stringData is folded into data as the API server would.
func (l *LocalResources) AddSecret(s *corev1.Secret) {
	if len(s.StringData) > 0 {
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
		s.StringData = nil
	}
	l.secrets[s.Namespace+"/"+s.Name] = s
}

// GetConfigMap implements source.ConfigMaps.
func (l *LocalResources) GetConfigMap(_ context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	if cm, ok := l.configMaps[namespace+"/"+name]; ok {
		return cm, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, namespace+"/"+name)
}

// GetSecret implements source.Secrets.
func (l *LocalResources) GetSecret(_ context.Context, namespace, name string) (*corev1.Secret, error) {
	if s, ok := l.secrets[namespace+"/"+name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, namespace+"/"+name)
}

// decrypt returns data decrypted when it is a SOPS-encrypted YAML or JSON document, else data.
func (l *LocalResources) decrypt(file string, data []byte) (out []byte, err error) {
	format, ok := detectFormat(data)
	if !ok {
		return data, nil
	}
	if format != formats.Yaml && format != formats.Json {
		return nil, fmt.Errorf("SOPS-encrypted %s file: a manifest must be YAML or JSON", formatName(format))
	}
	defer func() {
		// Malformed input can make SOPS panic.
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("malformed SOPS %s document: %v", formatName(format), r)
		}
	}()
	keys := l.Keys
	if keys == nil {
		keys = &DecryptionKeys{}
	}
	plain, err := decryptDocument(keys, data, format, format)
	if err != nil {
		return nil, fmt.Errorf("SOPS decryption: %w", err)
	}
	return plain, nil
}
