package mailstack

import (
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"

	"scop/mailstack/reputation"
)

func TestSampleConfigParsesIntoDefault(t *testing.T) {
	var doc struct {
		Mail Config `yaml:"mail"`
	}
	if err := yaml.Unmarshal([]byte(SampleConfig), &doc); err != nil {
		t.Fatalf("parse SampleConfig: %v", err)
	}
	want := DefaultConfig()
	// yaml gives empty collections where the default has nil ones.
	if len(doc.Mail.Domains) == 0 {
		doc.Mail.Domains = nil
	}
	if len(doc.Mail.Aliases) == 0 {
		doc.Mail.Aliases = nil
	}
	if len(doc.Mail.DNS.Upstreams) == 0 {
		doc.Mail.DNS.Upstreams = nil
	}
	if len(doc.Mail.Reputation.Weights) == 0 {
		doc.Mail.Reputation.Weights = nil
	}
	if !reflect.DeepEqual(doc.Mail, want) {
		t.Errorf("SampleConfig = %+v\nwant %+v", doc.Mail, want)
	}
	if err := want.Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate() = %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		ok     bool
	}{
		{"OK", func(*Config) {}, true},
		{"BadListen", func(c *Config) { c.Listen = "nope" }, false},
		{"ZeroLimit", func(c *Config) { c.Limits.MaxRecipients = 0 }, false},
		{"HalfTLS", func(c *Config) { c.TLSCert = "x.pem" }, false},
		{"LMTPUnix", func(c *Config) { c.LMTP = "unix:/run/lmtp.sock" }, true},
		{"LMTPBad", func(c *Config) { c.LMTP = "tcp:nohostport" }, false},
		{"Cutoffs", func(c *Config) { c.Spam.HamCutoff = 0.99 }, false},
		{"Threshold", func(c *Config) { c.Reputation.Threshold = 0 }, false},
		{"Weights", func(c *Config) { c.Reputation.Weights = map[reputation.Event]float64{"nope": 1} }, false},
		{"BadDomain", func(c *Config) { c.Domains = []string{"a@b"} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.modify(&c)
			if err := c.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
