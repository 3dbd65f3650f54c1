#include "storage/postgres_store.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <stdexcept>

#include "storage/postgres_transaction.hpp"

namespace hush::storage {
namespace {

// Serialises migrate() across processes; transaction-scoped, so it is released on COMMIT/ROLLBACK or when a
// crashed migrator's connection drops. "hush" in the high half.
constexpr std::int64_t migration_lock_key = 0x6875736800000001;

std::int64_t now_unix() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string trim(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\r')) {
        text.pop_back();
    }
    return text;
}

// Every spelling of the password that a libpq message could echo back: the decoded value libpq parsed, and the
// raw text as written (libpq quotes the offending token when it cannot parse the string at all).
std::vector<std::string> find_passwords(const std::string& url) {
    std::vector<std::string> found;
    char* parse_error = nullptr;
    if (PQconninfoOption* options = PQconninfoParse(url.c_str(), &parse_error)) {
        for (auto* o = options; o->keyword != nullptr; ++o) {
            if (std::string_view(o->keyword) == "password" && o->val != nullptr && *o->val != '\0') {
                found.emplace_back(o->val);
            }
        }
        PQconninfoFree(options);
    }
    PQfreemem(parse_error);

    const std::string_view text(url);
    for (std::string_view scheme : {"postgresql://", "postgres://"}) {
        if (text.substr(0, scheme.size()) != scheme) {
            continue;
        }
        // Same rule as libpq: credentials end at the first '@' seen before any '/'.
        const auto rest = text.substr(scheme.size());
        const auto at = rest.find_first_of("@/");
        if (at != std::string_view::npos && rest[at] == '@') {
            const auto userinfo = rest.substr(0, at);
            if (const auto colon = userinfo.find(':'); colon != std::string_view::npos && colon + 1 < at) {
                found.emplace_back(userinfo.substr(colon + 1));
            }
        }
    }
    if (const auto key = text.find("password"); key != std::string_view::npos) {
        auto value = text.substr(key + 8);
        const auto eq = value.find_first_not_of(" \t");
        if (eq != std::string_view::npos && value[eq] == '=') {
            value = value.substr(eq + 1);
            value.remove_prefix(std::min(value.find_first_not_of(" \t'"), value.size()));
            value = value.substr(0, value.find_first_of(" \t'&"));
            if (!value.empty()) {
                found.emplace_back(value);
            }
        }
    }
    return found;
}

}  // namespace

void postgres_store::result_deleter::operator()(pg_result* r) const {
    PQclear(r);
}

postgres_store::postgres_store(const std::string& url) : secrets_(find_passwords(url)) {
    if (url.empty()) {
        throw std::runtime_error("cannot connect to PostgreSQL: no connection URL configured");
    }
    conn_ = PQconnectdb(url.c_str());
    if (conn_ == nullptr) {
        throw std::runtime_error("cannot connect to PostgreSQL: out of memory");
    }
    if (PQstatus(conn_) != CONNECTION_OK) {
        std::string why = scrub(trim(PQerrorMessage(conn_)));
        PQfinish(conn_);
        conn_ = nullptr;
        throw std::runtime_error("cannot connect to PostgreSQL: " + why);
    }
    // Notices ("relation already exists, skipping") would otherwise go straight to stderr.
    PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
    if (PQsetClientEncoding(conn_, "UTF8") != 0) {
        std::string why = scrub(trim(PQerrorMessage(conn_)));
        PQfinish(conn_);
        conn_ = nullptr;
        throw std::runtime_error("cannot connect to PostgreSQL: cannot set client encoding UTF8: " + why);
    }
}

postgres_store::~postgres_store() {
    PQfinish(conn_);
}

std::string postgres_store::scrub(std::string message) const {
    for (const auto& secret : secrets_) {
        for (auto pos = message.find(secret); pos != std::string::npos; pos = message.find(secret, pos + 3)) {
            message.replace(pos, secret.size(), "***");
        }
    }
    return message;
}

error postgres_store::connection_error(std::string_view context) const {
    return error{"PostgreSQL: " + std::string(context) + ": " + scrub(trim(PQerrorMessage(conn_)))};
}

bool postgres_store::ensure_connected() {
    if (PQstatus(conn_) == CONNECTION_OK) {
        return true;
    }
    // A transaction died with the old session; reconnecting under it would silently drop its first half.
    if (in_transaction_) {
        return false;
    }
    PQreset(conn_);
    return PQstatus(conn_) == CONNECTION_OK;
}

result<postgres_store::result_ptr> postgres_store::exec(const char* sql, const std::vector<param>& params) {
    std::vector<const char*> values;
    std::vector<int> lengths;
    std::vector<int> formats;
    for (const auto& p : params) {
        values.push_back(p.value.c_str());
        lengths.push_back(static_cast<int>(p.value.size()));
        formats.push_back(p.binary ? 1 : 0);
    }

    // One retry, only when the connection broke outside a transaction (e.g. the server restarted).
    for (int attempt = 0;; ++attempt) {
        if (!ensure_connected()) {
            return unexpected(connection_error("connection lost"));
        }
        result_ptr res(PQexecParams(conn_, sql, static_cast<int>(params.size()), nullptr, values.data(),
                                    lengths.data(), formats.data(), 0));
        const auto status = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
        if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
            return res;
        }
        if (attempt == 0 && PQstatus(conn_) == CONNECTION_BAD && !in_transaction_) {
            continue;
        }
        const char* message = res ? PQresultErrorMessage(res.get()) : PQerrorMessage(conn_);
        return unexpected(error{"PostgreSQL: " + scrub(trim(message))});
    }
}

long postgres_store::affected(const result_ptr& res) {
    return static_cast<long>(parse_int64(PQcmdTuples(res.get())).value_or(0));
}

void postgres_store::add_credentials(std::vector<param>& params, const account_credentials& creds) {
    params.push_back(bytes(creds.sha1.salt));
    params.push_back(int64(creds.sha1.iterations));
    params.push_back(bytes(creds.sha1.stored_key));
    params.push_back(bytes(creds.sha1.server_key));
    params.push_back(bytes(creds.sha256.salt));
    params.push_back(int64(creds.sha256.iterations));
    params.push_back(bytes(creds.sha256.stored_key));
    params.push_back(bytes(creds.sha256.server_key));
}

// ---- migrations ----

result<int> postgres_store::migrate() {
    return apply_migrations(*this);
}

result<int> postgres_store::schema_version() {
    auto res = exec("SELECT to_regclass('schema_version') IS NOT NULL");
    if (!res) {
        return unexpected(res.error());
    }
    if (std::string_view(PQgetvalue(res->get(), 0, 0)) != "t") {
        return 0;  // never migrated
    }
    return read_version();
}

result<void> postgres_store::begin_exclusive() {
    if (auto begun = exec("BEGIN"); !begun) {
        return unexpected(begun.error());
    }
    in_transaction_ = true;
    // Taken before schema_version is even created: concurrent CREATE TABLE IF NOT EXISTS can otherwise fail.
    if (auto locked = exec("SELECT pg_advisory_xact_lock($1)", {int64(migration_lock_key)}); !locked) {
        rollback();
        return unexpected(locked.error());
    }
    return {};
}

result<void> postgres_store::execute_ddl(const std::string& sql) {
    // PQexec because a migration may hold several statements; DDL carries no values, so nothing is spliced in.
    if (PQstatus(conn_) != CONNECTION_OK) {
        return unexpected(connection_error("connection lost"));
    }
    result_ptr res(PQexec(conn_, sql.c_str()));
    const auto status = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        const char* message = res ? PQresultErrorMessage(res.get()) : PQerrorMessage(conn_);
        return unexpected(error{"PostgreSQL: " + scrub(trim(message))});
    }
    return {};
}

result<int> postgres_store::read_version() {
    auto res = exec("SELECT COALESCE(MAX(version), 0) FROM schema_version");
    if (!res) {
        return unexpected(res.error());
    }
    const auto version = parse_int64(PQgetvalue(res->get(), 0, 0));
    if (!version) {
        return unexpected(error{"PostgreSQL: unreadable schema version"});
    }
    return static_cast<int>(*version);
}

result<void> postgres_store::record_version(int version, std::string_view description, std::int64_t applied_at) {
    auto res = exec("INSERT INTO schema_version (version, description, applied_at) VALUES ($1, $2, $3)",
                    {int64(version), text(description), int64(applied_at)});
    if (!res) {
        return unexpected(res.error());
    }
    return {};
}

result<void> postgres_store::commit() {
    auto res = exec("COMMIT");
    in_transaction_ = false;
    if (!res) {
        return unexpected(res.error());
    }
    return {};
}

void postgres_store::rollback() {
    if (PQstatus(conn_) == CONNECTION_OK) {
        result_ptr res(PQexec(conn_, "ROLLBACK"));
    }
    in_transaction_ = false;
}

// ---- accounts ----

result<bool> postgres_store::create_account(const std::string& domain, const std::string& username,
                                            const account_credentials& creds) {
    std::vector<param> params{text(domain), text(username), int64(now_unix())};
    add_credentials(params, creds);
    auto res = exec(
        "INSERT INTO accounts (domain, username, created_at, sha1_salt, sha1_iterations, sha1_stored_key, "
        "sha1_server_key, sha256_salt, sha256_iterations, sha256_stored_key, sha256_server_key) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (domain, username) DO NOTHING",
        params);
    if (!res) {
        return unexpected(res.error());
    }
    return affected(*res) > 0;
}

result<bool> postgres_store::set_credentials(const std::string& domain, const std::string& username,
                                             const account_credentials& creds) {
    std::vector<param> params{text(domain), text(username)};
    add_credentials(params, creds);
    auto res = exec(
        "UPDATE accounts SET sha1_salt = $3, sha1_iterations = $4, sha1_stored_key = $5, sha1_server_key = $6, "
        "sha256_salt = $7, sha256_iterations = $8, sha256_stored_key = $9, sha256_server_key = $10 "
        "WHERE domain = $1 AND username = $2",
        params);
    if (!res) {
        return unexpected(res.error());
    }
    return affected(*res) > 0;
}

result<bool> postgres_store::delete_account(const std::string& domain, const std::string& username) {
    auto res = exec("DELETE FROM accounts WHERE domain = $1 AND username = $2", {text(domain), text(username)});
    if (!res) {
        return unexpected(res.error());
    }
    return affected(*res) > 0;
}

result<std::optional<account_credentials>> postgres_store::get_credentials(const std::string& domain,
                                                                           const std::string& username) {
    auto res = exec(
        "SELECT sha1_salt, sha1_iterations, sha1_stored_key, sha1_server_key, "
        "sha256_salt, sha256_iterations, sha256_stored_key, sha256_server_key "
        "FROM accounts WHERE domain = $1 AND username = $2",
        {text(domain), text(username)});
    if (!res) {
        return unexpected(res.error());
    }
    pg_result* r = res->get();
    if (PQntuples(r) == 0) {
        return std::optional<account_credentials>();
    }

    bool ok = true;
    auto blob = [&](int col) {
        std::size_t length = 0;
        unsigned char* raw = PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r, 0, col)), &length);
        if (raw == nullptr) {
            ok = false;
            return std::string();
        }
        std::string out(reinterpret_cast<const char*>(raw), length);
        PQfreemem(raw);
        return out;
    };
    auto iterations = [&](int col) {
        const auto value = parse_int64(PQgetvalue(r, 0, col));
        if (!value || *value < 0 || *value > UINT32_MAX) {
            ok = false;
            return std::uint32_t{0};
        }
        return static_cast<std::uint32_t>(*value);
    };
    account_credentials creds;
    creds.sha1.salt = blob(0);
    creds.sha1.iterations = iterations(1);
    creds.sha1.stored_key = blob(2);
    creds.sha1.server_key = blob(3);
    creds.sha256.salt = blob(4);
    creds.sha256.iterations = iterations(5);
    creds.sha256.stored_key = blob(6);
    creds.sha256.server_key = blob(7);
    if (!ok) {
        return unexpected(error{"PostgreSQL: unreadable credentials for " + username + "@" + domain});
    }
    return std::optional<account_credentials>(std::move(creds));
}

result<bool> postgres_store::account_exists(const std::string& domain, const std::string& username) {
    auto res = exec("SELECT 1 FROM accounts WHERE domain = $1 AND username = $2", {text(domain), text(username)});
    if (!res) {
        return unexpected(res.error());
    }
    return PQntuples(res->get()) > 0;
}

result<std::vector<account>> postgres_store::list_accounts(const std::string& domain) {
    auto res = domain.empty()
                   ? exec("SELECT domain, username, created_at FROM accounts ORDER BY domain, username")
                   : exec("SELECT domain, username, created_at FROM accounts WHERE domain = $1 "
                          "ORDER BY domain, username",
                          {text(domain)});
    if (!res) {
        return unexpected(res.error());
    }
    pg_result* r = res->get();
    std::vector<account> accounts;
    accounts.reserve(static_cast<std::size_t>(PQntuples(r)));
    for (int row = 0; row < PQntuples(r); ++row) {
        account a;
        a.domain = PQgetvalue(r, row, 0);
        a.username = PQgetvalue(r, row, 1);
        a.created_at = parse_int64(PQgetvalue(r, row, 2)).value_or(0);
        accounts.push_back(std::move(a));
    }
    return accounts;
}

}  // namespace hush::storage
