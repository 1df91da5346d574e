// Package address validates the messaging addresses ParticipantService hands
// to the Conversations API. Checking them before any call means a typo gets
// InvalidArgument at once and Twilio never sees a request that can only fail
// (50407/50408) or, worse, a number that happens to be someone else's.
package address

import (
	"fmt"
	"regexp"
	"strings"
)

// Channel is the messaging channel an address belongs to.
type Channel string

// Channels Conversations binds by address.
const (
	SMS      Channel = "sms"
	WhatsApp Channel = "whatsapp"
)

const whatsappPrefix = "whatsapp:"

// e164 is ITU-T E.164 as Twilio writes it: a plus, a non-zero country-code
// digit, at most 15 digits in all.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// Error explains why an address was rejected.
type Error struct {
	Address string
	Reason  string
}

func (e *Error) Error() string { return fmt.Sprintf("invalid address %q: %s", e.Address, e.Reason) }

// Parse validates addr and returns its channel: E.164 for SMS, "whatsapp:"
// followed by E.164 for WhatsApp.
func Parse(addr string) (Channel, error) {
	switch {
	case addr == "":
		return "", &Error{Address: addr, Reason: "empty"}
	case strings.HasPrefix(addr, whatsappPrefix):
		if !e164.MatchString(strings.TrimPrefix(addr, whatsappPrefix)) {
			return "", &Error{Address: addr, Reason: `want "whatsapp:" followed by an E.164 number such as whatsapp:+15551234567`}
		}
		return WhatsApp, nil
	case e164.MatchString(addr):
		return SMS, nil
	default:
		return "", &Error{Address: addr, Reason: "want an E.164 number such as +15551234567, or whatsapp:+15551234567"}
	}
}

// ParsePair validates a participant's address and the proxy address it is
// bound through. Both must be valid and on the same channel: Twilio cannot
// deliver WhatsApp through an SMS number or the other way round.
func ParsePair(addr, proxy string) (Channel, error) {
	ch, err := Parse(addr)
	if err != nil {
		return "", err
	}
	pch, err := Parse(proxy)
	if err != nil {
		return "", fmt.Errorf("proxy address: %w", err)
	}
	if ch != pch {
		return "", &Error{Address: proxy, Reason: fmt.Sprintf("proxy address is %s but the address is %s", pch, ch)}
	}
	return ch, nil
}
