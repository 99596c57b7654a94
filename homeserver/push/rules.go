// Package push is SCoP's push notification domain: the spec's push rules
// (predefined set, the user's changes, evaluation against events) and
// pushers with the worker that posts to Push Gateways. It stores nothing
// itself; the pusher store is an interface (sqlitestore implements it).
package push

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Condition is one push rule condition as JSON (kind, key, pattern,
// value, is). A map keeps fields this server does not know on round trip.
type Condition map[string]any

// Rule is one push rule as the client API shows it.
type Rule struct {
	RuleID     string      `json:"rule_id"`
	Default    bool        `json:"default"`
	Enabled    bool        `json:"enabled"`
	Conditions []Condition `json:"conditions,omitempty"`
	Pattern    string      `json:"pattern,omitempty"`
	Actions    []any       `json:"actions"`
}

// Kinds are the rule kinds in the order they are evaluated.
var Kinds = []string{"override", "content", "room", "sender", "underride"}

// Ruleset is a user's rules by kind, each list in priority order.
type Ruleset map[string][]Rule

var (
	actNotify    = "notify"
	soundDefault = map[string]any{"set_tweak": "sound", "value": "default"}
	soundRing    = map[string]any{"set_tweak": "sound", "value": "ring"}
	highlight    = map[string]any{"set_tweak": "highlight"}
)

func match(key, pattern string) Condition {
	return Condition{"kind": "event_match", "key": key, "pattern": pattern}
}

func propertyIs(key string, value any) Condition {
	return Condition{"kind": "event_property_is", "key": key, "value": value}
}

func rule(id string, conds []Condition, actions ...any) Rule {
	if conds == nil {
		conds = []Condition{}
	}
	if actions == nil {
		actions = []any{}
	}
	return Rule{RuleID: id, Default: true, Enabled: true, Conditions: conds, Actions: actions}
}

// Predefined returns the spec's predefined rules (v1.7 and later) of
// userID.
func Predefined(userID string) Ruleset {
	local := strings.TrimPrefix(userID, "@")
	local, _, _ = strings.Cut(local, ":")
	master := rule(".m.rule.master", nil)
	master.Enabled = false
	override := []Rule{
		master,
		rule(".m.rule.suppress_notices", []Condition{match("content.msgtype", "m.notice")}),
		rule(".m.rule.invite_for_me", []Condition{match("type", "m.room.member"),
			match("content.membership", "invite"), match("state_key", userID)}, actNotify, soundDefault),
		rule(".m.rule.member_event", []Condition{match("type", "m.room.member")}),
		rule(".m.rule.is_user_mention", []Condition{{"kind": "event_property_contains",
			"key": `content.m\.mentions.user_ids`, "value": userID}}, actNotify, soundDefault, highlight),
		rule(".m.rule.contains_display_name", []Condition{{"kind": "contains_display_name"}}, actNotify, soundDefault, highlight),
		rule(".m.rule.is_room_mention", []Condition{propertyIs(`content.m\.mentions.room`, true),
			{"kind": "sender_notification_permission", "key": "room"}}, actNotify, highlight),
		rule(".m.rule.roomnotif", []Condition{{"kind": "sender_notification_permission", "key": "room"},
			match("content.body", "@room")}, actNotify, highlight),
		rule(".m.rule.tombstone", []Condition{match("type", "m.room.tombstone"), match("state_key", "")}, actNotify, highlight),
		rule(".m.rule.reaction", []Condition{match("type", "m.reaction")}),
		rule(".m.rule.server_acl", []Condition{match("type", "m.room.server_acl"), match("state_key", "")}),
		rule(".m.rule.suppress_edits", []Condition{propertyIs(`content.m\.relates_to.rel_type`, "m.replace")}),
	}
	userName := Rule{RuleID: ".m.rule.contains_user_name", Default: true, Enabled: true, Pattern: local,
		Actions: []any{actNotify, soundDefault, highlight}}
	underride := []Rule{
		rule(".m.rule.call", []Condition{match("type", "m.call.invite")}, actNotify, soundRing),
		rule(".m.rule.encrypted_room_one_to_one", []Condition{{"kind": "room_member_count", "is": "2"},
			match("type", "m.room.encrypted")}, actNotify, soundDefault),
		rule(".m.rule.room_one_to_one", []Condition{{"kind": "room_member_count", "is": "2"},
			match("type", "m.room.message")}, actNotify, soundDefault),
		rule(".m.rule.message", []Condition{match("type", "m.room.message")}, actNotify),
		rule(".m.rule.encrypted", []Condition{match("type", "m.room.encrypted")}, actNotify),
	}
	return Ruleset{
		"override":  override,
		"content":   {userName},
		"room":      {},
		"sender":    {},
		"underride": underride,
	}
}

// Find returns the rule kind/id of rs.
func (rs Ruleset) Find(kind, id string) (Rule, bool) {
	for _, r := range rs[kind] {
		if r.RuleID == id {
			return r, true
		}
	}
	return Rule{}, false
}

// Changes is what a user changed: their own rules by kind, in priority
// order, and changes to predefined rules by "kind/rule_id". It is stored
// as one JSON document per user.
type Changes struct {
	Rules    map[string][]Rule   `json:"rules,omitempty"`
	Defaults map[string]Override `json:"defaults,omitempty"`
}

// Override is a change of a predefined rule.
type Override struct {
	Enabled *bool `json:"enabled,omitempty"`
	Actions []any `json:"actions"` // nil: unchanged; [] is a change
}

// ParseChanges decodes a stored document (empty means no changes).
func ParseChanges(data []byte) (*Changes, error) {
	c := &Changes{}
	if len(data) > 0 {
		if err := json.Unmarshal(data, c); err != nil {
			return nil, fmt.Errorf("push rule changes: %w", err)
		}
	}
	if c.Rules == nil {
		c.Rules = map[string][]Rule{}
	}
	if c.Defaults == nil {
		c.Defaults = map[string]Override{}
	}
	return c, nil
}

// Ruleset assembles what the user sees and what is evaluated:
// .m.rule.master first, then the user's own rules above the other
// predefined ones of each kind.
func (c *Changes) Ruleset(userID string) Ruleset {
	defaults := Predefined(userID)
	out := Ruleset{}
	for _, kind := range Kinds {
		var ds []Rule
		for _, r := range defaults[kind] {
			if o, ok := c.Defaults[kind+"/"+r.RuleID]; ok {
				if o.Enabled != nil {
					r.Enabled = *o.Enabled
				}
				if o.Actions != nil {
					r.Actions = o.Actions
				}
			}
			ds = append(ds, r)
		}
		rules := []Rule{}
		if kind == "override" && len(ds) > 0 && ds[0].RuleID == ".m.rule.master" {
			rules = append(rules, ds[0])
			ds = ds[1:]
		}
		rules = append(rules, c.Rules[kind]...)
		out[kind] = append(rules, ds...)
	}
	return out
}
