// ssa-oracle applies sequences of server-side apply / update operations with sigs.k8s.io/structured-merge-diff
// (the library kube-apiserver's field manager uses), as the ground truth for the emulator's SSA
// (tests/ssa_differential.rs).
//
// stdin: {"schemas": {"<family>": S}, "cases": [{"family": "<family>", "steps": [{"manager": "a",
// "op": "apply"|"update", "force": false, "object": {...}}]}]} where S is a JSON schema node (OpenAPI v3 / kubernetes-validate style: "type" a string or
// ["x","null"], properties, additionalProperties, items, "$ref": "#/$defs/N" into S's own "$defs",
// x-kubernetes-list-type/-list-map-keys/-map-type/-int-or-string/-preserve-unknown-fields, default).
// stdout: {"results": [[{"object": {...}, "managed": {"a/Apply": fieldsV1}, "conflicts": {"b/Update": fieldsV1},
// "error": ""}]]}, one entry per step. Managers are keyed "<manager>/<Apply|Update>" as kube-apiserver keys them
// (k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager/internal/managedfields.go, BuildManagerIdentifier).
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"sigs.k8s.io/structured-merge-diff/v4/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v4/merge"
	"sigs.k8s.io/structured-merge-diff/v4/schema"
	"sigs.k8s.io/structured-merge-diff/v4/typed"
)

type step struct {
	Manager string      `json:"manager"`
	Op      string      `json:"op"`
	Force   bool        `json:"force"`
	Object  interface{} `json:"object"`
}

type tcase struct {
	Family string `json:"family"`
	Steps  []step `json:"steps"`
}

type input struct {
	Schemas map[string]map[string]interface{} `json:"schemas"`
	Cases   []tcase                           `json:"cases"`
}

type result struct {
	Object    interface{}                `json:"object"`
	Managed   map[string]json.RawMessage `json:"managed"`
	Conflicts map[string]json.RawMessage `json:"conflicts,omitempty"`
	Error     string                     `json:"error,omitempty"`
}

// conv turns a JSON schema into structured-merge-diff types the way k8s.io/kube-openapi/pkg/schemaconv does
// (lists atomic unless x-kubernetes-list-type says otherwise, maps and structs granular unless
// x-kubernetes-map-type: atomic, untyped nodes __untyped_atomic_, preserve-unknown-fields __untyped_deduced_).
type conv struct {
	defs  map[string]interface{}
	types []schema.TypeDef
	seen  map[string]bool
	err   error
}

func str(p string) *string { return &p }

const untypedAtomic = "__untyped_atomic_"
const untypedDeduced = "__untyped_deduced_"

func (c *conv) ref(node map[string]interface{}) schema.TypeRef {
	if r, ok := node["$ref"].(string); ok {
		name := r[strings.LastIndex(r, "/")+1:]
		def, _ := c.defs[name].(map[string]interface{})
		if def == nil {
			c.err = fmt.Errorf("unknown $ref %q", r)
			return schema.TypeRef{NamedType: str(untypedAtomic)}
		}
		if u := untypedRef(def); u != nil {
			return *u
		}
		if !c.seen[name] {
			c.seen[name] = true
			idx := len(c.types)
			c.types = append(c.types, schema.TypeDef{Name: name})
			atom := c.ref(def).Inlined
			c.types[idx].Atom = atom
		}
		return schema.TypeRef{NamedType: str(name)}
	}
	typ := typeOf(node)
	if u := untypedRef(node); u != nil {
		return *u
	}
	preserve, _ := node["x-kubernetes-preserve-unknown-fields"].(bool)
	props, _ := node["properties"].(map[string]interface{})
	switch typ {
	case "object", "":
		m := &schema.Map{}
		names := make([]string, 0, len(props))
		for k := range props {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			p, _ := props[k].(map[string]interface{})
			f := schema.StructField{Name: k, Type: c.ref(p)}
			if d, ok := p["default"]; ok {
				f.Default = d
			}
			m.Fields = append(m.Fields, f)
		}
		if ap, ok := node["additionalProperties"].(map[string]interface{}); ok {
			m.ElementType = c.ref(ap)
		} else if preserve {
			m.ElementType = schema.TypeRef{NamedType: str(untypedDeduced)}
		} else if props == nil {
			m.ElementType = schema.TypeRef{NamedType: str(untypedDeduced)}
		}
		if mt, _ := node["x-kubernetes-map-type"].(string); mt == "atomic" {
			m.ElementRelationship = schema.Atomic
		} else {
			m.ElementRelationship = schema.Separable
		}
		return schema.TypeRef{Inlined: schema.Atom{Map: m}}
	case "array":
		items, _ := node["items"].(map[string]interface{})
		l := &schema.List{ElementRelationship: schema.Atomic}
		if items == nil {
			l.ElementType = schema.TypeRef{NamedType: str(untypedAtomic)}
		} else {
			l.ElementType = c.ref(items)
		}
		switch lt, _ := node["x-kubernetes-list-type"].(string); lt {
		case "set":
			l.ElementRelationship = schema.Associative
		case "map":
			l.ElementRelationship = schema.Associative
			keys, _ := node["x-kubernetes-list-map-keys"].([]interface{})
			for _, k := range keys {
				if s, ok := k.(string); ok {
					l.Keys = append(l.Keys, s)
				}
			}
		}
		return schema.TypeRef{Inlined: schema.Atom{List: l}}
	case "string":
		s := schema.String
		return schema.TypeRef{Inlined: schema.Atom{Scalar: &s}}
	case "integer", "number":
		s := schema.Numeric
		return schema.TypeRef{Inlined: schema.Atom{Scalar: &s}}
	case "boolean":
		s := schema.Boolean
		return schema.TypeRef{Inlined: schema.Atom{Scalar: &s}}
	}
	c.err = fmt.Errorf("unsupported type %q", typ)
	return schema.TypeRef{NamedType: str(untypedAtomic)}
}

func typeOf(node map[string]interface{}) string {
	typ := ""
	switch t := node["type"].(type) {
	case string:
		typ = t
	case []interface{}:
		for _, x := range t {
			if s, ok := x.(string); ok && s != "null" {
				typ = s
			}
		}
	}
	return typ
}

// untypedRef is the untyped type of a node that has none (int-or-string, oneOf, no type nor fields).
func untypedRef(node map[string]interface{}) *schema.TypeRef {
	if _, ok := node["$ref"]; ok {
		return nil
	}
	if b, _ := node["x-kubernetes-int-or-string"].(bool); b {
		return &schema.TypeRef{NamedType: str(untypedAtomic)}
	}
	typ := typeOf(node)
	if _, ok := node["oneOf"]; ok && typ == "" {
		return &schema.TypeRef{NamedType: str(untypedAtomic)}
	}
	if typ == "" && node["properties"] == nil && node["additionalProperties"] == nil && node["items"] == nil {
		if b, _ := node["x-kubernetes-preserve-unknown-fields"].(bool); b {
			return &schema.TypeRef{NamedType: str(untypedDeduced)}
		}
		return &schema.TypeRef{NamedType: str(untypedAtomic)}
	}
	return nil
}

func untypedDefs() []schema.TypeDef {
	u := schema.Scalar("untyped")
	return []schema.TypeDef{
		{Name: untypedAtomic, Atom: schema.Atom{
			Scalar: &u,
			List:   &schema.List{ElementType: schema.TypeRef{NamedType: str(untypedAtomic)}, ElementRelationship: schema.Atomic},
			Map:    &schema.Map{ElementType: schema.TypeRef{NamedType: str(untypedAtomic)}, ElementRelationship: schema.Atomic},
		}},
		{Name: untypedDeduced, Atom: schema.Atom{
			Scalar: &u,
			List:   &schema.List{ElementType: schema.TypeRef{NamedType: str(untypedAtomic)}, ElementRelationship: schema.Atomic},
			Map:    &schema.Map{ElementType: schema.TypeRef{NamedType: str(untypedDeduced)}, ElementRelationship: schema.Separable},
		}},
	}
}

func parser(s map[string]interface{}) (typed.ParseableType, error) {
	defs, _ := s["$defs"].(map[string]interface{})
	c := &conv{defs: defs, seen: map[string]bool{}}
	c.types = untypedDefs()
	root := c.ref(s)
	if c.err != nil {
		return typed.ParseableType{}, c.err
	}
	td := schema.TypeDef{Name: "__root__"}
	if root.NamedType != nil {
		td.Atom = schema.Atom{Map: &schema.Map{}}
		for _, t := range c.types {
			if t.Name == *root.NamedType {
				td.Atom = t.Atom
			}
		}
	} else {
		td.Atom = root.Inlined
	}
	c.types = append(c.types, td)
	sc := &schema.Schema{Types: c.types}
	return typed.ParseableType{Schema: sc, TypeRef: schema.TypeRef{NamedType: str("__root__")}}, nil
}

type identity struct{}

func (identity) Convert(o *typed.TypedValue, _ fieldpath.APIVersion) (*typed.TypedValue, error) {
	return o, nil
}
func (identity) IsMissingVersionError(error) bool { return false }

func setJSON(s *fieldpath.Set) json.RawMessage {
	b, err := s.ToJSON()
	if err != nil {
		return json.RawMessage(`"` + err.Error() + `"`)
	}
	return json.RawMessage(b)
}

func runCase(tc tcase, pt typed.ParseableType) []result {
	out := make([]result, 0, len(tc.Steps))
	up := &merge.Updater{Converter: identity{}}
	live, err := pt.FromUnstructured(map[string]interface{}{})
	if err != nil {
		return append(out, result{Error: "empty: " + err.Error()})
	}
	managers := fieldpath.ManagedFields{}
	for _, st := range tc.Steps {
		r := result{}
		obj, err := pt.FromUnstructured(st.Object)
		if err != nil {
			r.Error = "invalid object: " + err.Error()
		} else {
			key := st.Manager + "/Update"
			if st.Op == "apply" {
				key = st.Manager + "/Apply"
			}
			cp := managers.Copy()
			var nobj *typed.TypedValue
			var nm fieldpath.ManagedFields
			if st.Op == "apply" {
				nobj, nm, err = up.Apply(live, obj, "v1", cp, key, st.Force)
			} else {
				nobj, nm, err = up.Update(live, obj, "v1", cp, key)
			}
			var cs merge.Conflicts
			if errors.As(err, &cs) {
				// The contested fields, per manager. v4.1.2's ConflictsFromManagers collects the paths that
				// Set.Iterate passes, which share one backing array (fieldpath/set.go iteratePrefix appends to
				// the prefix), so its list can name a field twice and miss another: recompute what
				// Updater.update contests, managerSet ∩ (Modified ∪ Added) of live vs the forced result.
				r.Conflicts = map[string]json.RawMessage{}
				forced, _, ferr := up.Apply(live, obj, "v1", managers.Copy(), key, true)
				if ferr != nil || forced == nil {
					r.Error = fmt.Sprintf("conflicts %v, forced apply: %v", cs, ferr)
				} else if cmp, cerr := live.Compare(forced); cerr != nil {
					r.Error = cerr.Error()
				} else {
					changed := cmp.Modified.Union(cmp.Added)
					for m, vs := range managers {
						if m == key {
							continue
						}
						if c := vs.Set().Intersection(changed); !c.Empty() {
							r.Conflicts[m] = setJSON(c)
						}
					}
				}
			} else if err != nil {
				r.Error = err.Error()
			} else {
				if nobj != nil {
					// The API server stores the object and decodes it again: null values do not survive.
					// An object left with nothing is an empty object (the API server keeps its metadata).
					u := stripNulls(nobj.AsValue().Unstructured())
					if u == nil {
						u = map[string]interface{}{}
					}
					if v, err := pt.FromUnstructured(u); err == nil {
						live = v
					} else {
						live = nobj
					}
				}
				// k8s.io/apiserver fieldmanager/internal/stripmeta.go: these are never tracked.
				for m, vs := range nm {
					s := vs.Set().Difference(stripSet)
					if s.Empty() {
						delete(nm, m)
					} else {
						nm[m] = fieldpath.NewVersionedSet(s, vs.APIVersion(), vs.Applied())
					}
				}
				managers = nm
			}
		}
		r.Object = live.AsValue().Unstructured()
		r.Managed = map[string]json.RawMessage{}
		for m, s := range managers {
			r.Managed[m] = setJSON(s.Set())
		}
		out = append(out, r)
	}
	return out
}

var stripSet = fieldpath.NewSet(
	fieldpath.MakePathOrDie("apiVersion"),
	fieldpath.MakePathOrDie("kind"),
	fieldpath.MakePathOrDie("metadata"),
	fieldpath.MakePathOrDie("metadata", "name"),
	fieldpath.MakePathOrDie("metadata", "namespace"),
	fieldpath.MakePathOrDie("metadata", "creationTimestamp"),
	fieldpath.MakePathOrDie("metadata", "selfLink"),
	fieldpath.MakePathOrDie("metadata", "uid"),
	fieldpath.MakePathOrDie("metadata", "clusterName"),
	fieldpath.MakePathOrDie("metadata", "generation"),
	fieldpath.MakePathOrDie("metadata", "managedFields"),
	fieldpath.MakePathOrDie("metadata", "resourceVersion"),
)

func stripNulls(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		out := map[string]interface{}{}
		for k, c := range t {
			if c != nil {
				out[k] = stripNulls(c)
			}
		}
		return out
	case []interface{}:
		out := []interface{}{}
		for _, c := range t {
			if c != nil {
				out = append(out, stripNulls(c))
			}
		}
		return out
	}
	return v
}

func main() {
	var in input
	dec := json.NewDecoder(os.Stdin)
	if err := dec.Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, "ssa-oracle: bad input:", err)
		os.Exit(2)
	}
	res := make([][]result, 0, len(in.Cases))
	parsers := map[string]typed.ParseableType{}
	for name, sc := range in.Schemas {
		pt, err := parser(sc)
		if err != nil {
			fmt.Fprintf(os.Stderr, "ssa-oracle: schema %s: %v\n", name, err)
			os.Exit(2)
		}
		parsers[name] = pt
	}
	for _, tc := range in.Cases {
		pt, ok := parsers[tc.Family]
		if !ok {
			res = append(res, []result{{Error: "unknown family " + tc.Family}})
			continue
		}
		res = append(res, runCase(tc, pt))
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(map[string]interface{}{"results": res}); err != nil {
		fmt.Fprintln(os.Stderr, "ssa-oracle:", err)
		os.Exit(1)
	}
}
