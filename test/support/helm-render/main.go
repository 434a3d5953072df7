// helm-render renders a Helm chart offline the way `helm template` does, for the chart tests
// (no helm binary, no cluster, no network). It uses the same engine as Helm 3: Go's
// text/template with sprig v3 (Debian's golang-github-masterminds-sprig-dev) and Helm's own
// additions, reimplemented here from helm.sh/helm/v3/pkg/engine:
//
//   - funcs: sprig.TxtFuncMap() without env/expandenv, plus include (with recursion guard), tpl,
//     required, toYaml/fromYaml/fromYamlArray/toJson/fromJson/fromJsonArray (sigs.k8s.io/yaml
//     semantics: YAML goes through JSON, so every number in .Values is a float64, exactly like
//     Helm), lookup (always empty, as in `helm template`);
//   - every template of templates/ parsed into one set with missingkey=zero; files whose name
//     starts with "_" are partials and not rendered; NOTES.txt is rendered separately; the
//     literal "<no value>" is removed from the output; whitespace-only results are dropped;
//   - values: values.yaml, then each -f file coalesced over it (maps merge, a null deletes the key);
//   - built-in objects: .Values, .Release (Name, Namespace, Service=Helm, IsInstall, IsUpgrade,
//     Revision), .Chart (from Chart.yaml), .Capabilities (KubeVersion, APIVersions.Has,
//     HelmVersion), .Template (Name, BasePath), .Files (Get, Glob-less: chart files by path).
//
// Output (stdout): JSON {"values": merged values, "manifests": [{"template", "content"}], "notes"};
// with --values-only just the merged values (Helm validates them against values.schema.json
// before it renders anything).
// Errors (a failing `fail`/`required`, a parse error) go to stderr with exit status 1.
//
// Build in GOPATH mode against Debian's packaged sources (no module download):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o helm-render ./test/support/helm-render
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	yaml "gopkg.in/yaml.v2"
)

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// Chart mirrors the fields of helm.sh/helm/v3/pkg/chart.Metadata that templates use.
type Chart struct {
	Name        string            `yaml:"name" json:"name"`
	Version     string            `yaml:"version" json:"version"`
	AppVersion  string            `yaml:"appVersion" json:"appVersion"`
	Description string            `yaml:"description" json:"description"`
	Type        string            `yaml:"type" json:"type"`
	APIVersion  string            `yaml:"apiVersion" json:"apiVersion"`
	KubeVersion string            `yaml:"kubeVersion" json:"kubeVersion"`
	Keywords    []string          `yaml:"keywords" json:"keywords"`
	Annotations map[string]string `yaml:"annotations" json:"annotations"`
}

type Release struct {
	Name      string
	Namespace string
	Service   string
	IsInstall bool
	IsUpgrade bool
	Revision  int
}

type KubeVersion struct {
	Version    string
	Major      string
	Minor      string
	GitVersion string
}

func (k KubeVersion) String() string { return k.Version }

type VersionSet []string

func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
	HelmVersion map[string]string
}

// Files gives templates access to the chart's non-template files, like Helm's .Files.
type Files map[string][]byte

func (f Files) Get(name string) string { return string(f[name]) }
func (f Files) GetBytes(name string) []byte {
	return f[name]
}

// ---- sigs.k8s.io/yaml semantics -------------------------------------------------------------

// toJSONCompatible turns yaml.v2's map[interface{}]interface{} into map[string]interface{}.
func toJSONCompatible(v interface{}) (interface{}, error) {
	switch t := v.(type) {
	case map[interface{}]interface{}:
		out := make(map[string]interface{}, len(t))
		for k, val := range t {
			var key string
			switch kk := k.(type) {
			case string:
				key = kk
			case int, int64, float64, bool:
				key = fmt.Sprint(kk)
			default:
				return nil, fmt.Errorf("unsupported map key %#v", k)
			}
			c, err := toJSONCompatible(val)
			if err != nil {
				return nil, err
			}
			out[key] = c
		}
		return out, nil
	case []interface{}:
		out := make([]interface{}, len(t))
		for i, val := range t {
			c, err := toJSONCompatible(val)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	default:
		return v, nil
	}
}

// yamlUnmarshal is sigs.k8s.io/yaml.Unmarshal: YAML → JSON → encoding/json (numbers are float64).
func yamlUnmarshal(data []byte, target interface{}) error {
	var raw interface{}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return err
	}
	compatible, err := toJSONCompatible(raw)
	if err != nil {
		return err
	}
	j, err := json.Marshal(compatible)
	if err != nil {
		return err
	}
	return json.Unmarshal(j, target)
}

// yamlMarshal is sigs.k8s.io/yaml.Marshal: encoding/json → YAML via yaml.v2.
func yamlMarshal(v interface{}) ([]byte, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var obj interface{}
	if err := yaml.Unmarshal(j, &obj); err != nil {
		return nil, err
	}
	return yaml.Marshal(obj)
}

func toYAML(v interface{}) string {
	data, err := yamlMarshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

func fromYAML(str string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yamlUnmarshal([]byte(str), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromYAMLArray(str string) []interface{} {
	a := []interface{}{}
	if err := yamlUnmarshal([]byte(str), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(str string) map[string]interface{} {
	m := make(map[string]interface{})
	if err := json.Unmarshal([]byte(str), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(str string) []interface{} {
	a := []interface{}{}
	if err := json.Unmarshal([]byte(str), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

// ---- values ---------------------------------------------------------------------------------

// coalesce merges src over dst like Helm's chartutil.CoalesceValues for user values:
// maps merge recursively, other values replace, and a null removes the key.
func coalesce(dst, src map[string]interface{}) map[string]interface{} {
	for key, value := range src {
		if value == nil {
			delete(dst, key)
			continue
		}
		srcMap, srcIsMap := value.(map[string]interface{})
		dstMap, dstIsMap := dst[key].(map[string]interface{})
		if srcIsMap && dstIsMap {
			dst[key] = coalesce(dstMap, srcMap)
		} else {
			dst[key] = value
		}
	}
	return dst
}

func readValues(file string) (map[string]interface{}, error) {
	data, err := ioutil.ReadFile(file)
	if err != nil {
		return nil, err
	}
	values := map[string]interface{}{}
	if err := yamlUnmarshal(data, &values); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	return values, nil
}

// ---- engine ---------------------------------------------------------------------------------

const recursionMaxNums = 1000

type engine struct {
	root *template.Template
}

func (e *engine) funcMap() template.FuncMap {
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	included := map[string]int{}
	extra := template.FuncMap{
		"toToml":        func(v interface{}) string { return "toToml is not supported by helm-render" },
		"toYaml":        toYAML,
		"fromYaml":      fromYAML,
		"fromYamlArray": fromYAMLArray,
		"toJson":        toJSON,
		"fromJson":      fromJSON,
		"fromJsonArray": fromJSONArray,
		"include": func(name string, data interface{}) (string, error) {
			if included[name] > recursionMaxNums {
				return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
			}
			included[name]++
			defer func() { included[name]-- }()
			var buf strings.Builder
			err := e.root.ExecuteTemplate(&buf, name, data)
			return buf.String(), err
		},
		"tpl": func(tpl string, vals interface{}) (string, error) {
			t, err := e.root.Clone()
			if err != nil {
				return "", err
			}
			t, err = t.New("tpl").Parse(tpl)
			if err != nil {
				return "", fmt.Errorf("cannot parse template %q: %v", tpl, err)
			}
			var buf strings.Builder
			if err := t.Execute(&buf, vals); err != nil {
				return "", fmt.Errorf("error during tpl function execution for %q: %v", tpl, err)
			}
			return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
		},
		"required": func(warn string, val interface{}) (interface{}, error) {
			if val == nil {
				return val, errors.New(warn)
			}
			if s, ok := val.(string); ok && s == "" {
				return val, errors.New(warn)
			}
			return val, nil
		},
		"lookup": func(apiversion, resource, namespace, name string) (map[string]interface{}, error) {
			return map[string]interface{}{}, nil
		},
	}
	for k, v := range extra {
		funcs[k] = v
	}
	return funcs
}

type rendered struct {
	Template string `json:"template"`
	Content  string `json:"content"`
}

type output struct {
	Values    map[string]interface{} `json:"values"`
	Manifests []rendered             `json:"manifests"`
	Notes     string                 `json:"notes"`
}

func run() error {
	var valueFiles stringList
	chartDir := flag.String("chart", "", "chart directory")
	name := flag.String("name", "release", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	kubeVersion := flag.String("kube-version", "v1.30.0", "Kubernetes version for .Capabilities")
	var apiVersions stringList
	valuesOnly := flag.Bool("values-only", false, "print only the merged values (what Helm validates against values.schema.json), render nothing")
	flag.Var(&valueFiles, "f", "values file (repeatable; later files win)")
	flag.Var(&apiVersions, "api-versions", "extra API versions for .Capabilities.APIVersions (repeatable)")
	flag.Parse()
	if *chartDir == "" {
		return errors.New("--chart is required")
	}

	chartData, err := ioutil.ReadFile(filepath.Join(*chartDir, "Chart.yaml"))
	if err != nil {
		return err
	}
	var chart Chart
	if err := yaml.Unmarshal(chartData, &chart); err != nil {
		return fmt.Errorf("Chart.yaml: %v", err)
	}
	if chart.Name == "" || chart.Version == "" {
		return errors.New("Chart.yaml: name and version are required")
	}

	values, err := readValues(filepath.Join(*chartDir, "values.yaml"))
	if err != nil {
		return err
	}
	for _, file := range valueFiles {
		override, err := readValues(file)
		if err != nil {
			return err
		}
		values = coalesce(values, override)
	}

	if *valuesOnly {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", " ")
		return enc.Encode(output{Values: values, Manifests: []rendered{}})
	}

	files := Files{}
	var templateNames []string
	templates := map[string]string{}
	err = filepath.Walk(*chartDir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(*chartDir, p)
		rel = filepath.ToSlash(rel)
		data, err := ioutil.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasPrefix(rel, "templates/") {
			full := path.Join(chart.Name, rel)
			templates[full] = string(data)
			templateNames = append(templateNames, full)
		} else {
			files[rel] = data
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(templateNames)

	e := &engine{}
	e.root = template.New("gotpl").Option("missingkey=zero")
	e.root.Funcs(e.funcMap())
	for _, n := range templateNames {
		if _, err := e.root.New(n).Parse(templates[n]); err != nil {
			return fmt.Errorf("parse error in %s: %v", n, err)
		}
	}

	versions := VersionSet{"v1", "apps/v1", "policy/v1", "autoscaling/v2", "keda.sh/v1alpha1", "monitoring.coreos.com/v1"}
	versions = append(versions, apiVersions...)
	kv := strings.TrimPrefix(*kubeVersion, "v")
	parts := strings.SplitN(kv, ".", 3)
	caps := Capabilities{
		KubeVersion: KubeVersion{Version: *kubeVersion, Major: parts[0], Minor: parts[1], GitVersion: *kubeVersion},
		APIVersions: versions,
		HelmVersion: map[string]string{"Version": "v3.16.0"},
	}
	release := Release{Name: *name, Namespace: *namespace, Service: "Helm", IsInstall: true, Revision: 1}

	out := output{Values: values, Manifests: []rendered{}}
	for _, n := range templateNames {
		base := path.Base(n)
		if strings.HasPrefix(base, "_") {
			continue
		}
		top := map[string]interface{}{
			"Values":       values,
			"Release":      release,
			"Chart":        chart,
			"Capabilities": caps,
			"Files":        files,
			"Template":     map[string]interface{}{"Name": n, "BasePath": path.Join(chart.Name, "templates")},
		}
		var buf bytes.Buffer
		if err := e.root.ExecuteTemplate(&buf, n, top); err != nil {
			return err
		}
		content := strings.ReplaceAll(buf.String(), "<no value>", "")
		if base == "NOTES.txt" {
			out.Notes = content
			continue
		}
		if strings.TrimSpace(content) == "" {
			continue
		}
		out.Manifests = append(out.Manifests, rendered{Template: n, Content: content})
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	return enc.Encode(out)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}
