#pragma once
// The one storage interface. A `store` is a single database connection and is synchronous: it is only ever
// used from a storage worker thread (see async_store.hpp), never from the event loop.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "protocol/expected.hpp"
#include "protocol/scram.hpp"
#include "storage/records.hpp"

namespace hush::storage {

struct error {
    std::string message;
};

template <class T>
using result = hush::expected<T, error>;

struct account_credentials {
    sasl::scram_credentials sha1;
    sasl::scram_credentials sha256;
};

struct account {
    std::string username;  // nodeprepped local part
    std::string domain;
    std::int64_t created_at = 0;  // unix seconds
};

class store {
public:
    virtual ~store() = default;

    // Applies pending versioned migrations (idempotent, in a transaction each); returns the schema version.
    virtual result<int> migrate() = 0;
    virtual result<int> schema_version() = 0;

    // Accounts. create_account returns false when the account already exists.
    virtual result<bool> create_account(const std::string& domain, const std::string& username,
                                        const account_credentials& creds) = 0;
    // Returns false when there is no such account. A new password revokes the account's FAST tokens.
    virtual result<bool> set_credentials(const std::string& domain, const std::string& username,
                                         const account_credentials& creds) = 0;
    // Deletes the account with everything it owns, its PEP nodes (pubsub host "user@domain") and its MUC
    // affiliations (any room of any service; the rooms stay) included, in one transaction. Returns false when there
    // was no such account.
    virtual result<bool> delete_account(const std::string& domain, const std::string& username) = 0;
    virtual result<std::optional<account_credentials>> get_credentials(const std::string& domain,
                                                                       const std::string& username) = 0;
    virtual result<bool> account_exists(const std::string& domain, const std::string& username) = 0;
    // All accounts, or those of one domain when `domain` is non-empty; ordered by domain, username.
    virtual result<std::vector<account>> list_accounts(const std::string& domain) = 0;
    // When the account was created (unix seconds); nullopt when there is no such account.
    virtual result<std::optional<std::int64_t>> account_created_at(const std::string& domain,
                                                                   const std::string& username) = 0;

    // Runs fn in ONE write transaction that holds the account's lock (PostgreSQL: its row, FOR NO KEY UPDATE;
    // SQLite: the database write lock), so whatever fn reads stays true until it commits: read-decide-write on the
    // account's data is atomic against every other writer of that account. fn calls this store's own methods;
    // those that open a transaction nest inside this one (a savepoint each, see sql_transaction). Commits when fn
    // succeeds; rolls everything back when fn (or the commit) fails, and returns that error. For an account that
    // does not exist fn still runs, with nothing locked: its reads find nothing and its writes fail as usual.
    // Nests: atomically inside atomically runs fn inside the outer transaction. Not for migrate().
    virtual result<void> atomically(const std::string& domain, const std::string& username,
                                    const std::function<result<void>()>& fn) = 0;
    // Runs fn as a step that may fail on its own: inside an open transaction, in a nested one (a savepoint), so
    // when fn fails only what fn did is undone and the enclosing transaction goes on (PostgreSQL would otherwise
    // refuse every later statement of it); outside one, in a write transaction of its own. Locks nothing.
    virtual result<void> tentatively(const std::function<result<void>()>& fn) = 0;

    // Everything below belongs to one account (domain, username) and is deleted with it. Writes for an account
    // that does not exist fail with an error; reads find nothing.

    // Roster (RFC 6121 §2). Every change bumps the account's roster version and stamps the item with it.
    virtual result<std::vector<roster_item>> get_roster(const std::string& domain, const std::string& username) = 0;
    virtual result<std::optional<roster_item>> get_roster_item(const std::string& domain, const std::string& username,
                                                               const std::string& contact) = 0;
    // Inserts or replaces the item (its version is ignored); returns the new roster version.
    virtual result<std::int64_t> put_roster_item(const std::string& domain, const std::string& username,
                                                 const roster_item& item) = 0;
    // Removes the item (keeping a tombstone); returns the new roster version, or nullopt if there was none.
    virtual result<std::optional<std::int64_t>> remove_roster_item(const std::string& domain,
                                                                   const std::string& username,
                                                                   const std::string& contact) = 0;
    virtual result<std::int64_t> roster_version(const std::string& domain, const std::string& username) = 0;
    // Items changed (or removed) after `since`; nullopt when `since` is unknown (newer than the current version).
    virtual result<std::optional<roster_delta>> roster_changes_since(const std::string& domain,
                                                                     const std::string& username,
                                                                     std::int64_t since) = 0;

    // Inbound subscription requests awaiting an answer (one per requester; a new one replaces the old).
    virtual result<void> put_subscription_request(const std::string& domain, const std::string& username,
                                                  const subscription_request& request) = 0;
    virtual result<std::vector<subscription_request>> get_subscription_requests(const std::string& domain,
                                                                                const std::string& username) = 0;
    virtual result<bool> delete_subscription_request(const std::string& domain, const std::string& username,
                                                     const std::string& from) = 0;

    // Offline messages (XEP-0160). store_offline_message returns false, storing nothing, when the account
    // already holds `quota` messages. `archive_id`: the message is also the account's archive item with that id
    // (written or still queued); the row keeps its own copy until drop_offline_copies finds the item written.
    virtual result<bool> store_offline_message(const std::string& domain, const std::string& username,
                                               const std::string& stanza, std::int64_t stored_at, std::size_t quota,
                                               std::optional<std::int64_t> archive_id = std::nullopt) = 0;
    // Oldest first; a row whose own copy was dropped reads its archive item (one query, one snapshot).
    virtual result<std::vector<offline_message>> get_offline_messages(const std::string& domain,
                                                                      const std::string& username) = 0;
    // Drops the own copy of the account's offline messages that reference archive item `archive_id`, when the
    // item exists: from then on the message is stored once, in the archive (whose deletions skip items an
    // offline message references). Call it only once the offline row is committed, and never while an archive
    // deletion runs (PostgreSQL: one whose snapshot predates the row could take the item after this looked;
    // server/mam/archive_writer serializes them). Returns how many copies were dropped.
    virtual result<std::int64_t> drop_offline_copies(const std::string& domain, const std::string& username,
                                                     std::int64_t archive_id) = 0;
    // Deletes the given messages (after they were handed to a session).
    virtual result<void> delete_offline_messages(const std::string& domain, const std::string& username,
                                                 const std::vector<std::int64_t>& ids) = 0;

    // XEP-0016 privacy lists, stored as the serialized <list/> element; plus the account's privacy settings
    // row, which holds the default list (and is where per-user anti-SPIM settings go).
    virtual result<std::vector<std::string>> privacy_list_names(const std::string& domain,
                                                                const std::string& username) = 0;
    virtual result<std::optional<std::string>> get_privacy_list(const std::string& domain,
                                                                const std::string& username,
                                                                const std::string& name) = 0;
    virtual result<void> put_privacy_list(const std::string& domain, const std::string& username,
                                          const std::string& name, const std::string& list_xml) = 0;
    virtual result<bool> delete_privacy_list(const std::string& domain, const std::string& username,
                                             const std::string& name) = 0;
    virtual result<std::optional<std::string>> default_privacy_list(const std::string& domain,
                                                                    const std::string& username) = 0;
    // An empty name clears the default. Naming a list the account does not have is an error. Deleting the
    // default list clears the default.
    virtual result<void> set_default_privacy_list(const std::string& domain, const std::string& username,
                                                  const std::string& name) = 0;

    // XEP-0191 blocking command: blocked bare or full JIDs or domains, as normalized strings.
    virtual result<std::vector<std::string>> get_blocklist(const std::string& domain,
                                                           const std::string& username) = 0;
    virtual result<void> add_blocks(const std::string& domain, const std::string& username,
                                    const std::vector<std::string>& jids) = 0;
    // An empty list unblocks everything.
    virtual result<void> remove_blocks(const std::string& domain, const std::string& username,
                                       const std::vector<std::string>& jids) = 0;

    // Small per-account XML documents: "vcard" (XEP-0054) and "private:<element> <ns>" (XEP-0049). Each
    // remembers when it was last put (the current time), for delete_documents_older_than.
    virtual result<std::optional<std::string>> get_document(const std::string& domain, const std::string& username,
                                                            const std::string& key) = 0;
    virtual result<void> put_document(const std::string& domain, const std::string& username,
                                      const std::string& key, const std::string& xml) = 0;
    // Keys starting with `prefix`, sorted (per-sender anti-SPIM documents, say).
    virtual result<std::vector<std::string>> document_keys(const std::string& domain, const std::string& username,
                                                           const std::string& prefix) = 0;
    // Documents whose key starts with `prefix`, over all accounts (metrics: held message requests).
    virtual result<std::int64_t> count_documents(const std::string& prefix) = 0;
    // Returns false when there was no such document.
    virtual result<bool> delete_document(const std::string& domain, const std::string& username,
                                         const std::string& key) = 0;
    // Deletes up to `limit` documents, over all accounts, whose key starts with `prefix` and that were last put
    // before `cutoff` (unix seconds); returns how many. Documents stored before schema version 6 count as put
    // when the database was migrated to it.
    virtual result<std::int64_t> delete_documents_older_than(const std::string& prefix, std::int64_t cutoff,
                                                             std::size_t limit) = 0;

    // Held stanzas (anti-SPIM): strangers' stanzas kept for a receiver until the sender passes a challenge.
    // Holds `xml` from `sender` for the account at `now`, within `limits` (see held_limits, hold_outcome): first
    // the receiver's stanzas held before limits.expire_before go; a sender at max_per_sender is refused; when the
    // receiver (count or bytes) or the whole server is at its cap, the oldest request (the sender whose oldest
    // held stanza is oldest — of this receiver, or anywhere for max_total; never the sender's own) is deleted,
    // as often as needed, and reported in the outcome. Atomic for the account (its lock); max_total may be
    // overshot by a few on PostgreSQL when several accounts hold at the same moment.
    virtual result<hold_outcome> add_held_stanza(const std::string& domain, const std::string& username,
                                                 const std::string& sender, const std::string& xml, std::int64_t now,
                                                 const held_limits& limits) = 0;
    // Deletes and returns the sender's held stanzas for the account, oldest first (each one to one taker only).
    virtual result<std::vector<held_stanza_record>> take_held_stanzas(const std::string& domain,
                                                                      const std::string& username,
                                                                      const std::string& sender) = 0;
    // Every stanza held for the account, by sender, then oldest first.
    virtual result<std::vector<held_stanza_record>> list_held_stanzas(const std::string& domain,
                                                                      const std::string& username) = 0;
    // Senders with stanzas held for the account, sorted.
    virtual result<std::vector<std::string>> held_senders(const std::string& domain, const std::string& username) = 0;
    // Over all accounts.
    virtual result<held_totals> count_held() = 0;
    // Deletes up to `limit` stanzas, over all accounts, held before `cutoff` (unix seconds), oldest first; returns
    // how many.
    virtual result<std::int64_t> delete_held_before(std::int64_t cutoff, std::size_t limit) = 0;

    // The server-wide blocklist. put replaces an entry with the same kind and value; remove returns false when
    // there was none. Listing leaves out entries expired at `now` (0: list everything).
    virtual result<void> put_blocklist_entry(const blocklist_entry& entry) = 0;
    virtual result<bool> remove_blocklist_entry(const std::string& kind, const std::string& value) = 0;
    virtual result<std::vector<blocklist_entry>> list_blocklist(std::int64_t now) = 0;

    // Users' judgements of senders (user consensus). put replaces the vote with the same voter, sender and kind.
    virtual result<void> put_spam_vote(const spam_vote& vote) = 0;
    // The weighted voters about `sender`, and the judged senders and weighted voters of `domain`, since `since`.
    virtual result<spam_vote_tally> tally_spam_votes(const std::string& sender, const std::string& domain,
                                                     std::int64_t since) = 0;

    // The content policy's Bayes model. load gives the totals and at most `max_tokens` tokens (the most seen
    // first). train adds one message of a class (its distinct tokens) in one transaction, then, when more than
    // `max_tokens` are stored, forgets the least seen (oldest first among equals). reset forgets everything.
    virtual result<content_model> load_content_model(std::size_t max_tokens) = 0;
    virtual result<void> train_content(bool spam, const std::vector<std::int64_t>& tokens, std::int64_t now,
                                       std::size_t max_tokens) = 0;
    virtual result<void> reset_content() = 0;

    // XEP-0377 reports. add returns the new report's id; list gives the newest `limit` first.
    virtual result<std::int64_t> add_spam_report(const spam_report& report) = 0;
    virtual result<std::vector<spam_report>> list_spam_reports(std::size_t limit) = 0;

    // Accounts flagged or suspended by outbound protection. put replaces; remove returns false when absent.
    virtual result<void> put_account_flag(const account_flag& flag) = 0;
    virtual result<bool> remove_account_flag(const std::string& account) = 0;
    virtual result<std::optional<account_flag>> get_account_flag(const std::string& account) = 0;
    virtual result<std::vector<account_flag>> list_account_flags() = 0;

    // Admin API tokens, by name, stored as hex SHA-256 digests. put replaces; remove returns false when absent.
    virtual result<void> put_admin_token(const std::string& name, const std::string& token_sha256,
                                         std::int64_t created_at) = 0;
    virtual result<bool> remove_admin_token(const std::string& name) = 0;
    // (name, created_at) pairs, by name.
    virtual result<std::vector<std::pair<std::string, std::int64_t>>> list_admin_tokens() = 0;
    // The name of the token with this digest, if any.
    virtual result<std::optional<std::string>> admin_token_name(const std::string& token_sha256) = 0;

    // In-band registration (docs/registration.md). register_account creates the account (credentials as
    // create_account), takes one use of the invite when it names one, and marks it pending when asked: all or
    // nothing, in one write transaction, so two registrations never share an invite's last use. A name reserved by
    // another live invite (uses left, not expired at `now`) counts as taken.
    virtual result<registration_status> register_account(const new_registration& request,
                                                         const account_credentials& creds) = 0;
    // Invites. put replaces one with the same digest; remove returns false when absent.
    virtual result<void> put_invite(const registration_invite& invite) = 0;
    virtual result<std::optional<registration_invite>> get_invite(const std::string& token_sha256) = 0;
    virtual result<bool> remove_invite(const std::string& token_sha256) = 0;
    // Every invite, newest first.
    virtual result<std::vector<registration_invite>> list_invites() = 0;
    // Invites of `inviter` with a use left and not expired at `now` (a user's quota).
    virtual result<std::int64_t> count_live_invites(const std::string& inviter, std::int64_t now) = 0;
    // Deletes invites used up or expired before `cutoff`; returns how many.
    virtual result<std::int64_t> delete_dead_invites(std::int64_t cutoff) = 0;
    // The approval queue, oldest first. approve lifts the pending mark; deny deletes the account, only if it is
    // pending. Both return false when the account is not pending.
    virtual result<std::vector<pending_account>> list_pending_accounts() = 0;
    virtual result<bool> is_pending(const std::string& domain, const std::string& username) = 0;
    virtual result<bool> approve_pending(const std::string& domain, const std::string& username) = 0;
    virtual result<bool> deny_pending(const std::string& domain, const std::string& username) = 0;

    // XEP-0313 message archive (migration 10), deleted with the account. append stores the item under `m.id` or,
    // when another item of the account holds that id, the next free one after it; returns the id used.
    virtual result<std::int64_t> append_archive(const std::string& domain, const std::string& username,
                                                const archived_message& m) = 0;
    // The highest id in any account's archive, 0 when there is none: hushd seeds its ids with it at start-up, so
    // they never go back (a restart, the clock stepped back).
    virtual result<std::int64_t> max_archive_id() = 0;
    // One page (see archive_query, archive_page); reads only.
    virtual result<archive_page> query_archive(const std::string& domain, const std::string& username,
                                               const archive_query& q) = 0;
    // The three deletions below skip an item an offline message references (it may be that message's only copy):
    // it goes by the same rules once the message is delivered. Account deletion still removes both.
    // Returns false when there was no such item (or an offline message references it).
    virtual result<bool> delete_archive_item(const std::string& domain, const std::string& username,
                                             std::int64_t id) = 0;
    // Retention: deletes up to `limit` items, over all accounts, with ids (archive times) before `cutoff`; returns
    // how many.
    virtual result<std::int64_t> delete_archive_before(std::int64_t cutoff, std::size_t limit) = 0;
    // The per-account cap: deletes the account's items older than the newest `keep`, but those offline messages
    // reference; returns how many.
    virtual result<std::int64_t> trim_archive(const std::string& domain, const std::string& username,
                                              std::size_t keep) = 0;
    // nullopt when the account never set any (the server's default applies).
    virtual result<std::optional<archive_prefs>> get_archive_prefs(const std::string& domain,
                                                                   const std::string& username) = 0;
    virtual result<void> put_archive_prefs(const std::string& domain, const std::string& username,
                                           const archive_prefs& prefs) = 0;

    // XEP-0484 FAST tokens (migration 12), deleted with the account. get: the account's tokens, of one client
    // (agent_id) or of all (empty), newest first.
    virtual result<std::vector<fast_token>> get_fast_tokens(const std::string& domain, const std::string& username,
                                                            const std::string& agent_id) = 0;
    // Adds a token. The client keeps the token it used last (it holds that one for sure, even should the success
    // carrying the new token be lost) and loses those it never used; past `max_clients` clients the account's client
    // least recently active (issued a token or used one) loses its tokens.
    virtual result<void> put_fast_token(const std::string& domain, const std::string& username,
                                        const fast_token& token, std::size_t max_clients) = 0;
    // A login with the token: true when it had not expired at `now` (seconds) and `count` (-1: none given) is above
    // every count used with it before — then the count and the time (`now_us`) are recorded and the client's older
    // tokens deleted, or, with `invalidate`, all of the client's tokens (XEP-0484: the login ends them). One
    // conditional write under the account's lock: two logins racing with the same count cannot both pass.
    virtual result<bool> use_fast_token(const std::string& domain, const std::string& username,
                                        const std::string& agent_id, const std::string& token_id, std::int64_t count,
                                        std::int64_t now, std::int64_t now_us, bool invalidate) = 0;
    // Deletes the tokens of one client (or all, for an empty agent_id); returns how many.
    virtual result<std::int64_t> delete_fast_tokens(const std::string& domain, const std::string& username,
                                                    const std::string& agent_id) = 0;
    // Deletes tokens expired at `now`, over all accounts; returns how many.
    virtual result<std::int64_t> delete_expired_fast_tokens(std::int64_t now) = 0;

    // XEP-0060 publish-subscribe (migration 13). A node lives on a `host` (see pubsub_node_record): an account's
    // bare JID for its PEP nodes — delete_account deletes every pubsub row of that host — or a service's domain.
    // `lock`: inside a transaction (atomically/tentatively), the node row stays locked until commit (PostgreSQL FOR
    // UPDATE; SQLite holds the write lock anyway).
    virtual result<std::optional<pubsub_node_record>> get_pubsub_node(const std::string& host, const std::string& node,
                                                                      bool lock) = 0;
    virtual result<std::vector<pubsub_node_record>> list_pubsub_nodes(const std::string& host) = 0;  // by node name
    virtual result<std::int64_t> count_pubsub_nodes(const std::string& host) = 0;
    virtual result<bool> create_pubsub_node(const pubsub_node_record& record) = 0;  // false: exists already
    virtual result<bool> set_pubsub_node_config(const std::string& host, const std::string& node,
                                                const std::string& config) = 0;
    // Deletes the node with its items, subscriptions and affiliations.
    virtual result<bool> delete_pubsub_node(const std::string& host, const std::string& node) = 0;
    // Deletes the node's items, keeping the node; returns how many.
    virtual result<std::int64_t> purge_pubsub_node(const std::string& host, const std::string& node) = 0;
    // Inserts, or replaces the item with the same id (which then counts as newest).
    virtual result<void> put_pubsub_item(const std::string& host, const std::string& node,
                                         const pubsub_item_record& item) = 0;
    // Deletes all but the newest `keep` items; returns the ids deleted (newest first).
    virtual result<std::vector<std::string>> trim_pubsub_items(const std::string& host, const std::string& node,
                                                               std::size_t keep) = 0;
    // `ids` empty: the newest `max` items (0: all); else those of `ids` that exist. Newest first either way.
    virtual result<std::vector<pubsub_item_record>> get_pubsub_items(const std::string& host, const std::string& node,
                                                                     const std::vector<std::string>& ids,
                                                                     std::size_t max) = 0;
    virtual result<std::vector<std::string>> pubsub_item_ids(const std::string& host,
                                                             const std::string& node) = 0;  // newest first
    virtual result<std::int64_t> count_pubsub_items(const std::string& host, const std::string& node) = 0;
    virtual result<bool> delete_pubsub_item(const std::string& host, const std::string& node,
                                            const std::string& id) = 0;
    // Subscriptions: put inserts or replaces (host, node, jid, subid). delete: subid "" deletes every one of jid on
    // the node; returns how many.
    virtual result<void> put_pubsub_subscription(const std::string& host, const pubsub_subscription_record& s) = 0;
    virtual result<std::int64_t> delete_pubsub_subscription(const std::string& host, const std::string& node,
                                                            const std::string& jid, const std::string& subid) = 0;
    // node "": every node of the host. Ordered by node, jid, subid.
    virtual result<std::vector<pubsub_subscription_record>> get_pubsub_subscriptions(const std::string& host,
                                                                                     const std::string& node) = 0;
    // Those of one JID (exact match on the stored jid OR its bare form when `jid` is bare: give both forms' rows),
    // all nodes of the host. Ordered by node, jid, subid.
    virtual result<std::vector<pubsub_subscription_record>> pubsub_subscriptions_of(const std::string& host,
                                                                                    const std::string& jid) = 0;
    virtual result<std::int64_t> count_pubsub_subscriptions(const std::string& host, const std::string& node) = 0;
    // Affiliations: "none" deletes. node "": every node of the host. Ordered by node, jid.
    virtual result<void> put_pubsub_affiliation(const std::string& host, const pubsub_affiliation_record& a) = 0;
    virtual result<std::vector<pubsub_affiliation_record>> get_pubsub_affiliations(const std::string& host,
                                                                                   const std::string& node) = 0;
    virtual result<std::vector<pubsub_affiliation_record>> pubsub_affiliations_of(const std::string& host,
                                                                                  const std::string& jid) = 0;

    // XEP-0045 multi-user chat (migration 14): the persistent rooms of a service (`service`: its domain; `room`: the
    // room's normalized localpart), their affiliations, and the service-wide bans. Temporary rooms are never stored.
    // delete_account deletes the account's affiliations in every room of every service (a name registered again
    // inherits no ownership or membership), keeping the rooms, its outcast entries (a room's ban outlives the account) and the service bans.
    virtual result<std::optional<muc_room_record>> get_muc_room(const std::string& service,
                                                                const std::string& room) = 0;
    virtual result<std::vector<muc_room_record>> list_muc_rooms(const std::string& service) = 0;  // by room name
    virtual result<std::int64_t> count_muc_rooms(const std::string& service) = 0;
    // Inserts the room, or replaces config, subject and subject_by of the existing one (its created_at and
    // affiliations are kept).
    virtual result<void> put_muc_room(const muc_room_record& r) = 0;
    // Deletes the room with its affiliations; false when there was none.
    // With the room's archive (XEP-0313 items under service/room, migration 15).
    virtual result<bool> delete_muc_room(const std::string& service, const std::string& room) = 0;
    virtual result<std::vector<muc_affiliation_record>> get_muc_affiliations(const std::string& service,
                                                                             const std::string& room) = 0;  // by jid
    // Inserts or replaces the affiliation of a.jid (nick and reason with it); "none" deletes it. The room must
    // exist (put_muc_room first): for a room that does not, this fails with an error (a foreign key).
    virtual result<void> set_muc_affiliation(const std::string& service, const std::string& room,
                                             const muc_affiliation_record& a) = 0;
    // Every affiliation of exactly `jid`, in any room of any service, as (room JID "room@service", record);
    // ordered by service, room.
    virtual result<std::vector<std::pair<std::string, muc_affiliation_record>>> muc_affiliations_of(
        const std::string& jid) = 0;
    // Service-wide bans, by jid. put: true when new; false when the ban existed (its reason is then replaced, its
    // created_at kept). delete: false when there was none.
    virtual result<std::vector<muc_service_ban_record>> list_muc_service_bans(const std::string& service) = 0;
    virtual result<bool> put_muc_service_ban(const muc_service_ban_record& b) = 0;
    virtual result<bool> delete_muc_service_ban(const std::string& service, const std::string& jid) = 0;

    // XEP-0363 HTTP file upload (migration 16). The rows reference the account: delete_account deletes them (the
    // files on disk go with the upload sweeper, as orphans).
    // Inserts the slot `r` unless the account is over a limit at `now`, deciding under the account's lock in one
    // transaction (so parallel requests cannot both pass): the rate (slots created in the last 60 s), the live
    // pending slots, then the quota (r.size plus the bytes of stored files and live slots).
    virtual result<upload_slot_outcome> create_upload_slot(const upload_record& r, const upload_limits& limits,
                                                           std::int64_t now) = 0;
    // The PUT's claim, one conditional statement: pending -> uploading, only with the right secret digest and before
    // the deadline; the row's deadline becomes `deadline` (the body's). False: no such live pending slot.
    virtual result<bool> claim_upload_slot(const std::string& id, const std::string& secret_sha256, std::int64_t now,
                                           std::int64_t deadline) = 0;
    // uploading -> stored at `now`, kept until `expires_at`. False when the row was not uploading (gone meanwhile).
    virtual result<bool> finish_upload(const std::string& id, std::int64_t now, std::int64_t expires_at) = 0;
    virtual result<std::optional<upload_record>> get_upload(const std::string& id) = 0;
    virtual result<bool> delete_upload(const std::string& id) = 0;
    // Rows whose expires_at is at or before `now` (expired slots and files), oldest first, at most `limit`.
    virtual result<std::vector<upload_record>> expired_uploads(std::int64_t now, std::size_t limit) = 0;
    // An account's rows (domain and username empty: every account's), by id, at most `limit`.
    virtual result<std::vector<upload_record>> list_uploads(const std::string& domain, const std::string& username,
                                                            std::size_t limit) = 0;
    // Per account with any row, by domain and username.
    virtual result<std::vector<upload_usage>> upload_usage_by_account() = 0;

    // XEP-0012 last activity of an account (set when its last resource goes offline).
    virtual result<void> set_last_activity(const std::string& domain, const std::string& username,
                                           const last_activity& activity) = 0;
    virtual result<std::optional<last_activity>> get_last_activity(const std::string& domain,
                                                                   const std::string& username) = 0;
};

// store::atomically for a fn that returns a value: fn() -> result<T>; returns fn's result once committed, or the
// error of fn or of the commit (then nothing fn wrote is kept).
template <class Fn>
auto atomically(store& s, const std::string& domain, const std::string& username, Fn&& fn)
    -> std::invoke_result_t<Fn&> {
    using R = std::invoke_result_t<Fn&>;
    std::optional<R> value;
    auto done = s.atomically(domain, username, [&]() -> result<void> {
        value.emplace(fn());
        if (!value->has_value()) {
            return unexpected(value->error());
        }
        return {};
    });
    if (!done) {
        return R(unexpected(done.error()));
    }
    return std::move(*value);
}

// Which backend and how to reach it.
struct store_options {
    enum class backend_kind { sqlite, postgresql };
    backend_kind backend = backend_kind::sqlite;
    std::string sqlite_path;   // file path for sqlite
    std::string postgres_url;  // libpq connection string/URI for postgresql
    unsigned pool_size = 1;    // worker threads (= connections); sqlite always uses 1 writer
    // SQLite: read-only connections (each with its worker thread) for async_store::read(), besides the writer.
    // 0: reads share the writer. Ignored for PostgreSQL (its pool reads and writes) and in-memory databases.
    unsigned sqlite_readers = 2;
    // async_store's work queue: at most this many jobs queued or running (beyond it run() fails at once with
    // "storage queue full"), and a job that waited longer than queue_timeout to start is not run ("storage timed
    // out"): under overload the server sheds work instead of piling it up. 0 leaves either out.
    std::size_t max_queued = 10000;
    std::chrono::milliseconds queue_timeout{10000};
};

// read_only: the connection refuses to write (SQLite: query_only, and no write transaction); it never migrates.
enum class open_mode { read_write, read_only };

// Opens one connection. Throws only at start-up (std::runtime_error with a clear message).
std::unique_ptr<store> open_store(const store_options& options, open_mode mode = open_mode::read_write);

}  // namespace hush::storage
