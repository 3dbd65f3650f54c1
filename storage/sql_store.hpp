#pragma once
// The SQL implementation of `store`, written once for every backend on top of an sql_driver (sqlite_driver,
// postgres_driver): the queries with $N parameters, the transactions, and reading rows into records.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/sql_driver.hpp"
#include "storage/store.hpp"

namespace hush::storage {

class sql_store final : public store {
public:
    explicit sql_store(std::unique_ptr<sql_driver> driver);

    result<int> migrate() override;
    result<int> schema_version() override;

    result<bool> create_account(const std::string& domain, const std::string& username,
                                const account_credentials& creds) override;
    result<bool> set_credentials(const std::string& domain, const std::string& username,
                                 const account_credentials& creds) override;
    result<bool> delete_account(const std::string& domain, const std::string& username) override;
    result<std::optional<account_credentials>> get_credentials(const std::string& domain,
                                                               const std::string& username) override;
    result<bool> account_exists(const std::string& domain, const std::string& username) override;
    result<std::vector<account>> list_accounts(const std::string& domain) override;
    result<void> atomically(const std::string& domain, const std::string& username,
                            const std::function<result<void>()>& fn) override;
    result<void> tentatively(const std::function<result<void>()>& fn) override;

    // IM core (sql_roster_store.cpp, sql_offline_store.cpp, sql_privacy_store.cpp, sql_document_store.cpp,
    // sql_held_store.cpp)
    result<std::vector<roster_item>> get_roster(const std::string& domain, const std::string& username) override;
    result<std::optional<roster_item>> get_roster_item(const std::string& domain, const std::string& username,
                                                       const std::string& contact) override;
    result<std::int64_t> put_roster_item(const std::string& domain, const std::string& username,
                                         const roster_item& item) override;
    result<std::optional<std::int64_t>> remove_roster_item(const std::string& domain, const std::string& username,
                                                           const std::string& contact) override;
    result<std::int64_t> roster_version(const std::string& domain, const std::string& username) override;
    result<std::optional<roster_delta>> roster_changes_since(const std::string& domain, const std::string& username,
                                                             std::int64_t since) override;

    result<void> put_subscription_request(const std::string& domain, const std::string& username,
                                          const subscription_request& request) override;
    result<std::vector<subscription_request>> get_subscription_requests(const std::string& domain,
                                                                        const std::string& username) override;
    result<bool> delete_subscription_request(const std::string& domain, const std::string& username,
                                             const std::string& from) override;

    result<bool> store_offline_message(const std::string& domain, const std::string& username,
                                       const std::string& stanza, std::int64_t stored_at, std::size_t quota,
                                       std::optional<std::int64_t> archive_id = std::nullopt) override;
    result<std::vector<offline_message>> get_offline_messages(const std::string& domain,
                                                              const std::string& username) override;
    result<std::int64_t> drop_offline_copies(const std::string& domain, const std::string& username,
                                             std::int64_t archive_id) override;
    result<void> delete_offline_messages(const std::string& domain, const std::string& username,
                                         const std::vector<std::int64_t>& ids) override;

    result<std::vector<std::string>> privacy_list_names(const std::string& domain,
                                                        const std::string& username) override;
    result<std::optional<std::string>> get_privacy_list(const std::string& domain, const std::string& username,
                                                        const std::string& name) override;
    result<void> put_privacy_list(const std::string& domain, const std::string& username, const std::string& name,
                                  const std::string& list_xml) override;
    result<bool> delete_privacy_list(const std::string& domain, const std::string& username,
                                     const std::string& name) override;
    result<std::optional<std::string>> default_privacy_list(const std::string& domain,
                                                            const std::string& username) override;
    result<void> set_default_privacy_list(const std::string& domain, const std::string& username,
                                          const std::string& name) override;

    result<std::vector<std::string>> get_blocklist(const std::string& domain, const std::string& username) override;
    result<void> add_blocks(const std::string& domain, const std::string& username,
                            const std::vector<std::string>& jids) override;
    result<void> remove_blocks(const std::string& domain, const std::string& username,
                               const std::vector<std::string>& jids) override;

    result<std::optional<std::string>> get_document(const std::string& domain, const std::string& username,
                                                    const std::string& key) override;
    result<void> put_document(const std::string& domain, const std::string& username, const std::string& key,
                              const std::string& xml) override;
    result<std::vector<std::string>> document_keys(const std::string& domain, const std::string& username,
                                                   const std::string& prefix) override;
    result<bool> delete_document(const std::string& domain, const std::string& username,
                                 const std::string& key) override;
    result<std::int64_t> count_documents(const std::string& prefix) override;
    result<std::int64_t> delete_documents_older_than(const std::string& prefix, std::int64_t cutoff,
                                                     std::size_t limit) override;

    result<hold_outcome> add_held_stanza(const std::string& domain, const std::string& username,
                                         const std::string& sender, const std::string& xml, std::int64_t now,
                                         const held_limits& limits) override;
    result<std::vector<held_stanza_record>> take_held_stanzas(const std::string& domain, const std::string& username,
                                                              const std::string& sender) override;
    result<std::vector<held_stanza_record>> list_held_stanzas(const std::string& domain,
                                                              const std::string& username) override;
    result<std::vector<std::string>> held_senders(const std::string& domain, const std::string& username) override;
    result<held_totals> count_held() override;
    result<std::int64_t> delete_held_before(std::int64_t cutoff, std::size_t limit) override;
    result<void> put_blocklist_entry(const blocklist_entry& entry) override;
    result<bool> remove_blocklist_entry(const std::string& kind, const std::string& value) override;
    result<std::vector<blocklist_entry>> list_blocklist(std::int64_t now) override;
    result<std::optional<std::int64_t>> account_created_at(const std::string& domain,
                                                           const std::string& username) override;
    result<void> put_spam_vote(const spam_vote& vote) override;
    result<spam_vote_tally> tally_spam_votes(const std::string& sender, const std::string& domain,
                                             std::int64_t since) override;
    result<content_model> load_content_model(std::size_t max_tokens) override;
    result<void> train_content(bool spam, const std::vector<std::int64_t>& tokens, std::int64_t now,
                               std::size_t max_tokens) override;
    result<void> reset_content() override;
    result<std::int64_t> add_spam_report(const spam_report& report) override;
    result<std::vector<spam_report>> list_spam_reports(std::size_t limit) override;
    result<void> put_account_flag(const account_flag& flag) override;
    result<bool> remove_account_flag(const std::string& account) override;
    result<std::optional<account_flag>> get_account_flag(const std::string& account) override;
    result<std::vector<account_flag>> list_account_flags() override;
    result<void> put_admin_token(const std::string& name, const std::string& token_sha256,
                                 std::int64_t created_at) override;
    result<bool> remove_admin_token(const std::string& name) override;
    result<std::vector<std::pair<std::string, std::int64_t>>> list_admin_tokens() override;
    result<std::optional<std::string>> admin_token_name(const std::string& token_sha256) override;

    // In-band registration (sql_registration_store.cpp)
    result<registration_status> register_account(const new_registration& request,
                                                 const account_credentials& creds) override;
    result<void> put_invite(const registration_invite& invite) override;
    result<std::optional<registration_invite>> get_invite(const std::string& token_sha256) override;
    result<bool> remove_invite(const std::string& token_sha256) override;
    result<std::vector<registration_invite>> list_invites() override;
    result<std::int64_t> count_live_invites(const std::string& inviter, std::int64_t now) override;
    result<std::int64_t> delete_dead_invites(std::int64_t cutoff) override;
    result<std::vector<pending_account>> list_pending_accounts() override;
    result<bool> is_pending(const std::string& domain, const std::string& username) override;
    result<bool> approve_pending(const std::string& domain, const std::string& username) override;
    result<bool> deny_pending(const std::string& domain, const std::string& username) override;

    result<void> set_last_activity(const std::string& domain, const std::string& username,
                                   const last_activity& activity) override;
    result<std::optional<last_activity>> get_last_activity(const std::string& domain,
                                                           const std::string& username) override;

    // XEP-0313 message archive (sql_archive_store.cpp)
    result<std::int64_t> append_archive(const std::string& domain, const std::string& username,
                                        const archived_message& m) override;
    result<std::int64_t> max_archive_id() override;
    result<archive_page> query_archive(const std::string& domain, const std::string& username,
                                       const archive_query& q) override;
    result<bool> delete_archive_item(const std::string& domain, const std::string& username,
                                     std::int64_t id) override;
    result<std::int64_t> delete_archive_before(std::int64_t cutoff, std::size_t limit) override;
    result<std::int64_t> trim_archive(const std::string& domain, const std::string& username,
                                      std::size_t keep) override;
    result<std::optional<archive_prefs>> get_archive_prefs(const std::string& domain,
                                                           const std::string& username) override;
    result<void> put_archive_prefs(const std::string& domain, const std::string& username,
                                   const archive_prefs& prefs) override;

    // XEP-0484 FAST tokens (sql_fast_store.cpp)
    result<std::vector<fast_token>> get_fast_tokens(const std::string& domain, const std::string& username,
                                                    const std::string& agent_id) override;
    result<void> put_fast_token(const std::string& domain, const std::string& username, const fast_token& token,
                                std::size_t max_clients) override;
    result<bool> use_fast_token(const std::string& domain, const std::string& username, const std::string& agent_id,
                                const std::string& token_id, std::int64_t count, std::int64_t now, std::int64_t now_us,
                                bool invalidate) override;
    result<std::int64_t> delete_fast_tokens(const std::string& domain, const std::string& username,
                                            const std::string& agent_id) override;
    result<std::int64_t> delete_expired_fast_tokens(std::int64_t now) override;

    // XEP-0060 publish-subscribe (sql_pubsub_store.cpp)
    result<std::optional<pubsub_node_record>> get_pubsub_node(const std::string& host, const std::string& node,
                                                              bool lock) override;
    result<std::vector<pubsub_node_record>> list_pubsub_nodes(const std::string& host) override;
    result<std::int64_t> count_pubsub_nodes(const std::string& host) override;
    result<bool> create_pubsub_node(const pubsub_node_record& record) override;
    result<bool> set_pubsub_node_config(const std::string& host, const std::string& node,
                                        const std::string& config) override;
    result<bool> delete_pubsub_node(const std::string& host, const std::string& node) override;
    result<std::int64_t> purge_pubsub_node(const std::string& host, const std::string& node) override;
    result<void> put_pubsub_item(const std::string& host, const std::string& node,
                                 const pubsub_item_record& item) override;
    result<std::vector<std::string>> trim_pubsub_items(const std::string& host, const std::string& node,
                                                       std::size_t keep) override;
    result<std::vector<pubsub_item_record>> get_pubsub_items(const std::string& host, const std::string& node,
                                                             const std::vector<std::string>& ids,
                                                             std::size_t max) override;
    result<std::vector<std::string>> pubsub_item_ids(const std::string& host, const std::string& node) override;
    result<std::int64_t> count_pubsub_items(const std::string& host, const std::string& node) override;
    result<bool> delete_pubsub_item(const std::string& host, const std::string& node, const std::string& id) override;
    result<void> put_pubsub_subscription(const std::string& host, const pubsub_subscription_record& s) override;
    result<std::int64_t> delete_pubsub_subscription(const std::string& host, const std::string& node,
                                                    const std::string& jid, const std::string& subid) override;
    result<std::vector<pubsub_subscription_record>> get_pubsub_subscriptions(const std::string& host,
                                                                             const std::string& node) override;
    result<std::vector<pubsub_subscription_record>> pubsub_subscriptions_of(const std::string& host,
                                                                            const std::string& jid) override;
    result<std::int64_t> count_pubsub_subscriptions(const std::string& host, const std::string& node) override;
    result<void> put_pubsub_affiliation(const std::string& host, const pubsub_affiliation_record& a) override;
    result<std::vector<pubsub_affiliation_record>> get_pubsub_affiliations(const std::string& host,
                                                                           const std::string& node) override;
    result<std::vector<pubsub_affiliation_record>> pubsub_affiliations_of(const std::string& host,
                                                                          const std::string& jid) override;

    // XEP-0045 multi-user chat (sql_muc_store.cpp)
    result<std::optional<muc_room_record>> get_muc_room(const std::string& service, const std::string& room) override;
    result<std::vector<muc_room_record>> list_muc_rooms(const std::string& service) override;
    result<std::int64_t> count_muc_rooms(const std::string& service) override;
    result<void> put_muc_room(const muc_room_record& r) override;
    result<bool> delete_muc_room(const std::string& service, const std::string& room) override;
    result<std::vector<muc_affiliation_record>> get_muc_affiliations(const std::string& service,
                                                                     const std::string& room) override;
    result<void> set_muc_affiliation(const std::string& service, const std::string& room,
                                     const muc_affiliation_record& a) override;
    result<std::vector<std::pair<std::string, muc_affiliation_record>>> muc_affiliations_of(
        const std::string& jid) override;
    result<std::vector<muc_service_ban_record>> list_muc_service_bans(const std::string& service) override;
    result<bool> put_muc_service_ban(const muc_service_ban_record& b) override;
    result<bool> delete_muc_service_ban(const std::string& service, const std::string& jid) override;

    // XEP-0363 HTTP file upload (sql_upload_store.cpp)
    result<upload_slot_outcome> create_upload_slot(const upload_record& r, const upload_limits& limits,
                                                   std::int64_t now) override;
    result<bool> claim_upload_slot(const std::string& id, const std::string& secret_sha256, std::int64_t now,
                                   std::int64_t deadline) override;
    result<bool> finish_upload(const std::string& id, std::int64_t now, std::int64_t expires_at) override;
    result<std::optional<upload_record>> get_upload(const std::string& id) override;
    result<bool> delete_upload(const std::string& id) override;
    result<std::vector<upload_record>> expired_uploads(std::int64_t now, std::size_t limit) override;
    result<std::vector<upload_record>> list_uploads(const std::string& domain, const std::string& username,
                                                    std::size_t limit) override;
    result<std::vector<upload_usage>> upload_usage_by_account() override;

private:
    using params = std::initializer_list<sql_param>;

    // Rows of upload_files in the column order of sql_upload_store.cpp's upload_columns.
    result<std::vector<upload_record>> read_uploads(std::string_view context, const char* sql, params args);

    // Runs one statement (see sql_driver::run); returns the rows it changed.
    result<long> run(std::string_view context, const char* sql, params args, const row_handler& on_row = {});
    // The first column of the first row as text; nullopt for no row or NULL.
    // register_account's XEP-0401 step: the invitation's inviter, a local account, and the new one become mutual
    // contacts (inside the caller's transaction).
    result<void> befriend_inviter(const new_registration& r);
    result<std::optional<std::string>> query_text(std::string_view context, const char* sql, params args);
    // The first column of every row as text.
    result<std::vector<std::string>> query_texts(std::string_view context, const char* sql, params args);
    // The first column of the first row as an integer; nullopt for no row.
    result<std::optional<std::int64_t>> query_int64(std::string_view context, const char* sql, params args);
    // The roster helpers run inside a transaction the caller holds.
    // Bumps the account's roster version and returns it; nullopt when the account has no version yet and
    // `create` is false.
    result<std::optional<std::int64_t>> bump_roster_version(const std::string& domain, const std::string& username,
                                                            bool create);
    result<std::vector<roster_item>> read_roster_items(std::string_view context, const char* sql, params args);
    // Unix seconds now, for the rows that remember when they were written.
    static std::int64_t now_unix();
    // Takes the account's row lock (PostgreSQL) inside the caller's write transaction; nothing on SQLite, whose
    // begin_write already holds the database write lock.
    result<void> lock_account(const std::string& domain, const std::string& username);
    // The held-stanza helpers run inside a transaction the caller holds.
    result<std::vector<held_stanza_record>> read_held(std::string_view context, const char* sql, params args);
    // Deletes one request; returns how many stanzas and bytes it had.
    result<std::pair<std::int64_t, std::int64_t>> delete_request(const std::string& domain,
                                                                 const std::string& username,
                                                                 const std::string& sender);

    // The pubsub readers: rows of (node, jid, subid, state) and (node, jid, affiliation).
    result<std::vector<pubsub_subscription_record>> read_pubsub_subscriptions(const char* sql, params args);
    result<std::vector<pubsub_affiliation_record>> read_pubsub_affiliations(const char* sql, params args);
    // Deletes every pubsub row of `host` (delete_account, inside its transaction).
    result<void> delete_pubsub_host(const std::string& host);
    // Deletes every MUC affiliation of `jid`, in any room (delete_account, inside its transaction).
    result<void> delete_muc_affiliations_of(const std::string& jid);

    std::unique_ptr<sql_driver> driver_;
};

}  // namespace hush::storage
