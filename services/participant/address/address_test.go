package address_test

import (
	"errors"
	"testing"

	"github.com/convoflow/convoflow/services/participant/address"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr    string
		want    address.Channel
		wantErr bool
	}{
		{addr: "+15551234567", want: address.SMS},
		{addr: "+447700900123", want: address.SMS},
		{addr: "+123456789012345", want: address.SMS}, // 15 digits: the E.164 maximum
		{addr: "whatsapp:+15551234567", want: address.WhatsApp},
		{addr: "", wantErr: true},
		{addr: "15551234567", wantErr: true},       // no plus
		{addr: "+05551234567", wantErr: true},      // country code cannot start with 0
		{addr: "+1234567890123456", wantErr: true}, // 16 digits
		{addr: "+1 555 123 4567", wantErr: true},   // spaces
		{addr: "+1555abc4567", wantErr: true},
		{addr: "whatsapp:15551234567", wantErr: true},
		{addr: "WhatsApp:+15551234567", wantErr: true}, // Twilio's prefix is lower case
		{addr: "messenger:123", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			got, err := address.Parse(tt.addr)
			if tt.wantErr {
				var aerr *address.Error
				if !errors.As(err, &aerr) {
					t.Fatalf("Parse(%q) err = %v, want *address.Error", tt.addr, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Parse(%q) = %q, %v; want %q", tt.addr, got, err, tt.want)
			}
		})
	}
}

func TestParsePair(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, addr, proxy string
		wantErr           bool
	}{
		{name: "sms", addr: "+15551234567", proxy: "+15550000000"},
		{name: "whatsapp", addr: "whatsapp:+15551234567", proxy: "whatsapp:+15550000000"},
		{name: "mixed_channels", addr: "whatsapp:+15551234567", proxy: "+15550000000", wantErr: true},
		{name: "bad_proxy", addr: "+15551234567", proxy: "555", wantErr: true},
		{name: "bad_address", addr: "x", proxy: "+15550000000", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := address.ParsePair(tt.addr, tt.proxy)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParsePair(%q, %q) err = %v, wantErr %v", tt.addr, tt.proxy, err, tt.wantErr)
			}
		})
	}
}
