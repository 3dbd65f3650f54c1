#pragma once
// One XEP-0045 room as the service keeps it in memory: its configuration, affiliations, occupants (each a nick held
// by one bare JID, from one or more of its sessions), history and subject. Plain data plus the stanzas every part
// of the service builds the same way (an occupant's presence as a given occupant sees it, the room's messages).
// The service's mutex guards all of it (muc_service.hpp).
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "protocol/jid.hpp"
#include "protocol/muc.hpp"
#include "protocol/stanza.hpp"

namespace hush::muc_detail {

using clock = std::chrono::steady_clock;

// room::first_joined values other than a join time: a moderator voiced or devoiced the newcomer (or the waiting
// period voiced it), so the period decides nothing more for it.
inline constexpr std::int64_t voiced = -1;
inline constexpr std::int64_t held_by_moderator = -2;
// Bounds on what a room remembers.
inline constexpr std::size_t max_affiliations_per_room = 5000;
inline constexpr std::size_t max_invitations_remembered = 1000;

struct affiliation_entry {
    muc::affiliation value = muc::affiliation::none;
    std::string nick;    // reserved by room registration
    std::string reason;
};

struct occupant {
    std::string nick;
    jid real;                    // bare
    std::vector<jid> sessions;   // the real full JIDs joined under this nick (XEP-0045 §7.2 multi-session)
    muc::role role = muc::role::participant;
    stanza presence;             // the occupant's latest available presence, as it sent it
    std::string occupant_id;     // XEP-0421
    // Anti-SPIM: the occupant's messages through the room (groupchat, private messages, invitations).
    double tokens = 0;
    clock::time_point refilled{};

    bool has_session(const jid& full) const;
};

struct history_entry {
    stanza message;              // as broadcast (from room/nick), with the occupant's id; `to` set per recipient
    std::int64_t at = 0;         // unix seconds
    std::size_t chars = 0;
};

struct room {
    jid address;                 // room@service
    muc::room_config config;
    bool locked = false;         // XEP-0045 §10.1.1: created and waiting for its owner's configuration
    std::int64_t created_at = 0;
    // When its latest write to storage was decided (unix seconds; 0: never stored): the storage sync closes a room
    // gone from storage only once no write of it can still be queued (muc_sync.cpp).
    std::int64_t persisted_at = 0;
    std::map<std::string, affiliation_entry> affiliations;  // bare JID (or domain) -> entry
    std::map<std::string, occupant> occupants;              // nick -> occupant
    std::deque<history_entry> history;
    std::string subject;
    std::string subject_by;
    bool has_subject = false;
    // Anti-SPIM ([muc] new_occupants_visitors): when each JID first joined, for the period visitors wait.
    std::map<std::string, std::int64_t> first_joined;
    // Invitations this room relayed and nobody declined yet: invitee (bare) -> inviter (bare), for declines.
    std::map<std::string, std::string> invited;

    muc::affiliation affiliation_of(const jid& who) const;  // by bare JID, then by domain
    const affiliation_entry* entry_of(const jid& who) const;
    occupant* occupant_of(const jid& full);                  // the occupant a session is joined as
    std::size_t owners() const;
    // The nick reserved for someone else ("" when `nick` is free for `who`).
    bool nick_reserved_by_other(const std::string& nick, const jid& who) const;

    // What a room's occupant sees of another: <presence from=room/nick> with the occupant's presence payload and
    // <x xmlns=muc#user><item affiliation role [jid]/></x> (the real JID to moderators or in non-anonymous rooms),
    // `type` ("" or "unavailable"), the status codes and anything more in the x.
    stanza presence_of(const occupant& o, const occupant* viewer, std::string_view type,
                       const std::vector<int>& codes) const;
    bool sees_jids(const occupant* viewer) const;
};

// Adds <status code/> children to an <x xmlns=muc#user/>.
void add_status(pugi::xml_node x, const std::vector<int>& codes);
// Every element of `s` in namespace `ns` with local name `name` removed (what the room sets itself).
void strip(stanza& s, std::string_view name, std::string_view ns);

}  // namespace hush::muc_detail
