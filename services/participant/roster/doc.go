// Package roster holds ParticipantService's support agents and picks one for
// a conversation.
//
// The roster is a YAML (or JSON) file:
//
//	agents:
//	  - name: alice
//	    address: "+15005550001"        # the agent's phone (E.164) or whatsapp:+…
//	    proxy_address: "+15005550000"  # the Twilio number the agent is reached through
//	    capacity: 3                    # open conversations at most
//	    pools: [support, billing]
//	  - name: bob
//	    address: "+15005550002"
//	    proxy_addresses: ["+15005550000", "+15005550009"]  # several numbers
//	    capacity: 2
//
// Twilio keeps an SMS or WhatsApp binding, the pair (address, proxy
// address), in one open conversation at a time, so an agent takes as many
// conversations at once as it has proxy numbers: capacity beyond that is
// never reached.
//
// An agent's load is not kept here: the caller reads it from Conversations
// (the agent's non-closed conversations), so it survives restarts and agrees
// across replicas. [Pick] chooses among the agents of a pool that are not
// already in the conversation and are under capacity, the least loaded first,
// breaking ties round-robin so equal agents share the work.
package roster
