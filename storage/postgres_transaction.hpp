#pragma once
// Internals of postgres_store shared by its translation units (postgres_store.cpp, postgres_im_store.cpp).
#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

#include "storage/postgres_store.hpp"

namespace hush::storage {

inline std::optional<std::int64_t> parse_int64(const char* text) {
    std::string_view view(text);
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(view.data(), view.data() + view.size(), value);
    if (ec != std::errc() || end != view.data() + view.size()) {
        return std::nullopt;
    }
    return value;
}

// A transaction on the data path; rolled back on scope exit unless committed. While it is open exec() does not
// reconnect: a dropped connection fails the transaction instead of silently losing its first half.
class postgres_store::transaction {
public:
    explicit transaction(postgres_store& owner) : owner_(owner) {}
    ~transaction() {
        if (open_) {
            owner_.rollback();
        }
    }
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;

    // READ COMMITTED: each statement sees what committed before it started, so a statement that waited for a row
    // lock sees the lock holder's changes.
    result<void> begin_write() { return begin("BEGIN"); }
    // One snapshot for reads that must agree with each other.
    result<void> begin_read() { return begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); }
    result<void> commit() {
        open_ = false;
        return owner_.commit();  // clears in_transaction_ either way; a failed COMMIT ends the transaction too
    }

private:
    result<void> begin(const char* sql) {
        auto begun = owner_.exec(sql);
        if (!begun) {
            return unexpected(begun.error());
        }
        owner_.in_transaction_ = true;
        open_ = true;
        return {};
    }

    postgres_store& owner_;
    bool open_ = false;
};

}  // namespace hush::storage
