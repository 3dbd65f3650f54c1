#include "storage/postgres_driver.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <stdexcept>

namespace hush::storage {
namespace {

// Serialises migrate() across processes; transaction-scoped, so it is released on COMMIT/ROLLBACK or when a
// crashed migrator's connection drops. "hush" in the high half.
constexpr std::int64_t migration_lock_key = 0x6875736800000001;

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

std::optional<std::int64_t> parse_int64(const char* text) {
    std::string_view view(text);
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(view.data(), view.data() + view.size(), value);
    if (ec != std::errc() || end != view.data() + view.size()) {
        return std::nullopt;
    }
    return value;
}

// Results come back as text; bytea in the escaped (hex) text form.
class postgres_row final : public sql_row {
public:
    postgres_row(pg_result* r, int row) : r_(r), row_(row) {}
    bool is_null(int col) const override { return PQgetisnull(r_, row_, col) != 0; }
    std::string text(int col) const override {
        return std::string(PQgetvalue(r_, row_, col), static_cast<std::size_t>(PQgetlength(r_, row_, col)));
    }
    std::optional<std::string> blob(int col) const override {
        std::size_t length = 0;
        unsigned char* raw =
            PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r_, row_, col)), &length);
        if (raw == nullptr) {
            return std::nullopt;
        }
        std::string out(reinterpret_cast<const char*>(raw), length);
        PQfreemem(raw);
        return out;
    }
    std::optional<std::int64_t> int64(int col) const override { return parse_int64(PQgetvalue(r_, row_, col)); }

private:
    pg_result* r_;
    int row_;
};

}  // namespace

void postgres_driver::result_deleter::operator()(pg_result* r) const {
    PQclear(r);
}

postgres_driver::postgres_driver(const std::string& url) : secrets_(find_passwords(url)) {
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
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
    if (PQsetClientEncoding(conn_, "UTF8") != 0) {
        std::string why = scrub(trim(PQerrorMessage(conn_)));
        PQfinish(conn_);
        conn_ = nullptr;
        throw std::runtime_error("cannot connect to PostgreSQL: cannot set client encoding UTF8: " + why);
    }
}

postgres_driver::~postgres_driver() {
    PQfinish(conn_);
}

std::string postgres_driver::scrub(std::string message) const {
    for (const auto& secret : secrets_) {
        for (auto pos = message.find(secret); pos != std::string::npos; pos = message.find(secret, pos + 3)) {
            message.replace(pos, secret.size(), "***");
        }
    }
    return message;
}

error postgres_driver::connection_error(std::string_view context) const {
    return error{"PostgreSQL: " + std::string(context) + ": " + scrub(trim(PQerrorMessage(conn_)))};
}

bool postgres_driver::ensure_connected() {
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

error postgres_driver::failure(std::string_view context, std::string_view what) const {
    return error{"PostgreSQL: " + std::string(context) + ": " + std::string(what)};
}

result<postgres_driver::result_ptr> postgres_driver::exec(const char* sql, std::span<const sql_param> params) {
    // Integers and text go as NUL-terminated text (libpq ignores lengths for text), bytea as raw bytes (binary).
    std::vector<std::string> owned;
    owned.reserve(params.size());
    std::vector<const char*> values;
    std::vector<int> lengths;
    std::vector<int> formats;
    for (const auto& p : params) {
        std::string_view value;
        int format = 0;
        if (const auto* integer = std::get_if<std::int64_t>(&p)) {
            value = owned.emplace_back(std::to_string(*integer));
        } else if (const auto* bytes = std::get_if<sql_blob>(&p)) {
            value = bytes->bytes;
            format = 1;
        } else {
            value = owned.emplace_back(std::get<std::string_view>(p));
        }
        values.push_back(value.data());
        lengths.push_back(static_cast<int>(value.size()));
        formats.push_back(format);
    }

    // One retry, only when the connection broke outside a transaction (e.g. the server restarted).
    for (int attempt = 0;; ++attempt) {
        if (!ensure_connected()) {
            return unexpected(connection_error("connection lost"));
        }
        result_ptr res(PQexecParams(conn_, sql, static_cast<int>(params.size()), nullptr, values.data(), lengths.data(),
                                    formats.data(), 0));
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

result<long> postgres_driver::run(std::string_view, const char* sql, std::span<const sql_param> params,
                                  const row_handler& on_row) {
    auto res = exec(sql, params);
    if (!res) {
        return unexpected(res.error());
    }
    pg_result* r = res->get();
    if (on_row) {
        for (int row = 0; row < PQntuples(r); ++row) {
            if (auto handled = on_row(postgres_row(r, row)); !handled) {
                return unexpected(handled.error());
            }
        }
    }
    return static_cast<long>(parse_int64(PQcmdTuples(r)).value_or(0));
}

result<void> postgres_driver::begin(const char* sql) {
    auto begun = exec(sql);
    if (!begun) {
        return unexpected(begun.error());
    }
    in_transaction_ = true;
    return {};
}

result<bool> postgres_driver::schema_version_exists() {
    auto res = exec("SELECT to_regclass('schema_version') IS NOT NULL");
    if (!res) {
        return unexpected(res.error());
    }
    return std::string_view(PQgetvalue(res->get(), 0, 0)) == "t";
}

result<void> postgres_driver::begin_exclusive() {
    if (auto begun = exec("BEGIN"); !begun) {
        return unexpected(begun.error());
    }
    in_transaction_ = true;
    const sql_param lock_key = migration_lock_key;
    // Taken before schema_version is even created: concurrent CREATE TABLE IF NOT EXISTS can otherwise fail.
    if (auto locked = exec("SELECT pg_advisory_xact_lock($1)", std::span<const sql_param>(&lock_key, 1)); !locked) {
        rollback();
        return unexpected(locked.error());
    }
    return {};
}

result<void> postgres_driver::execute_ddl(const std::string& sql) {
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

result<void> postgres_driver::commit() {
    auto res = exec("COMMIT");
    in_transaction_ = false;
    if (!res) {
        return unexpected(res.error());
    }
    return {};
}

void postgres_driver::rollback() {
    if (PQstatus(conn_) == CONNECTION_OK) {
        result_ptr res(PQexec(conn_, "ROLLBACK"));
    }
    in_transaction_ = false;
}

}  // namespace hush::storage
