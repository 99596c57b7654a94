package clientapi

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"

	"scop/homeserver"
	"scop/homeserver/push"
)

// PushRuleStore keeps each user's push rule changes as one JSON document.
type PushRuleStore interface {
	PushRules(ctx context.Context, userID string) ([]byte, error)
	SetPushRules(ctx context.Context, userID string, data []byte) error
}

// pushKinds are the rule kinds in evaluation order.
var pushKinds = push.Kinds

type pushRules struct {
	store PushRuleStore
	// onChange is told the whole ruleset after each change (the m.push_rules
	// account data of /sync). May be nil.
	onChange func(ctx context.Context, userID string, content json.RawMessage) error
	mu       sync.Mutex // serialises read-modify-write of one process's changes
}

func (p *pushRules) load(ctx context.Context, userID string) (*push.Changes, error) {
	data, err := p.store.PushRules(ctx, userID)
	if err != nil {
		return nil, err
	}
	return push.ParseChanges(data)
}

// ruleset assembles what the user sees.
func ruleset(userID string, u *push.Changes) map[string][]pushRule { return u.Ruleset(userID) }

// update applies change to the user's rules under the lock, stores them
// and tells onChange.
func (p *pushRules) update(ctx context.Context, userID string, change func(u *push.Changes) error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	u, err := p.load(ctx, userID)
	if err != nil {
		return err
	}
	if err := change(u); err != nil {
		return err
	}
	data, err := json.Marshal(u)
	if err != nil {
		return err
	}
	if err := p.store.SetPushRules(ctx, userID, data); err != nil {
		return err
	}
	if p.onChange != nil {
		content, err := json.Marshal(map[string]any{"global": ruleset(userID, u)})
		if err != nil {
			return err
		}
		return p.onChange(ctx, userID, content)
	}
	return nil
}

func (ar *accountRoutes) pushRuleRoutes(a *API) {
	p := &pushRules{store: ar.acc, onChange: ar.opts.OnPushRulesChange}
	ar.pusherRoutes(a)
	get := func(r *http.Request) (map[string][]pushRule, error) {
		u, err := p.load(r.Context(), MustDevice(r).UserID)
		if err != nil {
			return nil, err
		}
		return ruleset(MustDevice(r).UserID, u), nil
	}
	a.Handle("GET /pushrules/{$}", Authed, func(r *http.Request) (any, error) {
		rs, err := get(r)
		return map[string]any{"global": rs}, err
	})
	a.Handle("GET /pushrules/global/{$}", Authed, func(r *http.Request) (any, error) { return get(r) })
	find := func(r *http.Request) (pushRule, error) {
		rs, err := get(r)
		if err != nil {
			return pushRule{}, err
		}
		return findRule(rs, r.PathValue("kind"), r.PathValue("ruleID"))
	}
	const one = "/pushrules/global/{kind}/{ruleID}"
	a.Handle("GET "+one, Authed, func(r *http.Request) (any, error) { return find(r) })
	a.Handle("GET "+one+"/enabled", Authed, func(r *http.Request) (any, error) {
		pr, err := find(r)
		return map[string]any{"enabled": pr.Enabled}, err
	})
	a.Handle("GET "+one+"/actions", Authed, func(r *http.Request) (any, error) {
		pr, err := find(r)
		return map[string]any{"actions": pr.Actions}, err
	})
	a.Handle("PUT "+one, Authed, p.put)
	a.Handle("DELETE "+one, Authed, p.delete)
	a.Handle("PUT "+one+"/enabled", Authed, p.setEnabled)
	a.Handle("PUT "+one+"/actions", Authed, p.setActions)
}

func findRule(rs map[string][]pushRule, kind, id string) (pushRule, error) {
	rules, ok := rs[kind]
	if !ok {
		return pushRule{}, homeserver.Errorf(homeserver.ErrInvalidParam, "Unknown rule kind %q", kind)
	}
	for _, pr := range rules {
		if pr.RuleID == id {
			return pr, nil
		}
	}
	return pushRule{}, homeserver.Errorf(homeserver.ErrNotFound, "Unknown push rule")
}

func checkKind(kind string) error {
	if !slices.Contains(pushKinds, kind) {
		return homeserver.Errorf(homeserver.ErrInvalidParam, "Unknown rule kind %q", kind)
	}
	return nil
}

// checkActions accepts the spec's actions: "notify" (and the obsolete
// "dont_notify" and "coalesce", which clients still send) and set_tweak
// objects.
func checkActions(actions []any) error {
	for _, a := range actions {
		switch v := a.(type) {
		case string:
			if v != "notify" && v != "dont_notify" && v != "coalesce" {
				return homeserver.Errorf(homeserver.ErrInvalidParam, "Unknown action %q", v)
			}
		case map[string]any:
			if tw, ok := v["set_tweak"].(string); !ok || tw == "" {
				return homeserver.Errorf(homeserver.ErrInvalidParam, "An action object needs set_tweak")
			}
		default:
			return homeserver.Errorf(homeserver.ErrInvalidParam, "Actions are strings or set_tweak objects")
		}
	}
	return nil
}

func userRuleIndex(rules []pushRule, id string) int {
	return slices.IndexFunc(rules, func(r pushRule) bool { return r.RuleID == id })
}

func (p *pushRules) put(r *http.Request) (any, error) {
	kind, id := r.PathValue("kind"), r.PathValue("ruleID")
	if err := checkKind(kind); err != nil {
		return nil, err
	}
	if id == "" || strings.HasPrefix(id, ".") || strings.ContainsAny(id, `/\`) {
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "rule_id must not start with '.' or contain slashes")
	}
	var req struct {
		Actions    *[]any          `json:"actions"`
		Conditions []pushCondition `json:"conditions"`
		Pattern    *string         `json:"pattern"`
	}
	if err := DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	if req.Actions == nil {
		return nil, homeserver.Errorf(homeserver.ErrMissingParam, "actions is required")
	}
	if err := checkActions(*req.Actions); err != nil {
		return nil, err
	}
	rule := pushRule{RuleID: id, Enabled: true, Actions: *req.Actions}
	switch kind {
	case "content":
		if req.Pattern == nil || *req.Pattern == "" {
			return nil, homeserver.Errorf(homeserver.ErrMissingParam, "pattern is required for content rules")
		}
		rule.Pattern = *req.Pattern
	case "override", "underride":
		for _, c := range req.Conditions {
			if k, _ := c["kind"].(string); k == "" {
				return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "Each condition needs a kind")
			}
		}
		rule.Conditions = req.Conditions
		if rule.Conditions == nil {
			rule.Conditions = []pushCondition{}
		}
	case "room":
		if !strings.HasPrefix(id, "!") {
			return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "Room rules are named by a room ID")
		}
	case "sender":
		if !strings.HasPrefix(id, "@") {
			return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "Sender rules are named by a user ID")
		}
	}
	q := r.URL.Query()
	before, after := q.Get("before"), q.Get("after")
	return struct{}{}, p.update(r.Context(), MustDevice(r).UserID, func(u *push.Changes) error {
		rules := u.Rules[kind]
		pos := userRuleIndex(rules, id)
		if pos >= 0 {
			if old := rules[pos]; !old.Enabled {
				rule.Enabled = false // an update keeps the rule's enabled state
			}
			rules = slices.Delete(rules, pos, pos+1)
		} else {
			pos = 0 // a new rule is the most important of the user's
		}
		for _, rel := range []struct {
			id    string
			after bool
		}{{after, true}, {before, false}} { // before wins when both are given
			if rel.id == "" {
				continue
			}
			i := userRuleIndex(rules, rel.id)
			if i < 0 {
				return homeserver.Errorf(homeserver.ErrNotFound, "No user rule %q to place this rule next to", rel.id)
			}
			pos = i
			if rel.after {
				pos = i + 1
			}
		}
		u.Rules[kind] = slices.Insert(rules, min(pos, len(rules)), rule)
		return nil
	})
}

func (p *pushRules) delete(r *http.Request) (any, error) {
	kind, id := r.PathValue("kind"), r.PathValue("ruleID")
	if err := checkKind(kind); err != nil {
		return nil, err
	}
	if strings.HasPrefix(id, ".") {
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "Predefined rules cannot be deleted; disable them instead")
	}
	return struct{}{}, p.update(r.Context(), MustDevice(r).UserID, func(u *push.Changes) error {
		i := userRuleIndex(u.Rules[kind], id)
		if i < 0 {
			return homeserver.Errorf(homeserver.ErrNotFound, "Unknown push rule")
		}
		u.Rules[kind] = slices.Delete(u.Rules[kind], i, i+1)
		return nil
	})
}

// modify changes a user rule in place, or records the change of a
// predefined one.
func (p *pushRules) modify(r *http.Request, change func(pr *pushRule, o *push.Override)) error {
	kind, id := r.PathValue("kind"), r.PathValue("ruleID")
	if err := checkKind(kind); err != nil {
		return err
	}
	userID := MustDevice(r).UserID
	return p.update(r.Context(), userID, func(u *push.Changes) error {
		if i := userRuleIndex(u.Rules[kind], id); i >= 0 {
			change(&u.Rules[kind][i], nil)
			return nil
		}
		if _, err := findRule(push.Predefined(userID), kind, id); err != nil {
			return err
		}
		o := u.Defaults[kind+"/"+id]
		change(nil, &o)
		u.Defaults[kind+"/"+id] = o
		return nil
	})
}

func (p *pushRules) setEnabled(r *http.Request) (any, error) {
	var req struct {
		Enabled *bool `json:"enabled"`
	}
	if err := DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	if req.Enabled == nil {
		return nil, homeserver.Errorf(homeserver.ErrMissingParam, "enabled is required")
	}
	return struct{}{}, p.modify(r, func(pr *pushRule, o *push.Override) {
		if pr != nil {
			pr.Enabled = *req.Enabled
		} else {
			o.Enabled = req.Enabled
		}
	})
}

func (p *pushRules) setActions(r *http.Request) (any, error) {
	var req struct {
		Actions *[]any `json:"actions"`
	}
	if err := DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	if req.Actions == nil {
		return nil, homeserver.Errorf(homeserver.ErrMissingParam, "actions is required")
	}
	if err := checkActions(*req.Actions); err != nil {
		return nil, err
	}
	acts := *req.Actions
	if acts == nil {
		acts = []any{}
	}
	return struct{}{}, p.modify(r, func(pr *pushRule, o *push.Override) {
		if pr != nil {
			pr.Actions = acts
		} else {
			o.Actions = acts
		}
	})
}
