package conversations

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/convoflow/convoflow/internal/twiliorest"
)

// Permission values Twilio documents for Conversations roles. Conversation
// roles may hold only conversation permissions; service roles may hold the
// service permissions and, because a service role applies in every
// conversation of the service, the conversation permissions too.
var (
	conversationPermissions = []string{
		"addNonChatParticipant", "addParticipant", "deleteAnyMessage", "deleteConversation",
		"deleteOwnMessage", "editAnyMessage", "editAnyMessageAttributes", "editAnyParticipantAttributes",
		"editConversationAttributes", "editConversationName", "editNotificationLevel", "editOwnMessage",
		"editOwnMessageAttributes", "editOwnParticipantAttributes", "leaveConversation",
		"removeParticipant", "sendMediaMessage", "sendMessage",
	}
	servicePermissions = []string{
		"createConversation", "editAnyUserInfo", "editOwnUserInfo", "joinConversation",
	}
)

// defaultRole is one of the roles every service starts with. The names are
// Twilio's ("channel user" and "channel admin" are conversation roles, named
// after Programmable Chat's channels); the permission sets follow Twilio's
// defaults for each name.
type defaultRole struct {
	name, typ   string
	permissions []string
}

var defaultRoles = []defaultRole{
	{"channel user", RoleTypeConversation, []string{
		"sendMessage", "sendMediaMessage", "leaveConversation", "editOwnMessage", "editOwnMessageAttributes",
		"deleteOwnMessage", "editOwnParticipantAttributes", "editNotificationLevel",
	}},
	{"channel admin", RoleTypeConversation, []string{
		"sendMessage", "sendMediaMessage", "leaveConversation", "editOwnMessage", "editOwnMessageAttributes",
		"deleteOwnMessage", "editOwnParticipantAttributes", "editNotificationLevel",
		"addParticipant", "addNonChatParticipant", "removeParticipant", "editConversationName",
		"editConversationAttributes", "deleteConversation", "editAnyMessage", "editAnyMessageAttributes",
		"deleteAnyMessage", "editAnyParticipantAttributes",
	}},
	{"service admin", RoleTypeService, []string{
		"createConversation", "joinConversation", "editOwnUserInfo", "editAnyUserInfo",
		"addParticipant", "removeParticipant", "editConversationName", "editConversationAttributes",
		"deleteConversation", "editAnyMessage", "editAnyMessageAttributes", "deleteAnyMessage",
		"editAnyParticipantAttributes",
	}},
	{"service user", RoleTypeService, []string{
		"createConversation", "joinConversation", "editOwnUserInfo",
	}},
}

const maxRoleName = 256

// readPermissions reads the repeated Permission parameter and checks every
// value against the permissions a role of type typ may hold. Duplicates are
// dropped; the order of first appearance is kept.
func readPermissions(f *form, typ string) []string {
	vs := f.list("Permission")
	if f.err != nil {
		return nil
	}
	if len(vs) == 0 {
		f.fail(errMissing("Permission"))
		return nil
	}
	var out []string
	for _, p := range vs {
		ok := slices.Contains(conversationPermissions, p) ||
			(typ == RoleTypeService && slices.Contains(servicePermissions, p))
		if !ok {
			f.fail(errInvalid("Permission", fmt.Sprintf("%q is not a %s permission", p, typ)))
			return nil
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

type roleJSON struct {
	Sid            string   `json:"sid"`
	AccountSid     string   `json:"account_sid"`
	ChatServiceSid string   `json:"chat_service_sid"`
	FriendlyName   string   `json:"friendly_name"`
	Type           string   `json:"type"`
	Permissions    []string `json:"permissions"`
	DateCreated    *string  `json:"date_created"`
	DateUpdated    *string  `json:"date_updated"`
	URL            string   `json:"url"`
}

func (c *call) renderRole(r *Role) roleJSON {
	return roleJSON{
		Sid:            r.Sid,
		AccountSid:     r.AccountSid,
		ChatServiceSid: r.ChatServiceSid,
		FriendlyName:   r.FriendlyName,
		Type:           r.Type,
		Permissions:    nonNil(r.Permissions),
		DateCreated:    twiliorest.Time(r.DateCreated),
		DateUpdated:    twiliorest.Time(r.DateUpdated),
		URL:            c.base + c.prefix() + "/Roles/" + r.Sid,
	}
}

// roleOf returns role sid of service svc, or nil.
func (st *state) roleOf(svc, sid string) *Role {
	if r := st.roles[sid]; r != nil && r.ChatServiceSid == svc {
		return r
	}
	return nil
}

// checkRole validates a RoleSid parameter: the role must exist in service
// svc and be of type typ (service roles for users, conversation roles for
// participants). Twilio documents no dedicated error code for an unknown
// role, so the fake answers 400 / 20001 naming the parameter.
func (st *state) checkRole(param, svc, sid, typ string) *apiError {
	r := st.roleOf(svc, sid)
	if r == nil {
		return errInvalid(param, "no role "+sid+" in Conversation Service "+svc)
	}
	if r.Type != typ {
		return errInvalid(param, fmt.Sprintf("role %s is a %s role, a %s role is required", sid, r.Type, typ))
	}
	return nil
}

func createRole(s *Server, c *call) error {
	f := c.form
	name := f.required("FriendlyName", maxRoleName)
	typ, _ := f.enum("Type", RoleTypeConversation, RoleTypeService)
	if f.err == nil && typ == "" {
		f.fail(errMissing("Type"))
	}
	perms := readPermissions(f, typ)
	if err := c.formErr(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	r := &Role{Sid: s.st.newSid("RL"), AccountSid: s.opts.AccountSid, ChatServiceSid: c.svc, FriendlyName: name,
		Type: typ, Permissions: perms, DateCreated: now, DateUpdated: now}
	s.st.roles[r.Sid] = r
	s.st.roleOrder = append(s.st.roleOrder, r.Sid)
	return c.created(c.renderRole(r))
}

func (s *Server) roleLocked(c *call) (*Role, error) {
	r := s.st.roleOf(c.svc, c.r.PathValue("Sid"))
	if r == nil {
		return nil, c.notFound()
	}
	return r, nil
}

func fetchRole(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.roleLocked(c)
	if err != nil {
		return err
	}
	return c.ok(c.renderRole(r))
}

func listRoles(s *Server, c *call) error {
	pg, err := c.paging(50, 50)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var items []roleJSON
	for _, sid := range s.st.roleOrder {
		if r := s.st.roles[sid]; r.ChatServiceSid == c.svc {
			items = append(items, c.renderRole(r))
		}
	}
	return writeList(c, "roles", items, pg)
}

// updateRole replaces the role's permissions, as Twilio's update does.
func updateRole(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.roleLocked(c)
	if err != nil {
		return err
	}
	perms := readPermissions(c.form, r.Type)
	if err := c.formErr(); err != nil {
		return err
	}
	r.Permissions = perms
	r.DateUpdated = s.now()
	return c.ok(c.renderRole(r))
}

// deleteRole refuses to delete a role the service configuration names as a
// default, or that a user or participant holds, so no record ever points at
// a missing role. Twilio documents no code for this; the fake answers
// 400 / 20001 (its generic bad request).
func deleteRole(s *Server, c *call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.roleLocked(c)
	if err != nil {
		return err
	}
	if cfg := s.st.services[c.svc].Config; r.Sid == cfg.DefaultChatServiceRoleSid ||
		r.Sid == cfg.DefaultConversationRoleSid || r.Sid == cfg.DefaultConversationCreatorRoleSid {
		return newError(http.StatusBadRequest, codeMissingParam, "Role %s is a default role of Conversation Service %s and cannot be deleted", r.Sid, c.svc)
	}
	for _, u := range s.st.users {
		if u.RoleSid == r.Sid {
			return newError(http.StatusBadRequest, codeMissingParam, "Role %s is assigned to user %s and cannot be deleted", r.Sid, u.Sid)
		}
	}
	for _, conv := range s.st.conversations {
		for _, p := range conv.participants {
			if p.RoleSid == r.Sid {
				return newError(http.StatusBadRequest, codeMissingParam, "Role %s is assigned to participant %s and cannot be deleted", r.Sid, p.Sid)
			}
		}
	}
	delete(s.st.roles, r.Sid)
	s.st.roleOrder = slices.DeleteFunc(s.st.roleOrder, func(sid string) bool { return sid == r.Sid })
	return c.noContent()
}

// Roles returns the roles of service svc ("" = default service) in creation
// order: Twilio's four default roles first.
func (s *Server) Roles(svc string) []Role {
	s.mu.Lock()
	defer s.mu.Unlock()
	if svc == "" {
		svc = s.st.defaultService
	}
	var out []Role
	for _, sid := range s.st.roleOrder {
		if r := s.st.roles[sid]; r.ChatServiceSid == svc {
			cp := *r
			cp.Permissions = slices.Clone(r.Permissions)
			out = append(out, cp)
		}
	}
	return out
}
