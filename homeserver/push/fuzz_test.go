package push_test

import (
	"encoding/json"
	"testing"

	"scop/homeserver/push"
)

// FuzzEvaluate compiles arbitrary rule JSON and evaluates arbitrary
// event JSON: it must never panic, and a notify-free rule never notifies.
func FuzzEvaluate(f *testing.F) {
	f.Add(`[{"rule_id":"a","enabled":true,"conditions":[{"kind":"event_match","key":"content.body","pattern":"he*o?"}],"actions":["notify",{"set_tweak":"highlight"}]}]`,
		`{"type":"m.room.message","content":{"body":"hello!"}}`, "Bob", 3)
	f.Add(`[{"rule_id":"b","enabled":true,"conditions":[{"kind":"room_member_count","is":"<=2"},{"kind":"event_property_contains","key":"content.m\\.mentions.user_ids","value":"@a:b"}],"actions":["dont_notify"]}]`,
		`{"content":{"m.mentions":{"user_ids":["@a:b",1,null]}}}`, "", 2)
	f.Add(`[{"rule_id":"c","enabled":true,"conditions":[{"kind":"sender_notification_permission","key":"room"},{"kind":"contains_display_name"}],"actions":[{"set_tweak":"sound","value":"x"}]}]`,
		`{"content":{"body":"ÄÖ \u0000 [a-z]* (?i) bob"}}`, "bob", 1)
	f.Add(`[{"rule_id":"d","enabled":true,"conditions":[{"kind":"event_match","key":"a\\\\.b\\","pattern":"[*"}],"actions":[{}]}]`, `{"a\\":{"b\\":"[x"}}`, "", 0)
	f.Add(`[]`, `[]`, "x", -1)
	f.Fuzz(func(t *testing.T, rulesJSON, eventJSON, name string, members int) {
		var rules []push.Rule
		if json.Unmarshal([]byte(rulesJSON), &rules) != nil {
			return
		}
		e, err := push.ParseEvent([]byte(eventJSON))
		if err != nil {
			return
		}
		env := &push.Env{UserID: "@a:b", DisplayName: name, MemberCount: members, NotificationLevels: map[string]int64{"room": 0}}
		for _, kind := range push.Kinds {
			a := push.Compile(push.Ruleset{kind: rules}).Evaluate(e, env)
			if a.RuleID == "" && (a.Notify || a.Highlight) {
				t.Fatalf("no rule matched but actions %+v", a)
			}
			if a.Notify {
				found := false
				for _, r := range rules {
					for _, x := range r.Actions {
						found = found || x == "notify"
					}
				}
				if !found {
					t.Fatalf("notify without a notify action: %+v", a)
				}
			}
		}
		_ = push.Compile(push.Predefined("@a:b")).Evaluate(e, env)
	})
}

// FuzzParseSet feeds POST /pushers/set bodies: no panic, and an accepted
// http pusher always has a gateway URL on the notify path and bounded keys.
func FuzzParseSet(f *testing.F) {
	f.Add(`{"kind":"http","app_id":"a","pushkey":"k","app_display_name":"A","device_display_name":"D","lang":"en","data":{"url":"https://gw/_matrix/push/v1/notify","format":"event_id_only"},"append":true}`)
	f.Add(`{"kind":null,"app_id":"a","pushkey":"k"}`)
	f.Add(`{"kind":"http","app_id":"a","pushkey":"k","data":{"url":"http://[::1]:8/_matrix/push/v1/notify?x#y"}}`)
	f.Add(`{"kind":"email","app_id":"","pushkey":1}`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, body string) {
		req, err := push.ParseSet("@u:x", []byte(body))
		if err != nil {
			return
		}
		p := req.Pusher
		if p.PushKey == "" || len(p.PushKey) > push.MaxPushkeyBytes || p.AppID == "" || p.UserID != "@u:x" {
			t.Fatalf("accepted %+v", p)
		}
		if req.Delete {
			return
		}
		var data struct {
			URL string `json:"url"`
		}
		if json.Unmarshal(p.Data, &data) != nil || push.CheckGatewayURL(data.URL) != nil || p.Kind != "http" {
			t.Fatalf("accepted pusher with data %s", p.Data)
		}
	})
}
