#pragma once
// hushctl's anti-SPIM commands: a user's challenge settings and message requests (held stanzas), offline.
#include <string>
#include <vector>

#include "server/config/config.hpp"
#include "storage/store.hpp"

namespace hush {

// `args` starts with "challenge", "requests", "blocklist" or "token"; returns the process exit status (2: usage).
int run_antispim_command(const config& cfg, storage::store& store, const std::vector<std::string>& args);

inline constexpr const char* antispim_usage =
    "  challenge JID            show the user's Bot Challenge settings (the <challenge/> element)\n"
    "  challenge JID set FILE   replace them with the <challenge/> element in FILE (- for stdin); a new question\n"
    "                           or new answers revoke earlier approvals and secrets\n"
    "  challenge JID reset      back to the server default ([antispim.challenge]), revoking approvals\n"
    "  requests JID             list message requests: strangers with held stanzas\n"
    "  requests JID release SENDER   approve SENDER; held messages go to offline storage, invites to pending\n"
    "  requests JID reject SENDER    discard SENDER's held stanzas (SENDER stays a stranger)\n"
    "  requests JID report SENDER    discard them and block SENDER for this user (logged as a report)\n"
    "  blocklist list           the server-wide blocklist\n"
    "  blocklist add KIND VALUE [REASON] [--expires HOURS] [--contacts-too]\n"
    "                           block a jid, domain (and its subdomains) or ip (address or CIDR range);\n"
    "                           hushd picks it up within 30 s, or at once on SIGHUP\n"
    "  blocklist remove KIND VALUE\n"
    "  token create NAME        a bearer token for the admin HTTP API (printed once; only its digest is kept)\n"
    "  token list | token revoke NAME\n";

}  // namespace hush
