// Package redact is the one rule for hiding secrets in what waitingroom
// shows: the admin API, the dashboard and its host pages, the configuration
// view, logs and webhook bodies all pass text through it.
//
// It hides
//   - the password of a URL's user:password@ (the user name stays);
//   - values of parameters whose name says they are secret, in query
//     strings, key=value pairs (quoted values too), JSON members and
//     --flag=value arguments: names containing pass, pwd, secret, token,
//     key, auth, credential, signature, sig, session or cookie
//     ("?token=…", `PGPASSWORD="…"`, `"api_key": "…"`, "--api-key=…");
//   - credentials after "Bearer" or "Basic";
//   - the word after a secret-named flag: "--password hunter2" in a
//     command line (sh -c), and in an argv (Args) the argument after one
//     given alone ("--password", "hunter2").
//
// It errs on the side of hiding: "monkey=banana" loses its banana. It
// cannot know a secret that looks like anything else (a password as a bare
// positional argument): keep those in files or the environment.
package redact

import (
	"regexp"
	"strings"
)

// Placeholder replaces every secret.
const Placeholder = "REDACTED"

// secretName matches a parameter name that says its value is secret.
const secretName = `[A-Za-z0-9_.\-]*(?i:pass|pwd|secret|token|key|auth|credential|signature|sig|session|cookie)[A-Za-z0-9_.\-]*`

var (
	// userinfo runs to the authority's last @ (url.Parse's reading) or
	// further: a password holding a raw @, ? or # is hidden whole.
	userinfo = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.\-]*://[^\s/:]*):[^\s/]*@`)
	// keyValue: name=value, name="value" or name='value' (a shell's
	// PGPASSWORD="…").
	keyValue = regexp.MustCompile(`(` + secretName + `)=(?:"[^"]*"|'[^']*'|[^\s&;,"'<>]+)`)
	// jsonValue: "name": "value", as in a JSON body quoted by an error.
	jsonValue = regexp.MustCompile(`("` + secretName + `"\s*:\s*)"(?:[^"\\]|\\.)*"`)
	// flagValue: --name value inside one string (a command line given to
	// sh -c, or quoted by an error); Args handles the argv form.
	flagValue  = regexp.MustCompile(`((?:^|\s)-{1,2}` + secretName + `)\s+(?:"[^"]*"|'[^']*'|[^\s"'\-]\S*)`)
	credential = regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/\-]+=*`)
	flagOnly   = regexp.MustCompile(`^-{1,2}` + secretName + `$`)
	// quick and secretWord reject text that cannot hold anything to hide,
	// without running the expressions (most log lines).
	quick      = []string{"@", "=", "earer", "asic", "EARER", "ASIC"}
	secretWord = regexp.MustCompile(`(?i:pass|pwd|secret|token|key|auth|credential|sig|session|cookie)`)
)

// Text hides the secrets in free text: an error message, a log line, a
// URL.
func Text(s string) string {
	if !mayHold(s) {
		return s
	}
	s = userinfo.ReplaceAllString(s, "${1}:"+Placeholder+"@")
	s = keyValue.ReplaceAllString(s, "${1}="+Placeholder)
	s = jsonValue.ReplaceAllString(s, `${1}"`+Placeholder+`"`)
	s = flagValue.ReplaceAllString(s, "${1} "+Placeholder)
	s = credential.ReplaceAllString(s, "${1} "+Placeholder)
	return s
}

func mayHold(s string) bool {
	for _, q := range quick {
		if strings.Contains(s, q) {
			return true
		}
	}
	return secretWord.MatchString(s)
}

// Args hides the secrets in a command's argv, returning a copy: each
// argument as Text does, and the argument following a secret-named flag
// given alone ("--password" "hunter2").
func Args(argv []string) []string {
	if argv == nil {
		return nil
	}
	out := make([]string, len(argv))
	hideNext := false
	for i, a := range argv {
		switch {
		case hideNext:
			out[i] = Placeholder
		default:
			out[i] = Text(a)
		}
		hideNext = flagOnly.MatchString(a)
	}
	return out
}
