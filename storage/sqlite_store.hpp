#pragma once
// SQLite backend: one connection in WAL mode with a busy timeout, so hushctl can write while hushd runs.
#include <map>
#include <string>
#include <string_view>

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

private:
    class statement;

    // Prepared once per SQL text and reused; the key is the address of a string literal.
    result<sqlite3_stmt*> prepare(const char* sql);
    error last_error(std::string_view context) const;

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
