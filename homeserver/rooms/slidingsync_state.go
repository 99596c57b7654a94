package rooms

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// required_state: how a request names the state it wants, and the
// compiled form a room response is built with.

// RequiredState is a room config's required_state, as [type, state_key]
// pairs ("*" matches any, "$ME" is the requester, ["m.room.member",
// "$LAZY"] the members of the timeline). It reads the form deployed
// clients send, a list of pairs, and that of the MSC's latest revision,
// {"include": [{"type", "state_key"}], "exclude": [...], "lazy_members"},
// where an omitted field matches any.
type RequiredState struct {
	Include [][]string
	Exclude [][]string // only from the object form
}

// stateElem is one element of the object form.
type stateElem struct {
	Type     *string `json:"type,omitempty"`
	StateKey *string `json:"state_key,omitempty"`
}

// UnmarshalJSON reads either form.
func (rs *RequiredState) UnmarshalJSON(b []byte) error {
	t := bytes.TrimSpace(b)
	if len(t) == 0 || t[0] != '{' {
		rs.Exclude = nil
		return json.Unmarshal(b, &rs.Include)
	}
	var o struct {
		Include []stateElem `json:"include"`
		Exclude []stateElem `json:"exclude"`
		Lazy    bool        `json:"lazy_members"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	pairs := func(es []stateElem) [][]string {
		var out [][]string
		for _, e := range es {
			p := []string{"*", "*"}
			if e.Type != nil {
				p[0] = *e.Type
			}
			if e.StateKey != nil {
				p[1] = *e.StateKey
			}
			out = append(out, p)
		}
		return out
	}
	rs.Include, rs.Exclude = pairs(o.Include), pairs(o.Exclude)
	if o.Lazy {
		rs.Include = append(rs.Include, []string{spec.MRoomMember, "$LAZY"})
	}
	return nil
}

// MarshalJSON writes the list form, or the object form when there are
// exclusions (it reads back to the same value).
func (rs RequiredState) MarshalJSON() ([]byte, error) {
	if len(rs.Exclude) == 0 {
		return json.Marshal(rs.Include)
	}
	elems := func(pairs [][]string) []stateElem {
		out := []stateElem{}
		for _, p := range pairs {
			var e stateElem
			if len(p) > 0 && p[0] != "*" {
				e.Type = &p[0]
			}
			if len(p) > 1 && p[1] != "*" {
				e.StateKey = &p[1]
			}
			out = append(out, e)
		}
		return out
	}
	return json.Marshal(map[string]any{"include": elems(rs.Include), "exclude": elems(rs.Exclude)})
}

func (rs RequiredState) len() int { return len(rs.Include) + len(rs.Exclude) }

// bytes is roughly the memory rs holds: its strings plus a slice header
// per entry.
func (rs RequiredState) bytes() int {
	n := 0
	for _, e := range slices.Concat(rs.Include, rs.Exclude) {
		n += 24
		for _, s := range e {
			n += len(s)
		}
	}
	return n
}

// stateSpec is a compiled required_state: which state events a room's
// response carries.
type stateSpec struct {
	all     bool                       // ["*", "*"]
	types   map[string]map[string]bool // type → keys; key "*" for all keys
	anyType map[string]bool            // ["*", key]
	lazy    bool                       // ["m.room.member", "$LAZY"]
	entries []string                   // canonical form, for change detection
	// parts are merged configs with exclusions, kept apart: the union
	// of configs must not lose what one includes and another excludes.
	parts   []*stateSpec
	exclude *stateSpec
}

// merge adds a config's required_state (with $ME resolved to userID).
func (sp *stateSpec) merge(c SlidingRoomConfig, userID string) {
	if len(c.RequiredState.Exclude) > 0 {
		part := &stateSpec{exclude: &stateSpec{}}
		part.add(c.RequiredState.Include, userID)
		part.exclude.add(c.RequiredState.Exclude, userID)
		sp.parts = append(sp.parts, part)
		sp.lazy = sp.lazy || part.lazy
		sp.entries = append(sp.entries, part.entries...)
		for _, e := range part.exclude.entries {
			sp.entries = append(sp.entries, "!"+e)
		}
		return
	}
	sp.add(c.RequiredState.Include, userID)
}

func (sp *stateSpec) add(pairs [][]string, userID string) {
	if sp.types == nil {
		sp.types, sp.anyType = map[string]map[string]bool{}, map[string]bool{}
	}
	for _, e := range pairs {
		typ, key := e[0], e[1]
		if key == "$ME" {
			key = userID
		}
		switch {
		case typ == "*" && key == "*":
			sp.all = true
		case typ == spec.MRoomMember && key == "$LAZY":
			sp.lazy = true
		case typ == "*":
			sp.anyType[key] = true
		default:
			if sp.types[typ] == nil {
				sp.types[typ] = map[string]bool{}
			}
			sp.types[typ][key] = true
		}
		sp.entries = append(sp.entries, typ+"\x00"+key)
	}
}

// key is a canonical string of the spec: two requests asking for the same
// state give the same key.
func (sp *stateSpec) key() string {
	e := slices.Clone(sp.entries)
	slices.Sort(e)
	return strings.Join(slices.Compact(e), "\x01")
}

// matches reports whether the state event (typ, key) is required.
func (sp *stateSpec) matches(typ, key string) bool {
	if sp.includes(typ, key) {
		return true
	}
	for _, p := range sp.parts {
		if p.includes(typ, key) && !p.exclude.includes(typ, key) {
			return true
		}
	}
	return false
}

func (sp *stateSpec) includes(typ, key string) bool {
	if sp.all || sp.anyType[key] {
		return true
	}
	keys := sp.types[typ]
	return keys["*"] || keys[key]
}
