#include "storage/migrations.hpp"
#include "protocol/xep0082.hpp"

#include <array>
#include <chrono>
#include <string>

namespace hush::storage {
namespace {

// Append only: never edit an entry once released, add a new one instead.
constexpr std::array migration_list{
    migration{1, "accounts",
              R"sql(
CREATE TABLE accounts (
    domain {key} NOT NULL,
    username {key} NOT NULL,
    created_at {int64} NOT NULL,
    sha1_salt {blob} NOT NULL,
    sha1_iterations {int64} NOT NULL,
    sha1_stored_key {blob} NOT NULL,
    sha1_server_key {blob} NOT NULL,
    sha256_salt {blob} NOT NULL,
    sha256_iterations {int64} NOT NULL,
    sha256_stored_key {blob} NOT NULL,
    sha256_server_key {blob} NOT NULL,
    PRIMARY KEY (domain, username)
);
)sql"},
    // Everything an account owns in the IM core. Each table is keyed by (domain, username) and references the
    // account, so delete_account removes it all (SQLite runs with foreign_keys=ON).
    migration{2, "im core",
              R"sql(
CREATE TABLE roster_versions (
    domain {key} NOT NULL,
    username {key} NOT NULL,
    version {int64} NOT NULL,
    PRIMARY KEY (domain, username),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);
CREATE TABLE roster_items (
    domain {key} NOT NULL,
    username {key} NOT NULL,
    contact {key} NOT NULL,
    name TEXT NOT NULL,
    subscription TEXT NOT NULL CHECK (subscription IN ('none', 'to', 'from', 'both')),
    pending_out {int64} NOT NULL,
    pending_in {int64} NOT NULL,
    approved {int64} NOT NULL,
    version {int64} NOT NULL,
    removed {int64} NOT NULL,
    PRIMARY KEY (domain, username, contact),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);
CREATE INDEX roster_items_by_version ON roster_items (domain, username, version);
CREATE TABLE roster_groups (
    domain {key} NOT NULL,
    username {key} NOT NULL,
    contact {key} NOT NULL,
    group_name {key} NOT NULL,
    position {int64} NOT NULL,
    PRIMARY KEY (domain, username, contact, group_name),
    FOREIGN KEY (domain, username, contact) REFERENCES roster_items (domain, username, contact) ON DELETE CASCADE
);
CREATE TABLE subscription_requests (
    domain {key} NOT NULL,
    username {key} NOT NULL,
    requester {key} NOT NULL,
    stanza TEXT NOT NULL,
    received_at {int64} NOT NULL,
    PRIMARY KEY (domain, username, requester),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);
CREATE TABLE offline_messages (
    id {serial},
    domain {key} NOT NULL,
    username {key} NOT NULL,
    stanza TEXT NOT NULL,
    stored_at {int64} NOT NULL,
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);
CREATE INDEX offline_messages_by_account ON offline_messages (domain, username, id);
CREATE TABLE privacy_lists (
    domain {key} NOT NULL,
    username {key} NOT NULL,
    name {key} NOT NULL,
    list_xml TEXT NOT NULL,
    PRIMARY KEY (domain, username, name),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);
CREATE TABLE privacy_settings (
    domain {key} NOT NULL,
    username {key} NOT NULL,
    default_list {key},
    PRIMARY KEY (domain, username),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE,
    FOREIGN KEY (domain, username, default_list) REFERENCES privacy_lists (domain, username, name)
);
CREATE TABLE blocklist (
    domain {key} NOT NULL,
    username {key} NOT NULL,
    jid {key} NOT NULL,
    PRIMARY KEY (domain, username, jid),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);
CREATE TABLE documents (
    domain {key} NOT NULL,
    username {key} NOT NULL,
    doc_key {key} NOT NULL,
    xml TEXT NOT NULL,
    PRIMARY KEY (domain, username, doc_key),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);
CREATE TABLE last_activity (
    domain {key} NOT NULL,
    username {key} NOT NULL,
    logout_at {int64} NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (domain, username),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);
)sql"},
    // Server-wide anti-SPIM data: the blocklist (JIDs, domains, IP ranges), not tied to any account.
    migration{3, "server blocklist",
              R"sql(
CREATE TABLE server_blocklist (
    kind {key} NOT NULL CHECK (kind IN ('jid', 'domain', 'ip')),
    value {key} NOT NULL,
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    added_at {int64} NOT NULL,
    expires_at {int64} NOT NULL,
    contacts_too {int64} NOT NULL,
    PRIMARY KEY (kind, value)
);
)sql"},
    // Bearer tokens for the admin HTTP API: only a SHA-256 of each token is kept.
    migration{4, "admin tokens",
              R"sql(
CREATE TABLE admin_tokens (
    name {key} NOT NULL PRIMARY KEY,
    token_sha256 {key} NOT NULL,
    created_at {int64} NOT NULL
);
)sql"},
    // Server-wide anti-SPIM II: users' judgements (consensus), XEP-0377 reports, flagged local accounts.
    migration{5, "spam votes, reports and account flags",
              R"sql(
CREATE TABLE spam_votes (
    voter {key} NOT NULL,
    sender {key} NOT NULL,
    sender_domain {key} NOT NULL,
    kind {key} NOT NULL CHECK (kind IN ('block', 'report', 'lockout')),
    at {int64} NOT NULL,
    PRIMARY KEY (voter, sender, kind)
);
CREATE INDEX spam_votes_by_sender ON spam_votes (sender, at);
CREATE INDEX spam_votes_by_domain ON spam_votes (sender_domain, at);
CREATE TABLE spam_reports (
    id {serial},
    reporter {key} NOT NULL,
    reported {key} NOT NULL,
    reason {key} NOT NULL,
    text TEXT NOT NULL,
    stanza_ids TEXT NOT NULL,
    at {int64} NOT NULL
);
CREATE TABLE account_flags (
    account {key} NOT NULL PRIMARY KEY,
    state {key} NOT NULL CHECK (state IN ('flagged', 'suspended')),
    reason TEXT NOT NULL,
    at {int64} NOT NULL
);
)sql"},
    // Anti-SPIM held stanzas get a table of their own (they were one document per sender, capped per sender
    // only): one row per stanza, so the caps per receiver and overall and the expiry are single statements.
    // Documents learn when they were last written, so expired challenge states and contact notes can go; the
    // ones already there count as written now.
    migration{6, "held stanzas, document ages",
              R"sql(
CREATE TABLE held_stanzas (
    id {serial},
    domain {key} NOT NULL,
    username {key} NOT NULL,
    sender {key} NOT NULL,
    held_at {int64} NOT NULL,
    bytes {int64} NOT NULL,
    xml TEXT NOT NULL,
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);
CREATE INDEX held_stanzas_by_sender ON held_stanzas (domain, username, sender, held_at, id);
CREATE INDEX held_stanzas_by_age ON held_stanzas (held_at, id);
ALTER TABLE documents ADD COLUMN updated_at {int64} NOT NULL DEFAULT 0;
UPDATE documents SET updated_at = {now};
CREATE INDEX documents_by_age ON documents (updated_at);
)sql"},
    // Graded evidence (issue 16): a stored server-wide entry says what it does (block, or greylist a range the DoS
    // detector saw a farm in), and a consensus vote carries its voter's standing (hundredths: 100 = a voter of
    // age and contacts; the votes already cast count in full).
    migration{7, "blocklist trust, vote weights",
              R"sql(
ALTER TABLE server_blocklist ADD COLUMN trust {key} NOT NULL DEFAULT 'block';
ALTER TABLE spam_votes ADD COLUMN weight {int64} NOT NULL DEFAULT 100;
)sql"},
    // Content scoring (issue 17): the built-in Bayes classifier's counts. Tokens are keyed hashes, never words.
    migration{8, "content model",
              R"sql(
CREATE TABLE content_tokens (
    token {int64} NOT NULL PRIMARY KEY,
    spam {int64} NOT NULL,
    ham {int64} NOT NULL,
    seen_at {int64} NOT NULL
);
CREATE TABLE content_totals (
    class {key} NOT NULL PRIMARY KEY,
    messages {int64} NOT NULL
);
)sql"},
    // In-band registration controls (issue 17): invitations (XEP-0445/0401; only a SHA-256 of each token) and the
    // accounts waiting for an administrator's approval.
    migration{9, "registration invites and approval queue",
              R"sql(
CREATE TABLE registration_invites (
    token_sha256 {key} NOT NULL PRIMARY KEY,
    domain {key} NOT NULL,
    username {key} NOT NULL,
    inviter {key} NOT NULL,
    uses_left {int64} NOT NULL,
    uses_total {int64} NOT NULL,
    created_at {int64} NOT NULL,
    expires_at {int64} NOT NULL
);
CREATE INDEX registration_invites_by_inviter ON registration_invites (inviter, expires_at);
CREATE INDEX registration_invites_by_name ON registration_invites (domain, username);
CREATE TABLE pending_accounts (
    domain {key} NOT NULL,
    username {key} NOT NULL,
    requested_at {int64} NOT NULL,
    address TEXT NOT NULL,
    PRIMARY KEY (domain, username),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);
)sql"},
    // XEP-0313 message archive (issue 18). An item's id is the microsecond it was archived at, unique per account
    // (the store moves a colliding one on): the primary key orders a user's archive and turns a time range into an
    // id range, so a page query — with or without `with` — is one index range scan however large the archive.
    // The index on id alone serves the retention sweep over every account.
    migration{10, "message archive",
              R"sql(
CREATE TABLE message_archive (
    domain {key} NOT NULL,
    username {key} NOT NULL,
    id {int64} NOT NULL,
    with_jid {key} NOT NULL,
    direction {int64} NOT NULL CHECK (direction IN (0, 1)),
    stanza TEXT NOT NULL,
    PRIMARY KEY (domain, username, id),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);
CREATE INDEX message_archive_by_with ON message_archive (domain, username, with_jid, id);
CREATE INDEX message_archive_by_age ON message_archive (id);
CREATE TABLE message_archive_prefs (
    domain {key} NOT NULL,
    username {key} NOT NULL,
    default_mode TEXT NOT NULL CHECK (default_mode IN ('always', 'roster', 'never')),
    always_jids TEXT NOT NULL,
    never_jids TEXT NOT NULL,
    PRIMARY KEY (domain, username),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);
)sql"},
    // Offline messages served from the archive (issue 18): an offline message that is also the account's archive
    // item records the item's id, and its own copy (stanza) becomes '' once the item is written, so at rest the
    // message is stored once. '' rather than NULL: SQLite cannot drop a NOT NULL without rebuilding the table, and
    // a serialized message is never empty. The index serves dropping copies and the archive deletions' check.
    migration{11, "offline messages in the archive",
              R"sql(
ALTER TABLE offline_messages ADD COLUMN archive_id {int64};
CREATE INDEX offline_messages_by_archive_item ON offline_messages (domain, username, archive_id);
)sql"},
    // XEP-0484 FAST tokens (issue 18). A row names a token; the token itself is derived from the server secret and
    // token_id (protocol/fast.hpp), so nothing here lets anyone log in. A client (agent_id) has the token it last
    // used and, after a rotation, the new one until that is used. last_count: the highest count seen (-1: none), so
    // a first flight cannot be replayed. created_at and used_at (0: never) in microseconds, expires_at in seconds.
    migration{12, "FAST tokens",
              R"sql(
CREATE TABLE fast_tokens (
    domain {key} NOT NULL,
    username {key} NOT NULL,
    agent_id {key} NOT NULL,
    token_id {key} NOT NULL,
    mechanism TEXT NOT NULL,
    created_at {int64} NOT NULL,
    expires_at {int64} NOT NULL,
    last_count {int64} NOT NULL,
    used_at {int64} NOT NULL,
    PRIMARY KEY (domain, username, agent_id, token_id),
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);
CREATE INDEX fast_tokens_by_expiry ON fast_tokens (expires_at);
)sql"},
    // XEP-0060 publish-subscribe and PEP (issue 19). A node lives on a host: an account's bare JID "user@domain"
    // (its PEP nodes; no foreign key to accounts, the host is one column: delete_account deletes them by host) or a
    // service's domain. Items, subscriptions and affiliations go with their node. Items are ordered by
    // published_at (microseconds), then seq (per node, one more than the node's highest at each put), so a replaced
    // item is the newest even within one microsecond; the index serves newest-first reads and trimming.
    // Subscriptions and affiliations are also looked up by JID across a host's nodes.
    migration{13, "publish-subscribe",
              R"sql(
CREATE TABLE pubsub_nodes (
    host {key} NOT NULL,
    node {key} NOT NULL,
    config TEXT NOT NULL,
    owner {key} NOT NULL,
    created_at {int64} NOT NULL,
    PRIMARY KEY (host, node)
);
CREATE TABLE pubsub_items (
    host {key} NOT NULL,
    node {key} NOT NULL,
    id {key} NOT NULL,
    publisher TEXT NOT NULL,
    payload TEXT NOT NULL,
    published_at {int64} NOT NULL,
    seq {int64} NOT NULL,
    PRIMARY KEY (host, node, id),
    FOREIGN KEY (host, node) REFERENCES pubsub_nodes (host, node) ON DELETE CASCADE
);
CREATE INDEX pubsub_items_by_age ON pubsub_items (host, node, published_at, seq);
CREATE TABLE pubsub_subscriptions (
    host {key} NOT NULL,
    node {key} NOT NULL,
    jid {key} NOT NULL,
    subid {key} NOT NULL,
    state {key} NOT NULL CHECK (state IN ('subscribed', 'pending', 'unconfigured')),
    PRIMARY KEY (host, node, jid, subid),
    FOREIGN KEY (host, node) REFERENCES pubsub_nodes (host, node) ON DELETE CASCADE
);
CREATE INDEX pubsub_subscriptions_by_jid ON pubsub_subscriptions (host, jid);
CREATE TABLE pubsub_affiliations (
    host {key} NOT NULL,
    node {key} NOT NULL,
    jid {key} NOT NULL,
    affiliation {key} NOT NULL CHECK (affiliation IN ('owner', 'publisher', 'publish-only', 'member', 'outcast')),
    PRIMARY KEY (host, node, jid),
    FOREIGN KEY (host, node) REFERENCES pubsub_nodes (host, node) ON DELETE CASCADE
);
CREATE INDEX pubsub_affiliations_by_jid ON pubsub_affiliations (host, jid);
)sql"},
    // XEP-0045 multi-user chat: persistent rooms of a service (temporary ones are never stored) with their
    // affiliations, which go with their room, and bans over a whole service. The config is opaque (the engine's).
    // Affiliations are also looked up by JID over every service: an account's deletion removes its own everywhere.
    migration{14, "multi-user chat rooms",
              R"sql(
CREATE TABLE muc_rooms (
    service {key} NOT NULL,
    room {key} NOT NULL,
    config TEXT NOT NULL,
    subject TEXT NOT NULL,
    subject_by TEXT NOT NULL,
    created_at {int64} NOT NULL,
    PRIMARY KEY (service, room)
);
CREATE TABLE muc_affiliations (
    service {key} NOT NULL,
    room {key} NOT NULL,
    jid {key} NOT NULL,
    affiliation {key} NOT NULL CHECK (affiliation IN ('owner', 'admin', 'member', 'outcast')),
    nick TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (service, room, jid),
    FOREIGN KEY (service, room) REFERENCES muc_rooms (service, room) ON DELETE CASCADE
);
CREATE INDEX muc_affiliations_by_jid ON muc_affiliations (jid);
CREATE TABLE muc_service_bans (
    service {key} NOT NULL,
    jid {key} NOT NULL,
    reason TEXT NOT NULL,
    created_at {int64} NOT NULL,
    PRIMARY KEY (service, jid)
);
)sql"},
    // XEP-0313 for rooms (issue 20): a room's archive lives in message_archive under (service, room), so the
    // table's rows are no longer all an account's. The foreign key to accounts goes (rebuilding the table: SQLite
    // cannot drop a constraint); delete_account and deny_pending delete the account's archive themselves, and a
    // destroyed room's archive goes with it.
    migration{15, "room archives",
              R"sql(
CREATE TABLE message_archive_rebuilt (
    domain {key} NOT NULL,
    username {key} NOT NULL,
    id {int64} NOT NULL,
    with_jid {key} NOT NULL,
    direction {int64} NOT NULL CHECK (direction IN (0, 1)),
    stanza TEXT NOT NULL,
    PRIMARY KEY (domain, username, id)
);
INSERT INTO message_archive_rebuilt (domain, username, id, with_jid, direction, stanza)
    SELECT domain, username, id, with_jid, direction, stanza FROM message_archive;
DROP TABLE message_archive;
ALTER TABLE message_archive_rebuilt RENAME TO message_archive;
CREATE INDEX message_archive_by_with ON message_archive (domain, username, with_jid, id);
CREATE INDEX message_archive_by_age ON message_archive (id);
)sql"},
    // XEP-0363 HTTP file upload: a slot handed out, then the file stored under its id. The account's rows go with
    // it (the files on disk are then orphans the sweeper removes); the sweeper finds expired rows by expires_at.
    migration{16, "http file upload",
              R"sql(
CREATE TABLE upload_files (
    id {key} NOT NULL PRIMARY KEY,
    secret_sha256 TEXT NOT NULL,
    domain {key} NOT NULL,
    username {key} NOT NULL,
    filename TEXT NOT NULL,
    size {int64} NOT NULL CHECK (size >= 0),
    content_type TEXT NOT NULL,
    state {key} NOT NULL CHECK (state IN ('pending', 'uploading', 'stored')),
    created_at {int64} NOT NULL,
    expires_at {int64} NOT NULL,
    uploaded_at {int64} NOT NULL,
    FOREIGN KEY (domain, username) REFERENCES accounts (domain, username) ON DELETE CASCADE
);
CREATE INDEX upload_files_by_account ON upload_files (domain, username, created_at);
CREATE INDEX upload_files_by_expiry ON upload_files (expires_at);
)sql"},
};

// The bookkeeping table itself is not a migration: it must exist before the first one can be recorded.
constexpr std::string_view schema_version_sql = R"sql(
CREATE TABLE IF NOT EXISTS schema_version (
    version {int64} NOT NULL PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at {int64} NOT NULL
);
)sql";

struct token {
    std::string_view name;
    std::string_view sqlite;
    std::string_view postgresql;
};

constexpr std::array tokens{
    token{"{int64}", "INTEGER", "BIGINT"},
    token{"{blob}", "BLOB", "BYTEA"},
    token{"{key}", "TEXT", "TEXT COLLATE \"C\""},
    // A surrogate key that only ever grows (AUTOINCREMENT: SQLite never reuses the id of a deleted row).
    token{"{serial}", "INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"},
    // The current time in unix seconds, as an expression.
    token{"{now}", "CAST(strftime('%s', 'now') AS INTEGER)", "CAST(FLOOR(EXTRACT(EPOCH FROM now())) AS BIGINT)"},
};


}  // namespace

std::span<const migration> migrations() {
    return migration_list;
}

int latest_schema_version() {
    return migration_list.back().version;
}

std::string render_sql(std::string_view sql, sql_dialect dialect) {
    std::string out;
    out.reserve(sql.size() + 32);
    std::size_t i = 0;
    while (i < sql.size()) {
        bool replaced = false;
        if (sql[i] == '{') {
            for (const auto& t : tokens) {
                if (sql.substr(i, t.name.size()) == t.name) {
                    out += dialect == sql_dialect::sqlite ? t.sqlite : t.postgresql;
                    i += t.name.size();
                    replaced = true;
                    break;
                }
            }
        }
        if (!replaced) {
            out += sql[i];
            ++i;
        }
    }
    return out;
}

result<int> apply_migrations(migration_target& target) {
    const int latest = latest_schema_version();
    const std::string bootstrap = render_sql(schema_version_sql, target.dialect());

    // One transaction per migration; re-reading the version under the lock makes concurrent callers skip work
    // another process has just done.
    for (const auto& m : migrations()) {
        if (auto begun = target.begin_exclusive(); !begun) {
            return unexpected(begun.error());
        }
        if (auto created = target.execute_ddl(bootstrap); !created) {
            target.rollback();
            return unexpected(created.error());
        }
        auto current = target.read_version();
        if (!current) {
            target.rollback();
            return unexpected(current.error());
        }
        if (*current > latest) {
            target.rollback();
            return unexpected(error{"database schema version " + std::to_string(*current) +
                                    " is newer than this build supports (" + std::to_string(latest) + ")"});
        }
        if (*current >= m.version) {
            target.rollback();
            continue;
        }
        if (auto applied = target.execute_ddl(render_sql(m.sql, target.dialect())); !applied) {
            target.rollback();
            return unexpected(error{"migration " + std::to_string(m.version) + " (" + std::string(m.description) +
                                    ") failed: " + applied.error().message});
        }
        if (auto recorded = target.record_version(m.version, m.description, unix_now()); !recorded) {
            target.rollback();
            return unexpected(recorded.error());
        }
        if (auto committed = target.commit(); !committed) {
            target.rollback();
            return unexpected(committed.error());
        }
    }

    // Every entry is now either applied or was already covered by the stored version (never above latest).
    return latest;
}

}  // namespace hush::storage
