#pragma once
// XEP-0045 Multi-User Chat: the services at [muc] services (conference.<host>), their rooms and occupants
// (server/muc/README.md, docs/muc.md). Every stanza to a service's domain or one of its rooms comes here from the
// router, with its authenticated sender; what it causes goes into the caller's `outgoing` (nothing here routes).
// An invitation the room relays is marked to be judged as its verified inviter (outgoing::route_judged_as): the
// anti-SPIM chain sees the person, not the room.
//
// Rooms live in memory under one mutex (decisions on a room are made there, atomically); persistent rooms and
// their affiliations are written through to storage in the order they were decided, and all are loaded before the
// first stanza is answered.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "protocol/outgoing.hpp"
#include "server/config/config.hpp"
#include "server/muc/muc_room.hpp"
#include "storage/async_store.hpp"

namespace hush {

// A room as the admin API lists it.
struct muc_room_summary {
    std::string jid;
    std::string name;
    bool persistent = false;
    bool public_room = false;
    bool members_only = false;
    std::size_t occupants = 0;
};

// XEP-0313 for rooms: what the composition root connects the archive with (empty: rooms are not archived).
struct muc_archive_link {
    // Into the room's archive; the item's id (nullopt: not archived).
    std::function<boost::asio::awaitable<std::optional<std::int64_t>>(const jid& room, const jid& occupant,
                                                                      std::string xml)>
        append;
    // A query of the room's archive the room allowed; results into `out` (to a local requester's session, else
    // routed), then the answer.
    std::function<boost::asio::awaitable<stanza>(const stanza& iq, const jid& room, const jid& requester,
                                                 bool local_requester, outgoing& out)>
        query;
    // Empties a room's archive, in order with its appends.
    std::function<boost::asio::awaitable<void>(const jid& room)> purge;
};

class muc_service {
public:
    muc_service(storage::async_store& store, const muc_config& options, std::vector<std::string> local_hosts,
                std::vector<std::string> admins, std::string secret);

    // Set once at start-up, before any stanza.
    void set_archive(muc_archive_link link) { archive_ = std::move(link); }

    bool serves(std::string_view domain) const;
    const std::vector<std::string>& domains() const { return options_.services; }

    // Loads the persistent rooms (once; every other call waits for it). False on a storage failure (logged).
    boost::asio::awaitable<bool> load();

    // A stanza to a service's domain or to room@service[/nick]; `from` is the authenticated sender.
    boost::asio::awaitable<void> handle(const stanza& s, const jid& from, const jid& to, outgoing& out);

    // Admins (hushctl, the admin API): close a room (its occupants are told, with `reason`; a persistent room is
    // deleted); ban a JID (bare or domain) from every room of `service`, removing it from the rooms it is in.
    // False: no such room / service (close, ban), or a storage failure (logged).
    boost::asio::awaitable<bool> close_room(const jid& room, const std::string& reason, outgoing& out);
    boost::asio::awaitable<bool> ban(const std::string& service, const std::string& who, const std::string& reason,
                                     outgoing& out);
    boost::asio::awaitable<bool> unban(const std::string& service, const std::string& who);
    std::vector<muc_room_summary> rooms(const std::string& service) const;
    std::vector<std::string> service_bans(const std::string& service) const;

    // The account was deleted: its affiliations go from every room (a name registered again inherits no ownership
    // or membership); its bans stay. Storage deleted its rows in the same transaction as the account.
    void account_removed(const jid& account);

    // Periodic work: visitors whose waiting period ([muc] visitor_period) ended get voice.
    void tick(outgoing& out);

    // hushctl edits rooms and bans in storage, not here (muc_sync.cpp): re-reads every service's bans and stored
    // rooms, applies new bans (occupants removed with 301), lifts those gone, and closes a persistent room no longer
    // stored (once its own last write is `sync_grace` old). Run periodically by the server.
    boost::asio::awaitable<void> sync_from_storage(outgoing& out);
    static constexpr std::int64_t sync_grace = 30;  // seconds

    // XEP-0377: `reporter` reported `occupant` (room@service/nick) as spam; the room's moderators are told.
    // False: no such occupant, or the reporter is not in that room.
    bool report(const jid& reporter, const jid& occupant, const std::string& reason, outgoing& out);

    static std::vector<std::string> service_features();
    static std::vector<std::string> room_features(const muc_detail::room& r, bool archived);

private:
    using room = muc_detail::room;
    using occupant = muc_detail::occupant;

    struct service_state {
        std::map<std::string, std::unique_ptr<room>> rooms;  // by localpart
        std::map<std::string, std::string> bans;             // JID or domain -> reason
        // How many rooms each real bare JID is in ([muc] max_rooms_per_user), kept as occupants come and go.
        std::map<std::string, std::size_t> rooms_joined;
    };
    // Banned from the room's whole service (an admin's service-wide ban).
    bool banned_locked(const room& r, const jid& who) const;
    // Newcomers to this room wait for voice ([muc] new_occupants_visitors: public, open rooms).
    bool newcomers_wait(const room& r) const {
        return options_.new_occupants_visitors && r.config.public_room && !r.config.members_only;
    }
    void occupant_added_locked(const room& r, const occupant& o);
    void occupant_removed_locked(const room& r, const occupant& o);

    // A groupchat message of an archived room: broadcast once the archive gave it an id (XEP-0359 stanza-id by the
    // room), in the order decided.
    struct archived_broadcast {
        jid room;
        jid occupant;        // room@service/nick
        stanza message;      // as kept in the history (its document shared with the history entry)
        std::vector<stanza> copies;
    };

    // Storage work decided under the mutex, done in that order by one flusher.
    using write = std::function<storage::result<void>(storage::store&)>;

    // --- each runs with mutex_ held; `now` is unix seconds ---
    void presence_locked(const stanza& s, const jid& from, const jid& to, outgoing& out);
    void join_locked(const stanza& s, const jid& from, const jid& to, service_state& svc, room* r, outgoing& out);
    // The history the joining session asked for (XEP-0045 §7.2.15), then the subject.
    void history_locked(const room& r, const jid& session, pugi::xml_node x, outgoing& out) const;
    void leave_locked(room& r, occupant& o, const jid& session, const std::string& status, outgoing& out);
    void change_nick_locked(room& r, occupant& o, const stanza& s, const jid& from, const jid& to, outgoing& out);
    void message_locked(const stanza& s, const jid& from, const jid& to, outgoing& out,
                        std::optional<archived_broadcast>& archived);
    void groupchat_locked(room& r, occupant& o, const stanza& s, outgoing& out,
                          std::optional<archived_broadcast>& archived);
    // XEP-0313 §6 queries of a room's archive: occupants, members, and anyone for an open, public room.
    boost::asio::awaitable<void> archive_query(const stanza& s, const jid& from, const jid& to, outgoing& out);
    boost::asio::awaitable<void> archive_and_send(archived_broadcast b, outgoing& out);
    void private_message_locked(room& r, const stanza& s, const jid& from, const jid& to, outgoing& out);
    void invitations_locked(room& r, occupant* o, const stanza& s, const jid& from, outgoing& out);
    void iq_locked(const stanza& s, const jid& from, const jid& to, outgoing& out);
    std::optional<stanza> service_iq_locked(const stanza& s, service_state& svc);
    std::optional<stanza> admin_iq_locked(room& r, const stanza& s, const jid& from, outgoing& out);
    std::optional<stanza> owner_iq_locked(room& r, const stanza& s, const jid& from, outgoing& out);
    std::optional<stanza> register_iq_locked(room& r, const stanza& s, const jid& from);
    stanza disco_info_locked(const room& r, const stanza& s) const;

    // Sends `p` (built per viewer) to every session of every occupant.
    void broadcast_presence_locked(const room& r, const occupant& subject, std::string_view type,
                                   const std::vector<int>& codes, outgoing& out, const std::string& extra_xml = {});
    void send_to_occupant(const occupant& o, const stanza& s, outgoing& out) const;
    // Removes an occupant with an unavailable presence carrying `codes` (307 kicked, 301 banned, 321/322
    // affiliation...) to everyone, the actor and reason in the item.
    void remove_occupant_locked(room& r, const std::string& nick, const std::vector<int>& codes,
                                const std::string& reason, outgoing& out);
    // A temporary room nobody is in any more (kicked, banned, left) is destroyed; true when it was.
    bool destroy_if_abandoned_locked(room& r, outgoing& out);
    void destroy_locked(service_state& svc, room& r, const std::string& reason, const std::string& alternate,
                        outgoing& out);
    void set_affiliation_locked(room& r, const std::string& who, muc::affiliation a, const std::string& reason,
                                const std::string& nick);
    void persist_room_locked(room& r);
    // A service-wide ban (an admin's, or one hushctl stored: muc_sync.cpp): recorded, the JID's (or domain's)
    // occupants removed with 301 from every room, and the temporary rooms that leaves empty destroyed.
    void apply_ban_locked(service_state& svc, const std::string& who, const std::string& reason, outgoing& out);
    void status_message_locked(const room& r, const std::vector<int>& codes, outgoing& out) const;
    bool take_token_locked(occupant& o);
    muc::role default_role_locked(room& r, const jid& who, muc::affiliation a);
    std::size_t rooms_of_locked(const service_state& svc, const jid& who, bool owned) const;
    bool is_admin(const jid& who) const;
    bool is_local(const jid& who) const;
    std::string occupant_id(const room& r, const jid& who) const;
    room* find_locked(const jid& address);
    std::int64_t now() const;

    boost::asio::awaitable<void> flush();
    boost::asio::awaitable<void> purge();

    storage::async_store& store_;
    const muc_config& options_;
    std::vector<std::string> local_hosts_;
    std::vector<std::string> admins_;
    std::string secret_;
    muc_archive_link archive_;

    mutable std::mutex mutex_;
    std::map<std::string, service_state> services_;  // by domain
    bool loaded_ = false;
    std::vector<write> writes_;
    std::vector<jid> purges_;  // rooms whose archive is to be emptied (created, or destroyed), done after the lock
    bool flushing_ = false;
};

}  // namespace hush
