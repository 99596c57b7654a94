package app

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"scop/mailstack"
)

func TestSampleConfigIsDefault(t *testing.T) {
	cfg, err := ParseConfig([]byte(sampleConfig + mailstack.SampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	// The mail section may decode empty lists where the default has nil.
	if fmt.Sprintf("%+v", cfg.Mail) != fmt.Sprintf("%+v", want.Mail) {
		t.Fatalf("sample mail section parses to\n%+v\nwant\n%+v", cfg.Mail, want.Mail)
	}
	cfg.Mail = want.Mail
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("sample config parses to\n%+v\nwant\n%+v", cfg, want)
	}
}

func TestPartialConfigKeepsDefaults(t *testing.T) {
	cfg, err := ParseConfig([]byte("server_name: example.org\nclient_api:\n  registration:\n    enabled: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.ServerName = "example.org"
	want.ClientAPI.Registration.Enabled = true
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got %+v\nwant %+v", cfg, want)
	}
	if _, err := ParseConfig(nil); err != nil {
		t.Fatalf("empty file: %v", err)
	}
}

func TestBadConfig(t *testing.T) {
	tests := []struct {
		name, yaml, key string
	}{
		{"empty server name", `server_name: ""`, "server_name"},
		{"server name with @", `server_name: a@b`, "server_name"},
		{"listen not host:port", "client_api:\n  listen: nope", "client_api.listen"},
		{"listen port", "client_api:\n  listen: 127.0.0.1:99999", "client_api.listen"},
		{"registration not bool", "client_api:\n  registration:\n    enabled: maybe", "client_api.registration.enabled"},
		{"token without registration", "client_api:\n  registration:\n    token: abc", "client_api.registration.token"},
		{"rate per second", "client_api:\n  rate_limits:\n    login:\n      per_second: 0", "client_api.rate_limits.login.per_second"},
		{"rate burst type", "client_api:\n  rate_limits:\n    send:\n      burst: lots", "client_api.rate_limits.send.burst"},
		{"body limit", "client_api:\n  max_body_bytes: 10", "client_api.max_body_bytes"},
		{"room version", "rooms:\n  default_version: \"9\"", "rooms.default_version"},
		{"log format", "log:\n  format: xml", "log.format"},
		{"log level", "log:\n  level: loud", "log.level"},
		{"metrics", "metrics:\n  listen: everywhere", "metrics.listen"},
		{"bcrypt", "accounts:\n  bcrypt_cost: 2", "accounts.bcrypt_cost"},
		{"media size", "media:\n  max_upload_bytes: 5", "media.max_upload_bytes"},
		{"unknown key", "client_api:\n  lisen: 1.2.3.4:5", "lisen"},
		{"mail", "mail:\n  listen: nope", "mail.listen"},
		{"not a mapping", "client_api: 5", "client_api"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("error %v does not name %s", err, tc.key)
			}
		})
	}
}

func TestLoadConfigCreatesFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != dir || cfg.ServerName != "localhost" {
		t.Fatalf("config %+v", cfg)
	}
	data, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil || !strings.Contains(string(data), "# ") || !strings.Contains(string(data), "mail:") {
		t.Fatalf("written file: %v\n%s", err, data)
	}
	os.WriteFile(filepath.Join(dir, ConfigFile), []byte("log:\n  format: xml\n"), 0o600)
	if _, err := LoadConfig(dir); err == nil || !strings.Contains(err.Error(), "log.format") || !strings.Contains(err.Error(), ConfigFile) {
		t.Fatalf("bad file: %v", err)
	}
}

func TestSigningKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "signing.key")
	id1, k1, err := loadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	id2, k2, err := loadOrCreateKey(path)
	if err != nil || id1 != id2 || !k1.Equal(k2) || !strings.HasPrefix(id1, "ed25519:a_") {
		t.Fatalf("reload: %q %q %v", id1, id2, err)
	}
	os.WriteFile(path, []byte("rsa x y"), 0o600)
	if _, _, err := loadOrCreateKey(path); err == nil {
		t.Fatal("bad key file accepted")
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add(sampleConfig)
	f.Add("server_name: x\nclient_api:\n  listen: 127.0.0.1:0\n")
	f.Add("client_api: [1, 2]\n")
	f.Add("log: {format: json, level: debug}\n")
	f.Add("a: &x [*x]\n")
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := ParseConfig([]byte(s))
		if err == nil {
			if err := cfg.Validate(); err != nil {
				t.Fatalf("parsed config fails validation: %v", err)
			}
		}
	})
}
