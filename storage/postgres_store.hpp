#pragma once
// PostgreSQL backend over libpq: one connection, parameterised queries only, one reconnect attempt when the
// connection is found broken outside a transaction.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/migrations.hpp"
#include "storage/store.hpp"

struct pg_conn;
struct pg_result;

namespace hush::storage {

class postgres_store final : public store, private migration_target {
public:
    // `url` is a libpq URI or keyword/value string. Throws std::runtime_error (never echoing the password).
    explicit postgres_store(const std::string& url);
    ~postgres_store() override;

    postgres_store(const postgres_store&) = delete;
    postgres_store& operator=(const postgres_store&) = delete;

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

private:
    struct result_deleter {
        void operator()(pg_result* r) const;
    };
    using result_ptr = std::unique_ptr<pg_result, result_deleter>;

    struct param {
        std::string value;
        bool binary = false;  // bytea values go as raw bytes, everything else as text
    };
    static param text(std::string_view value) { return {std::string(value), false}; }
    static param bytes(std::string_view value) { return {std::string(value), true}; }
    static param int64(std::int64_t value) { return {std::to_string(value), false}; }
    static void add_credentials(std::vector<param>& params, const account_credentials& creds);

    // Runs one statement with parameters (never spliced into the SQL text). Results come back as text.
    result<result_ptr> exec(const char* sql, const std::vector<param>& params = {});
    // Number of rows a command affected.
    static long affected(const result_ptr& res);
    bool ensure_connected();
    error connection_error(std::string_view context) const;

    // migration_target
    sql_dialect dialect() const override { return sql_dialect::postgresql; }
    result<void> begin_exclusive() override;
    result<void> execute_ddl(const std::string& sql) override;
    result<int> read_version() override;
    result<void> record_version(int version, std::string_view description, std::int64_t applied_at) override;
    result<void> commit() override;
    void rollback() override;

    std::string scrub(std::string message) const;

    std::vector<std::string> secrets_;  // the password from the URL (as written and decoded), never echoed
    pg_conn* conn_ = nullptr;
    bool in_transaction_ = false;
};

}  // namespace hush::storage
