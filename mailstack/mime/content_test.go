package mime

import "testing"

const richMessage = "From: a@b.test\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=outer\r\n\r\n" +
	"--outer\r\nContent-Type: multipart/alternative; boundary=alt\r\n\r\n" +
	"--alt\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9 plain\r\n" +
	"--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>caf\xc3\xa9 html</p>\r\n--alt--\r\n" +
	"--outer\r\nContent-Type: image/png; name=\"=?utf-8?q?b=C3=BCd.png?=\"\r\nContent-Disposition: inline\r\nContent-ID: <img1@b.test>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw==\r\n" +
	"--outer\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf\r\n\r\n%PDF\r\n" +
	"--outer\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner text, not ours\r\n" +
	"--outer--\r\n"

func TestBodiesAndAttachments(t *testing.T) {
	p := Parse([]byte(richMessage))
	plain, html := p.Bodies()
	if plain != "café plain" || html != "<p>café html</p>" {
		t.Errorf("Bodies() = %q, %q", plain, html)
	}
	atts := p.Attachments()
	if len(atts) != 2 {
		t.Fatalf("Attachments() = %+v, want 2", atts)
	}
	if a := atts[0]; a.Filename != "büd.png" || a.MediaType != "image/png" || !a.Inline || a.ContentID != "img1@b.test" || string(a.Content) != "\x89PNG" {
		t.Errorf("first attachment = %+v", a)
	}
	if a := atts[1]; a.Filename != "résumé.pdf" || a.Inline || string(a.Content) != "%PDF" {
		t.Errorf("second attachment = %+v", a)
	}
	// A bare single-part message is its own text.
	if pl, _ := Parse([]byte("Subject: x\r\n\r\nhello")).Bodies(); pl != "hello" {
		t.Errorf("single part Bodies() = %q", pl)
	}
}
