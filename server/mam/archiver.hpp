#pragma once
// XEP-0313 archiving on the stanza path, for local accounts: what the router hands over as it delivers a message
// to an account (online or to offline storage) or as a local user sends one. Decides by the account's
// preferences (XEP-0313 §7: always / roster / never, and JIDs always or never archived), writes the item, and
// stamps the delivered copy with its XEP-0359 <stanza-id/> — after removing any stanza-id from outside that
// claims to be this account's (a forgery). The item is written behind delivery, in batches (archive_writer); the
// preferences are cached per account (bounded). Also the sweep that applies retention and the per-account cap.
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include <boost/asio/awaitable.hpp>

#include "protocol/jid.hpp"
#include "protocol/stanza.hpp"
#include "server/config/config.hpp"
#include "server/mam/archive_writer.hpp"
#include "storage/async_store.hpp"

namespace hush {

class archiver {
public:
    archiver(const mam_config& cfg, storage::async_store& store);

    // At start-up, before anything is archived: ids go on from the highest stored one (never back, whatever the
    // clock did meanwhile). False when the storage cannot tell (logged).
    boost::asio::awaitable<bool> load_last_id();

    // A message for the local account `to` arriving from outside this server (a session or a peer server): removes
    // every stanza-id claiming to be the account's — before anything keeps the message (a held one is released as
    // it was held). Returns how many.
    std::size_t strip_forged(stanza& message, const jid& from, const jid& to);
    // A message for the local account `to` (its sender authenticated as `from`), about to be delivered or stored
    // offline; `server_made`: this server routes it (a held message released, an XEP-0198 redelivery). Archives and
    // stamps it when it is worth archiving and the account's preferences want it — except a server-made one that
    // carries the account's stanza-id already (redelivered: archived when first delivered). Returns the new item's
    // id, for forget().
    boost::asio::awaitable<std::optional<std::int64_t>> inbound(stanza& message, const jid& from, const jid& to,
                                                                bool server_made);
    // XEP-0313 §6 (MUC archives): a room's groupchat message as it broadcasts it (from room/nick), into the room's
    // own archive (no preferences: the room's configuration decides). Its id, to stamp the copies with; nullopt when
    // archiving is off.
    boost::asio::awaitable<std::optional<std::int64_t>> append_room(const jid& room, const jid& occupant,
                                                                    std::string xml);
    // A room's archive emptied, in order with its appends (a room created again under a destroyed one's name must
    // not inherit what was said there).
    boost::asio::awaitable<void> purge_room(const jid& room);
    // A message a local user `from` sends to `to` (after the outbound checks let it go): into the sender's archive.
    boost::asio::awaitable<void> outbound(const stanza& message, const jid& from, const jid& to);
    // An item inbound() archived whose message was refused after all (offline storage full): the archive keeps
    // only what the account received, and `message` loses the stanza-id inbound() gave it — bounced to its sender,
    // it must not tell whether the account archives messages from them.
    boost::asio::awaitable<void> forget(const jid& account, std::int64_t id, stanza& message);
    // The message inbound() archived as item `id` is now stored offline, referencing the item: the offline row's
    // own copy goes once the item is written (archive_writer), so the message is stored once.
    boost::asio::awaitable<void> stored_offline(const jid& account, std::int64_t id);
    // Retention (retention_days) over every account, then the per-account cap. Bounded batches.
    boost::asio::awaitable<void> sweep();
    // Returns true once every item archived before the call is written: queries see what was delivered. False
    // while the storage refuses the writer (archive_writer::flush).
    boost::asio::awaitable<bool> flush() { co_return co_await writer_.flush(); }
    // The account was deleted: what is queued for it is dropped and its cached preferences forgotten, so an account
    // created again under the name starts empty.
    void account_removed(const jid& account);
    // Shutdown begins (archive_writer::close).
    void close() { writer_.close(); }
    // At exit, after the event loops stopped: writes what is still queued (archive_writer::write_remaining).
    boost::asio::awaitable<void> write_remaining() { co_await writer_.write_remaining(); }
    // The account's preferences changed (mam_queries stored them): the cache follows.
    void prefs_changed(const jid& account, const storage::archive_prefs& prefs);

    // Chat and normal messages with a body: no errors, groupchat, headlines, chat states or receipts alone, nothing
    // the anti-SPIM layer itself says, nothing an XEP-0334 hint asks not to store.
    static bool archivable(const stanza& message);
    // Rows the sweep deletes per statement.
    static constexpr std::size_t sweep_batch = 10000;
    // Accounts whose preferences are cached; when full, the cache starts again empty.
    static constexpr std::size_t max_cached_prefs = 100000;

private:
    // Archives into `account`'s archive when its preferences want messages with `with`; the id used, or nullopt.
    boost::asio::awaitable<std::optional<std::int64_t>> append(const jid& account, const jid& with,
                                                               storage::archive_direction direction,
                                                               std::string xml);
    // XEP-0313 §7 for one message; false when it cannot tell (storage failed: logged).
    boost::asio::awaitable<bool> wanted(const jid& account, const std::string& with);

    const mam_config& cfg_;
    storage::async_store& store_;
    archive_writer writer_;
    std::mutex prefs_mutex_;
    // Bare JID → the account's own preferences (nullopt: none set, the configured default applies).
    std::unordered_map<std::string, std::optional<storage::archive_prefs>> prefs_;
    // Bumped by every change to an account's preferences or its removal: a read that began before one is not cached.
    std::uint64_t prefs_generation_ = 0;
    // Accounts with items archived since the last sweep: only they can be over the per-account cap. Bounded: past
    // max_touched the next sweep caps every account, as it would without the set.
    static constexpr std::size_t max_touched = 100000;
    std::mutex touched_mutex_;
    std::unordered_set<std::string> touched_;  // "user@domain"
    bool touched_overflow_ = true;  // true at start: what was archived before it is unknown
};

}  // namespace hush
