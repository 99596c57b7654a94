package spam

import (
	"path"
	"strings"
)

// dangerousExts are attachment types that run code when opened: the
// executables and scripts Windows mail clients hand to the shell, and
// Office documents with macros. Legitimate correspondents send them
// rarely; malware campaigns send little else.
var dangerousExts = map[string]bool{
	".exe": true, ".scr": true, ".js": true, ".jse": true, ".vbs": true, ".vbe": true,
	".bat": true, ".cmd": true, ".com": true, ".pif": true, ".jar": true, ".msi": true,
	".hta": true, ".cpl": true, ".wsf": true, ".ps1": true, ".lnk": true,
	".docm": true, ".xlsm": true, ".pptm": true, ".dotm": true, ".xltm": true,
}

// decoyExts are what a double extension pretends to be (invoice.pdf.exe).
var decoyExts = map[string]bool{
	".pdf": true, ".doc": true, ".docx": true, ".xls": true, ".xlsx": true, ".txt": true,
	".jpg": true, ".jpeg": true, ".png": true, ".gif": true, ".zip": true, ".rtf": true,
	".htm": true, ".html": true, ".mp3": true, ".avi": true,
}

// dangerousName explains why an attachment file name is dangerous, or "".
func dangerousName(name string) string {
	name = strings.ToLower(strings.TrimRight(strings.TrimSpace(name), ". "))
	ext := path.Ext(name)
	if !dangerousExts[ext] {
		return ""
	}
	if prev := path.Ext(strings.TrimSuffix(name, ext)); decoyExts[prev] {
		return "double-extension"
	}
	return "ext" + ext
}

// dangerousType flags executable MIME types whatever the file name says.
func dangerousType(mediaType string) string {
	switch mediaType {
	case "application/x-msdownload", "application/x-msdos-program", "application/x-ms-installer",
		"application/x-msi", "application/x-dosexec", "application/java-archive",
		"application/vnd.ms-word.document.macroenabled.12", "application/vnd.ms-excel.sheet.macroenabled.12",
		"application/vnd.ms-powerpoint.presentation.macroenabled.12":
		return "type:" + mediaType
	}
	return ""
}
