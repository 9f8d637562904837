package apply

import (
	"encoding/json"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ownedUnchanged reports whether a server-side apply of desired by fieldManager would leave live exactly
// as it is, so that no dry-run is needed. It needs no schema: the field manager's entry in live's
// managedFields says which fields it owns and, for lists, how their items are keyed. Applying desired
// changes nothing when
//   - the fields desired sets are exactly the fields fieldManager owns (none would be added or removed),
//   - and live holds desired's value in each of them.
//
// A field another writer changed by an update is no longer owned by fieldManager (ownership moves with
// the change), and one changed by a forced apply likewise, so drift always fails the first test, and a
// value changed behind the owner's back in any other way fails the second. Whatever this cannot decide
// (null values, unkeyed lists, values the server normalises) answers false, and the caller dry-runs.
func ownedUnchanged(desired, live *unstructured.Unstructured, fieldManager string) bool {
	var entry *metav1.ManagedFieldsEntry
	fields := live.GetManagedFields()
	for i := range fields {
		e := &fields[i]
		if e.Manager == fieldManager && e.Operation == metav1.ManagedFieldsOperationApply && e.Subresource == "" {
			entry = e
		}
	}
	if entry == nil || entry.APIVersion != desired.GetAPIVersion() || entry.FieldsV1 == nil || desired.GetKind() != live.GetKind() {
		return false
	}
	var owned map[string]any
	if err := json.Unmarshal(entry.FieldsV1.Raw, &owned); err != nil {
		return false
	}
	// The identity fields are part of every apply and never tracked.
	d := make(map[string]any, len(desired.Object))
	for k, v := range desired.Object {
		if k != "apiVersion" && k != "kind" {
			d[k] = v
		}
	}
	if md, ok := d["metadata"].(map[string]any); ok {
		if md["name"] != live.GetName() || (md["namespace"] != nil && md["namespace"] != live.GetNamespace()) {
			return false
		}
		rest := make(map[string]any, len(md))
		for k, v := range md {
			if k != "name" && k != "namespace" {
				rest[k] = v
			}
		}
		if len(rest) == 0 {
			delete(d, "metadata")
		} else {
			d["metadata"] = rest
		}
	}
	return sameOwned(d, live.Object, owned, true)
}

// sameOwned compares desired value d with live value l under the owned field set fs (FieldsV1 as JSON).
// root is true at the top of the object, where an empty field set still means "a map of fields".
func sameOwned(d, l any, fs map[string]any, root bool) bool {
	var fieldKids, keyKids, valueKids int
	for k := range fs {
		switch {
		case k == ".":
		case strings.HasPrefix(k, "f:"):
			fieldKids++
		case strings.HasPrefix(k, "k:"):
			keyKids++
		case strings.HasPrefix(k, "v:"):
			valueKids++
		default: // "i:" (positional) or unknown
			return false
		}
	}
	switch dv := d.(type) {
	case nil:
		return false
	case map[string]any:
		if keyKids+valueKids > 0 {
			return false
		}
		if fieldKids == 0 && !root {
			// An atomic map (or an empty one): owned as one value.
			return sameValue(dv, l)
		}
		lm, ok := l.(map[string]any)
		if !ok || len(dv) != fieldKids {
			return false
		}
		for k, v := range dv {
			child, ok := fs["f:"+k].(map[string]any)
			if !ok {
				return false
			}
			lv, ok := lm[k]
			if !ok || !sameOwned(v, lv, child, false) {
				return false
			}
		}
		return true
	case []any:
		if fieldKids > 0 {
			return false
		}
		if keyKids == 0 && valueKids == 0 {
			return sameValue(dv, l) // an atomic list
		}
		ll, ok := l.([]any)
		if !ok {
			return false
		}
		if keyKids > 0 {
			return valueKids == 0 && sameKeyedList(dv, ll, fs, keyKids)
		}
		return sameSet(dv, ll, fs, valueKids)
	default:
		if fieldKids+keyKids+valueKids > 0 {
			return false
		}
		return sameValue(dv, l)
	}
}

// sameKeyedList compares an associative list: every desired item matches exactly one owned key, and
// the live items with those keys appear in the desired order.
func sameKeyedList(d, l []any, fs map[string]any, keys int) bool {
	if len(d) != keys {
		return false
	}
	type owned struct {
		key    map[string]any
		fields map[string]any
	}
	var entries []owned
	for k, v := range fs {
		if !strings.HasPrefix(k, "k:") {
			continue
		}
		var key map[string]any
		fields, ok := v.(map[string]any)
		if json.Unmarshal([]byte(k[2:]), &key) != nil || !ok || len(key) == 0 {
			return false
		}
		entries = append(entries, owned{key, fields})
	}
	used := make([]bool, len(entries))
	last := -1
	for _, item := range d {
		im, ok := item.(map[string]any)
		if !ok {
			return false
		}
		match := -1
		for i, e := range entries {
			if itemHasKey(im, e.key, e.fields) {
				if match >= 0 {
					return false // ambiguous
				}
				match = i
			}
		}
		if match < 0 || used[match] {
			return false
		}
		used[match] = true
		at := -1
		for j, li := range l {
			if lm, ok := li.(map[string]any); ok && liveHasKey(lm, entries[match].key) {
				if at >= 0 {
					return false
				}
				at = j
			}
		}
		if at <= last {
			return false
		}
		last = at
		if !sameOwned(im, l[at], entries[match].fields, false) {
			return false
		}
	}
	return true
}

// itemHasKey reports whether desired item carries key. A key field the item leaves out is one the server
// defaulted (protocol: TCP); it matches when the owner does not own that field, i.e. did not set it either.
func itemHasKey(item, key, fields map[string]any) bool {
	for k, kv := range key {
		v, ok := item[k]
		if !ok {
			if _, owns := fields["f:"+k]; owns {
				return false
			}
			continue
		}
		if !sameValue(v, kv) {
			return false
		}
	}
	return true
}

func liveHasKey(item, key map[string]any) bool {
	for k, kv := range key {
		v, ok := item[k]
		if !ok || !sameValue(v, kv) {
			return false
		}
	}
	return true
}

// sameSet compares a set list (items owned by value).
func sameSet(d, l []any, fs map[string]any, values int) bool {
	if len(d) != values {
		return false
	}
	last := -1
	for _, item := range d {
		b, err := json.Marshal(item)
		if err != nil {
			return false
		}
		if _, ok := fs["v:"+string(b)]; !ok {
			return false
		}
		at := -1
		for j, li := range l {
			if sameValue(item, li) {
				at = j
				break
			}
		}
		if at <= last {
			return false
		}
		last = at
	}
	return true
}

// sameValue compares two JSON values, numbers by value whatever their Go type.
func sameValue(a, b any) bool {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for k, v := range av {
			w, ok := bv[k]
			if !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for i := range av {
			if !sameValue(av[i], bv[i]) {
				return false
			}
		}
		return true
	case nil:
		return b == nil
	}
	if x, ok := number(a); ok {
		y, ok := number(b)
		return ok && x == y
	}
	switch b.(type) {
	case map[string]any, []any:
		return false
	}
	return a == b
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}
