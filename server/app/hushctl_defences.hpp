#pragma once
// hushctl's server-wide defence commands, offline on the database: importing a published list into the
// server-wide blocklist, XEP-0377 reports, and accounts outbound protection flagged.
#include <string>
#include <vector>

#include "server/config/config.hpp"
#include "storage/store.hpp"

namespace hush {

// `args` starts with "reports", "account", or "blocklist import"; returns the exit status (2: usage).
int run_defences_command(const config& cfg, storage::store& store, const std::vector<std::string>& args);

inline constexpr const char* defences_usage =
    "  blocklist import SOURCE [--format hush|domains] [--expires HOURS]\n"
    "                           add every entry of a published list (another server's /blocklist.xml, or one\n"
    "                           domain per line) from a file, - (stdin) or an http(s):// URL, source \"import:SOURCE\"\n"
    "  reports [--limit N]      XEP-0377 spam reports users sent, newest first\n"
    "  account flagged          accounts outbound protection flagged or suspended\n"
    "  account clear JID        clear one (lifts a suspension)\n";

}  // namespace hush
