#include "storage/sql_driver.hpp"

namespace hush::storage {

result<int> sql_driver::read_version() {
    std::optional<std::int64_t> version;
    auto done = run("read schema version", "SELECT COALESCE(MAX(version), 0) FROM schema_version", {},
                    [&](const sql_row& row) -> result<void> {
                        version = row.int64(0);
                        return {};
                    });
    if (!done) {
        return unexpected(done.error());
    }
    if (!version) {
        return unexpected(failure("read schema version", "unreadable schema version"));
    }
    return static_cast<int>(*version);
}

result<void> sql_driver::record_version(int version, std::string_view description, std::int64_t applied_at) {
    const sql_param params[] = {std::int64_t{version}, description, applied_at};
    auto done = run("record schema version",
                    "INSERT INTO schema_version (version, description, applied_at) VALUES ($1, $2, $3)", params, {});
    if (!done) {
        return unexpected(done.error());
    }
    return {};
}

}  // namespace hush::storage
