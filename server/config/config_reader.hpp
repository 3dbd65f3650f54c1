#pragma once
// Internal to the config loader (server/config/config.cpp): typed, located reads of toml++ values.
//
// Every read records an error "FILE:LINE:COL: KEY: what is wrong" and leaves the caller's default in place, so
// loading carries on; of all the errors recorded, the one earliest in the file is kept (what an admin fixing
// the file top-down wants).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

// Debian's libtomlplusplus.so is built with exceptions and only exports toml::ex::parse*, while the project
// builds with TOML_EXCEPTIONS=0 and so calls toml::noex::parse*. Use the header-only build instead.
#undef TOML_SHARED_LIB
#undef TOML_HEADER_ONLY
#define TOML_SHARED_LIB 0
#define TOML_HEADER_ONLY 1
#include <toml++/toml.h>

namespace hush::config_detail {

inline constexpr std::int64_t no_max = std::numeric_limits<std::int64_t>::max();
inline constexpr std::int64_t max_timeout_seconds = 365 * 24 * 3600;  // keeps every duration conversion in range

std::string join(std::string_view prefix, std::string_view key);  // "a" + "b" -> "a.b"; "" + "b" -> "b"
std::string indexed(std::string_view key, std::size_t i);          // "a[i]"
std::string in_quotes(std::string_view s);
// Absolute, lexically normalized; relative `p` is taken relative to `base`.
std::filesystem::path resolve(const std::filesystem::path& base, const std::filesystem::path& p);
// The canonical text of an IP literal (so "::1" and "0::1" compare equal), or nullopt.
std::optional<std::string> canonical_ip(const std::string& text);

class toml_reader {
public:
    explicit toml_reader(std::string file) : file_(std::move(file)) {}

    const std::optional<std::string>& error() const { return error_; }
    bool ok() const { return !error_; }

    void fail(const toml::source_region& where, std::string_view key, std::string_view what);
    void fail_type(const toml::node& node, std::string_view key, std::string_view expected);

    // Keys of `table` not in `known` are errors, with a suggestion for near misses.
    void check_keys(const toml::table& table, std::string_view prefix, std::initializer_list<std::string_view> known);
    // The table `name` of `parent`, or nullptr when absent or not a table. `prefix` is the parent's dotted key,
    // for the error message of a nested table.
    const toml::table* section(const toml::table& parent, std::string_view name) { return section(parent, "", name); }
    const toml::table* section(const toml::table& parent, std::string_view prefix, std::string_view name);

    // Field reads: each returns the node when present and valid, and otherwise leaves `out` alone.
    template <class T>
    const toml::node* read_int(const toml::table& t, std::string_view prefix, std::string_view key, T& out,
                               std::int64_t min, std::int64_t max);
    // Whole seconds, 1 s to a year.
    const toml::node* read_seconds(const toml::table& t, std::string_view prefix, std::string_view key,
                                   std::chrono::seconds& out);
    const toml::node* read_bool(const toml::table& t, std::string_view prefix, std::string_view key, bool& out);
    const toml::node* read_string(const toml::table& t, std::string_view prefix, std::string_view key,
                                  std::string& out);
    // A number (integer or float) within [min, max].
    const toml::node* read_number(const toml::table& t, std::string_view prefix, std::string_view key, double& out,
                                  double min, double max);
    // A string that must be one of `names`; returns its index.
    std::optional<std::size_t> read_choice(const toml::table& t, std::string_view prefix, std::string_view key,
                                           std::span<const std::string_view> names);
    // A path string resolved against `base`; "" stays empty when `allow_empty`, and is an error otherwise.
    const toml::node* read_path(const toml::table& t, std::string_view prefix, std::string_view key,
                                const std::filesystem::path& base, std::filesystem::path& out, bool allow_empty);
    // An array of strings; returns the array node so callers can locate errors about single elements.
    const toml::array* read_string_list(const toml::table& t, std::string_view prefix, std::string_view key,
                                        std::vector<std::string>& out);

private:
    void fail_range(const toml::node& node, std::string_view key, std::int64_t got, std::int64_t min,
                    std::int64_t max);

    std::string file_;
    std::optional<std::string> error_;
    toml::source_position error_at_{};
};

template <class T>
const toml::node* toml_reader::read_int(const toml::table& t, std::string_view prefix, std::string_view key, T& out,
                                        std::int64_t min, std::int64_t max) {
    const toml::node* node = t.get(key);
    if (!node) {
        return nullptr;
    }
    const auto* value = node->as_integer();
    if (!value) {
        fail_type(*node, join(prefix, key), "an integer");
        return nullptr;
    }
    const std::int64_t x = value->get();
    if (x < min || x > max) {
        fail_range(*node, join(prefix, key), x, min, max);
        return nullptr;
    }
    out = static_cast<T>(x);
    return node;
}

}  // namespace hush::config_detail
