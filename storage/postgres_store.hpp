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

    // IM core (sqlite_im_store.cpp / postgres_im_store.cpp)
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
                                       const std::string& stanza, std::int64_t stored_at, std::size_t quota) override;
    result<std::vector<offline_message>> get_offline_messages(const std::string& domain,
                                                              const std::string& username) override;
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

    result<void> set_last_activity(const std::string& domain, const std::string& username,
                                   const last_activity& activity) override;
    result<std::optional<last_activity>> get_last_activity(const std::string& domain,
                                                           const std::string& username) override;

private:
    class transaction;  // postgres_transaction.hpp

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
    static param flag(bool value) { return {value ? "1" : "0", false}; }
    static void add_credentials(std::vector<param>& params, const account_credentials& creds);

    // Runs one statement with parameters (never spliced into the SQL text). Results come back as text.
    result<result_ptr> exec(const char* sql, const std::vector<param>& params = {});
    // Number of rows a command affected.
    static long affected(const result_ptr& res);
    // The roster helpers run inside a transaction the caller holds.
    // Bumps the account's roster version and returns it; nullopt when the account has no version yet and
    // `create` is false.
    result<std::optional<std::int64_t>> bump_roster_version(const std::string& domain, const std::string& username,
                                                            bool create);
    result<std::vector<roster_item>> read_roster_items(const char* sql, const std::vector<param>& params);
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
