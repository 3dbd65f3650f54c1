#pragma once
// hushctl's chat room commands (XEP-0045, docs/muc.md), offline on the database: the persistent rooms listed and
// deleted, service-wide bans added, lifted and listed. A running hushd picks these changes up within seconds
// (muc_service::sync_from_storage): a deleted room is closed with its occupants told, a ban removes the banned
// occupants.
#include <string>
#include <vector>

#include "server/config/config.hpp"
#include "storage/store.hpp"

namespace hush {

// `args` starts with "muc"; returns the exit status (2: usage).
int run_muc_command(const config& cfg, storage::store& store, const std::vector<std::string>& args);

inline constexpr const char* muc_usage =
    "  muc rooms [SERVICE]      the stored (persistent) chat rooms of every MUC service, or one\n"
    "  muc close ROOM_JID       delete a persistent room (a running hushd closes it, telling its occupants)\n"
    "  muc ban SERVICE JID [REASON]\n"
    "                           ban a JID (or a domain) from every room of a service\n"
    "  muc unban SERVICE JID    lift a service-wide ban\n"
    "  muc bans SERVICE         a service's bans\n";

}  // namespace hush
