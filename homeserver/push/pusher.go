package push

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"scop/homeserver"
)

// Limits of POST /pushers/set from the spec.
const (
	MaxPushkeyBytes = 512
	MaxAppIDChars   = 64
	// NotifyPath is the Push Gateway endpoint every http pusher's
	// data.url must name.
	NotifyPath = "/_matrix/push/v1/notify"
)

// Pusher is one registered pusher of a user, as GET /pushers shows it.
type Pusher struct {
	UserID            string          `json:"-"`
	PushKey           string          `json:"pushkey"`
	Kind              string          `json:"kind"`
	AppID             string          `json:"app_id"`
	AppDisplayName    string          `json:"app_display_name"`
	DeviceDisplayName string          `json:"device_display_name"`
	ProfileTag        string          `json:"profile_tag,omitempty"`
	Lang              string          `json:"lang"`
	Data              json.RawMessage `json:"data"`
	// PushKeyTS is when the pushkey was set (ms since the epoch).
	PushKeyTS int64 `json:"-"`
}

// SetRequest is a parsed POST /pushers/set body.
type SetRequest struct {
	Pusher Pusher
	// Delete is set when kind was null: remove the pusher.
	Delete bool
	// Append keeps other users' pushers with the same app_id and pushkey.
	Append bool
}

// ParseSet validates a POST /pushers/set body for userID.
func ParseSet(userID string, body []byte) (*SetRequest, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		return nil, homeserver.Errorf(homeserver.ErrBadJSON, "The body must be a JSON object")
	}
	str := func(name string, required bool) (string, error) {
		v, ok := raw[name]
		if !ok || bytes.Equal(v, []byte("null")) {
			if required {
				return "", homeserver.Errorf(homeserver.ErrMissingParam, "%s is required", name)
			}
			return "", nil
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", homeserver.Errorf(homeserver.ErrInvalidParam, "%s must be a string", name)
		}
		return s, nil
	}
	req := &SetRequest{}
	p := &req.Pusher
	p.UserID = userID
	var err error
	if p.PushKey, err = str("pushkey", true); err != nil {
		return nil, err
	}
	if p.AppID, err = str("app_id", true); err != nil {
		return nil, err
	}
	if p.PushKey == "" || len(p.PushKey) > MaxPushkeyBytes {
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "pushkey must be 1 to %d bytes", MaxPushkeyBytes)
	}
	if p.AppID == "" || len([]rune(p.AppID)) > MaxAppIDChars {
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "app_id must be 1 to %d characters", MaxAppIDChars)
	}
	kind, ok := raw["kind"]
	if !ok {
		return nil, homeserver.Errorf(homeserver.ErrMissingParam, "kind is required (null deletes the pusher)")
	}
	if bytes.Equal(kind, []byte("null")) {
		req.Delete = true
		return req, nil
	}
	if p.Kind, err = str("kind", true); err != nil {
		return nil, err
	}
	if p.Kind != "http" {
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "Unsupported pusher kind %q (only http)", p.Kind)
	}
	if p.AppDisplayName, err = str("app_display_name", true); err != nil {
		return nil, err
	}
	if p.DeviceDisplayName, err = str("device_display_name", true); err != nil {
		return nil, err
	}
	if p.Lang, err = str("lang", true); err != nil {
		return nil, err
	}
	if p.ProfileTag, err = str("profile_tag", false); err != nil {
		return nil, err
	}
	if a, ok := raw["append"]; ok && json.Unmarshal(a, &req.Append) != nil {
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "append must be a boolean")
	}
	d, ok := raw["data"]
	if !ok {
		return nil, homeserver.Errorf(homeserver.ErrMissingParam, "data is required")
	}
	var data map[string]json.RawMessage
	if json.Unmarshal(d, &data) != nil || data == nil {
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "data must be an object")
	}
	var gw, format string
	if u, ok := data["url"]; !ok || json.Unmarshal(u, &gw) != nil {
		return nil, homeserver.Errorf(homeserver.ErrMissingParam, "data.url is required for http pushers")
	}
	if err := CheckGatewayURL(gw); err != nil {
		return nil, err
	}
	if f, ok := data["format"]; ok && (json.Unmarshal(f, &format) != nil || format != "event_id_only") {
		return nil, homeserver.Errorf(homeserver.ErrInvalidParam, "data.format must be event_id_only or absent")
	}
	p.Data = d
	return req, nil
}

// CheckGatewayURL accepts an absolute http(s) URL whose path is the
// Push Gateway notify endpoint.
func CheckGatewayURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return homeserver.Errorf(homeserver.ErrInvalidParam, "data.url must be an http(s) URL")
	}
	if u.Path != NotifyPath || u.Fragment != "" {
		return homeserver.Errorf(homeserver.ErrInvalidParam, "data.url must end in %s", NotifyPath)
	}
	return nil
}

// gateway returns the pusher's data.url and the data passed to the
// gateway (data without url), and whether only event IDs are sent.
func (p *Pusher) gateway() (gwURL string, data map[string]any, idOnly bool, err error) {
	if err := json.Unmarshal(p.Data, &data); err != nil {
		return "", nil, false, fmt.Errorf("pusher data: %w", err)
	}
	gwURL, _ = data["url"].(string)
	delete(data, "url")
	f, _ := data["format"].(string)
	return gwURL, data, strings.EqualFold(f, "event_id_only"), nil
}
