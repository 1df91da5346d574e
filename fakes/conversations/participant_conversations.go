package conversations

import "github.com/convoflow/convoflow/internal/twiliorest"

type participantConversationJSON struct {
	AccountSid                  string            `json:"account_sid"`
	ChatServiceSid              string            `json:"chat_service_sid"`
	ParticipantSid              string            `json:"participant_sid"`
	ParticipantUserSid          *string           `json:"participant_user_sid"`
	ParticipantIdentity         *string           `json:"participant_identity"`
	ParticipantMessagingBinding *bindingJSON      `json:"participant_messaging_binding"`
	ConversationSid             string            `json:"conversation_sid"`
	ConversationUniqueName      *string           `json:"conversation_unique_name"`
	ConversationFriendlyName    *string           `json:"conversation_friendly_name"`
	ConversationAttributes      string            `json:"conversation_attributes"`
	ConversationDateCreated     *string           `json:"conversation_date_created"`
	ConversationDateUpdated     *string           `json:"conversation_date_updated"`
	ConversationCreatedBy       string            `json:"conversation_created_by"`
	ConversationState           string            `json:"conversation_state"`
	ConversationTimers          map[string]string `json:"conversation_timers"`
	Links                       map[string]string `json:"links"`
}

// listParticipantConversations lists the conversations (of the addressed
// service) in which a participant with Identity or binding Address takes part:
// how callers find the conversation holding a phone number, or count an
// agent's open conversations.
func listParticipantConversations(s *Server, c *call) error {
	identity, hasIdentity := c.form.str("Identity", maxIdentity)
	address, hasAddress := c.form.str("Address", 256)
	pg, err := c.paging(50, 50)
	if err != nil {
		return err
	}
	if (!hasIdentity || identity == "") && (!hasAddress || address == "") {
		return errMissing("Identity")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var items []participantConversationJSON
	for _, sid := range s.st.convOrder {
		conv := s.st.conversations[sid]
		if conv.ChatServiceSid != c.svc {
			continue
		}
		for _, p := range conv.participants {
			match := (identity != "" && p.Identity == identity) ||
				(address != "" && p.Binding != nil && (p.Binding.Address == address || p.Binding.ProjectedAddress == address))
			if !match {
				continue
			}
			s.st.applyTimers(conv, now)
			cj := c.renderConversation(&conv.Conversation)
			items = append(items, participantConversationJSON{
				AccountSid:                  conv.AccountSid,
				ChatServiceSid:              conv.ChatServiceSid,
				ParticipantSid:              p.Sid,
				ParticipantUserSid:          twiliorest.Null(s.st.userSidOf(conv.ChatServiceSid, p.Identity)),
				ParticipantIdentity:         twiliorest.Null(p.Identity),
				ParticipantMessagingBinding: renderBinding(p.Binding),
				ConversationSid:             conv.Sid,
				ConversationUniqueName:      twiliorest.Null(conv.UniqueName),
				ConversationFriendlyName:    twiliorest.Null(conv.FriendlyName),
				ConversationAttributes:      conv.Attributes,
				ConversationDateCreated:     twiliorest.Time(conv.DateCreated),
				ConversationDateUpdated:     twiliorest.Time(conv.DateUpdated),
				ConversationCreatedBy:       conv.CreatedBy,
				ConversationState:           conv.State,
				ConversationTimers:          cj.Timers,
				Links: map[string]string{
					"participant":  cj.URL + "/Participants/" + p.Sid,
					"conversation": cj.URL,
				},
			})
			break
		}
	}
	return writeList(c, "conversations", items, pg)
}
