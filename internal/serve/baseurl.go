package serve

import (
	"fmt"
	"net/url"
)

// CheckBaseURL accepts what the services take as a base URL (--public-url,
// --conversations-url, --function-map): an absolute http or https URL
// without query or fragment.
func CheckBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http or https URL", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q must not have a query or fragment", raw)
	}
	return nil
}
