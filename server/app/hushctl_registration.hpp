#pragma once
// hushctl's registration commands, offline on the database: invitations (XEP-0445 tokens, XEP-0401 links) and
// the approval queue of open registration (docs/registration.md).
#include <string>
#include <vector>

#include "server/config/config.hpp"
#include "storage/store.hpp"

namespace hush {

// `args` starts with "invite" or "registration"; returns the exit status (2: usage).
int run_registration_command(const config& cfg, storage::store& store, const std::vector<std::string>& args);

inline constexpr const char* registration_usage =
    "  invite create [--uses N] [--expires HOURS] [--host HOST] [--user NAME] [--inviter JID]\n"
    "                           a registration invitation: prints its id and the xmpp: link to hand out\n"
    "                           (HOURS 0: never expires; --user: only that name; --inviter: a user's link)\n"
    "  invite list              every invitation: id, host, name, inviter, uses left/total, created, expires, state\n"
    "  invite revoke ID         delete an invitation (ID: its id, or a unique prefix of at least 6 characters)\n"
    "  registration pending     accounts waiting for approval (open mode with approval = true)\n"
    "  registration approve JID let a pending account log in\n"
    "  registration deny JID    delete a pending account\n";

}  // namespace hush
