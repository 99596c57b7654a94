package clientapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"scop/clientapi"
	"scop/clientapi/clientapitest"
)

// fuzzEndpoint posts arbitrary bodies to path and checks that the answer
// is never a 500 and always JSON, with an errcode on every error.
func fuzzEndpoint(f *testing.F, method, path string, seeds ...string) {
	s := clientapitest.NewServer(f, clientapitest.Options{Accounts: clientapi.AccountOptions{RegistrationEnabled: true}})
	u := s.AddUser(f, "alice", "pw")
	for _, seed := range seeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, _ := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+u.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("status %d for %q: %s", resp.StatusCode, body, data)
		}
		var out map[string]any
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("answer %q is not a JSON object", data)
		}
		if resp.StatusCode >= 400 && resp.StatusCode != 401 && out["errcode"] == nil {
			t.Fatalf("error %d without errcode: %s", resp.StatusCode, data)
		}
	})
}

func FuzzLogin(f *testing.F) {
	fuzzEndpoint(f, "POST", "/_matrix/client/v3/login",
		`{"type":"m.login.password","identifier":{"type":"m.id.user","user":"alice"},"password":"pw"}`,
		`{"type":"m.login.password","user":"@alice:test","password":"x"}`,
		`{"type":"m.login.password","identifier":{"type":"m.id.thirdparty"}}`,
		`{"type":"m.login.password","user":"@:","password":""}`,
		`{"type":"m.login.password","user":"alice","password":"pw","device_id":""}`,
		`null`, `[]`, `"x"`, `{`, ``)
}

func FuzzRegister(f *testing.F) {
	fuzzEndpoint(f, "POST", "/_matrix/client/v3/register",
		`{"username":"bob","password":"pw","auth":{"type":"m.login.dummy"}}`,
		`{"username":"bob","password":"pw","auth":{"type":"m.login.dummy","session":"x"}}`,
		`{"username":"Bob","password":"pw"}`,
		`{"username":"@bob:test","password":"pw","inhibit_login":true,"auth":{"type":"m.login.dummy"}}`,
		`{"password":"pw","auth":{"type":"m.login.dummy"}}`,
		`{"username":"","password":null,"auth":null}`, `{"auth":[]}`)
}

func FuzzDeleteDevices(f *testing.F) {
	fuzzEndpoint(f, "POST", "/_matrix/client/v3/delete_devices",
		`{"devices":["X"],"auth":{"type":"m.login.password","user":"alice","password":"pw"}}`,
		`{"devices":[],"auth":{"type":"m.login.password","identifier":{"type":"m.id.user","user":"@alice:test"},"password":"no"}}`,
		`{"devices":null}`, `{"devices":[1]}`)
}

func FuzzPutPushRule(f *testing.F) {
	fuzzEndpoint(f, "PUT", "/_matrix/client/v3/pushrules/global/override/fuzz",
		`{"actions":["notify",{"set_tweak":"sound","value":"default"}],"conditions":[{"kind":"event_match","key":"type","pattern":"m.x"}]}`,
		`{"actions":[]}`, `{"actions":[null]}`, `{"actions":[{"set_tweak":5}]}`, `{"conditions":[1]}`, `{"actions":[],"conditions":[{"kind":null}]}`)
}

func FuzzKeysUpload(f *testing.F) {
	fuzzEndpoint(f, "POST", "/_matrix/client/v3/keys/upload",
		`{"device_keys":{"user_id":"@alice:test","device_id":"X","keys":{"ed25519:X":"k"}},"one_time_keys":{"signed_curve25519:A":{"key":"k"}}}`,
		`{"one_time_keys":{"a:b":"c","d:e":{"key":1}},"fallback_keys":{"f:g":{}}}`,
		`{"one_time_keys":{":":""}}`, `{"device_keys":[]}`, `{"fallback_keys":{"x":null}}`)
}

func FuzzSignaturesUpload(f *testing.F) {
	fuzzEndpoint(f, "POST", "/_matrix/client/v3/keys/signatures/upload",
		`{"@alice:test":{"X":{"signatures":{"@alice:test":{"ed25519:Y":"s"}}}}}`,
		`{"@bob:test":{"K":{"signatures":{}}}}`, `{"x":{"y":1}}`, `{"@alice:test":null}`)
}

func FuzzDeviceSigningUpload(f *testing.F) {
	fuzzEndpoint(f, "POST", "/_matrix/client/v3/keys/device_signing/upload",
		`{"master_key":{"user_id":"@alice:test","usage":["master"],"keys":{"ed25519:M":"M"}}}`,
		`{"self_signing_key":{"user_id":"@alice:test","usage":["self_signing"],"keys":{"ed25519:S":"S"}}}`,
		`{"master_key":{"usage":"master"}}`, `{"master_key":null,"auth":{}}`)
}

func FuzzBackupKeys(f *testing.F) {
	fuzzEndpoint(f, "PUT", "/_matrix/client/v3/room_keys/keys?version=1",
		`{"rooms":{"!r:test":{"sessions":{"s":{"first_message_index":0,"forwarded_count":0,"is_verified":true,"session_data":{"c":"x"}}}}}}`,
		`{"rooms":{"!r:test":{"sessions":{"s":{"first_message_index":-1}}}}}`, `{"rooms":null}`, `{"rooms":{"":{"sessions":{"":{}}}}}`)
}

func FuzzUserDirectory(f *testing.F) {
	fuzzEndpoint(f, "POST", "/_matrix/client/v3/user_directory/search",
		`{"search_term":"ali","limit":5}`, `{"search_term":"%_\\","limit":0}`, `{"search_term":"@alice:test"}`, `{"limit":1e9,"search_term":""}`)
}
