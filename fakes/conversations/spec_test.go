package conversations_test

import (
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/convoflow/convoflow/fakes/conversations"
	"github.com/convoflow/convoflow/internal/openapitest"
	"github.com/convoflow/convoflow/internal/shared"
)

// contractStep is one call of the contract test: an operation of the spec,
// driven against the fake, whose response is validated against the spec's
// response schema for that operation and status. Steps run in order and
// share variables: save stores response fields for later steps' paths and
// forms ("$name" values are replaced).
type contractStep struct {
	op     string            // the spec's operationId
	method string            // GET, POST or DELETE
	path   string            // the spec path template, e.g. /v1/Conversations/{Sid}
	args   map[string]string // path placeholder → value ("$var" or a literal)
	form   url.Values        // values may be "$var"
	header []string
	status int
	save   map[string]string // response field → variable name
	// seed, when set, replaces the HTTP call: it prepares state the REST API
	// cannot create (push bindings) and may set variables.
	seed func(srv *conversations.Server, vars map[string]string) error
}

// contractSteps drives every operation the fake serves. To cover a new
// resource, add its steps here (create before fetch/update/list, delete last).
var contractSteps = []contractStep{
	{op: "FetchConfiguration", method: "GET", path: "/v1/Configuration", status: 200},
	{op: "UpdateConfiguration", method: "POST", path: "/v1/Configuration", form: form("DefaultClosedTimer", "PT1H"), status: 200},
	{op: "FetchConfigurationWebhook", method: "GET", path: "/v1/Configuration/Webhooks", status: 200},
	{op: "UpdateConfigurationWebhook", method: "POST", path: "/v1/Configuration/Webhooks",
		form: form("Filters", "onMessageAdded", "PostWebhookUrl", "https://example.com/post", "Method", "POST"), status: 200},

	{op: "CreateConversation", method: "POST", path: "/v1/Conversations",
		form: form("FriendlyName", "contract", "UniqueName", "contract-1", "Timers.Inactive", "PT5M", "Timers.Closed", "PT20M"), status: 201, save: map[string]string{"sid": "CH"}},
	{op: "FetchConversation", method: "GET", path: "/v1/Conversations/{Sid}", args: map[string]string{"Sid": "$CH"}, status: 200},
	{op: "UpdateConversation", method: "POST", path: "/v1/Conversations/{Sid}", args: map[string]string{"Sid": "$CH"}, form: form("Attributes", `{"a":1}`), status: 200},
	{op: "ListConversation", method: "GET", path: "/v1/Conversations", form: form("PageSize", "1"), status: 200},
	{op: "CreateConversationWithParticipants", method: "POST", path: "/v1/ConversationWithParticipants",
		form: form("FriendlyName", "cwp", "Participant", `{"identity":"cwp-agent"}`,
			"Participant", `{"messaging_binding":{"address":"+15550009999","proxy_address":"+15559990000"}}`), status: 201},

	{op: "CreateConversationParticipant", method: "POST", path: "/v1/Conversations/{ConversationSid}/Participants", args: map[string]string{"ConversationSid": "$CH"},
		form: form("MessagingBinding.Address", "+15550001111", "MessagingBinding.ProxyAddress", "+15559990000"), status: 201, save: map[string]string{"sid": "MB_SMS"}},
	{op: "CreateConversationParticipant", method: "POST", path: "/v1/Conversations/{ConversationSid}/Participants", args: map[string]string{"ConversationSid": "$CH"},
		form: form("Identity", "agent", "Attributes", `{"role":"agent"}`), status: 201, save: map[string]string{"sid": "MB"}},
	{op: "FetchConversationParticipant", method: "GET", path: "/v1/Conversations/{ConversationSid}/Participants/{Sid}", args: map[string]string{"ConversationSid": "$CH", "Sid": "agent"}, status: 200},
	{op: "UpdateConversationParticipant", method: "POST", path: "/v1/Conversations/{ConversationSid}/Participants/{Sid}", args: map[string]string{"ConversationSid": "$CH", "Sid": "$MB"},
		form: form("LastReadMessageIndex", "0"), status: 200},
	{op: "ListConversationParticipant", method: "GET", path: "/v1/Conversations/{ConversationSid}/Participants", args: map[string]string{"ConversationSid": "$CH"}, status: 200},

	{op: "CreateConversationMessage", method: "POST", path: "/v1/Conversations/{ConversationSid}/Messages", args: map[string]string{"ConversationSid": "$CH"},
		form: form("Body", "hello", "Author", "agent"), status: 201, save: map[string]string{"sid": "IM"}},
	{op: "FetchConversationMessage", method: "GET", path: "/v1/Conversations/{ConversationSid}/Messages/{Sid}", args: map[string]string{"ConversationSid": "$CH", "Sid": "$IM"}, status: 200},
	{op: "UpdateConversationMessage", method: "POST", path: "/v1/Conversations/{ConversationSid}/Messages/{Sid}", args: map[string]string{"ConversationSid": "$CH", "Sid": "$IM"},
		form: form("Body", "edited"), status: 200},
	{op: "ListConversationMessage", method: "GET", path: "/v1/Conversations/{ConversationSid}/Messages", args: map[string]string{"ConversationSid": "$CH"}, form: form("Order", "desc"), status: 200},
	{op: "ListConversationMessageReceipt", method: "GET", path: "/v1/Conversations/{ConversationSid}/Messages/{MessageSid}/Receipts",
		args: map[string]string{"ConversationSid": "$CH", "MessageSid": "$IM"}, status: 200, save: map[string]string{"delivery_receipts.0.sid": "DY"}},
	{op: "FetchConversationMessageReceipt", method: "GET", path: "/v1/Conversations/{ConversationSid}/Messages/{MessageSid}/Receipts/{Sid}",
		args: map[string]string{"ConversationSid": "$CH", "MessageSid": "$IM", "Sid": "$DY"}, status: 200},

	{op: "CreateConversationScopedWebhook", method: "POST", path: "/v1/Conversations/{ConversationSid}/Webhooks", args: map[string]string{"ConversationSid": "$CH"},
		form: form("Target", "studio", "Configuration.FlowSid", "FW00000000000000000000000000000000"), status: 201, save: map[string]string{"sid": "WH"}},
	{op: "CreateConversationScopedWebhook", method: "POST", path: "/v1/Conversations/{ConversationSid}/Webhooks", args: map[string]string{"ConversationSid": "$CH"},
		form: form("Target", "webhook", "Configuration.Url", "https://example.com/hook", "Configuration.Filters", "onMessageAdded"), status: 201},
	{op: "FetchConversationScopedWebhook", method: "GET", path: "/v1/Conversations/{ConversationSid}/Webhooks/{Sid}", args: map[string]string{"ConversationSid": "$CH", "Sid": "$WH"}, status: 200},
	{op: "UpdateConversationScopedWebhook", method: "POST", path: "/v1/Conversations/{ConversationSid}/Webhooks/{Sid}", args: map[string]string{"ConversationSid": "$CH", "Sid": "$WH"},
		form: form("Configuration.FlowSid", "FW11111111111111111111111111111111"), status: 200},
	{op: "ListConversationScopedWebhook", method: "GET", path: "/v1/Conversations/{ConversationSid}/Webhooks", args: map[string]string{"ConversationSid": "$CH"}, status: 200},

	{op: "ListParticipantConversation", method: "GET", path: "/v1/ParticipantConversations", form: form("Address", "+15550001111"), status: 200},

	{op: "CreateConfigurationAddress", method: "POST", path: "/v1/Configuration/Addresses",
		form: form("Type", "sms", "Address", "+15559990000", "AutoCreation.Enabled", "true", "AutoCreation.Type", "webhook",
			"AutoCreation.WebhookUrl", "https://example.com/auto", "AutoCreation.WebhookFilters", "onMessageAdded"), status: 201, save: map[string]string{"sid": "IG"}},
	{op: "FetchConfigurationAddress", method: "GET", path: "/v1/Configuration/Addresses/{Sid}", args: map[string]string{"Sid": "$IG"}, status: 200},
	{op: "UpdateConfigurationAddress", method: "POST", path: "/v1/Configuration/Addresses/{Sid}", args: map[string]string{"Sid": "$IG"}, form: form("FriendlyName", "support"), status: 200},
	{op: "ListConfigurationAddress", method: "GET", path: "/v1/Configuration/Addresses", form: form("Type", "sms"), status: 200},

	// Service-scoped variants, on the default service.
	{op: "FetchServiceWebhookConfiguration", method: "GET", path: "/v1/Services/{ChatServiceSid}/Configuration/Webhooks", args: map[string]string{"ChatServiceSid": "$IS"}, status: 200},
	{op: "UpdateServiceWebhookConfiguration", method: "POST", path: "/v1/Services/{ChatServiceSid}/Configuration/Webhooks", args: map[string]string{"ChatServiceSid": "$IS"},
		form: form("PreWebhookUrl", "https://example.com/pre", "Filters", "onMessageAdd", "Method", "GET"), status: 200},
	{op: "CreateServiceConversation", method: "POST", path: "/v1/Services/{ChatServiceSid}/Conversations", args: map[string]string{"ChatServiceSid": "$IS"}, status: 201, save: map[string]string{"sid": "SCH"}},
	{op: "FetchServiceConversation", method: "GET", path: "/v1/Services/{ChatServiceSid}/Conversations/{Sid}", args: map[string]string{"ChatServiceSid": "$IS", "Sid": "$SCH"}, status: 200},
	{op: "UpdateServiceConversation", method: "POST", path: "/v1/Services/{ChatServiceSid}/Conversations/{Sid}", args: map[string]string{"ChatServiceSid": "$IS", "Sid": "$SCH"}, form: form("FriendlyName", "svc"), status: 200},
	{op: "ListServiceConversation", method: "GET", path: "/v1/Services/{ChatServiceSid}/Conversations", args: map[string]string{"ChatServiceSid": "$IS"}, status: 200},
	{op: "CreateServiceConversationWithParticipants", method: "POST", path: "/v1/Services/{ChatServiceSid}/ConversationWithParticipants", args: map[string]string{"ChatServiceSid": "$IS"},
		form: form("Participant", `{"identity":"svc-cwp"}`), status: 201},
	{op: "CreateServiceConversationParticipant", method: "POST", path: "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Participants",
		args: map[string]string{"ChatServiceSid": "$IS", "ConversationSid": "$SCH"}, form: form("MessagingBinding.Address", "+15550002222", "MessagingBinding.ProxyAddress", "+15559990000"), status: 201, save: map[string]string{"sid": "SMB"}},
	{op: "FetchServiceConversationParticipant", method: "GET", path: "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Participants/{Sid}",
		args: map[string]string{"ChatServiceSid": "$IS", "ConversationSid": "$SCH", "Sid": "$SMB"}, status: 200},
	{op: "UpdateServiceConversationParticipant", method: "POST", path: "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Participants/{Sid}",
		args: map[string]string{"ChatServiceSid": "$IS", "ConversationSid": "$SCH", "Sid": "$SMB"}, form: form("Attributes", `{"x":1}`), status: 200},
	{op: "ListServiceConversationParticipant", method: "GET", path: "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Participants",
		args: map[string]string{"ChatServiceSid": "$IS", "ConversationSid": "$SCH"}, status: 200},
	{op: "CreateServiceConversationMessage", method: "POST", path: "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Messages",
		args: map[string]string{"ChatServiceSid": "$IS", "ConversationSid": "$SCH"}, form: form("Body", "svc hello"), status: 201, save: map[string]string{"sid": "SIM"}},
	{op: "FetchServiceConversationMessage", method: "GET", path: "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Messages/{Sid}",
		args: map[string]string{"ChatServiceSid": "$IS", "ConversationSid": "$SCH", "Sid": "$SIM"}, status: 200},
	{op: "UpdateServiceConversationMessage", method: "POST", path: "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Messages/{Sid}",
		args: map[string]string{"ChatServiceSid": "$IS", "ConversationSid": "$SCH", "Sid": "$SIM"}, form: form("Attributes", `{"y":2}`), status: 200},
	{op: "ListServiceConversationMessage", method: "GET", path: "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Messages",
		args: map[string]string{"ChatServiceSid": "$IS", "ConversationSid": "$SCH"}, status: 200},
	{op: "ListServiceConversationMessageReceipt", method: "GET", path: "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Messages/{MessageSid}/Receipts",
		args: map[string]string{"ChatServiceSid": "$IS", "ConversationSid": "$SCH", "MessageSid": "$SIM"}, status: 200, save: map[string]string{"delivery_receipts.0.sid": "SDY"}},
	{op: "FetchServiceConversationMessageReceipt", method: "GET", path: "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Messages/{MessageSid}/Receipts/{Sid}",
		args: map[string]string{"ChatServiceSid": "$IS", "ConversationSid": "$SCH", "MessageSid": "$SIM", "Sid": "$SDY"}, status: 200},
	{op: "CreateServiceConversationScopedWebhook", method: "POST", path: "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Webhooks",
		args: map[string]string{"ChatServiceSid": "$IS", "ConversationSid": "$SCH"}, form: form("Target", "trigger", "Configuration.Url", "https://example.com/t", "Configuration.Triggers", "help"), status: 201, save: map[string]string{"sid": "SWH"}},
	{op: "FetchServiceConversationScopedWebhook", method: "GET", path: "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Webhooks/{Sid}",
		args: map[string]string{"ChatServiceSid": "$IS", "ConversationSid": "$SCH", "Sid": "$SWH"}, status: 200},
	{op: "UpdateServiceConversationScopedWebhook", method: "POST", path: "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Webhooks/{Sid}",
		args: map[string]string{"ChatServiceSid": "$IS", "ConversationSid": "$SCH", "Sid": "$SWH"}, form: form("Configuration.Method", "get"), status: 200},
	{op: "ListServiceConversationScopedWebhook", method: "GET", path: "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Webhooks",
		args: map[string]string{"ChatServiceSid": "$IS", "ConversationSid": "$SCH"}, status: 200},
	{op: "ListServiceParticipantConversation", method: "GET", path: "/v1/Services/{ChatServiceSid}/ParticipantConversations", args: map[string]string{"ChatServiceSid": "$IS"},
		form: form("Address", "+15550002222"), status: 200},
	{op: "DeleteServiceConversationScopedWebhook", method: "DELETE", path: "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Webhooks/{Sid}",
		args: map[string]string{"ChatServiceSid": "$IS", "ConversationSid": "$SCH", "Sid": "$SWH"}, status: 204},
	{op: "DeleteServiceConversationMessage", method: "DELETE", path: "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Messages/{Sid}",
		args: map[string]string{"ChatServiceSid": "$IS", "ConversationSid": "$SCH", "Sid": "$SIM"}, status: 204},
	{op: "DeleteServiceConversationParticipant", method: "DELETE", path: "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Participants/{Sid}",
		args: map[string]string{"ChatServiceSid": "$IS", "ConversationSid": "$SCH", "Sid": "$SMB"}, status: 204},
	{op: "DeleteServiceConversation", method: "DELETE", path: "/v1/Services/{ChatServiceSid}/Conversations/{Sid}", args: map[string]string{"ChatServiceSid": "$IS", "Sid": "$SCH"}, status: 204},

	{op: "DeleteConfigurationAddress", method: "DELETE", path: "/v1/Configuration/Addresses/{Sid}", args: map[string]string{"Sid": "$IG"}, status: 204},
	{op: "DeleteConversationScopedWebhook", method: "DELETE", path: "/v1/Conversations/{ConversationSid}/Webhooks/{Sid}", args: map[string]string{"ConversationSid": "$CH", "Sid": "$WH"}, status: 204},
	{op: "DeleteConversationMessage", method: "DELETE", path: "/v1/Conversations/{ConversationSid}/Messages/{Sid}", args: map[string]string{"ConversationSid": "$CH", "Sid": "$IM"}, status: 204},
	{op: "DeleteConversationParticipant", method: "DELETE", path: "/v1/Conversations/{ConversationSid}/Participants/{Sid}", args: map[string]string{"ConversationSid": "$CH", "Sid": "$MB"}, status: 204},
	{op: "DeleteConversation", method: "DELETE", path: "/v1/Conversations/{Sid}", args: map[string]string{"Sid": "$CH"}, status: 204},
	{op: "FetchConversation", method: "GET", path: "/v1/Conversations/{Sid}", args: map[string]string{"Sid": "$CH"}, status: 404},

	// Roles, users, user conversations and credentials on the default service.
	{op: "ListRole", method: "GET", path: "/v1/Roles", status: 200},
	{op: "CreateRole", method: "POST", path: "/v1/Roles", form: form("FriendlyName", "contract-role", "Type", "conversation",
		"Permission", "sendMessage", "Permission", "leaveConversation"), status: 201, save: map[string]string{"sid": "RL"}},
	{op: "FetchRole", method: "GET", path: "/v1/Roles/{Sid}", args: map[string]string{"Sid": "$RL"}, status: 200},
	{op: "UpdateRole", method: "POST", path: "/v1/Roles/{Sid}", args: map[string]string{"Sid": "$RL"}, form: form("Permission", "sendMessage"), status: 200},
	{op: "CreateUser", method: "POST", path: "/v1/Users", form: form("Identity", "contract-user", "FriendlyName", "Contract", "Attributes", `{"tier":1}`), status: 201, save: map[string]string{"sid": "US"}},
	{op: "FetchUser", method: "GET", path: "/v1/Users/{Sid}", args: map[string]string{"Sid": "$US"}, status: 200},
	{op: "FetchUser", method: "GET", path: "/v1/Users/{Sid}", args: map[string]string{"Sid": "contract-user"}, status: 200},
	{op: "UpdateUser", method: "POST", path: "/v1/Users/{Sid}", args: map[string]string{"Sid": "$US"}, form: form("FriendlyName", "Contract 2"), status: 200},
	{op: "ListUser", method: "GET", path: "/v1/Users", status: 200},
	{op: "CreateConversation", method: "POST", path: "/v1/Conversations", form: form("UniqueName", "contract-2"), status: 201, save: map[string]string{"sid": "CH2"}},
	{op: "CreateConversationParticipant", method: "POST", path: "/v1/Conversations/{ConversationSid}/Participants", args: map[string]string{"ConversationSid": "$CH2"},
		form: form("Identity", "contract-user", "RoleSid", "$RL"), status: 201},
	{op: "CreateConversationMessage", method: "POST", path: "/v1/Conversations/{ConversationSid}/Messages", args: map[string]string{"ConversationSid": "$CH2"}, form: form("Body", "one"), status: 201},
	{op: "ListUserConversation", method: "GET", path: "/v1/Users/{UserSid}/Conversations", args: map[string]string{"UserSid": "$US"}, status: 200},
	{op: "FetchUserConversation", method: "GET", path: "/v1/Users/{UserSid}/Conversations/{ConversationSid}", args: map[string]string{"UserSid": "contract-user", "ConversationSid": "$CH2"}, status: 200},
	{op: "UpdateUserConversation", method: "POST", path: "/v1/Users/{UserSid}/Conversations/{ConversationSid}", args: map[string]string{"UserSid": "$US", "ConversationSid": "contract-2"},
		form: form("NotificationLevel", "muted", "LastReadMessageIndex", "0", "LastReadTimestamp", "2026-01-02T03:04:05Z"), status: 200},
	{op: "DeleteUserConversation", method: "DELETE", path: "/v1/Users/{UserSid}/Conversations/{ConversationSid}", args: map[string]string{"UserSid": "$US", "ConversationSid": "$CH2"}, status: 204},
	{op: "FetchUserConversation", method: "GET", path: "/v1/Users/{UserSid}/Conversations/{ConversationSid}", args: map[string]string{"UserSid": "$US", "ConversationSid": "$CH2"}, status: 404},
	{op: "DeleteRole", method: "DELETE", path: "/v1/Roles/{Sid}", args: map[string]string{"Sid": "$RL"}, status: 204},
	{op: "DeleteUser", method: "DELETE", path: "/v1/Users/{Sid}", args: map[string]string{"Sid": "$US"}, status: 204},
	{op: "FetchUser", method: "GET", path: "/v1/Users/{Sid}", args: map[string]string{"Sid": "$US"}, status: 404},

	{op: "CreateCredential", method: "POST", path: "/v1/Credentials", form: form("Type", "fcm", "FriendlyName", "push", "Secret", "fcm-server-key"), status: 201, save: map[string]string{"sid": "CR"}},
	{op: "CreateCredential", method: "POST", path: "/v1/Credentials", form: form("Type", "apn", "Certificate", "-----BEGIN CERTIFICATE-----", "PrivateKey", "-----BEGIN RSA PRIVATE KEY-----", "Sandbox", "true"), status: 201},
	{op: "FetchCredential", method: "GET", path: "/v1/Credentials/{Sid}", args: map[string]string{"Sid": "$CR"}, status: 200},
	{op: "UpdateCredential", method: "POST", path: "/v1/Credentials/{Sid}", args: map[string]string{"Sid": "$CR"}, form: form("FriendlyName", "push 2", "Secret", "rotated"), status: 200},
	{op: "ListCredential", method: "GET", path: "/v1/Credentials", status: 200},

	// A second service, with everything that lives only per service.
	{op: "CreateService", method: "POST", path: "/v1/Services", form: form("FriendlyName", "contract service"), status: 201, save: map[string]string{"sid": "NIS"}},
	{op: "FetchService", method: "GET", path: "/v1/Services/{Sid}", args: map[string]string{"Sid": "$NIS"}, status: 200},
	{op: "ListService", method: "GET", path: "/v1/Services", status: 200},
	{op: "FetchServiceConfiguration", method: "GET", path: "/v1/Services/{ChatServiceSid}/Configuration", args: map[string]string{"ChatServiceSid": "$NIS"}, status: 200},
	{op: "UpdateServiceConfiguration", method: "POST", path: "/v1/Services/{ChatServiceSid}/Configuration", args: map[string]string{"ChatServiceSid": "$NIS"},
		form: form("ReachabilityEnabled", "true"), status: 200},
	{op: "FetchServiceNotification", method: "GET", path: "/v1/Services/{ChatServiceSid}/Configuration/Notifications", args: map[string]string{"ChatServiceSid": "$NIS"}, status: 200},
	{op: "UpdateServiceNotification", method: "POST", path: "/v1/Services/{ChatServiceSid}/Configuration/Notifications", args: map[string]string{"ChatServiceSid": "$NIS"},
		form: form("LogEnabled", "true", "NewMessage.Enabled", "true", "NewMessage.Template", "New message in ${CONVERSATION}", "NewMessage.Sound", "ring",
			"NewMessage.BadgeCountEnabled", "true", "NewMessage.WithMedia.Enabled", "true", "NewMessage.WithMedia.Template", "Media: ${MEDIA_COUNT}",
			"AddedToConversation.Enabled", "true", "RemovedFromConversation.Template", "Removed from ${CONVERSATION}"), status: 200},
	{op: "ListServiceRole", method: "GET", path: "/v1/Services/{ChatServiceSid}/Roles", args: map[string]string{"ChatServiceSid": "$NIS"}, status: 200},
	{op: "CreateServiceRole", method: "POST", path: "/v1/Services/{ChatServiceSid}/Roles", args: map[string]string{"ChatServiceSid": "$NIS"},
		form: form("FriendlyName", "moderator", "Type", "service", "Permission", "createConversation", "Permission", "deleteAnyMessage"), status: 201, save: map[string]string{"sid": "SRL"}},
	{op: "FetchServiceRole", method: "GET", path: "/v1/Services/{ChatServiceSid}/Roles/{Sid}", args: map[string]string{"ChatServiceSid": "$NIS", "Sid": "$SRL"}, status: 200},
	{op: "UpdateServiceRole", method: "POST", path: "/v1/Services/{ChatServiceSid}/Roles/{Sid}", args: map[string]string{"ChatServiceSid": "$NIS", "Sid": "$SRL"},
		form: form("Permission", "joinConversation"), status: 200},
	{op: "CreateServiceUser", method: "POST", path: "/v1/Services/{ChatServiceSid}/Users", args: map[string]string{"ChatServiceSid": "$NIS"},
		form: form("Identity", "svc-user", "RoleSid", "$SRL"), status: 201, save: map[string]string{"sid": "SUS"}},
	{op: "FetchServiceUser", method: "GET", path: "/v1/Services/{ChatServiceSid}/Users/{Sid}", args: map[string]string{"ChatServiceSid": "$NIS", "Sid": "svc-user"}, status: 200},
	{op: "UpdateServiceUser", method: "POST", path: "/v1/Services/{ChatServiceSid}/Users/{Sid}", args: map[string]string{"ChatServiceSid": "$NIS", "Sid": "$SUS"},
		form: form("Attributes", `{"x":1}`), status: 200},
	{op: "ListServiceUser", method: "GET", path: "/v1/Services/{ChatServiceSid}/Users", args: map[string]string{"ChatServiceSid": "$NIS"}, status: 200},
	{op: "CreateServiceConversation", method: "POST", path: "/v1/Services/{ChatServiceSid}/Conversations", args: map[string]string{"ChatServiceSid": "$NIS"}, status: 201, save: map[string]string{"sid": "NCH"}},
	{op: "CreateServiceConversationParticipant", method: "POST", path: "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Participants",
		args: map[string]string{"ChatServiceSid": "$NIS", "ConversationSid": "$NCH"}, form: form("Identity", "svc-user"), status: 201},
	{op: "ListServiceUserConversation", method: "GET", path: "/v1/Services/{ChatServiceSid}/Users/{UserSid}/Conversations", args: map[string]string{"ChatServiceSid": "$NIS", "UserSid": "$SUS"}, status: 200},
	{op: "FetchServiceUserConversation", method: "GET", path: "/v1/Services/{ChatServiceSid}/Users/{UserSid}/Conversations/{ConversationSid}",
		args: map[string]string{"ChatServiceSid": "$NIS", "UserSid": "$SUS", "ConversationSid": "$NCH"}, status: 200},
	{op: "UpdateServiceUserConversation", method: "POST", path: "/v1/Services/{ChatServiceSid}/Users/{UserSid}/Conversations/{ConversationSid}",
		args: map[string]string{"ChatServiceSid": "$NIS", "UserSid": "$SUS", "ConversationSid": "$NCH"}, form: form("NotificationLevel", "default"), status: 200},
	{op: "DeleteServiceUserConversation", method: "DELETE", path: "/v1/Services/{ChatServiceSid}/Users/{UserSid}/Conversations/{ConversationSid}",
		args: map[string]string{"ChatServiceSid": "$NIS", "UserSid": "$SUS", "ConversationSid": "$NCH"}, status: 204},
	{op: "AddBinding", seed: func(srv *conversations.Server, vars map[string]string) error {
		b, err := srv.AddBinding(conversations.BindingInput{ChatServiceSid: vars["NIS"], Identity: "svc-user", BindingType: "fcm", CredentialSid: vars["CR"]})
		vars["BS"] = b.Sid
		return err
	}},
	{op: "FetchServiceUser", method: "GET", path: "/v1/Services/{ChatServiceSid}/Users/{Sid}", args: map[string]string{"ChatServiceSid": "$NIS", "Sid": "$SUS"}, status: 200},
	{op: "ListServiceBinding", method: "GET", path: "/v1/Services/{ChatServiceSid}/Bindings", args: map[string]string{"ChatServiceSid": "$NIS"},
		form: form("BindingType", "fcm", "Identity", "svc-user"), status: 200},
	{op: "FetchServiceBinding", method: "GET", path: "/v1/Services/{ChatServiceSid}/Bindings/{Sid}", args: map[string]string{"ChatServiceSid": "$NIS", "Sid": "$BS"}, status: 200},
	{op: "DeleteServiceBinding", method: "DELETE", path: "/v1/Services/{ChatServiceSid}/Bindings/{Sid}", args: map[string]string{"ChatServiceSid": "$NIS", "Sid": "$BS"}, status: 204},
	{op: "DeleteServiceUser", method: "DELETE", path: "/v1/Services/{ChatServiceSid}/Users/{Sid}", args: map[string]string{"ChatServiceSid": "$NIS", "Sid": "$SUS"}, status: 204},
	{op: "DeleteServiceRole", method: "DELETE", path: "/v1/Services/{ChatServiceSid}/Roles/{Sid}", args: map[string]string{"ChatServiceSid": "$NIS", "Sid": "$SRL"}, status: 204},
	{op: "DeleteService", method: "DELETE", path: "/v1/Services/{Sid}", args: map[string]string{"Sid": "$NIS"}, status: 204},
	{op: "FetchService", method: "GET", path: "/v1/Services/{Sid}", args: map[string]string{"Sid": "$NIS"}, status: 404},
	{op: "DeleteCredential", method: "DELETE", path: "/v1/Credentials/{Sid}", args: map[string]string{"Sid": "$CR"}, status: 204},
}

func TestContract(t *testing.T) {
	t.Parallel()
	specPath := shared.Path(t, "specs/twilio_conversations_v1.json")
	doc, err := openapi3.NewLoader().LoadFromFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	srv := startFake(t, conversations.Options{})
	vars := map[string]string{"IS": srv.DefaultServiceSid()}
	resolve := func(v string) string {
		if name, ok := strings.CutPrefix(v, "$"); ok {
			if val, ok := vars[name]; ok {
				return val
			}
			t.Fatalf("variable %s not set by an earlier step", v)
		}
		return v
	}
	covered := map[string]bool{}
	for i, st := range contractSteps {
		if st.seed != nil {
			if err := st.seed(srv, vars); err != nil {
				t.Fatalf("step %d %s: %v", i, st.op, err)
			}
			continue
		}
		item := doc.Paths.Find(st.path)
		if item == nil {
			t.Fatalf("step %d: path %s is not in the spec", i, st.path)
		}
		op := item.GetOperation(st.method)
		if op == nil || op.OperationID != st.op {
			t.Fatalf("step %d: %s %s is not operation %s in the spec", i, st.method, st.path, st.op)
		}
		path := st.path
		for k, v := range st.args {
			path = strings.ReplaceAll(path, "{"+k+"}", url.PathEscape(resolve(v)))
		}
		f := url.Values{}
		for k, vs := range st.form {
			for _, v := range vs {
				f.Add(k, resolve(v))
			}
		}
		r := call(t, srv, st.method, path, f, st.header...)
		if r.Status != st.status {
			t.Fatalf("step %d %s: status %d, want %d: %s", i, st.op, r.Status, st.status, r.Raw)
		}
		if r.Status >= 400 {
			continue // errors are Twilio's error body, checked in TestErrors; the spec has no error schemas
		}
		covered[st.op] = true
		resp := op.Responses.Status(r.Status)
		if resp == nil || resp.Value == nil {
			t.Fatalf("step %d %s: status %d is not a documented response", i, st.op, r.Status)
		}
		if r.Status == 204 {
			if len(r.Raw) != 0 {
				t.Fatalf("step %d %s: 204 with a body: %s", i, st.op, r.Raw)
			}
			continue
		}
		schema := resp.Value.Content.Get("application/json").Schema.Value
		var body any
		if err := json.Unmarshal(r.Raw, &body); err != nil {
			t.Fatal(err)
		}
		if err := schema.VisitJSON(body, openapi3.MultiErrors(), openapi3.EnableFormatValidation()); err != nil {
			t.Errorf("step %d %s: response does not match the spec: %v\n%s", i, st.op, err, r.Raw)
		}
		for _, problem := range openapitest.ExactFields(schema, body, "") {
			t.Errorf("step %d %s: %s", i, st.op, problem)
		}
		for field, name := range st.save {
			vars[name] = str(lookup(body, field))
			if vars[name] == "" {
				t.Fatalf("step %d %s: no %s in %s", i, st.op, field, r.Raw)
			}
		}
	}
	var missing []string
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if !covered[op.OperationID] {
				missing = append(missing, op.OperationID)
			}
		}
	}
	sort.Strings(missing)
	// Every operation of the spec must be driven at least once with a
	// successful answer, so a new spec operation cannot go untested.
	if len(missing) > 0 {
		t.Errorf("%d of %d spec operations not covered by contractSteps: %s", len(missing), len(covered)+len(missing), strings.Join(missing, ", "))
	}
}

// lookup follows a dotted path (numbers index arrays) into a decoded JSON value.
func lookup(v any, path string) any {
	for part := range strings.SplitSeq(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[part]
		case []any:
			i := 0
			for _, c := range part {
				i = i*10 + int(c-'0')
			}
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}
