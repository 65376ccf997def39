package web

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/lantls/lantls/devices"
	"github.com/lantls/lantls/users"
)

// The forms of the UI, each read from url.Values into a checked struct by a
// pure function (fuzzed in forms_test.go). A form with a problem carries a
// sentence for the person in Error.

type loginForm struct {
	Name, Password, Next string
}

func parseLoginForm(v url.Values) loginForm {
	return loginForm{
		Name:     strings.TrimSpace(v.Get("name")),
		Password: v.Get("password"),
		Next:     safeNext(v.Get("next")),
	}
}

type setupForm struct {
	Token, Name, Password, Error string
}

func parseSetupForm(v url.Values) setupForm {
	f := setupForm{Token: v.Get("token"), Name: strings.TrimSpace(v.Get("name")), Password: v.Get("password")}
	switch {
	case users.CheckName(f.Name) != nil:
		f.Error = "Choose a user name of 1 to 64 characters without spaces."
	case users.CheckPasswordStrength(f.Password) != nil:
		f.Error = fmt.Sprintf("Choose a password of at least %d characters.", users.MinPasswordLength)
	case f.Password != v.Get("password2"):
		f.Error = "The two passwords differ."
	}
	return f
}

type passwordForm struct {
	Current, New, Error string
}

func parsePasswordForm(v url.Values) passwordForm {
	f := passwordForm{Current: v.Get("current"), New: v.Get("new")}
	switch {
	case users.CheckPasswordStrength(f.New) != nil:
		f.Error = fmt.Sprintf("Choose a new password of at least %d characters.", users.MinPasswordLength)
	case f.New != v.Get("new2"):
		f.Error = "The two new passwords differ."
	}
	return f
}

// maxDeviceName bounds a device's display name, in characters.
const maxDeviceName = 80

// parseDeviceName reads a device's display name: trimmed, 1 to 80
// printable characters.
func parseDeviceName(v url.Values) (string, string) {
	name := strings.TrimSpace(v.Get("name"))
	switch {
	case name == "":
		return "", "Give the device a name, e.g. Living room TV."
	case !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxDeviceName:
		return "", fmt.Sprintf("Use at most %d characters for the name.", maxDeviceName)
	case strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return "", "The name has a character that cannot be shown."
	}
	return name, ""
}

// parseOrigins reads the origin grants textarea: one web origin per line
// (or separated by spaces or commas), each checked and normalized by
// devices.NormalizeOrigin, duplicates removed.
func parseOrigins(v url.Values) ([]string, string) {
	fields := strings.FieldsFunc(v.Get("origins"), func(r rune) bool {
		return r == '\n' || r == '\r' || r == ' ' || r == '\t' || r == ','
	})
	out := []string{}
	for _, f := range fields {
		o, err := devices.NormalizeOrigin(f)
		if err != nil {
			return nil, err.Error() + ". Write origins as https://app.example.com, one per line."
		}
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	if len(out) > devices.MaxOrigins {
		return nil, fmt.Sprintf("Allow at most %d origins per device.", devices.MaxOrigins)
	}
	return out, ""
}
