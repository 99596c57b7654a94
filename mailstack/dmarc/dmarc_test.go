package dmarc

import (
	"context"
	"errors"
	"testing"

	"github.com/emersion/go-message/mail"

	"scop/mailstack/dkim"
	"scop/mailstack/dns"
	"scop/mailstack/dns/dnstest"
)

func TestParseRecord(t *testing.T) {
	tests := []struct {
		name    string
		txt     string
		want    *Record
		wantErr error
	}{
		{"minimal", "v=DMARC1; p=reject", &Record{Policy: PolicyReject, SubdomainPolicy: PolicyReject,
			DKIMAlignment: AlignRelaxed, SPFAlignment: AlignRelaxed, Percent: 100, FailureOptions: "0", ReportInterval: 86400}, nil},
		{"all tags", "v=DMARC1;p=Quarantine;SP=none;adkim=s;aspf=s;pct=20;rua=mailto:a@x.org,mailto:b@x.org;ri=3600;fo=1",
			&Record{Policy: PolicyQuarantine, SubdomainPolicy: PolicyNone, DKIMAlignment: AlignStrict, SPFAlignment: AlignStrict,
				Percent: 20, AggregateURIs: []string{"mailto:a@x.org", "mailto:b@x.org"}, FailureOptions: "1", ReportInterval: 3600}, nil},
		{"bad optional values fall back", "v=DMARC1; p=none; pct=200; adkim=x; ri=-1", &Record{Policy: PolicyNone, SubdomainPolicy: PolicyNone,
			DKIMAlignment: AlignRelaxed, SPFAlignment: AlignRelaxed, Percent: 100, FailureOptions: "0", ReportInterval: 86400}, nil},
		{"bad p with rua is none", "v=DMARC1; p=bogus; rua=mailto:r@x.org", &Record{Policy: PolicyNone, SubdomainPolicy: PolicyNone,
			DKIMAlignment: AlignRelaxed, SPFAlignment: AlignRelaxed, Percent: 100, FailureOptions: "0", ReportInterval: 86400,
			AggregateURIs: []string{"mailto:r@x.org"}}, nil},
		{"bad p", "v=DMARC1; p=bogus", nil, ErrSyntax},
		{"missing p", "v=DMARC1; pct=10", nil, ErrSyntax},
		{"not first v", "p=reject; v=DMARC1", nil, ErrNotDMARC},
		{"wrong version", "v=DMARC2; p=reject", nil, ErrNotDMARC},
		{"spf record", "v=spf1 -all", nil, ErrNotDMARC},
		{"tag without value", "v=DMARC1; p=none; junk", nil, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRecord(tt.txt)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseRecord(%q) error = %v, want %v", tt.txt, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRecord(%q): %v", tt.txt, err)
			}
			if got.String() != tt.want.String() || got.FailureOptions != tt.want.FailureOptions || got.ReportInterval != tt.want.ReportInterval {
				t.Errorf("ParseRecord(%q) = %+v, want %+v", tt.txt, got, tt.want)
			}
		})
	}
}

func TestAligned(t *testing.T) {
	tests := []struct {
		from, id string
		mode     Alignment
		want     bool
	}{
		{"example.org", "example.org", AlignStrict, true},
		{"Example.ORG.", "example.org", AlignStrict, true},
		{"example.org", "mail.example.org", AlignStrict, false},
		{"example.org", "mail.example.org", AlignRelaxed, true},
		{"a.example.org", "b.example.org", AlignRelaxed, true},
		{"example.co.uk", "other.co.uk", AlignRelaxed, false},
		{"example.org", "example.net", AlignRelaxed, false},
		{"example.org", "", AlignRelaxed, false},
	}
	for _, tt := range tests {
		if got := Aligned(tt.from, tt.id, tt.mode); got != tt.want {
			t.Errorf("Aligned(%q, %q, %s) = %v, want %v", tt.from, tt.id, tt.mode, got, tt.want)
		}
	}
}

func world() *dnstest.MapResolver {
	return &dnstest.MapResolver{
		TXT: map[string][]string{
			"_dmarc.example.org":   {"v=DMARC1; p=reject; sp=quarantine"},
			"_dmarc.strict.org":    {"v=DMARC1; p=reject; adkim=s; aspf=s"},
			"_dmarc.sampled.org":   {"v=DMARC1; p=reject; pct=50"},
			"_dmarc.quar.org":      {"v=DMARC1; p=quarantine; pct=0"},
			"_dmarc.broken.org":    {"v=DMARC1; p=whatever"},
			"_dmarc.two.org":       {"v=DMARC1; p=reject", "v=DMARC1; p=none"},
			"_dmarc.mixed.org":     {"v=spf1 -all", "hello", "v=DMARC1; p=none"},
			"_dmarc.secure.org":    {"v=DMARC1; p=reject"},
			"_dmarc.sub.nosub.org": {"v=DMARC1; p=none"},
			"_dmarc.nosub.org":     {"v=DMARC1; p=reject"},
		},
		Fail:     map[string]error{"TXT _dmarc.tmp.org": dns.ErrTemporary},
		Security: map[string]dns.Security{"_dmarc.secure.org": dns.Secure},
	}
}

func TestEvaluate(t *testing.T) {
	pass := func(d string) []dkim.Result { return []dkim.Result{{Domain: d, Status: dkim.StatusPass}} }
	tests := []struct {
		name      string
		in        Input
		pct       int
		want      Status
		wantDisp  Disposition
		wantPol   Policy
		wantPolD  string
		wantSec   bool
		wantNoSmp bool
	}{
		{"no record", Input{FromDomain: "norecord.net"}, 0, StatusNone, DispositionNone, "", "", false, false},
		{"dkim aligned pass", Input{FromDomain: "example.org", DKIM: pass("example.org")}, 0, StatusPass, DispositionNone, PolicyReject, "example.org", false, false},
		{"dkim relaxed subdomain", Input{FromDomain: "example.org", DKIM: pass("mail.example.org")}, 0, StatusPass, DispositionNone, PolicyReject, "example.org", false, false},
		{"spf aligned pass", Input{FromDomain: "example.org", SPF: SPF{"pass", "bounce.example.org"}}, 0, StatusPass, DispositionNone, PolicyReject, "example.org", false, false},
		{"spf softfail not pass", Input{FromDomain: "example.org", SPF: SPF{"softfail", "example.org"}}, 0, StatusFail, DispositionReject, PolicyReject, "example.org", false, false},
		{"unaligned dkim fails", Input{FromDomain: "example.org", DKIM: pass("evil.net")}, 0, StatusFail, DispositionReject, PolicyReject, "example.org", false, false},
		{"failed dkim", Input{FromDomain: "example.org", DKIM: []dkim.Result{{Domain: "example.org", Status: dkim.StatusFail}}}, 0, StatusFail, DispositionReject, PolicyReject, "example.org", false, false},
		{"strict dkim subdomain fails", Input{FromDomain: "strict.org", DKIM: pass("mail.strict.org"), SPF: SPF{"pass", "mail.strict.org"}}, 0, StatusFail, DispositionReject, PolicyReject, "strict.org", false, false},
		{"strict exact passes", Input{FromDomain: "strict.org", SPF: SPF{"pass", "strict.org"}}, 0, StatusPass, DispositionNone, PolicyReject, "strict.org", false, false},
		{"subdomain uses sp", Input{FromDomain: "news.example.org"}, 0, StatusFail, DispositionQuarantine, PolicyQuarantine, "example.org", false, false},
		{"subdomain record beats org", Input{FromDomain: "sub.nosub.org"}, 0, StatusFail, DispositionNone, PolicyNone, "sub.nosub.org", false, false},
		{"pct inside sample", Input{FromDomain: "sampled.org"}, 10, StatusFail, DispositionReject, PolicyReject, "sampled.org", false, false},
		{"pct outside sample", Input{FromDomain: "sampled.org"}, 70, StatusFail, DispositionQuarantine, PolicyReject, "sampled.org", false, true},
		{"pct 0 quarantine", Input{FromDomain: "quar.org"}, 0, StatusFail, DispositionNone, PolicyQuarantine, "quar.org", false, true},
		{"temp failure", Input{FromDomain: "tmp.org"}, 0, StatusTemperror, DispositionNone, "", "", false, false},
		{"broken record", Input{FromDomain: "broken.org"}, 0, StatusPermerror, DispositionNone, "", "", false, false},
		{"two records", Input{FromDomain: "two.org"}, 0, StatusNone, DispositionNone, "", "", false, false},
		{"non-dmarc txt ignored", Input{FromDomain: "mixed.org"}, 0, StatusFail, DispositionNone, PolicyNone, "mixed.org", false, false},
		{"secure record", Input{FromDomain: "secure.org"}, 0, StatusFail, DispositionReject, PolicyReject, "secure.org", true, false},
		{"no author", Input{}, 0, StatusPermerror, DispositionNone, "", "", false, false},
		{"public suffix author", Input{FromDomain: "co.uk"}, 0, StatusNone, DispositionNone, "", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Evaluator{Resolver: world(), Percent: func() int { return tt.pct }}
			got := e.Evaluate(context.Background(), tt.in)
			if got.Status != tt.want || got.Disposition != tt.wantDisp || got.Policy != tt.wantPol ||
				got.PolicyDomain != tt.wantPolD || got.RecordSecure != tt.wantSec || got.Sampled == tt.wantNoSmp {
				t.Errorf("Evaluate(%+v) = %+v (err %v)\nwant status %s disp %s policy %s at %q secure %v unsampled %v",
					tt.in, got, got.Err, tt.want, tt.wantDisp, tt.wantPol, tt.wantPolD, tt.wantSec, tt.wantNoSmp)
			}
		})
	}
}

func TestAuthorDomain(t *testing.T) {
	tests := []struct {
		name, from string
		n          int
		want       string
		wantErr    bool
	}{
		{"simple", "Alice <alice@Example.ORG>", 1, "example.org", false},
		{"two same domain", "a@x.org, b@x.org", 1, "x.org", false},
		{"two domains", "a@x.org, b@y.org", 1, "", true},
		{"two From fields", "a@x.org", 2, "", true},
		{"no From", "", 0, "", true},
		{"garbage", "not an address", 1, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h mail.Header
			for i := 0; i < tt.n; i++ {
				h.Add("From", tt.from)
			}
			got, err := AuthorDomain(h)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("AuthorDomain(%q) = %q, %v; want %q, err %v", tt.from, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
