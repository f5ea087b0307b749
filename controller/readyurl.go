package controller

import (
	"fmt"
	"strings"
)

// needsAddress reports whether ready_url has address placeholders that the
// provider's live Status must fill.
func needsAddress(u string) bool {
	return strings.Contains(u, "{internal_ip}") || strings.Contains(u, "{external_ip}")
}

// ExpandReadyURL fills {internal_ip} and {external_ip} from a provider's
// Status. A placeholder the provider cannot fill yet is an error, so the
// probe retries instead of probing a broken URL.
func ExpandReadyURL(u string, st Status) (string, error) {
	if strings.Contains(u, "{internal_ip}") {
		if st.InternalIP == "" {
			return "", fmt.Errorf("ready_url needs {internal_ip}, which the provider does not know yet")
		}
		u = strings.ReplaceAll(u, "{internal_ip}", st.InternalIP)
	}
	if strings.Contains(u, "{external_ip}") {
		if st.ExternalIP == "" {
			return "", fmt.Errorf("ready_url needs {external_ip}, which the provider does not know yet")
		}
		u = strings.ReplaceAll(u, "{external_ip}", st.ExternalIP)
	}
	return u, nil
}
