// Package httpurl is the one rule for the http(s) URLs an operator writes
// (ready_url, url, keep_awake_while, in the file or a Docker label): the
// only placeholders are {internal_ip} and {external_ip}, in the host part.
package httpurl

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

var placeholderRE = regexp.MustCompile(`\{[^{}]*\}`)

// Check accepts absolute http(s) URLs with a host. With
// placeholders, {internal_ip} and {external_ip} may stand for the host,
// filled from the provider's live status at probe time.
func Check(s string, placeholders bool) error {
	if strings.ContainsAny(s, " \t\r\n") {
		return fmt.Errorf("%q contains a space", s)
	}
	check := s
	if ph := placeholderRE.FindAllString(s, -1); len(ph) > 0 {
		if !placeholders {
			return fmt.Errorf("%q: placeholders like %s are not allowed here", s, ph[0])
		}
		for _, p := range ph {
			if p != "{internal_ip}" && p != "{external_ip}" {
				return fmt.Errorf("%q: unknown placeholder %s (known: {internal_ip}, {external_ip})", s, p)
			}
		}
		_, rest, _ := strings.Cut(s, "://")
		if i := strings.IndexAny(rest, "/?#"); i >= 0 && placeholderRE.MatchString(rest[i:]) {
			return fmt.Errorf("%q: placeholders are allowed only in the host part", s)
		}
		check = strings.NewReplacer("{internal_ip}", "192.0.2.1", "{external_ip}", "192.0.2.2").Replace(s)
	}
	u, err := url.Parse(check)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %s", s, Reason(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q is not an http:// or https:// URL", s)
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%q has no host", s)
	}
	if port := u.Port(); port != "" {
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, port)
		}
	}
	return nil
}

// Reason is the reason url.Parse gives, without repeating the URL (which
// the caller quotes itself).
func Reason(err error) string {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err.Error()
	}
	return err.Error()
}
