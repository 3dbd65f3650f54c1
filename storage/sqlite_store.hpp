#pragma once
// SQLite backend: one connection in WAL mode with a busy timeout, so hushctl can write while hushd runs.
#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "storage/migrations.hpp"
#include "storage/store.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace hush::storage {

class sqlite_store final : public store, private migration_target {
public:
    // Creates the parent directory and the file if missing. Throws std::runtime_error on failure.
    explicit sqlite_store(const std::string& path);
    ~sqlite_store() override;

    sqlite_store(const sqlite_store&) = delete;
    sqlite_store& operator=(const sqlite_store&) = delete;

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
    class statement;    // sqlite_statement.hpp
    class transaction;  // sqlite_statement.hpp
    using sql_arg = std::variant<std::int64_t, std::string_view>;

    // Prepared once per SQL text and reused; the key is the address of a string literal.
    result<sqlite3_stmt*> prepare(const char* sql);
    error last_error(std::string_view context) const;
    // Runs one statement that returns no rows, with ?1, ?2, ... bound to `args`; returns the rows it changed.
    result<int> execute(std::string_view context, const char* sql, std::initializer_list<sql_arg> args);
    // The first column of the first row as text; nullopt for no row or NULL.
    result<std::optional<std::string>> query_text(std::string_view context, const char* sql,
                                                  std::initializer_list<sql_arg> args);
    // The first column of every row as text.
    result<std::vector<std::string>> query_texts(std::string_view context, const char* sql,
                                                 std::initializer_list<sql_arg> args);
    // The roster helpers run inside a transaction the caller holds.
    // Bumps the account's roster version and returns it; nullopt when the account has no version yet and
    // `create` is false.
    result<std::optional<std::int64_t>> bump_roster_version(const std::string& domain, const std::string& username,
                                                            bool create);
    result<std::vector<roster_item>> read_roster_items(std::string_view context, const char* sql,
                                                       std::initializer_list<sql_arg> args);

    // migration_target
    sql_dialect dialect() const override { return sql_dialect::sqlite; }
    result<void> begin_exclusive() override;
    result<void> execute_ddl(const std::string& sql) override;
    result<int> read_version() override;
    result<void> record_version(int version, std::string_view description, std::int64_t applied_at) override;
    result<void> commit() override;
    void rollback() override;

    std::string path_;
    sqlite3* db_ = nullptr;
    std::map<const char*, sqlite3_stmt*> statements_;
};

}  // namespace hush::storage
