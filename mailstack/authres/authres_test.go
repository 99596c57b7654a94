package authres

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"scop/mailstack/dkim"
	"scop/mailstack/dmarc"
	"scop/mailstack/spf"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *Header
		wantErr bool
	}{
		{"none", "mx.example.org; none", &Header{AuthServID: "mx.example.org"}, false},
		{"version and comments", " (c) mx.example.org (more) 1 ; spf=pass (ok) smtp.mailfrom=a@b.org",
			&Header{AuthServID: "mx.example.org", Version: "1", Results: []Result{
				{Method: "spf", Value: "pass", Props: []Prop{{"smtp", "mailfrom", "a@b.org"}}}}}, false},
		{"rfc 8601 example", "example.com;\r\n  spf=pass smtp.mailfrom=example.net;\r\n  dkim=pass header.d=example.net header.s=sel1 reason=\"good sig\"",
			&Header{AuthServID: "example.com", Results: []Result{
				{Method: "spf", Value: "pass", Props: []Prop{{"smtp", "mailfrom", "example.net"}}},
				{Method: "dkim", Value: "pass", Reason: "good sig", Props: []Prop{{"header", "d", "example.net"}, {"header", "s", "sel1"}}}}}, false},
		{"quoted id", `"mx \"x\""; auth=pass smtp.auth=sender@example.com`,
			&Header{AuthServID: `mx "x"`, Results: []Result{{Method: "auth", Value: "pass", Props: []Prop{{"smtp", "auth", "sender@example.com"}}}}}, false},
		{"method version", "mx; dkim/1=FAIL header.i=@x.org",
			&Header{AuthServID: "mx", Results: []Result{{Method: "dkim", MethodVersion: "1", Value: "fail", Props: []Prop{{"header", "i", "@x.org"}}}}}, false},
		{"trailing semicolon", "mx; spf=none;", &Header{AuthServID: "mx", Results: []Result{{Method: "spf", Value: "none"}}}, false},
		{"no results", "mx.example.org", nil, true},
		{"unterminated comment", "mx (oops; spf=pass", nil, true},
		{"missing equals", "mx; spf pass", nil, true},
		{"bad property", "mx; spf=pass smtp", nil, true},
		{"empty", "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrSyntax) {
					t.Fatalf("Parse(%q) = %+v, %v; want ErrSyntax", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestFieldRoundTrip(t *testing.T) {
	in := Input{
		SPF: &SPF{Result: "pass", MailFrom: "bounce@mail.example.org", HELO: "mail.example.org"},
		DKIM: []dkim.Result{
			{Domain: "example.org", Selector: "s1", Identifier: "@example.org", Algorithm: "ed25519-sha256", BPrefix: "abc+/123", Status: dkim.StatusPass, KeySecure: true},
			{Domain: "evil.net", Selector: "x", Status: dkim.StatusFail, Err: errors.New("dkim: body hash did not verify; \"really\"")},
		},
		DMARC: &dmarc.Result{Status: dmarc.StatusPass, Domain: "example.org", Policy: dmarc.PolicyReject, Disposition: dmarc.DispositionNone},
	}
	f := Field("mx.scop.test", in)
	if !strings.HasPrefix(f, "Authentication-Results: mx.scop.test;\r\n\tspf=pass") || !strings.HasSuffix(f, "\r\n") {
		t.Fatalf("Field = %q", f)
	}
	for _, line := range strings.Split(strings.TrimSuffix(f, "\r\n"), "\r\n") {
		if strings.ContainsAny(line, "\r\n") {
			t.Fatalf("bare CR or LF in %q", line)
		}
	}
	h, err := Parse(strings.TrimPrefix(strings.TrimSuffix(f, "\r\n"), "Authentication-Results:"))
	if err != nil {
		t.Fatalf("Parse(Field) = %v\n%s", err, f)
	}
	want := Results(in)
	if h.AuthServID != "mx.scop.test" || !reflect.DeepEqual(h.Results, want) {
		t.Errorf("round trip = %+v\nwant %+v", h.Results, want)
	}
	if h.Results[1].Props[2].Value != "s1" || h.Results[1].Reason != "key DNSSEC-validated" {
		t.Errorf("dkim result = %+v", h.Results[1])
	}
	if got := Field("mx", Input{}); got != "Authentication-Results: mx; none\r\n" {
		t.Errorf("empty Field = %q", got)
	}
}

func TestStripForged(t *testing.T) {
	msg := "Received: from x\r\n" +
		"Authentication-Results: MX.scop.test;\r\n\tspf=pass smtp.mailfrom=forged@example.org\r\n" +
		"Authentication-Results: other.example; dkim=pass header.d=x.org\r\n" +
		"authentication-results: (sneaky) mx.scop.test. ; dmarc=pass\r\n" +
		"Authentication-Results: (unterminated\r\n" +
		"Subject: hi\r\n" +
		"\r\n" +
		"Authentication-Results: mx.scop.test; body text stays\r\n"
	got, n := StripForged([]byte(msg), "mx.scop.test")
	if n != 3 {
		t.Errorf("removed %d fields, want 3", n)
	}
	want := "Received: from x\r\n" +
		"Authentication-Results: other.example; dkim=pass header.d=x.org\r\n" +
		"Subject: hi\r\n" +
		"\r\n" +
		"Authentication-Results: mx.scop.test; body text stays\r\n"
	if string(got) != want {
		t.Errorf("StripForged =\n%q\nwant\n%q", got, want)
	}
	clean := []byte("Subject: x\r\n\r\nbody")
	if got, n := StripForged(clean, "mx"); n != 0 || string(got) != string(clean) {
		t.Errorf("StripForged(clean) = %q, %d", got, n)
	}
}

func TestSPFFrom(t *testing.T) {
	got := SPFFrom(spf.Result{Status: spf.Pass, Identity: "mailfrom", Sender: "a@x.org", HELO: "mx.x.org", Domain: "x.org"})
	if *got != (SPF{Result: "pass", MailFrom: "a@x.org"}) {
		t.Errorf("SPFFrom(mailfrom) = %+v", got)
	}
	got = SPFFrom(spf.Result{Status: spf.SoftFail, Identity: "helo", Sender: "postmaster@mx.x.org", HELO: "mx.x.org", Domain: "mx.x.org"})
	if *got != (SPF{Result: "softfail", HELO: "mx.x.org"}) {
		t.Errorf("SPFFrom(helo) = %+v", got)
	}
	if in := dmarc.SPFInput(spf.Result{Status: spf.Fail, Domain: "x.org"}); in != (dmarc.SPF{Result: "fail", Domain: "x.org"}) {
		t.Errorf("dmarc.SPFInput = %+v", in)
	}
}
