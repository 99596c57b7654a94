package push

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Event is an event parsed once to be evaluated against many users'
// rules (evaluation runs per event per member).
type Event struct {
	root      map[string]any
	body      string // content.body, lower-cased
	hasBody   bool
	roomID    string
	sender    string
	senderSet bool
}

// ParseEvent parses a client-format or federation-format event.
func ParseEvent(data []byte) (*Event, error) {
	var root map[string]any
	if err := json.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("push: parse event: %w", err)
	}
	if root == nil {
		return nil, fmt.Errorf("push: parse event: not an object")
	}
	e := &Event{root: root}
	e.roomID, _ = root["room_id"].(string)
	e.sender, e.senderSet = root["sender"].(string)
	if c, ok := root["content"].(map[string]any); ok {
		if b, ok := c["body"].(string); ok {
			e.body, e.hasBody = strings.ToLower(b), true
		}
	}
	return e, nil
}

// Sender is the event's sender.
func (e *Event) Sender() string { return e.sender }

// lookup follows a split dotted path.
func (e *Event) lookup(path []string) (any, bool) {
	var cur any = e.root
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// Env is what the rules see besides the event, for one recipient.
type Env struct {
	UserID      string
	DisplayName string // the recipient's display name in the room
	MemberCount int    // joined members
	// SenderPowerLevel and NotificationLevels (the "notifications" of
	// m.room.power_levels) decide sender_notification_permission; a key
	// missing from NotificationLevels requires 50.
	SenderPowerLevel   int64
	NotificationLevels map[string]int64
}

// Actions is the outcome of evaluating one event for one user.
type Actions struct {
	Notify    bool
	Highlight bool
	Sound     string
	// Tweaks are every set_tweak of the matched rule, for the gateway.
	Tweaks map[string]any
	// RuleID is the matched rule ("" when none matched).
	RuleID string
}

// Counts reports whether the event counts as a notification and as a
// highlight in unread_notifications.
func (a Actions) Counts() (notification, highlight bool) {
	return a.Notify, a.Notify && a.Highlight
}

// Evaluator is a compiled ruleset; it is safe for concurrent use.
type Evaluator struct {
	rules []compiledRule
}

type compiledRule struct {
	conds   []cond
	actions Actions
}

type cond interface {
	match(e *Event, env *Env) bool
}

// Compile compiles the enabled rules of rs in evaluation order. Globs
// are compiled here, once per ruleset.
func Compile(rs Ruleset) *Evaluator {
	ev := &Evaluator{}
	for _, kind := range Kinds {
		for _, r := range rs[kind] {
			if !r.Enabled {
				continue
			}
			cr := compiledRule{actions: parseActions(r.Actions)}
			cr.actions.RuleID = r.RuleID
			switch kind {
			case "override", "underride":
				for _, c := range r.Conditions {
					cr.conds = append(cr.conds, compileCondition(c))
				}
			case "content":
				cr.conds = []cond{&eventMatch{path: []string{"content", "body"}, body: true, glob: compileGlob(r.Pattern, true)}}
			case "room":
				cr.conds = []cond{exactRoom(r.RuleID)}
			case "sender":
				cr.conds = []cond{exactSender(r.RuleID)}
			}
			ev.rules = append(ev.rules, cr)
		}
	}
	return ev
}

// Evaluate returns the actions of the first rule that matches e for env
// (the zero Actions when none does: no notification).
func (ev *Evaluator) Evaluate(e *Event, env *Env) Actions {
next:
	for i := range ev.rules {
		r := &ev.rules[i]
		for _, c := range r.conds {
			if !c.match(e, env) {
				continue next
			}
		}
		return r.actions
	}
	return Actions{}
}

// parseActions reads an actions array: "notify", set_tweak objects;
// "dont_notify" and "coalesce" are obsolete and stripped (the spec makes
// ["dont_notify"] equal to []), and so is anything unknown.
func parseActions(list []any) Actions {
	var a Actions
	for _, x := range list {
		switch v := x.(type) {
		case string:
			if v == "notify" {
				a.Notify = true
			}
		case map[string]any:
			name, _ := v["set_tweak"].(string)
			if name == "" {
				continue
			}
			val, has := v["value"]
			switch name {
			case "highlight":
				b, isBool := val.(bool)
				a.Highlight = !has || (isBool && b)
				if !a.Highlight {
					continue
				}
				val = true
			case "sound":
				s, _ := val.(string)
				a.Sound = s
			}
			if a.Tweaks == nil {
				a.Tweaks = map[string]any{}
			}
			if has || name == "highlight" {
				a.Tweaks[name] = val
			}
		}
	}
	return a
}

// SplitPath splits a dotted key: "." separates, `\.` is a literal dot
// and `\\` a literal backslash; any other backslash stays as it is.
func SplitPath(key string) []string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '\\' && i+1 < len(key) && (key[i+1] == '.' || key[i+1] == '\\'):
			cur.WriteByte(key[i+1])
			i++
		case c == '.':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, cur.String())
}

func compileCondition(c Condition) cond {
	kind, _ := c["kind"].(string)
	key, _ := c["key"].(string)
	switch kind {
	case "event_match":
		pattern, ok := c["pattern"].(string)
		if !ok || key == "" {
			return never{}
		}
		body := key == "content.body"
		return &eventMatch{path: SplitPath(key), body: body, glob: compileGlob(pattern, body)}
	case "event_property_is", "event_property_contains":
		v, ok := c["value"]
		if !ok || key == "" || !scalar(v) {
			return never{}
		}
		return &propertyMatch{path: SplitPath(key), value: v, contains: kind == "event_property_contains"}
	case "contains_display_name":
		return displayName{}
	case "room_member_count":
		is, _ := c["is"].(string)
		return compileMemberCount(is)
	case "sender_notification_permission":
		if key == "" {
			return never{}
		}
		return notifyPermission(key)
	}
	// Unknown conditions match nothing (the spec), disabling the rule.
	return never{}
}

type never struct{}

func (never) match(*Event, *Env) bool { return false }

type exactRoom string

func (r exactRoom) match(e *Event, _ *Env) bool { return e.roomID == string(r) }

type exactSender string

func (s exactSender) match(e *Event, _ *Env) bool { return e.senderSet && e.sender == string(s) }

type eventMatch struct {
	path []string
	body bool
	glob *glob
}

func (m *eventMatch) match(e *Event, _ *Env) bool {
	if m.body {
		return e.hasBody && m.glob.matchLower(e.body)
	}
	v, ok := e.lookup(m.path)
	if !ok {
		return false
	}
	s, ok := v.(string)
	return ok && m.glob.match(s)
}

// scalar reports whether v may be compared by event_property_*: a
// string, number, boolean or null.
func scalar(v any) bool {
	switch v.(type) {
	case string, float64, bool, nil:
		return true
	}
	return false
}

type propertyMatch struct {
	path     []string
	value    any
	contains bool
}

func (m *propertyMatch) match(e *Event, _ *Env) bool {
	v, ok := e.lookup(m.path)
	if !ok {
		return false
	}
	if !m.contains {
		return scalar(v) && v == m.value
	}
	arr, ok := v.([]any)
	if !ok {
		return false
	}
	for _, x := range arr {
		if scalar(x) && x == m.value {
			return true
		}
	}
	return false
}

type displayName struct{}

func (displayName) match(e *Event, env *Env) bool {
	if !e.hasBody || env.DisplayName == "" {
		return false
	}
	return containsWord(e.body, strings.ToLower(env.DisplayName))
}

type memberCount struct {
	op string
	n  int
}

func compileMemberCount(is string) cond {
	op := "=="
	for _, p := range []string{"==", "<=", ">=", "<", ">"} {
		if strings.HasPrefix(is, p) {
			op, is = p, is[len(p):]
			break
		}
	}
	n, err := strconv.Atoi(is)
	if err != nil || n < 0 || strings.HasPrefix(is, "+") {
		return never{}
	}
	return memberCount{op, n}
}

func (m memberCount) match(_ *Event, env *Env) bool {
	c := env.MemberCount
	switch m.op {
	case "<":
		return c < m.n
	case ">":
		return c > m.n
	case "<=":
		return c <= m.n
	case ">=":
		return c >= m.n
	}
	return c == m.n
}

type notifyPermission string

func (k notifyPermission) match(_ *Event, env *Env) bool {
	need, ok := env.NotificationLevels[string(k)]
	if !ok {
		need = 50
	}
	return env.SenderPowerLevel >= need
}
