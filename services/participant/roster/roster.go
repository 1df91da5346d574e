package roster

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/convoflow/convoflow/services/participant/address"
)

// Agent is one support agent of the roster.
type Agent struct {
	// Name identifies the agent in responses and logs; unique in the roster.
	Name string `yaml:"name" json:"name"`
	// Address is the agent's own phone number (E.164) or whatsapp:+… address.
	Address string `yaml:"address" json:"address"`
	// ProxyAddress is the Twilio number the agent is reached through. When
	// empty (and ProxyAddresses too), the service's default proxy address
	// is used.
	ProxyAddress string `yaml:"proxy_address" json:"proxy_address"`
	// ProxyAddresses, instead of ProxyAddress, lists several Twilio numbers
	// the agent can be reached through. Twilio keeps each (address, proxy)
	// pair in one open conversation at a time, so an agent serves at most
	// as many conversations at once as it has numbers.
	ProxyAddresses []string `yaml:"proxy_addresses" json:"proxy_addresses"`
	// Capacity is how many open conversations the agent takes at most.
	Capacity int `yaml:"capacity" json:"capacity"`
	// Pools the agent serves; an agent with no pools serves only requests that
	// name no pool.
	Pools []string `yaml:"pools" json:"pools"`
}

// Proxies returns the Twilio numbers the agent is reached through, in
// roster order; none means the service's default.
func (a Agent) Proxies() []string {
	if a.ProxyAddress != "" {
		return []string{a.ProxyAddress}
	}
	return a.ProxyAddresses
}

// InPool reports whether the agent serves pool; the empty pool is everyone's.
func (a Agent) InPool(pool string) bool {
	return pool == "" || slices.Contains(a.Pools, pool)
}

// Roster is a validated list of agents in file order.
type Roster struct {
	Agents []Agent
}

type file struct {
	Agents []Agent `yaml:"agents"`
}

// maxFileBytes bounds what Load reads: a roster is a short list of people,
// and a huge file is a mistake worth reporting rather than parsing.
const maxFileBytes = 1 << 20

// Parse reads a roster from YAML or JSON. Unknown keys are errors, so a
// misspelt "capcity" is reported instead of silently meaning zero. Every
// problem in the file is reported at once.
func Parse(data []byte) (*Roster, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("roster: %w", err)
	}
	var errs []error
	names := map[string]int{}
	for i, a := range f.Agents {
		where := fmt.Sprintf("roster: agents[%d]", i)
		if a.Name == "" {
			errs = append(errs, fmt.Errorf("%s: name is required", where))
		} else if j, dup := names[a.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: name %q is already used by agents[%d]", where, a.Name, j))
		} else {
			names[a.Name] = i
		}
		errs = append(errs, checkProxies(where, a)...)
		if a.Capacity < 1 {
			errs = append(errs, fmt.Errorf("%s: capacity must be at least 1, got %d", where, a.Capacity))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Roster{Agents: f.Agents}, nil
}

// checkProxies validates the agent's address and each of its proxy
// addresses with it.
func checkProxies(where string, a Agent) []error {
	if a.ProxyAddress != "" && len(a.ProxyAddresses) > 0 {
		return []error{fmt.Errorf("%s: give proxy_address or proxy_addresses, not both", where)}
	}
	proxies := a.Proxies()
	if len(proxies) == 0 {
		if _, err := address.Parse(a.Address); err != nil {
			return []error{fmt.Errorf("%s: %w", where, err)}
		}
		return nil
	}
	var errs []error
	seen := map[string]bool{}
	for _, p := range proxies {
		if seen[p] {
			errs = append(errs, fmt.Errorf("%s: proxy address %s is listed twice", where, p))
			continue
		}
		seen[p] = true
		if _, err := address.ParsePair(a.Address, p); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
	}
	return errs
}

// Load reads and parses the roster file at path.
func Load(path string) (*Roster, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("roster: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("roster: read %s: %w", path, err)
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("roster: %s is larger than %d bytes", path, maxFileBytes)
	}
	return Parse(data)
}
